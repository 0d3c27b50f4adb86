"""What the page says (d2m_core.app.page): prompt help, choices, inputs, backbone notes."""

from __future__ import annotations

import pytest

from d2m_core.app import page
from d2m_core.app.pipeline import AUTO_GENRE
from d2m_core.backbones.base import Availability, BackboneInfo
from d2m_core.music.prompt import DEFAULT_PROMPT, MAX_PROMPT_CHARS

# ---------------------------------------------------------------------------- prompt helpers


def test_insert_word_appends_once_and_respects_length():
    assert page.insert_word(DEFAULT_PROMPT, "piano") == f"{DEFAULT_PROMPT}, piano"
    once = page.insert_word(DEFAULT_PROMPT, "piano")
    assert page.insert_word(once, "Piano") == once  # already there
    assert page.insert_word("", "upbeat") == f"{DEFAULT_PROMPT}, upbeat"
    assert page.insert_word("a @ music with * as the rhythm, ", "sad").endswith("rhythm, sad")
    long = "x" * (MAX_PROMPT_CHARS - 2)
    assert page.insert_word(long, "piano") == long  # would overflow: unchanged


def test_chip_word_takes_a_sample_row_or_a_word():
    assert page.chip_word(["piano"]) == "piano"
    assert page.chip_word("sad") == "sad"
    assert page.chip_word(None) == page.chip_word([]) == ""


def test_check_prompt_messages():
    assert "empty" in page.check_prompt("   ")
    ok = page.check_prompt(f"{DEFAULT_PROMPT}, jazzy piano")
    assert ok.startswith("✓") and "piano (instruments)" in ok and "jazzy (moods)" in ok
    no_star = page.check_prompt("a @ music, calm")
    assert no_star.startswith("⚠") and "no *" in no_star
    assert page.check_prompt("a@ music with *").startswith("✗")
    assert "kept as free text: zorblax" in page.check_prompt(f"{DEFAULT_PROMPT}, zorblax")
    assert "/300 characters" in ok


# ---------------------------------------------------------------------------- choices, labels


def test_choices():
    genres = page.genre_choices()
    assert genres[0][1] == AUTO_GENRE and ("House", "house") in genres
    names = [n for _, n in page.backbone_choices()]
    assert "groove" in names  # the offline backbone always runs
    assert set(page.word_bank()) == {"instruments", "moods", "energy", "genres"}
    assert ".npz" in page.keypoint_suffixes()


def test_labels_and_messages():
    assert page.genre_label("house") == "Dance style for @ (suggested: House)"
    assert page.length_label(9.04) == "Music length, s (0 = the dance's 9.0 s)"
    assert page.user_message("a <b> file") == "a &lt;b&gt; file"
    assert "KeyError" in page.bug_message(KeyError("secret")) and "secret" not in (
        page.bug_message(KeyError("secret"))
    )


def test_video_input_wins_over_keypoints():
    npz = "/data/dance.npz"
    path, opts = page.pick_input("/x/dance.mp4", npz, "dance", 30, 1)
    assert path == "/x/dance.mp4" and opts == {}
    path, opts = page.pick_input(None, {"path": npz}, "", 0, None)
    assert path == npz and opts == {"key": None, "fps": None, "view": 0}
    assert page.pick_input({"video": {"path": "/v.mp4"}}, None, "", 0, 0)[0] == "/v.mp4"


# ---------------------------------------------------------------------------- backbones


def test_zero_shot_switch_follows_the_encoder_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("D2M_MUSICGEN_MODEL", "debug")
    assert "musicgen" in [n for _, n in page.backbone_choices()]  # runs zero-shot
    value, interactive, info = page.zero_shot_state("musicgen")
    assert (value, interactive) == (True, False) and "D2M_MUSICGEN_ENCODER" in info
    monkeypatch.setenv("D2M_MUSICGEN_ENCODER", str(tmp_path / "none"))
    assert page.zero_shot_state("musicgen")[:2] == (False, True)
    assert page.zero_shot_state("groove")[:2] == (False, True)


def test_unavailable_backbones_note_on_this_machine(monkeypatch, tmp_path):
    monkeypatch.setenv("D2M_MUSICGEN_MODEL", "debug")
    monkeypatch.setenv("D2M_MUSICGEN_ENCODER", str(tmp_path / "none"))
    assert "musicgen (no encoder checkpoint" in page.unavailable_backbones_note()
    monkeypatch.delenv("D2M_MUSICGEN_MODEL")
    monkeypatch.delenv("D2M_MUSICGEN_ENCODER")
    note = page.unavailable_backbones_note()
    for b in page._backbone_infos():  # whichever weights this machine lacks
        if b.availability.missing_model:
            assert f"{b.name} (`{b.availability.download_command}`)" in note
            assert "D2M_<BACKBONE>_MODEL" in note and len(note) < 400  # short enough for the UI
    assert page.backbone_note_html("a <b>").startswith("<small>a &lt;b&gt;")


def _info(name: str, availability: Availability) -> BackboneInfo:
    return BackboneInfo(name=name, label=name.title(), availability=availability)


