"""d2m in the browser: upload a dance, see its rhythm, edit the prompt, play it with new music.

``python app.py`` serves on http://127.0.0.1:7860 (``--host 0.0.0.0`` in a container,
``--share`` for a public link). This file only lays out the page and wires events to
:mod:`d2m_core.app.pipeline` (the work, which the CLI reaches too) and
:mod:`d2m_core.app.page` (what the page says); user errors (``D2MError``) become ``gr.Error``
pop-ups, never tracebacks. Every event has an ``api_name`` so ``gradio_client`` can drive the
app: ``/analyze`` and ``/generate`` are the two that matter.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import gradio as gr

from d2m_core import settings
from d2m_core.app import lab, page, pipeline
from d2m_core.dance.overrides import (
    MIN_TAPS,
    BeatOverrides,
    parse_taps,
    step_overrides,
    tap_overrides,
)
from d2m_core.errors import D2MError
from d2m_core.music.prompt import DEFAULT_PROMPT
from d2m_core.viz.timeline import timeline_data, timeline_html

log = logging.getLogger("d2m.app")

ASSETS = Path(__file__).resolve().parent / "assets"
EXAMPLE_VIDEO = ASSETS / "example_dancer_96bpm.mp4"
EXAMPLE_KEYPOINTS = ASSETS / "example_dance_112bpm.npz"
#: The page's script: beat timelines, metronome clicks, taps, the A/B player.
STUDIO_JS = ASSETS / "beat_studio.js"
STUDIO_CSS = ASSETS / "beat_studio.css"
#: The players the timelines follow (elem_ids of the two video components).
STUDIO_VIDEO = "#studio-video"
RESULT_VIDEO = "#result-video"
#: Generations made by the "seeds at once" button.
SEEDS_AT_ONCE = 4
#: The correction buttons: action (see :func:`d2m_core.dance.overrides.step_overrides`), label.
CORRECTIONS = (
    ("half", "½ tempo"),
    ("double", "×2 tempo"),
    ("three_two", "×3/2"),
    ("two_three", "×2/3"),
    ("earlier", "◀ 10 ms earlier"),
    ("later", "10 ms later ▶"),
    ("reset", "Reset to automatic"),
)
# The tap button's browser half: every input passes through, the last (the hidden taps box)
# becomes the taps so far, with this tap's video time added by the page's script, written as
# the CLI's --taps takes them ("0.5,1.1,1.7").
TAP_JS = f"""(...args) => {{
    const taps = window.d2mStudio ? JSON.parse(window.d2mStudio.tap("{STUDIO_VIDEO}")) : [];
    return [...args.slice(0, -1), taps.join(",")];
}}"""

CSS = """
.chips .gallery-item, .chips button { padding: 2px 8px !important; min-height: 0 !important; }
.chips { gap: 4px !important; }
#prompt-check { min-height: 3.5em; }
/* The one progress bar of a step is drawn over its summary: leave it room for bar and label. */
#analysis-summary, #results-summary { min-height: 6em; }
footer { display: none !important; }
/* Prompt lab: a wide table scrolls inside its box, never the page (phones). */
.d2m-lab { overflow-x: auto; max-width: 100%; }
.d2m-lab table { border-collapse: collapse; width: 100%; font-size: 13px; }
.d2m-lab th, .d2m-lab td { padding: 3px 6px; text-align: left; vertical-align: top;
    border-bottom: 1px solid var(--border-color-primary); }
.d2m-lab-prompt { min-width: 14em; }
/* Long result names wrap instead of being cut to "unianim…mp4" on a phone. */
/* One flowing name (font-size 0 drops the gap between the name's two spans). */
#downloads td.filename { display: block !important; font-size: 0; }
#downloads td.filename > span { font-size: var(--text-md); }
#downloads td.filename, #downloads .stem { white-space: normal !important;
    overflow: visible !important; text-overflow: clip !important; word-break: break-all; }
