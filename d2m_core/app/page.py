"""What the demo page says: its intro, results as Markdown, choices, prompt help, backbone notes.

Pure functions of the pipeline's results and of the environment (through
:mod:`d2m_core.settings`): no Gradio here, so each can be tested on its own. ``app.py`` puts
their strings into components; :mod:`d2m_core.app.pipeline` does the work behind them.
"""

from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from d2m_core import settings
from d2m_core.app.pipeline import AUTO_GENRE, AnalyzeOutput, GenerateOutput, backbone_settings
from d2m_core.dance.overrides import MIN_TAPS, BeatOverrides
from d2m_core.dance.tempo import CLEAR_PULSE, pulse_words
from d2m_core.errors import D2MError
from d2m_core.io.keypoints import KEYPOINT_SUFFIXES
from d2m_core.music.beats import BEAT_WINDOW_S
from d2m_core.music.genres import GENRE_LABELS, GENRES
from d2m_core.music.prompt import DEFAULT_PROMPT, DEFAULT_WORD_BANK, MAX_PROMPT_CHARS, parse_prompt

if TYPE_CHECKING:
    from d2m_core.backbones.base import BackboneInfo

__all__ = [
    "ADVANCED_LABEL",
    "ANALYSIS_PLACEHOLDER",
    "BACKBONE_HINT",
    "GENRE_MENU_LABEL",
    "HIT_WINDOW_S",
    "INTRO",
    "LAB_TITLE",
    "PROMPT_LABEL",
    "RESULTS_PLACEHOLDER",
    "STUDIO_HELP",
    "STUDIO_TITLE",
    "UPLOAD_REFUSED_TITLE",
    "USER_ERROR_TITLE",
    "WORD_BANK_TITLE",
    "analysis_markdown",
    "backbone_choices",
    "backbone_note_html",
    "beat_grid",
    "beats_hit",
    "bug_message",
    "check_prompt",
    "chip_word",
    "generation_markdown",
    "genre_choices",
    "genre_label",
    "insert_word",
    "keypoint_suffixes",
    "length_label",
    "length_label_default",
    "parse_correction",
    "pick_input",
    "studio_status",
    "unavailable_backbones_note",
    "upload_refusal",
    "user_message",
    "word_bank",
    "word_bank_label",
    "zero_shot_state",
]

INTRO = """
# d2m · music for dance videos
**1.** Upload a dance video (or a keypoint file), or click an example: d2m finds the dancer's
pose and the visual beats of the moves. **2.** Edit the prompt around `@` (the dance style) and
`*` (the dance's rhythm). **3.** Generate: your video plays with new music whose beats land on
the moves. Re-generating reuses the analysis (no new pose pass), so a new prompt or seed takes
a few seconds.
"""

#: The backbone menu's hint, shown when some backbone cannot run here.
BACKBONE_HINT = "groove runs offline; others need their weights (see Advanced / more models)"
#: Title of the closed section holding the rarely needed controls and the model set-up notes.
ADVANCED_LABEL = "Advanced / more models"
#: Title of the pop-up showing a user error.
USER_ERROR_TITLE = "Cannot do that"
#: Title of the pop-up refusing an upload.
UPLOAD_REFUSED_TITLE = "Cannot use this file"
#: What the analysis summary says before there is an analysis.
ANALYSIS_PLACEHOLDER = "*Analyse a dance to see its tempo and suggested dance style.*"
#: What the results say before there is music.
RESULTS_PLACEHOLDER = "*Generate to hear the music and see how it lines up with the moves.*"
#: The prompt box's label: what the two pseudo-words stand for.
PROMPT_LABEL = "Prompt: @ = the dance style, * = the dance's rhythm"
#: The ``@`` menu's label before a style is suggested.
GENRE_MENU_LABEL = "Dance style for @"
#: The word bank's title: its words describe the music, not the dance.
WORD_BANK_TITLE = "Music words: click one to add it to the prompt"
#: Hit window for "beats hit", seconds (the beat F-measure's, so both count the same hits).
HIT_WINDOW_S = BEAT_WINDOW_S


# --------------------------------------------------------------------------------------------
# messages


