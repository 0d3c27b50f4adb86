"""The Gradio app's event handlers and layout (no server: handlers are called directly)."""

from __future__ import annotations

import html
import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from conftest import write_test_video

from d2m_core.app import page, pipeline
from d2m_core.app.pipeline import Limits, Pipeline
from d2m_core.backbones.base import Availability, BackboneInfo
from d2m_core.errors import D2MError
from d2m_core.music.genres import GENRE_LABELS
from d2m_core.music.prompt import DEFAULT_PROMPT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_NPZ = str(ROOT / "assets" / "example_dance_112bpm.npz")


def _load_app():
    spec = importlib.util.spec_from_file_location("d2m_app", ROOT / "app.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["d2m_app"] = mod
    spec.loader.exec_module(mod)
    return mod


app = _load_app()


@pytest.fixture
def pipe(tmp_path: Path):
    old = pipeline._PIPELINE
    p = Pipeline(root=tmp_path / "work", limits=Limits(max_upload_mb=50, max_video_s=30))
    pipeline.set_pipeline(p)
    yield p
    p.close()
    pipeline._PIPELINE = old


def test_layout_names_every_event(pipe):
    demo = app.build_demo()
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"analyze", "generate", "check_prompt", "backbone_options"} <= names
    assert {"insert_instruments", "insert_moods", "insert_energy", "insert_genres"} <= names
    assert None not in names  # every event has an api_name
    api = demo.get_api_info()["named_endpoints"]
    assert "/analyze" in api and "/generate" in api


def test_analyze_then_generate_handlers(pipe):
    preview, summary, plot, genre, length, video, timeline, status, grid = app.analyze(
        None, EXAMPLE_NPZ, "dance", 0, 0
    )
    assert Path(preview).is_file() and Path(plot).is_file()  # plain values for API users
    assert re.search(r"\*\*11[12]\.\d BPM\*\*", summary)  # the 112 BPM example dancer
    assert genre["value"] in GENRE_LABELS and "suggested" in genre["label"]
    assert "10.0 s" in length["label"]
    assert video.endswith(".mp4") and Path(video).is_file()  # the skeleton, to play
    assert 'class="d2m-timeline"' in timeline and app.STUDIO_VIDEO in html.unescape(timeline)
    assert "(automatic)" in status
    assert grid["source"] == "auto" and grid["correction"] == {} and len(grid["beats_s"]) > 10
    video, audio, files, align, figures, result_timeline, records = app.generate(
        None, EXAMPLE_NPZ, "dance", 0, 0, f"{DEFAULT_PROMPT}, piano", genre["value"], "groove",
        7, 0, 3.0,
    )  # fmt: skip
    assert video.endswith(".mp4") and audio.endswith(".wav") and len(files) == 4
    assert Path(align).is_file() and "(suggested)" in figures
    assert "music beats" in result_timeline and app.RESULT_VIDEO in html.unescape(result_timeline)
    assert len(records) == 1 and records[0]["seed"] == 7 and records[0]["video"] == video
    # Scores in words first; the paper's metrics folded away in a details view.
    assert re.search(r"\*\*\d+ of \d+ beats hit\*\*", figures)
    assert "<details>" in figures and figures.index("<details>") < figures.index("BCS")
    assert pipe.stats["analyses"] == 1


@pytest.mark.parametrize(
    ("video", "kp", "prompt", "message"),
    [
        (None, None, DEFAULT_PROMPT, "no input"),
        (None, EXAMPLE_NPZ, "   ", "prompt is empty"),
        (None, EXAMPLE_NPZ, "a * and * music", "once"),
    ],
)
def test_user_errors_become_gr_error(pipe, video, kp, prompt, message):
    with pytest.raises(gr.Error, match=message):
        app.generate(video, kp, "dance", 0, 0, prompt, "auto", "groove", 0, 0, 3.0)