#downloads td.download { min-width: 5rem !important; }
.d2m-fix { gap: 6px !important; flex-wrap: wrap; }
.d2m-help { font-size: 0.9em; }
"""

#: Analyses (and, separately, generations) run at once unless ``--concurrency`` says otherwise.
DEFAULT_CONCURRENCY = 2

# Options shared by the small events that answer at once, outside the queue.
_INSTANT = MappingProxyType({"queue": False, "show_progress": "hidden"})


# --------------------------------------------------------------------------------------------
# handlers (module level: unit tests call them directly; ZeroGPU needs import-time decoration)


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show D2MError as a gr.Error pop-up; hide anything else behind a short message."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except D2MError as e:
            raise gr.Error(
                page.user_message(str(e)), title=page.USER_ERROR_TITLE, print_exception=False
            ) from None
        except Exception as e:  # a bug: log it for us, keep the page usable for the user
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(page.bug_message(e), print_exception=False) from None

    return wrapper


def _warn(warnings: Iterable[str]) -> None:
    for w in warnings:
        gr.Warning(page.user_message(w))


# Gradio spots the progress parameter by its default; the tracker itself is per request.
_PROGRESS = gr.Progress()


def _gr_progress(progress: gr.Progress) -> pipeline.Progress:
    return lambda f, msg: progress(min(max(f, 0.0), 1.0), desc=msg)


# Every parameter but the input has a default (None: the component's own), so an API user
# passes only what they change: ``predict(handle_file("dance.mp4"), api_name="/analyze")``.
@_user_errors
def analyze(
    video: Any = None,
    keypoints: Any = None,
    kp_key: str | None = None,
    kp_fps: float | None = None,
    kp_view: float | None = None,
    beat_correction: dict | str | None = None,
    progress: gr.Progress = _PROGRESS,
) -> tuple:
    """Analyse the dance: pose check image, summary, rhythm plot, suggested style, length hint,
    the playable video with its beat timeline, and the beats in use (corrected as
    ``beat_correction`` says: the dict ``/analyze`` returned as ``correction``, or {})."""
    path, opts = page.pick_input(video, keypoints, kp_key, kp_fps, kp_view)
    overrides = page.parse_correction(beat_correction)
    out = pipeline.get_pipeline().analyze(
        path, **opts, overrides=overrides, progress=_gr_progress(progress)
    )
    _warn(out.warnings)
    return (
        str(out.preview_png),
        page.analysis_markdown(out),
        str(out.plot_png),
        gr.update(value=out.suggested_genre, label=page.genre_label(out.suggested_genre)),
        gr.update(label=page.length_label(out.summary["duration_s"])),
        str(out.video_mp4),
        *_studio_values(out),
    )


def _studio_values(out: pipeline.AnalyzeOutput, *, taps: int = 0) -> tuple:
    """The timeline, its status line and the beats in use, for one (corrected) analysis."""
    data = timeline_data(out.analysis, video=STUDIO_VIDEO)
    return (
        timeline_html(data, title="Your dance: the beats the music will follow"),
        page.studio_status(out, taps=taps),
        page.beat_grid(out),
    )


def _analysis_of(inputs: tuple, overrides: Any) -> pipeline.AnalyzeOutput:
    path, opts = page.pick_input(*inputs)
    return pipeline.get_pipeline().analyze(path, **opts, overrides=overrides)


@_user_errors
def correct_beats(
    video: Any = None,
    keypoints: Any = None,
    kp_key: str | None = None,
    kp_fps: float | None = None,
    kp_view: float | None = None,
    beat_correction: dict | str | None = None,
    action: str = "reset",
) -> tuple:
    """One press of a correction button (``double``, ``half``, ``three_two``, ``two_three``,
    ``earlier``, ``later``, ``reset``): the new correction, timeline, status and beats."""
    auto = _analysis_of((video, keypoints, kp_key, kp_fps, kp_view), None)
    current = page.parse_correction(beat_correction) or BeatOverrides()
    new = step_overrides(current, action, analysis=auto.analysis)
    out = pipeline.Pipeline.correct(auto, new)
    return (page.beat_grid(out)["correction"], *_studio_values(out))


@_user_errors
def tap_beats(
    video: Any = None,
    keypoints: Any = None,
    kp_key: str | None = None,
    kp_fps: float | None = None,
    kp_view: float | None = None,
    beat_correction: dict | str | None = None,
    taps: str | None = None,
) -> tuple:
    """A tap (the page's script sends every tap so far, in video seconds, as the CLI's
    ``--taps`` writes them): from ``MIN_TAPS`` taps on, the beats follow them."""
    times = parse_taps(taps or "")
    current = page.parse_correction(beat_correction)
    if len(times) < MIN_TAPS:
        out = _analysis_of((video, keypoints, kp_key, kp_fps, kp_view), current)
        return (gr.skip(), gr.skip(), page.studio_status(out, taps=len(times)), gr.skip())
    new = tap_overrides(times, overrides=current or BeatOverrides())
    out = _analysis_of((video, keypoints, kp_key, kp_fps, kp_view), new)
    return (page.beat_grid(out)["correction"], *_studio_values(out))


@pipeline.gpu_task()
@_user_errors
def generate(
    video: Any = None,
    keypoints: Any = None,
    kp_key: str | None = None,
    kp_fps: float | None = None,
    kp_view: float | None = None,
    prompt: str = DEFAULT_PROMPT,
    genre: str | None = pipeline.AUTO_GENRE,
    backbone: str | None = "groove",
    seed: float | None = 0,
    length_s: float | None = 0,
    guidance: float | None = 3.0,
    zero_shot: bool | None = False,
    beat_correction: dict | str | None = None,
    progress: gr.Progress = _PROGRESS,
) -> tuple:
    """Music for the dance: the video with its soundtrack, the audio, downloads, alignment,
    the result's timeline and its prompt-lab entry (a list of one)."""
    out = _generate_one(
        (video, keypoints, kp_key, kp_fps, kp_view),
        (prompt, genre, backbone, seed, length_s, guidance, zero_shot),
        beat_correction,
        progress=_gr_progress(progress),
    )
    return (*_result_values(out), [lab.lab_record(out)])


@pipeline.gpu_task(duration=300)
@_user_errors
def generate_seeds(
    video: Any = None,
    keypoints: Any = None,
    kp_key: str | None = None,
    kp_fps: float | None = None,
    kp_view: float | None = None,
    prompt: str = DEFAULT_PROMPT,
    genre: str | None = pipeline.AUTO_GENRE,
    backbone: str | None = "groove",
    seed: float | None = 0,
    length_s: float | None = 0,
    guidance: float | None = 3.0,
    zero_shot: bool | None = False,
    beat_correction: dict | str | None = None,
    progress: gr.Progress = _PROGRESS,
) -> tuple:
    """:func:`generate` for ``SEEDS_AT_ONCE`` seeds from ``seed`` on: the last one is shown,
    all go to the prompt lab."""
    inputs = (video, keypoints, kp_key, kp_fps, kp_view)
    first, report = int(seed or 0), _gr_progress(progress)
    outs = [
        _generate_one(
            inputs,
            (prompt, genre, backbone, first + i, length_s, guidance, zero_shot),
            beat_correction,
            progress=_seed_progress(report, i),
        )
        for i in range(SEEDS_AT_ONCE)
    ]
    return (*_result_values(outs[-1]), [lab.lab_record(o) for o in outs])