def user_message(text: str) -> str:
    """A user error or warning as pop-up text (the page renders HTML: file names are escaped)."""
    return html.escape(text)


def upload_refusal(text: str) -> str:
    """A refused upload's pop-up: the reason without the decoder's own words in brackets."""
    return user_message(re.sub(r" as a video \([^)]*\)", " as a video", text))


def bug_message(exc: Exception) -> str:
    """The pop-up for an unexpected error: its type only, never internal details."""
    return f"Something went wrong on our side ({type(exc).__name__}). Try again, or another file."


# --------------------------------------------------------------------------------------------
# results


def analysis_markdown(out: AnalyzeOutput) -> str:
    """The analysis summary: tempo, suggested genre, how much of the dancer was seen."""
    s = out.summary
    label = GENRE_LABELS[out.suggested_genre]
    top = sorted(s["genre_scores"].items(), key=lambda kv: -kv[1])[:3]
    others = ", ".join(f"{GENRE_LABELS[g]} {p:.0%}" for g, p in top)
    frames = s["frames_total"] or 1
    if s["tempo_bpm"] <= 0:
        tempo = "**no clear tempo**"
    else:
        words = pulse_words(s["tempo_confidence"], s["tempo_bpm"])
        tempo = f"**{s['tempo_bpm']:.1f} BPM** ({words}, confidence {s['tempo_confidence']:.2f})"
    return "  \n".join(
        [
            f"**Tempo** {tempo}, {len(s['visual_beats_s'])} visual beats,"
            f" {len(s['rhythm_peaks_s'])} rhythm peaks",
            f"**Suggested dance style for @:** {label} ({others})",
            f"**Dancer found** in {s['frames_with_person']} of {frames} frames"
            f" ({s['frames_with_person'] / frames:.0%}); {s['duration_s']:.1f} s"
            f" at {s['fps']:.3g} fps",
            f"<small>{'cached analysis' if out.cached else 'analysed'}"
            f" in {out.seconds:.1f} s</small>",
        ]
    )


def _zero_shot_lines(report: dict) -> list[str]:
    zs = report.get("zero_shot")
    if not zs:
        return []
    lines = [f"**Zero-shot prompt sent:** {html.escape(zs['prompt_sent'])}"]
    if zs["aligned"]:
        lines.append(
            f"**Zero-shot sync:** beat F-measure {zs['f_measure_before']:.2f} as generated"
            f" → {zs['f_measure_after']:.2f} after warping (local stretch"
            f" {zs['stretch']['min']:.2f}–{zs['stretch']['max']:.2f})"
        )
    return lines


def beats_hit(
    dance_beats_s: Any, music_beats_s: Any, *, window_s: float = HIT_WINDOW_S
) -> tuple[int, int]:
    """``(hit, total)``: how many of the dance's beats have a music beat within ``window_s``.

    The same rule as the alignment figure's green and red marks, so the words and the picture
    agree.
    """
    dance = np.asarray(dance_beats_s, dtype=np.float64).ravel()
    music = np.asarray(music_beats_s, dtype=np.float64).ravel()
    if dance.size == 0 or music.size == 0:
        return 0, int(dance.size)
    nearest = np.abs(dance[:, None] - music[None, :]).min(axis=1)
    return int((nearest <= window_s + 1e-9).sum()), int(dance.size)


def _scores_in_words(out: GenerateOutput) -> str:
    hit, total = beats_hit(out.result.analysis.tempo.beats_s, out.result.alignment.music_beats_s)
    if total == 0:
        return "**No steady beat in the dance** to line the music up with"
    return (
        f"**{hit} of {total} beats hit**: the music has a beat within"
        f" {HIT_WINDOW_S * 1e3:.0f} ms of {hit / total:.0%} of the dance's beats"
    )


def _paper_scores_html(r: dict) -> str:
    """The paper's metrics, folded away: researchers open them, others need not."""
    rows = [
        f"<b>Beat F-measure</b> {r['beat_f_measure']:.2f}: music beats vs the dance's visual"
        f" beats, ±{HIT_WINDOW_S * 1e3:.0f} ms",
        f"<b>BCS</b> {r['bcs_0.2s']:.2f} · <b>BHS</b> {r['bhs_0.2s']:.2f} ·"
        f" <b>F1</b> {r['f1_0.2s']:.2f}: music onsets vs visual beats in 0.2 s bins",
    ]
    return (
        "<details><summary>Scores for researchers (the paper's metrics)</summary>"
        + "<br>".join(rows)
        + "</details>"
    )