def _timeline(value: str) -> dict:
    return json.loads(html.unescape(re.search(r'data-timeline="([^"]*)"', value).group(1)))


def test_correction_buttons_and_taps_set_the_beats_generation_follows(pipe):
    kp = (None, EXAMPLE_NPZ, "dance", 0, 0)
    grid = app.analyze(*kp)[-1]
    auto_bpm = grid["tempo_bpm"]
    correction, timeline, status, grid = app.correct_beats(*kp, {}, "double")
    assert list(correction) == ["beat_times_s"]  # the beats shown, with their midpoints
    assert grid["tempo_bpm"] == pytest.approx(2 * auto_bpm, rel=0.02)
    assert "beats adjusted by you" in status and "automatic" in status
    correction, _, status, grid = app.correct_beats(*kp, {}, "three_two")
    assert correction == {"tempo_bpm": pytest.approx(1.5 * auto_bpm, rel=0.01)}
    assert "tempo set by you" in status
    correction, timeline, status, grid = app.correct_beats(*kp, {}, "double")
    correction, timeline, status, grid = app.correct_beats(*kp, correction, "later")
    assert correction["beat_shift_s"] == pytest.approx(0.01) and "10 ms later" in status
    drawn = _timeline(timeline)
    assert drawn["beats_s"] == grid["beats_s"] and drawn["auto_beats_s"]  # auto kept to compare
    # Generation follows the corrected grid, and the API's analysis takes it back the same.
    *_, figures, result_timeline, records = app.generate(
        *kp, DEFAULT_PROMPT, "auto", "groove", 0, 0, 3.0, False, correction
    )
    assert _timeline(result_timeline)["beats_s"] == grid["beats_s"]
    assert app.analyze(*kp, correction)[-1]["beats_s"] == grid["beats_s"]
    assert app.correct_beats(*kp, correction, "reset")[0] == {}
    # Taps: fewer than four only count; from four on they set the beat (and replace the rest).
    few = app.tap_beats(*kp, correction, "1.0,1.5,2.0")
    assert "3 tap(s)" in few[2] and few[0] is not None and "keep tapping" in few[2]
    correction, _, status, grid = app.tap_beats(*kp, correction, "1.0,1.5,2.0,2.5,3.0")
    assert grid["tempo_bpm"] == pytest.approx(120, rel=0.01) and "5 taps" in status
    assert list(correction) == ["tap_times_s"]
    with pytest.raises(gr.Error, match="JSON object"):
        app.analyze(*kp, "[1, 2]")
    with pytest.raises(gr.Error, match="Unknown|unknown|valid"):
        app.correct_beats(*kp, {}, "sideways")


def test_seeds_at_once_fill_the_lab(pipe):
    kp = (None, EXAMPLE_NPZ, "dance", 0, 0)
    *shown, records = app.generate_seeds(*kp, DEFAULT_PROMPT, "auto", "groove", 10, 4.0)
    assert [r["seed"] for r in records] == [10, 11, 12, 13]
    assert shown[0] == records[-1]["video"]  # the last one is shown
    assert len({r["id"] for r in records}) == 4
    stored, table, a, b, player, column = app.add_to_lab([], records)
    assert len(stored) == 4 and table.count("<tr>") == 5 and column["visible"] is True
    assert a["value"] == records[-1]["id"] and b["value"] == records[-2]["id"]
    assert 'class="d2m-ab"' in player
    # A reload brings back what the browser kept, less what expired or was never ours.
    Path(stored[0]["audio"]).unlink()
    restored, table, *_ = app.restore_lab([*stored, {"id": "x", "video": "/etc/passwd"}])
    assert [e["id"] for e in restored] == [r["id"] for r in records[1:]]
    assert "2 earlier result(s) are no longer on the server" in table
    assert "d2m-ab" in app.ab_player(restored, restored[0]["id"], restored[1]["id"])