def _seed_progress(report: pipeline.Progress, i: int) -> pipeline.Progress:
    """Progress of the i-th of ``SEEDS_AT_ONCE`` generations as part of the whole batch."""
    return functools.partial(_batch_step, report, i)


def _batch_step(report: pipeline.Progress, i: int, f: float, msg: str) -> None:
    report((i + f) / SEEDS_AT_ONCE, f"seed {i + 1} of {SEEDS_AT_ONCE}: {msg}")


def _generate_one(
    inputs: tuple, choices: tuple, beat_correction: Any, *, progress: pipeline.Progress
) -> pipeline.GenerateOutput:
    """One generation from the page's inputs and choices (prompt ... zero-shot)."""
    prompt, genre, backbone, seed, length_s, guidance, zero_shot = choices
    path, opts = page.pick_input(*inputs)
    out = pipeline.get_pipeline().generate(
        path,
        **opts,
        prompt=prompt or "",
        genre=genre,
        backbone=backbone or "groove",
        seed=int(seed or 0),
        duration_s=float(length_s) if length_s else None,
        guidance=guidance,
        zero_shot=bool(zero_shot),
        overrides=page.parse_correction(beat_correction),
        progress=progress,
    )
    _warn(out.warnings)
    return out


def _result_values(out: pipeline.GenerateOutput) -> tuple:
    """What the results section shows for one generation (in ResultsSection.outputs order,
    less the lab records)."""
    data = timeline_data(
        out.result.analysis, video=RESULT_VIDEO, music_beats_s=out.result.alignment.music_beats_s
    )
    return (
        str(out.video_mp4),
        str(out.audio_wav),
        [str(f) for f in out.files],
        str(out.alignment_png),
        page.generation_markdown(out),
        timeline_html(data, title="The result: dance beats and the music's beats"),
    )


def cleared_analysis() -> tuple:
    """What :func:`analyze` fills, emptied and hidden (in its return order)."""
    return (
        gr.update(value=None, visible=False),
        page.ANALYSIS_PLACEHOLDER,
        None,
        gr.update(value=pipeline.AUTO_GENRE, label=page.GENRE_MENU_LABEL),
        gr.update(label=page.length_label_default()),
        None,
        "",
        "",
        None,
    )


def cleared_results() -> tuple:
    """What :func:`generate` fills, emptied and hidden (in its return order)."""
    hidden = gr.update(value=None, visible=False)
    return (hidden, hidden, hidden, hidden, page.RESULTS_PLACEHOLDER, hidden, [])


def new_input() -> tuple:
    """A new upload or a cleared input: results of the previous dance no longer apply (its
    beat studio hides and its beat correction goes; the prompt lab stays: it is history)."""
    hidden = gr.update(visible=False)
    return (*cleared_analysis(), *cleared_results(), hidden, {}, hidden)


def _lab_root() -> Path:
    return pipeline.get_pipeline().root / "outputs"


def _lab_view(entries: list[dict], *, expired: int = 0) -> tuple:
    """The lab's table, its A and B menus (newest two picked), the A/B player, and whether the
    lab shows at all."""
    choices = lab.ab_choices(entries)
    a = choices[0][1] if choices else None
    b = choices[1][1] if len(choices) > 1 else None
    return (
        lab.lab_table_html(entries, expired=expired),
        gr.update(choices=choices, value=a),
        gr.update(choices=choices, value=b),
        lab.ab_player_html(entries, a, b),
        gr.update(visible=bool(entries)),
    )


def add_to_lab(stored: Any, records: Any) -> tuple:
    """New generations join the session's lab (kept in the browser: it survives a reload)."""
    new = records if isinstance(records, list) else []
    entries = lab.add_entries(stored, new, root=_lab_root())
    return (entries, *_lab_view(entries))


def restore_lab(stored: Any) -> tuple:
    """On page load: the lab this browser kept, less the entries whose files expired."""
    entries = lab.valid_entries(stored, root=_lab_root())
    expired = len(stored) - len(entries) if isinstance(stored, list) else 0
    return (entries, *_lab_view(entries, expired=expired))


def ab_player(stored: Any, a: str | None, b: str | None) -> str:
    """The A/B player for the two picked generations."""
    return lab.ab_player_html(lab.valid_entries(stored, root=_lab_root()), a, b)


def check_video_upload(video: Any) -> tuple:
    """Refuse at once a file that is not a usable video (and clear the player), rather than
    after Analyse; either way the previous dance's results go."""
    try:
        pipeline.get_pipeline().check_upload(page.pick_input(video, None, None, None, None)[0])
    except D2MError as e:
        gr.Warning(page.upload_refusal(str(e)), title=page.UPLOAD_REFUSED_TITLE)
        return (None, *new_input())
    return (gr.skip(), *new_input())