def generation_markdown(out: GenerateOutput) -> str:
    """The generation summary: beats hit in words, what was generated, how long it took, and
    the paper's metrics in a closed details view."""
    r = out.report
    how = " (suggested)" if r["genre_is_suggestion"] else ""
    reuse = "analysis reused, no pose pass" if out.analysis_cached else "analysed first"
    return "  \n".join(
        [
            _scores_in_words(out),
            f"Music at {r['music_tempo_bpm']:.0f} BPM for a {r['tempo_bpm']:.0f} BPM dance ·"
            f" dance style {r['genre_label']}{how} · {r['backbone']} backbone, seed {r['seed']}",
            *_zero_shot_lines(r),
            f"<small>music in {r['seconds_to_generate']:.1f} s, all files in"
            f" {out.seconds:.1f} s ({reuse})</small>",
            _paper_scores_html(r),
        ]
    )


def genre_label(suggested: str) -> str:
    """The dance style menu's label once a style is suggested."""
    return f"{GENRE_MENU_LABEL} (suggested: {GENRE_LABELS[suggested]})"


def length_label_default() -> str:
    """The music length slider's label before the dance's length is known."""
    return "Music length, s (0 = the dance's length)"


def length_label(duration_s: float) -> str:
    """The music length slider's label once the dance's length is known."""
    return f"Music length, s (0 = the dance's {duration_s:.1f} s)"


# --------------------------------------------------------------------------------------------
# the beat studio


#: Title of the beat studio, shown once a dance is analysed.
STUDIO_TITLE = "### Check the beats"
#: How to use the studio, under its buttons.
STUDIO_HELP = (
    "Play the video with **♪ Click on beats** on: each click should land on a move. If they do"
    " not, halve or double the tempo, nudge the beats earlier or later, or **tap along** (press"
    " **T** or the Tap button on each beat while the video plays; 4 taps set the beat)."
    " Generate follows the beats shown here."
)
#: Title of the prompt lab, shown once there is a generation.
LAB_TITLE = (
    "### Prompt lab\nEvery generation of this session (kept in this browser). Pick two to"
    " hear them **A/B on the same video**: switch while it plays."
)


def beat_grid(out: AnalyzeOutput) -> dict:
    """The beats in use, as the API returns them (the corrected grid when there is one).

    Returns
    -------
    dict
        ``tempo_bpm``, ``beats_s`` (seconds), ``confidence`` (the automatic estimate's),
        ``source`` (``"auto"`` or how the user corrected it), ``auto_tempo_bpm`` and
        ``correction`` (the request, to send back with ``/generate``; ``{}`` when none).
    """
    s = out.summary
    bc = out.analysis.beat_correction
    return {
        "tempo_bpm": s["tempo_bpm"],
        "beats_s": s["visual_beats_s"],
        "confidence": s["tempo_confidence"],
        "source": s["beats_source"],
        "auto_tempo_bpm": s["auto_tempo_bpm"],
        "correction": _plain(bc.overrides.to_dict()) if bc is not None else {},
    }


def _plain(d: dict) -> dict:
    """A correction without its unset keys (what a person would write by hand)."""
    return {k: v for k, v in d.items() if v is not None and v != 0.0}


_CORRECTION_FORM = 'the beat correction must be a JSON object, e.g. {"tempo_bpm": 120}'


def parse_correction(value: Any) -> BeatOverrides | None:
    """The beat correction a page or API user sent (a dict, its JSON text, or nothing).

    Raises
    ------
    D2MError
        Not a JSON object, or a correction :meth:`BeatOverrides.from_dict` refuses.
    """
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    if not isinstance(value, dict):
        raise D2MError(_CORRECTION_FORM)
    overrides = BeatOverrides.from_dict(value)
    return None if overrides.is_identity else overrides