def test_note_renders_the_structured_availability(monkeypatch):
    infos = [
        _info("groove", Availability(ok=True, reason="ready")),
        # Reasons are worded for people: the note reads the fields, never the wording.
        _info(
            "musicgen",
            Availability(
                ok=False,
                reason="weights are elsewhere (any wording)",
                missing_model="org/mg",
                download_command="hf-fetch org/mg",
            ),
        ),
        _info("audioldm", Availability.not_cached("cvssp/audioldm-s-full-v2", "reworded")),
        _info("riffusion", Availability(ok=False, reason="encoder /x is for 'musicgen'")),
    ]
    monkeypatch.setattr(page, "_backbone_infos", lambda: infos)
    assert page.unavailable_backbones_note() == (
        "Not available here: no weights on this machine for musicgen (`hf-fetch org/mg`),"
        " audioldm (`hf download cvssp/audioldm-s-full-v2`): download once, or"
        " set D2M_<BACKBONE>_MODEL to a model folder, and restart;"
        " riffusion (encoder /x is for 'musicgen')"
    )
    assert page.backbone_choices() == [("Groove", "groove")]
    monkeypatch.setattr(page, "_backbone_infos", lambda: infos[:1])
    assert page.unavailable_backbones_note() == ""


# ---------------------------------------------------------------------------- walkthrough fixes


def test_one_meaning_per_word():
    assert "dance style" in page.PROMPT_LABEL and "dance style" in page.GENRE_MENU_LABEL.lower()
    assert page.word_bank_label("genres") == "music genres"
    assert page.word_bank_label("moods") == "moods"
    assert "Music words" in page.WORD_BANK_TITLE
    ok = page.check_prompt(f"{DEFAULT_PROMPT}, jazz")
    assert "jazz (music genres)" in ok and "`@` dance style ✓" in ok


def test_long_prompt_is_refused_visibly():
    msg = page.check_prompt("a @ music with * as the rhythm " + "la " * 700)
    assert msg.startswith("✗ Too long") and f"at most {MAX_PROMPT_CHARS}" in msg


def test_beats_hit_counts_the_figures_hits():
    dance = [0.5, 1.0, 1.5, 2.0]
    music = [0.52, 1.2, 1.44, 2.07]  # 20 ms, 200 ms, 60 ms, 70 ms away
    assert page.beats_hit(dance, music) == (3, 4)
    assert page.beats_hit(dance, []) == (0, 4)
    assert page.beats_hit([], music) == (0, 0)


def test_intro_makes_no_claim_of_a_second_or_two():
    assert "second or two" not in page.INTRO and "a few seconds" in page.INTRO
    assert "hf download" not in page.INTRO and "Advanced" in page.BACKBONE_HINT


def test_upload_refusal_is_plain():
    msg = page.upload_refusal(
        "cannot read a<b>.mp4 as a video (Invalid data found when processing input): the file"
        " is truncated, corrupt or not a video"
    )
    assert "Invalid data" not in msg and msg.startswith("cannot read a&lt;b&gt;.mp4 as a video:")


def test_correction_from_the_page_is_checked():
    from d2m_core.dance.overrides import BeatOverrides
    from d2m_core.errors import D2MError

    assert page.parse_correction(None) is None and page.parse_correction({}) is None
    assert page.parse_correction("") is None
    assert page.parse_correction({"beat_shift_s": 0.0}) is None  # nothing corrected
    o = page.parse_correction('{"tempo_bpm": 120, "beat_shift_s": 0.02}')
    assert o == BeatOverrides(tempo_bpm=120, beat_shift_s=0.02)
    for bad in ("[1, 2]", "not json", 5, {"beats_file": "/etc/passwd"}, {"tempo": 1}):
        with pytest.raises(D2MError):
            page.parse_correction(bad)


def test_studio_status_says_what_the_beats_are_and_when_to_fix_them():
    from d2m_core.app.pipeline import AnalyzeOutput
    from d2m_core.dance.analysis import analyze_motion
    from d2m_core.dance.overrides import BeatOverrides, apply_overrides
    from d2m_core.dance.synth import synthetic_dance

    a = analyze_motion(synthetic_dance(bpm=96, duration_s=8.0, fps=30, seed=2))

    def out(analysis, confidence=None):
        summary = analysis.to_dict()
        if confidence is not None:
            summary["tempo_confidence"] = confidence
        return AnalyzeOutput(
            key="k", analysis=analysis, summary=summary, suggested_genre="pop",
            preview_png=None, plot_png=None,
        )  # fmt: skip

    auto = page.studio_status(out(a, confidence=0.9))
    assert "(automatic)" in auto and "uncertain" not in auto
    unsure = page.studio_status(out(a, confidence=0.1))
    assert "uncertain (confidence 0.10)" in unsure and "buttons below" in unsure
    fixed = apply_overrides(a, BeatOverrides(tempo_bpm=120, beat_shift_s=-0.03))
    text = page.studio_status(out(fixed, confidence=0.1), taps=2)
    assert "**120.0 BPM" in text and "tempo set by you" in text and "30 ms earlier" in text
    assert "uncertain" not in text  # the user has taken over
    assert "2 tap(s): keep tapping, 4 set the beat" in text
    grid = page.beat_grid(out(fixed))
    assert grid["source"] == "tempo" and grid["tempo_bpm"] == 120.0
    assert grid["correction"] == {"tempo_bpm": 120.0, "beat_shift_s": -0.03}
    assert grid["beats_s"] == [round(float(t), 3) for t in fixed.tempo.beats_s]