def check_prompt(prompt: str | None) -> str:
    """Live prompt validation (Markdown)."""
    return page.check_prompt(prompt)


def insert_word(sample: list | str | None, prompt: str | None) -> str:
    """A word-bank chip was clicked: add its word to the prompt."""
    return page.insert_word(prompt, page.chip_word(sample))


def backbone_options(backbone: str | None) -> tuple:
    """Show the guidance slider only for backbones that use it; set the zero-shot switch."""
    value, interactive, info = page.zero_shot_state(backbone or "")
    return (
        gr.update(visible=pipeline.backbone_takes_guidance(backbone or "")),
        gr.update(value=value, interactive=interactive, info=info),
    )


def keep_one(value: Any, tab: str) -> tuple:
    """A new video clears the keypoint upload and vice versa (one input at a time), and its
    tab comes to the front (an example fills an input that may sit in the hidden tab)."""
    if not value:
        return gr.skip(), gr.skip()
    return None, gr.Tabs(selected=tab)


def keep_video(value: Any) -> tuple:
    return keep_one(value, "video")


def keep_keypoints(value: Any) -> tuple:
    return keep_one(value, "keypoints")


def analyze_example_video(video: Any, progress: gr.Progress = _PROGRESS) -> tuple:
    return (*analyze(video, None, None, None, 0, progress=progress), *cleared_results())


def analyze_example_keypoints(
    keypoints: Any, kp_key: str | None, progress: gr.Progress = _PROGRESS
) -> tuple:
    return (*analyze(None, keypoints, kp_key, None, 0, progress=progress), *cleared_results())


# --------------------------------------------------------------------------------------------
# layout: one function per section, each returning the components that events need


@dataclass(frozen=True)
class DanceSection:
    """Step 1: the upload (video or keypoints), the analyse button and what analysis shows."""

    column: gr.Column  # the input column: the examples go under it once the outputs exist
    tabs: gr.Tabs
    video: gr.Video
    keypoints: gr.File
    kp_key: gr.Textbox
    kp_fps: gr.Number
    kp_view: gr.Number
    analyze: gr.Button
    preview: gr.Image
    summary: gr.Markdown

    @property
    def inputs(self) -> list[gr.components.Component]:
        """The components every analysis and generation reads, in the handlers' order."""
        return [self.video, self.keypoints, self.kp_key, self.kp_fps, self.kp_view]


@dataclass(frozen=True)
class BeatStudio:
    """The analysed dance as a playable video with its beat timeline and the correction
    buttons; the paper's plot and the beats as data in a section for researchers."""

    column: gr.Column
    video: gr.Video
    timeline: gr.HTML
    status: gr.Markdown
    buttons: dict[str, gr.Button]  # action -> button (see correct_beats)
    tap: gr.Button
    taps: gr.Textbox  # hidden: the page's script fills it with the taps so far
    rhythm_plot: gr.Image
    grid: gr.JSON
    correction: gr.JSON


@dataclass(frozen=True)
class PromptSection:
    """Step 2, first half: the prompt, its live check, the genre and the word bank."""

    prompt: gr.Textbox
    check: gr.Markdown
    genre: gr.Dropdown
    chips: dict[str, gr.Dataset]


@dataclass(frozen=True)
class GenerationControls:
    """Step 2, second half: backbone, seed, length, guidance, zero-shot, the generate buttons."""

    backbone: gr.Dropdown
    seed: gr.Number
    length: gr.Slider
    guidance: gr.Slider
    zero_shot: gr.Checkbox
    generate: gr.Button
    seeds: gr.Button  # SEEDS_AT_ONCE seeds at once

    @property
    def choices(self) -> list[gr.components.Component]:
        """What a generation reads besides the input and prompt, in the handlers' order."""
        return [self.backbone, self.seed, self.length, self.guidance, self.zero_shot]


@dataclass(frozen=True)
class ResultsSection:
    """Step 3: the video with its music and timeline, the music alone, downloads, alignment."""

    video: gr.Video
    timeline: gr.HTML
    audio: gr.Audio
    files: gr.File
    alignment: gr.Image
    figures: gr.Markdown
    records: gr.JSON  # hidden: the generations' lab entries, on their way to the lab
    extras: gr.Column  # the researchers' alignment figure: shown only with a result

    @property
    def outputs(self) -> list[gr.components.Component]:
        """In :func:`generate`'s return order."""
        return [
            self.video, self.audio, self.files, self.alignment, self.figures, self.timeline,
            self.records,
        ]  # fmt: skip

    @property
    def players(self) -> list[gr.components.Component]:
        """What stays hidden until there is music."""
        return [self.video, self.audio, self.files, self.alignment, self.timeline, self.extras]


@dataclass(frozen=True)
class PromptLab:
    """Every generation of the session (kept in the browser), and an A/B player."""

    column: gr.Column
    stored: gr.BrowserState
    table: gr.HTML
    a: gr.Dropdown
    b: gr.Dropdown
    player: gr.HTML

    @property
    def view(self) -> list[gr.components.Component]:
        """In the order of ``_lab_view``'s values."""
        return [self.table, self.a, self.b, self.player, self.column]