def _correction_words(out: AnalyzeOutput) -> str:
    s = out.summary
    o = out.analysis.beat_correction.overrides  # type: ignore[union-attr]
    how = {
        "tempo": "tempo set by you",
        "tempo_scale": "tempo scaled by you",
        "taps": f"tapped by you ({len(o.tap_times_s or ())} taps)",
        "beats": "beats adjusted by you",
        "file": "beats from your file",
        "auto": "automatic beats",
    }.get(s["beats_source"], "corrected")
    shift = o.beat_shift_s
    way = "later" if shift > 0 else "earlier"
    moved = f", moved {abs(shift) * 1e3:.0f} ms {way}" if shift else ""
    return f"{how}{moved}; automatic: {s['auto_tempo_bpm']:.1f} BPM"


def studio_status(out: AnalyzeOutput, *, taps: int = 0) -> str:
    """The line above the beat timeline: the beats in use, and what to do when unsure."""
    s = out.summary
    n = len(s["visual_beats_s"])
    if s["tempo_bpm"] <= 0 or n < 2:
        head = "**No steady beat found**: tap along to set one"
    elif out.analysis.beat_correction is not None:
        head = f"**{s['tempo_bpm']:.1f} BPM, {n} beats** ({_correction_words(out)})"
    else:
        head = f"**{s['tempo_bpm']:.1f} BPM, {n} beats** (automatic)"
    lines = [head]
    unsure = s["tempo_confidence"] < CLEAR_PULSE and out.analysis.beat_correction is None
    if unsure and n >= 2:
        lines.append(
            f"⚠ The automatic beats are uncertain (confidence {s['tempo_confidence']:.2f}):"
            " play with the clicks on, and fix them with the buttons below if they miss."
        )
    if 0 < taps < MIN_TAPS:
        lines.append(f"{taps} tap(s): keep tapping, {MIN_TAPS} set the beat")
    return "  \n".join(lines)


# --------------------------------------------------------------------------------------------
# inputs


def _component_path(value: Any) -> str | None:
    """A component value (path string, or a dict from a video / file component) as a path."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("video") or value.get("path") or value.get("name")
        return _component_path(value)
    return str(value) or None


def pick_input(
    video: Any,
    keypoints: Any,
    kp_key: str | None,
    kp_fps: float | None,
    kp_view: float | None,
) -> tuple[str | None, dict]:
    """The input to use: the video if there is one, else the keypoint file with its options.

    Returns
    -------
    path : str or None
    options : dict
        Keyword arguments for :meth:`Pipeline.analyze` (``key``, ``fps``, ``view``), empty
        for a video.
    """
    v = _component_path(video)
    if v:
        return v, {}
    k = _component_path(keypoints)
    return k, {"key": kp_key or None, "fps": kp_fps or None, "view": int(kp_view or 0)}


def keypoint_suffixes() -> list[str]:
    """File types the keypoint upload accepts."""
    return list(KEYPOINT_SUFFIXES)


# --------------------------------------------------------------------------------------------
# prompt and word bank


def word_bank() -> dict[str, list[str]]:
    """The word-bank chips, by category (instruments, moods, energy, genres)."""
    return {k: list(v) for k, v in DEFAULT_WORD_BANK.items()}


def word_bank_label(category: str) -> str:
    """A word-bank category as the page names it: its genres are music genres, not the dance
    styles that ``@`` stands for."""
    return "music genres" if category == "genres" else category


def chip_word(sample: list | str | None) -> str:
    """The word of a clicked word-bank chip (a sample row, or the word itself)."""
    word = sample[0] if isinstance(sample, (list, tuple)) and sample else sample
    return str(word or "")


def insert_word(prompt: str | None, word: str) -> str:
    """Add a word-bank word to the end of a prompt (no duplicates, within the length limit)."""
    word = (word or "").strip()
    text = " ".join((prompt or "").split())
    if not word:
        return text
    if not text:
        return f"{DEFAULT_PROMPT}, {word}"
    if word.lower() in re.findall(r"[a-z][a-z'-]*", text.lower()):
        return text
    new = f"{text.rstrip(' ,')}, {word}"
    return new if len(new) <= MAX_PROMPT_CHARS else text


def check_prompt(prompt: str | None) -> str:
    """Live validation of a prompt, as short Markdown (never raises)."""
    text = " ".join((prompt or "").split())
    if not text:
        return f"⚠ The prompt is empty: try `{DEFAULT_PROMPT}`."
    if len(text) > MAX_PROMPT_CHARS:
        # The box takes a long paste whole, so this line is where the user learns the limit.
        return (
            f"✗ Too long: {len(text)} characters, at most {MAX_PROMPT_CHARS}."
            " Shorten it: Generate refuses it as it is."
        )
    try:
        p = parse_prompt(text)
    except D2MError as e:
        return f"✗ {e}"
    marks = [
        "`*` rhythm ✓" if p.has_rhythm else "`*` rhythm missing",
        "`@` dance style ✓" if p.has_genre else "no `@` (dance style not used)",
    ]
    known = [f"{w} ({word_bank_label(cat)})" for cat, ws in p.known.items() for w in ws]
    if known:
        marks.append("understood: " + ", ".join(known))
    lines = [("✓ " if p.has_rhythm else "⚠ ") + " · ".join(marks)]
    lines += [f"⚠ {w}" for w in p.warnings]
    lines.append(f"<small>{len(text)}/{MAX_PROMPT_CHARS} characters</small>")
    return "\n\n".join(lines)


# --------------------------------------------------------------------------------------------
# choices


def genre_choices() -> list[tuple[str, str]]:
    """(label, value) pairs for the ``@`` choice; :data:`AUTO_GENRE` first."""
    return [("Suggested from the dance", AUTO_GENRE)] + [(GENRE_LABELS[g], g) for g in GENRES]


def _backbone_infos() -> list[BackboneInfo]:
    """Every backbone's availability with its own settings from the environment."""
    from d2m_core.backbones.base import backbone_info, backbone_names

    return [backbone_info(n, **backbone_settings(n)) for n in backbone_names()]