def test_not_a_video_is_a_clear_error(pipe, tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"\x00" * 1000)
    with pytest.raises(gr.Error, match="holiday.mp4") as exc:
        app.analyze(str(fake), None, "", 0, 0)
    assert "Traceback" not in str(exc.value.message)


def test_bugs_are_hidden_behind_a_short_message(pipe, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(pipe, "analyze", boom)
    with pytest.raises(gr.Error) as exc:
        app.analyze(None, EXAMPLE_NPZ, "dance", 0, 0)
    assert "RuntimeError" in exc.value.message and "secret" not in exc.value.message


def test_error_messages_are_html_escaped(pipe, monkeypatch):
    def bad(*a, **k):
        raise D2MError("file <script>x</script> is odd")

    monkeypatch.setattr(pipe, "analyze", bad)
    with pytest.raises(gr.Error) as exc:
        app.analyze(None, EXAMPLE_NPZ, "dance", 0, 0)
    assert "<script>" not in exc.value.message and "&lt;script&gt;" in exc.value.message


def test_small_handlers():
    assert app.insert_word(["piano"], DEFAULT_PROMPT) == f"{DEFAULT_PROMPT}, piano"
    assert app.insert_word("sad", "") == f"{DEFAULT_PROMPT}, sad"
    assert app.check_prompt(DEFAULT_PROMPT).startswith("✓")
    guidance, zero_shot = app.backbone_options("groove")
    assert guidance["visible"] is False and zero_shot["interactive"] is True
    guidance, zero_shot = app.backbone_options("musicgen")
    assert guidance["visible"] is True  # no encoder configured: zero-shot only, and it says so
    assert zero_shot["value"] is True and zero_shot["interactive"] is False
    assert "D2M_MUSICGEN_ENCODER" in zero_shot["info"]
    other, tabs = app.keep_keypoints("/some/keypoints.npz")
    assert other is None and tabs.selected == "keypoints"  # clears the video, shows its tab
    assert app.keep_video(None)[0] is not None  # a cleared input leaves the other alone


def test_warm_up_once(pipe):
    pipe.warm_up()
    t0 = time.perf_counter()
    pipe.warm_up()  # a no-op the second time
    assert time.perf_counter() - t0 < 0.01


def test_command_line_defaults(monkeypatch):
    for var in ("D2M_HOST", "D2M_PORT", "D2M_MAX_UPLOAD_MB", "D2M_MAX_VIDEO_S"):
        monkeypatch.delenv(var, raising=False)
    a = app.parse_args([])
    assert (a.host, a.port, a.share) == ("127.0.0.1", 7860, False)
    a = app.parse_args(["--host", "0.0.0.0", "--port", "9000", "--share", "--max-video-s", "20"])
    assert (a.host, a.port, a.share, a.max_video_s) == ("0.0.0.0", 9000, True, 20.0)
    with pytest.raises(SystemExit):
        app.parse_args(["--max-upload-mb", "0"])  # would reject every upload


def _queue_limit(demo: gr.Blocks, api_name: str) -> int | None:
    """How many runs of an event the demo's queue lets through at once."""
    fn = next(f for f in demo.fns.values() if f.api_name == api_name)
    # What the queue does on the event's first request: "default" resolves to the queue's
    # default_concurrency_limit, events sharing a concurrency_id share the lowest limit.
    demo._queue.create_event_queue_for_fn(fn)
    return demo._queue.event_queue_per_concurrency_id[fn.concurrency_id].concurrency_limit


@pytest.mark.parametrize(("flags", "limit"), [([], 2), (["--concurrency", "1"], 1)])
def test_concurrency_flag_limits_analyse_and_generate(pipe, monkeypatch, flags, limit):
    """``python app.py --concurrency 1``: Analyse and Generate each run one job at a time."""
    served: list[gr.Blocks] = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda demo, **kw: served.append(demo))
    assert app.main([*flags, "--no-warmup"]) == 0
    (demo,) = served
    try:
        for name in ("analyze", "generate"):
            fn = next(f for f in demo.fns.values() if f.api_name == name)
            assert (fn.concurrency_id, fn.concurrency_limit) == (name, limit)
            assert _queue_limit(demo, name) == limit
    finally:
        pipeline.get_pipeline().close()