def _keypoint_tab() -> tuple[gr.File, gr.Textbox, gr.Number, gr.Number]:
    keypoints = gr.File(
        label="Keypoints (.npy .npz .pkl .json, COCO-17)",
        file_types=page.keypoint_suffixes(),
        type="filepath",
    )
    with gr.Row():
        kp_key = gr.Textbox(label=".npz entry", placeholder="only one: leave empty")
        kp_fps = gr.Number(label="fps (0 = stored)", value=0, minimum=0)
        kp_view = gr.Number(label="AIST++ view", value=0, precision=0, minimum=0)
    return keypoints, kp_key, kp_fps, kp_view


def _dance_section(limits: pipeline.Limits) -> DanceSection:
    gr.Markdown("### 1 · Your dance")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1) as column:
            with gr.Tabs() as tabs:
                with gr.Tab("Video", id="video"):
                    video = gr.Video(
                        # Short: on a phone the label shares a line with three icon buttons.
                        label=f"Dance video (≤ {limits.max_video_s:g} s)",
                        sources=["upload"],
                        height=360,
                        elem_id="dance-video",
                    )
                with gr.Tab("Keypoint file", id="keypoints"):
                    keypoints, kp_key, kp_fps, kp_view = _keypoint_tab()
            analyze_btn = gr.Button("Analyse the dance", variant="primary")
        with gr.Column(scale=1):
            summary = gr.Markdown(page.ANALYSIS_PLACEHOLDER, elem_id="analysis-summary")
            # Outputs stay hidden until they hold something: no empty boxes on the first screen.
            preview = gr.Image(
                label="Pose check", type="filepath", height=300,
                interactive=False, visible=False,
            )  # fmt: skip
    return DanceSection(
        column=column, tabs=tabs, video=video, keypoints=keypoints, kp_key=kp_key,
        kp_fps=kp_fps, kp_view=kp_view, analyze=analyze_btn, preview=preview, summary=summary,
    )  # fmt: skip


def _correction_buttons() -> tuple[dict[str, gr.Button], gr.Button]:
    """The hand-correction buttons, by action, and the tap button."""
    buttons = {}
    with gr.Row(elem_classes="d2m-fix"):
        for action, label in CORRECTIONS[:4]:
            buttons[action] = gr.Button(label, size="sm", min_width=60)
    with gr.Row(elem_classes="d2m-fix"):
        for action, label in CORRECTIONS[4:]:
            buttons[action] = gr.Button(label, size="sm", min_width=60)
        tap = gr.Button("Tap (T)", size="sm", min_width=60, elem_id="tap-button")
    return buttons, tap


def _beat_studio() -> BeatStudio:
    with gr.Column(visible=False, elem_id="beat-studio") as column:
        gr.Markdown(page.STUDIO_TITLE)
        status = gr.Markdown(elem_id="studio-status")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                video = gr.Video(
                    label="Play to check the beats", interactive=False,
                    height=360, elem_id=STUDIO_VIDEO.lstrip("#"),
                )  # fmt: skip
                timeline = gr.HTML(elem_id="dance-timeline")
            with gr.Column(scale=2, min_width=260):
                buttons, tap = _correction_buttons()
                gr.Markdown(page.STUDIO_HELP, elem_classes="d2m-help")
        taps = gr.Textbox(visible=False, elem_id="tap-times")
        with gr.Accordion("Details for researchers: rhythm plot and beats", open=False):
            rhythm_plot = gr.Image(
                label="Visual rhythm: acceleration a(t), rhythm peaks r, visual beats",
                type="filepath", interactive=False, show_label=False, height=320,
            )  # fmt: skip
            with gr.Row():
                grid = gr.JSON(label="Beats in use (what /analyze returns)")
                correction = gr.JSON(value={}, label="Beat correction (sent with Generate)")
    return BeatStudio(
        column=column, video=video, timeline=timeline, status=status, buttons=buttons, tap=tap,
        taps=taps, rhythm_plot=rhythm_plot, grid=grid, correction=correction,
    )  # fmt: skip


def _word_bank() -> dict[str, gr.Dataset]:
    chips = {}
    with gr.Accordion(page.WORD_BANK_TITLE, open=True):
        with gr.Row():
            for cat, words in page.word_bank().items():
                chips[cat] = gr.Dataset(
                    label=page.word_bank_label(cat),
                    components=["textbox"],
                    samples=[[w] for w in words],
                    samples_per_page=len(words),
                    layout="gallery",
                    elem_classes="chips",
                )
    return chips


def _prompt_section() -> PromptSection:
    gr.Markdown("### 2 · Describe the music")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            # No max_length: the browser would cut a long paste without a word; the live
            # check below says how long it is and Generate refuses it.
            prompt = gr.Textbox(label=page.PROMPT_LABEL, value=DEFAULT_PROMPT, lines=1)
            check = gr.Markdown(page.check_prompt(DEFAULT_PROMPT), elem_id="prompt-check")
        with gr.Column(scale=1, min_width=220):
            genre = gr.Dropdown(
                label=page.GENRE_MENU_LABEL,
                choices=page.genre_choices(),
                value=pipeline.AUTO_GENRE,
            )
    return PromptSection(prompt=prompt, check=check, genre=genre, chips=_word_bank())