def backbone_choices() -> list[tuple[str, str]]:
    """(label, name) of the backbones that can run here (the offline one always can)."""
    infos = _backbone_infos()
    return [(b.label or b.name, b.name) for b in infos if b.available]


def _download_command(info: BackboneInfo) -> str | None:
    """The command fetching a backbone's missing weights, when that is why it cannot run."""
    a = info.availability
    return a.download_command if a.missing_model else None


def unavailable_backbones_note() -> str:
    """One line naming the backbones that cannot run here and why ('' when all can).

    Backbones whose weights are missing (:class:`~d2m_core.backbones.base.Availability`'s
    ``missing_model``) are grouped into one short hint with each one's ``download_command``
    (the app's user cannot pass ``--model``; the server's owner downloads or sets
    ``D2M_<BACKBONE>_MODEL``); any other reason is given in full.
    """
    down = [b for b in _backbone_infos() if not b.available]
    missing = [f"{b.name} (`{_download_command(b)}`)" for b in down if _download_command(b)]
    parts = []
    if missing:
        parts.append(
            "no weights on this machine for " + ", ".join(missing) + ": download once, or set"
            " D2M_<BACKBONE>_MODEL to a model folder, and restart"
        )
    parts += [f"{b.name} ({b.reason})" for b in down if not _download_command(b)]
    return ("Not available here: " + "; ".join(parts)) if parts else ""


def backbone_note_html(note: str) -> str:
    """:func:`unavailable_backbones_note` as the small print under the backbone row."""
    return f"<small>{html.escape(note)}</small>"


def zero_shot_state(name: str) -> tuple[bool, bool, str]:
    """``(value, interactive, info)`` of the app's zero-shot switch for backbone ``name``.

    A neural backbone without a configured encoder can only run zero-shot (``@`` / ``*``
    mean nothing to it), so the switch is on and locked, and says why.
    """
    if name and name != "groove" and "encoder" not in backbone_settings(name):
        return (
            True,
            False,
            (
                f"no trained encoder is configured for {name}"
                f" (set {settings.backbone_encoder_var(name)}):"
                " genre and tempo go into the prompt, then the beats are warped onto the dance"
            ),
        )
    return False, True, "spell out @ and * in the prompt, then warp the beats onto the dance"