def test_page_shows_download_commands_for_missing_weights(pipe, monkeypatch):
    infos = [
        BackboneInfo(
            name="groove", label="Groove", availability=Availability(ok=True, reason="ok")
        ),
        BackboneInfo(
            name="musicgen",
            label="MusicGen",
            availability=Availability.not_cached("org/mg", "MusicGen <weights> are missing"),
        ),
    ]
    monkeypatch.setattr(page, "_backbone_infos", lambda: infos)
    components = app.build_demo().config["components"]
    notes = [c for c in components if "backbone-note" in (c["props"].get("elem_classes") or [])]
    assert len(notes) == 1 and "(`hf download org/mg`)" in notes[0]["props"]["value"]
    (backbone,) = [c for c in components if c["props"].get("label") == "Backbone"]
    assert [tuple(x) for x in backbone["props"]["choices"]] == [("Groove", "groove")]


def test_api_parameters_all_have_defaults(pipe):
    """gradio_client users pass the file only: every other parameter has a default."""
    api = app.build_demo().get_api_info()["named_endpoints"]
    for name in ("/analyze", "/generate"):
        missing = [
            p["parameter_name"] for p in api[name]["parameters"] if not p["parameter_has_default"]
        ]
        assert missing == [], (name, missing)
    gen = {p["parameter_name"]: p["parameter_default"] for p in api["/generate"]["parameters"]}
    assert gen["prompt"] == DEFAULT_PROMPT and gen["genre"] == "auto" and gen["seed"] == 0


def test_new_input_clears_every_result():
    cleared = app.new_input()
    # ... then the studio, the correction and the result's extras
    assert cleared[-2] == {} and cleared[-3]["visible"] is False and cleared[-1]["visible"] is False
    assert len(cleared) == 19  # analysis outputs, generation outputs, the three above
    preview, summary, plot, genre, length, studio_video, timeline, status, grid = cleared[:9]
    video, audio, files, align, figures, result_timeline, records = cleared[9:16]
    for u in (preview, video, audio, files, align, result_timeline):
        assert u["value"] is None and u["visible"] is False
    assert plot is None and studio_video is None and grid is None and records == []
    assert timeline == "" and status == ""
    assert summary == page.ANALYSIS_PLACEHOLDER and figures == page.RESULTS_PLACEHOLDER
    assert genre["value"] == "auto" and genre["label"] == page.GENRE_MENU_LABEL


def test_upload_check_refuses_a_text_file_and_clears_the_player(pipe, tmp_path, monkeypatch):
    warned: list[str] = []
    monkeypatch.setattr(app.gr, "Warning", lambda msg, **kw: warned.append(msg))
    fake = tmp_path / "notes.mp4"
    fake.write_text("my notes, not a video\n" * 10)
    player, *rest = app.check_video_upload(str(fake))
    assert player is None and len(rest) == 19
    assert len(warned) == 1 and "notes.mp4" in warned[0] and "video" in warned[0]
    ok = tmp_path / "dance.mp4"
    write_test_video(ok, [np.zeros((64, 64, 3), np.uint8)] * 10, fps=10)
    warned.clear()
    player, *_ = app.check_video_upload(str(ok))
    assert warned == [] and player is not None  # gr.skip(): the upload stays


def test_visibility_steps_return_what_gradio_takes():
    # One output takes the update itself (a 1-tuple is refused for a layout block).
    assert app._hide_many(1)() == {"__type__": "update", "visible": False}
    shown = app._show_many(2)()
    assert isinstance(shown, tuple) and all(u["visible"] is True for u in shown)