def _generation_controls(*, max_length_s: float) -> GenerationControls:
    backbones = page.backbone_choices()
    note = page.unavailable_backbones_note()
    first = backbones[0][1] if backbones else ""
    zs_value, zs_interactive, zs_info = page.zero_shot_state(first)
    with gr.Row(equal_height=True):
        backbone = gr.Dropdown(
            label="Backbone",
            choices=backbones,
            value=first or None,
            info=page.BACKBONE_HINT if note else None,
            min_width=240,  # full width on a phone: its choice is not cut under the arrow
        )
        seed = gr.Number(label="Seed", value=0, precision=0)
        length = gr.Slider(0, max_length_s, value=0, step=0.5, label=page.length_label_default())
    # Closed by default: most visitors never need these, nor the server's set-up notes.
    with gr.Accordion(page.ADVANCED_LABEL, open=False):
        with gr.Row(equal_height=True):
            guidance = gr.Slider(
                1.0, 10.0, value=3.0, step=0.5, label="Guidance (classifier-free)",
                visible=pipeline.backbone_takes_guidance(first),
            )  # fmt: skip
            zero_shot = gr.Checkbox(
                label="Zero-shot sync", value=zs_value, interactive=zs_interactive, info=zs_info
            )
        if note:
            gr.Markdown(page.backbone_note_html(note), elem_classes="backbone-note")
    with gr.Row():
        generate_btn = gr.Button("Generate music", variant="primary", scale=3)
        seeds_btn = gr.Button(f"{SEEDS_AT_ONCE} seeds at once", scale=1, min_width=140)
    return GenerationControls(
        backbone=backbone, seed=seed, length=length, guidance=guidance, zero_shot=zero_shot,
        generate=generate_btn, seeds=seeds_btn,
    )  # fmt: skip


def _results_section() -> ResultsSection:
    gr.Markdown("### 3 · Watch and listen")
    # The summary comes first and the players stay hidden until there is music: before that,
    # one line of text instead of empty boxes.
    figures = gr.Markdown(page.RESULTS_PLACEHOLDER, elem_id="results-summary")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            video = gr.Video(
                label="Your dance with its new music", height=420, visible=False,
                elem_id=RESULT_VIDEO.lstrip("#"),
            )  # fmt: skip
            timeline = gr.HTML(visible=False, elem_id="result-timeline")
        with gr.Column(scale=2, min_width=260):
            audio = gr.Audio(
                label="The music alone", type="filepath", interactive=False, visible=False
            )
            files = gr.File(
                label="Downloads", file_count="multiple", interactive=False, visible=False,
                elem_id="downloads",
            )  # fmt: skip
    with gr.Column(visible=False) as extras:
        with gr.Accordion("Alignment figure for researchers", open=False):
            alignment = gr.Image(
                label="Beat alignment: visual beats vs detected music beats", type="filepath",
                interactive=False, show_label=False, height=260, visible=False,
            )  # fmt: skip
    records = gr.JSON(visible=False)
    return ResultsSection(
        video=video, timeline=timeline, audio=audio, files=files, alignment=alignment,
        figures=figures, records=records, extras=extras,
    )  # fmt: skip


def _prompt_lab() -> PromptLab:
    stored = gr.BrowserState([], storage_key="d2m-prompt-lab")
    with gr.Column(visible=False, elem_id="prompt-lab") as column:
        gr.Markdown(page.LAB_TITLE)
        table = gr.HTML()
        with gr.Row():
            # A min width stacks them on a phone, so neither label is cut short.
            a = gr.Dropdown(label="A", choices=[], elem_id="lab-a", min_width=300)
            b = gr.Dropdown(label="B", choices=[], elem_id="lab-b", min_width=300)
        player = gr.HTML(elem_id="ab-player")
    return PromptLab(column=column, stored=stored, table=table, a=a, b=b, player=player)


# --------------------------------------------------------------------------------------------
# events


def _many(update: dict, n: int) -> Any:
    """``n`` copies of an update, as Gradio takes them: the update itself for one output."""
    return update if n == 1 else tuple(update for _ in range(n))


def _show_many(n: int) -> Callable[[], tuple]:
    """A handler revealing ``n`` components once they hold a result: a step of its own, so
    the API's answers stay plain values rather than visibility updates."""

    def show_results() -> Any:
        return _many(gr.update(visible=True), n)

    return show_results


def _hide_many(n: int) -> Callable[[], tuple]:
    """A handler hiding ``n`` components (the counterpart of :func:`_show_many`)."""

    def hide_results() -> Any:
        return _many(gr.update(visible=False), n)

    return hide_results


def _analysis_outputs(
    dance: DanceSection, studio: BeatStudio, prompt: PromptSection, controls: GenerationControls
) -> list[gr.components.Component]:
    """What an analysis fills, in :func:`analyze`'s return order."""
    return [
        dance.preview, dance.summary, studio.rhythm_plot, prompt.genre, controls.length,
        studio.video, studio.timeline, studio.status, studio.grid,
    ]  # fmt: skip


def _wire_analysis(
    dance: DanceSection,
    studio: BeatStudio,
    outputs: list[gr.components.Component],
    *,
    concurrency: int,
) -> None:
    # One progress bar, on the summary: on every output it was drawn five times over.
    event = dance.analyze.click(
        analyze, [*dance.inputs, studio.correction], outputs, api_name="analyze",
        concurrency_id="analyze", concurrency_limit=concurrency,
        show_progress_on=dance.summary,
    )  # fmt: skip
    event.success(
        _show_many(2), None, [dance.preview, studio.column], api_visibility="private",
        **_INSTANT,
    )  # fmt: skip
    event.failure(
        cleared_analysis, None, outputs, api_name="clear_analysis",
        api_visibility="undocumented", **_INSTANT,
    )  # fmt: skip


def _wire_studio(dance: DanceSection, studio: BeatStudio) -> None:
    """The correction buttons and the tap button (its script adds the video time of the tap)."""
    outputs = [studio.correction, studio.timeline, studio.status, studio.grid]
    for action, button in studio.buttons.items():
        button.click(
            correct_beats, [*dance.inputs, studio.correction, gr.State(action)], outputs,
            api_name=f"beats_{action}", api_visibility="undocumented", **_INSTANT,
        )  # fmt: skip
    # The script's function replaces the last input (the hidden taps box) with every tap so
    # far; "multiple": a quick tap must not be dropped while the previous one is answered.
    studio.tap.click(
        tap_beats, [*dance.inputs, studio.correction, studio.taps], outputs,
        js=TAP_JS, api_name="beats_tap", api_visibility="undocumented",
        trigger_mode="multiple", **_INSTANT,
    )  # fmt: skip


def _wire_generation(
    dance: DanceSection,
    studio: BeatStudio,
    prompt: PromptSection,
    controls: GenerationControls,
    results: ResultsSection,
    lab_: PromptLab,
    *,
    concurrency: int,
) -> None:
    inputs = [*dance.inputs, prompt.prompt, prompt.genre, *controls.choices, studio.correction]
    for fn, button, name in (
        (generate, controls.generate, "generate"),
        (generate_seeds, controls.seeds, "generate_seeds"),
    ):
        event = button.click(
            fn, inputs, results.outputs, api_name=name, concurrency_id="generate",
            concurrency_limit=concurrency, show_progress_on=results.figures,
        )  # fmt: skip
        event.success(
            _show_many(len(results.players)), None, results.players, api_visibility="private",
            **_INSTANT,
        )  # fmt: skip
        event.success(
            add_to_lab, [lab_.stored, results.records], [lab_.stored, *lab_.view],
            api_visibility="private", **_INSTANT,
        )  # fmt: skip
        event.failure(
            cleared_results, None, results.outputs, api_name=f"clear_{name}",
            api_visibility="undocumented", **_INSTANT,
        )  # fmt: skip
        event.failure(_hide_many(1), None, [results.extras], api_visibility="private", **_INSTANT)


def _wire_lab(demo: gr.Blocks, lab_: PromptLab) -> None:
    demo.load(
        restore_lab, lab_.stored, [lab_.stored, *lab_.view], api_visibility="private",
        **_INSTANT,
    )  # fmt: skip
    for menu in (lab_.a, lab_.b):
        menu.input(
            ab_player, [lab_.stored, lab_.a, lab_.b], lab_.player, api_visibility="private",
            **_INSTANT,
        )  # fmt: skip


def _wire_prompt(prompt: PromptSection) -> None:
    prompt.prompt.change(
        check_prompt, prompt.prompt, prompt.check, api_name="check_prompt",
        trigger_mode="always_last", **_INSTANT,
    )  # fmt: skip
    for cat, ds in prompt.chips.items():
        ds.click(
            insert_word, [ds, prompt.prompt], prompt.prompt, api_name=f"insert_{cat}",
            api_visibility="undocumented", **_INSTANT,
        )  # fmt: skip


def _wire_backbone(controls: GenerationControls) -> None:
    controls.backbone.change(
        backbone_options, controls.backbone, [controls.guidance, controls.zero_shot],
        api_name="backbone_options", **_INSTANT,
    )  # fmt: skip


def _wire_new_input(dance: DanceSection, outputs: list[gr.components.Component]) -> None:
    """Results belong to the file they came from: an upload or a cleared input empties them,
    and a video upload that is no usable video is refused at once."""
    # Queued, unlike the other instant events: a refusal's pop-up travels on the queue's stream.
    dance.video.upload(
        check_video_upload, dance.video, [dance.video, *outputs], api_name="check_video",
        api_visibility="undocumented", show_progress="hidden",
    )  # fmt: skip
    for event in (dance.video.clear, dance.keypoints.upload, dance.keypoints.clear):
        event(new_input, None, outputs, api_visibility="private", **_INSTANT)


def _wire_one_input(dance: DanceSection) -> None:
    """A video upload clears the keypoint file and the other way round."""
    dance.video.change(
        keep_video, dance.video, [dance.keypoints, dance.tabs], api_name="clear_keypoints",
        api_visibility="undocumented", **_INSTANT,
    )  # fmt: skip
    dance.keypoints.change(
        keep_keypoints, dance.keypoints, [dance.video, dance.tabs], api_name="clear_video",
        api_visibility="undocumented", **_INSTANT,
    )  # fmt: skip


def _add_examples(
    dance: DanceSection,
    outputs: list[gr.components.Component],
    shown: list[gr.components.Component],
    hidden: list[gr.components.Component],
    *,
    progress_on: gr.components.Component,
) -> None:
    """The examples, under the input; added last because they need the outputs they fill
    (the analysis outputs, then the results they empty), reveal (``shown``) and hide
    (``hidden``: what only a result shows)."""
    # The analysis is chained here rather than by run_on_click: that would draw the progress
    # bar on every output instead of on ``progress_on`` only.
    run = {"show_progress_on": progress_on, "api_visibility": "undocumented"}
    with dance.column:
        if EXAMPLE_VIDEO.is_file():
            ex = gr.Examples(
                [[str(EXAMPLE_VIDEO)]],
                inputs=[dance.video],
                outputs=outputs,
                api_name="example_video",
                elem_id="example-video",
                label="Example video: a procedural dancer rendered by d2m (96 BPM)",
            )
            done = ex.load_input_event.then(analyze_example_video, [dance.video], outputs, **run)
            _reveal(done, shown, hidden)
        if EXAMPLE_KEYPOINTS.is_file():
            ex = gr.Examples(
                [[str(EXAMPLE_KEYPOINTS), "dance"]],
                inputs=[dance.keypoints, dance.kp_key],
                outputs=outputs,
                api_name="example_keypoints",
                elem_id="example-keypoints",
                label="Example keypoints: a procedural dance (112 BPM, 10 s)",
            )
            done = ex.load_input_event.then(
                analyze_example_keypoints, [dance.keypoints, dance.kp_key], outputs, **run
            )
            _reveal(done, shown, hidden)


def _reveal(
    event: Any, shown: list[gr.components.Component], hidden: list[gr.components.Component]
) -> None:
    """After an example's analysis: show its outputs, hide the previous result's extras."""
    event.success(_show_many(len(shown)), None, shown, api_visibility="private", **_INSTANT)
    event.success(_hide_many(len(hidden)), None, hidden, api_visibility="private", **_INSTANT)


def build_demo(
    *, max_video_s: float | None = None, concurrency: int = DEFAULT_CONCURRENCY
) -> gr.Blocks:
    """The page. Handlers use :func:`d2m_core.app.pipeline.get_pipeline` (set it first to
    configure limits).

    Parameters
    ----------
    max_video_s : float, optional
        Longest music the length slider offers (default: the pipeline's video length limit).
    concurrency : int
        Analyses run at once, and generations run at once (each event its own limit).
    """
    limits = pipeline.get_pipeline().limits
    with gr.Blocks(title="d2m: music for dance videos", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(page.INTRO)
        dance = _dance_section(limits)
        studio = _beat_studio()
        prompt = _prompt_section()
        controls = _generation_controls(max_length_s=float(max_video_s or limits.max_video_s))
        results = _results_section()
        lab_ = _prompt_lab()
        analysis_outputs = _analysis_outputs(dance, studio, prompt, controls)
        every_output = [*analysis_outputs, *results.outputs]
        # The events' order is their order in the API listing: keep it.
        _wire_analysis(dance, studio, analysis_outputs, concurrency=concurrency)
        _wire_generation(dance, studio, prompt, controls, results, lab_, concurrency=concurrency)
        _wire_studio(dance, studio)
        _wire_prompt(prompt)
        _wire_backbone(controls)
        _wire_one_input(dance)
        _wire_new_input(dance, [*every_output, studio.column, studio.correction, results.extras])
        _wire_lab(demo, lab_)
        # An example is a new dance too: its analysis also empties the previous music.
        _add_examples(
            dance, every_output, [dance.preview, studio.column], [results.extras],
            progress_on=dance.summary,
        )  # fmt: skip
    return demo


# --------------------------------------------------------------------------------------------
# serving


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return v


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="d2m web demo (Gradio)")
    ap.add_argument("--host", default=settings.host(), help="default 127.0.0.1")
    ap.add_argument("--port", type=int, default=settings.port(), help="default 7860")
    ap.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    lim = pipeline.Limits.from_env()
    ap.add_argument(
        "--max-upload-mb", type=_positive, default=lim.max_upload_mb, help="upload size limit"
    )
    ap.add_argument(
        "--max-video-s", type=_positive, default=lim.max_video_s, help="video length limit"
    )
    ap.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="jobs run at once per event"
    )
    ap.add_argument("--queue-size", type=int, default=32, help="waiting jobs before 'queue full'")
    ap.add_argument("--no-warmup", action="store_true", help="load the pose model on first use")
    ap.add_argument(
        "--download",
        action="store_true",
        help="download a neural backbone's missing model on first use (needs internet;"
        " default: D2M_DOWNLOAD, else never)",
    )
    return ap.parse_args(argv)


def _read_asset(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def studio_head() -> str:
    """The page's script, inlined in its head (it binds itself to the timelines it finds)."""
    js = _read_asset(STUDIO_JS)
    return f"<script>{js}</script>" if js else ""


def launch(args: argparse.Namespace, **kwargs: Any) -> gr.Blocks:
    """Configure the pipeline, build the page and start serving (blocking unless told not to)."""
    limits = pipeline.Limits(max_upload_mb=args.max_upload_mb, max_video_s=args.max_video_s)
    if getattr(args, "download", False):
        from d2m_core.backbones import download

        download.allow()  # before the page lists the backbones: missing models become choices
    pipeline.set_pipeline(pipeline.Pipeline(limits=limits))
    if not args.no_warmup:
        # Import MediaPipe while the first visitor is still choosing a file.
        threading.Thread(target=pipeline.get_pipeline().warm_up, daemon=True).start()
    demo = build_demo(concurrency=args.concurrency)
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size=int(limits.max_upload_mb * 1e6),  # bytes: fractional MB limits stay exact
        # The prompt lab links the generations' files: the output folder is served, no more.
        allowed_paths=[str(ASSETS), str(pipeline.get_pipeline().root / "outputs")],
        show_error=False,
        ssr_mode=False,
        theme=gr.themes.Soft(),
        css=CSS + _read_asset(STUDIO_CSS),
        head=studio_head(),
        **kwargs,
    )
    return demo


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    launch(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
