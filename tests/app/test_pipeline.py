"""The app's pipeline (d2m_core.app.pipeline): caching, limits, files, cleanup, settings."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from d2m_core.app import page, pipeline
from d2m_core.app.pipeline import Limits, Pipeline
from d2m_core.dance.analysis import analyze_motion
from d2m_core.dance.synth import synthetic_dance
from d2m_core.errors import D2MError
from d2m_core.io.video import is_browser_safe
from d2m_core.music.genres import GENRE_LABELS
from d2m_core.music.prompt import DEFAULT_PROMPT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_NPZ = ROOT / "assets" / "example_dance_112bpm.npz"
EXAMPLE_MP4 = ROOT / "assets" / "example_dancer_96bpm.mp4"


def _streams(path: Path) -> dict[str, tuple[str, float]]:
    with av.open(str(path)) as c:
        return {s.type: (s.codec_context.name, float(s.duration * s.time_base)) for s in c.streams}


@pytest.fixture
def pipe(tmp_path: Path):
    p = Pipeline(root=tmp_path / "work", limits=Limits(max_upload_mb=50, max_video_s=30))
    yield p
    p.close()


# ---------------------------------------------------------------------------- settings


def test_backbone_settings_from_env(monkeypatch, tmp_path):
    assert pipeline.backbone_settings("groove") == {}
    monkeypatch.setenv("D2M_MUSICGEN_MODEL", "debug")
    assert pipeline.backbone_settings("musicgen") == {"model": "debug"}
    monkeypatch.setenv("D2M_MUSICGEN_ENCODER", str(tmp_path / "enc"))
    monkeypatch.setenv("D2M_DEVICE", "cpu")
    assert pipeline.backbone_settings("musicgen") == {
        "model": "debug",
        "encoder": str(tmp_path / "enc"),
        "device": "cpu",
    }
    assert pipeline.backbone_settings("audioldm") == {"device": "cpu"}
    assert not pipeline.backbone_takes_guidance("groove")
    assert pipeline.backbone_takes_guidance("musicgen")


def test_gpu_task_is_harmless_without_spaces():
    def f(x):
        return x + 1

    assert pipeline.gpu_task()(f)(1) == 2


def test_limits_from_env(monkeypatch):
    monkeypatch.setenv("D2M_MAX_UPLOAD_MB", "12")
    monkeypatch.setenv("D2M_MAX_VIDEO_S", "7.5")
    assert Limits.from_env() == Limits(max_upload_mb=12, max_video_s=7.5)
    monkeypatch.setenv("D2M_MAX_VIDEO_S", "long")
    with pytest.raises(D2MError, match="D2M_MAX_VIDEO_S"):
        Limits.from_env()
    with pytest.raises(D2MError, match="positive"):
        Limits(max_upload_mb=0)


# ----------------------------------------------------------------------- keypoint pipeline


def test_keypoints_analyze_generate_and_reuse(pipe):
    a = pipe.analyze(EXAMPLE_NPZ, key="dance")
    assert not a.cached and a.summary["tempo_bpm"] == pytest.approx(112, abs=2)
    assert a.summary["source"] == EXAMPLE_NPZ.name
    assert a.suggested_genre in GENRE_LABELS
    for png in (a.preview_png, a.plot_png):
        assert png.read_bytes()[:4] == b"\x89PNG"
    text = page.analysis_markdown(a)
    assert re.search(r"\*\*11[12]\.\d BPM\*\*", text) and "Suggested dance style" in text

    g = pipe.generate(EXAMPLE_NPZ, key="dance", prompt=f"{DEFAULT_PROMPT}, piano", seed=1)
    assert g.analysis_cached  # no second analysis
    s = _streams(g.video_mp4)
    assert s["video"][0] == "h264" and s["audio"][0] == "aac"
    assert s["video"][1] == pytest.approx(10.0, abs=0.1)
    assert g.audio_wav.stat().st_size > 100_000
    report = json.loads(g.report_json.read_text())
    for k in ("beat_f_measure", "bcs_0.2s", "bhs_0.2s", "f1_0.2s", "genre", "seed", "prompt"):
        assert k in report
    assert report["seed"] == 1 and report["analysis_cached"] is True
    assert g.alignment_png.read_bytes()[:4] == b"\x89PNG"
    text = page.generation_markdown(g)
    assert "Beat F-measure" in text and "no pose pass" in text
    assert len({f.parent for f in g.files}) == 1  # one folder per request

    g2 = pipe.generate(EXAMPLE_NPZ, key="dance", genre="house", seed=2, duration_s=4)
    assert g2.video_mp4.parent != g.video_mp4.parent
    # Another prompt with the same dance, style and seed: a result of its own, a name of its own.
    g_other = pipe.generate(EXAMPLE_NPZ, key="dance", prompt=f"{DEFAULT_PROMPT}, sad", seed=1)
    assert g_other.report["genre"] == g.report["genre"]
    assert g_other.video_mp4.name != g.video_mp4.name and "_groove_seed1_" in g.video_mp4.name
    assert g2.report["genre"] == "house" and g2.report["music_duration_s"] == pytest.approx(4)
    assert pipe.stats["analyses"] == 1 and pipe.stats["generations"] == 3

    g3 = pipe.generate(EXAMPLE_NPZ, key="dance", genre="house", zero_shot=True)
    zs = g3.report["zero_shot"]
    assert zs["aligned"] and "house music with a beat at 112 BPM" in zs["prompt_sent"]
    text = page.generation_markdown(g3)
    assert "Zero-shot sync" in text and "→" in text


def test_keypoint_options_are_part_of_the_key(pipe, tmp_path):
    kp = synthetic_dance(bpm=100, duration_s=4, fps=30, seed=1).keypoints
    f = tmp_path / "k.npy"
    np.save(f, kp)
    with pytest.raises(D2MError, match="fps"):
        pipe.analyze(f)  # .npy stores no frame rate
    a30 = pipe.analyze(f, fps=30)
    a60 = pipe.analyze(f, fps=60)
    assert a30.key != a60.key
    assert a60.summary["duration_s"] == pytest.approx(a30.summary["duration_s"] / 2, abs=0.05)


def test_same_content_other_path_hits_the_cache(pipe, tmp_path):
    copy = tmp_path / "renamed.npz"
    copy.write_bytes(EXAMPLE_NPZ.read_bytes())
    pipe.analyze(EXAMPLE_NPZ, key="dance")
    assert pipe.analyze(copy, key="dance").cached


def test_concurrent_requests_share_one_analysis(pipe, monkeypatch):
    calls = []
    real = pipeline.analyze

    def slow_analyze(*args, **kwargs):
        calls.append(1)
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "analyze", slow_analyze)
    errors: list[BaseException] = []

    def work():
        try:
            pipe.generate(EXAMPLE_NPZ, key="dance")
        except BaseException as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(calls) == 1 and pipe.stats["analyses"] == 1 and pipe.stats["generations"] == 4


def test_lru_eviction_and_cleanup(tmp_path):
    pipe = Pipeline(root=tmp_path / "w", cache_size=1)
    files = []
    for bpm in (90, 120):
        f = tmp_path / f"d{bpm}.npz"
        np.savez(f, k=synthetic_dance(bpm=bpm, duration_s=3, seed=bpm).keypoints, fps=30.0)
        files.append(f)
    first = pipe.analyze(files[0])
    pipe.analyze(files[1])
    assert pipe.cached_keys() == [pipe.analyze(files[1]).key]
    assert first.preview_png.exists()  # kept for a grace period: a request may still read it
    out = pipe.generate(files[1])
    old = time.time() - 2 * 3600
    os.utime(out.video_mp4.parent, (old, old))
    removed = pipe.cleanup(now=time.time() + 300)
    assert removed == 2  # the evicted analysis and the expired output folder
    assert not first.preview_png.exists() and not out.video_mp4.parent.exists()
    assert not pipe.analyze(files[0]).cached  # evicted: analysed again
    pipe.close()


# ------------------------------------------------------------------------------ bad input


def test_bad_inputs_raise_one_line_errors(pipe, tmp_path):
    with pytest.raises(D2MError, match="no input"):
        pipe.analyze(None)
    with pytest.raises(D2MError, match="not found"):
        pipe.analyze(tmp_path / "missing.mp4")
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(D2MError, match="not a\\s+video|cannot read"):
        pipe.analyze(fake)
    with pytest.raises(D2MError, match="empty"):
        pipe.generate(EXAMPLE_NPZ, key="dance", prompt="  ")
    assert pipe.stats["analyses"] == 0  # a bad prompt fails before any analysis
    with pytest.raises(D2MError, match="unknown genre"):
        pipe.generate(EXAMPLE_NPZ, key="dance", genre="polka")
    with pytest.raises(D2MError, match="unknown backbone"):
        pipe.generate(EXAMPLE_NPZ, key="dance", backbone="nope")


def test_limits(tmp_path):
    small = Pipeline(root=tmp_path / "a", limits=Limits(max_upload_mb=0.001, max_video_s=60))
    with pytest.raises(D2MError, match="up to 0.001 MB"):
        small.analyze(EXAMPLE_NPZ, key="dance")
    short = Pipeline(root=tmp_path / "b", limits=Limits(max_upload_mb=50, max_video_s=5))
    with pytest.raises(D2MError, match="10.0 s long; this demo takes up to 5 s"):
        short.analyze(EXAMPLE_NPZ, key="dance")
    with pytest.raises(D2MError, match="8.0 s long"):
        short.analyze(EXAMPLE_MP4)  # refused before any pose estimation
    assert short.stats["analyses"] == 0


# ----------------------------------------------------------------------------- video paths


def test_example_video_is_analysable(pipe):
    """The bundled example video: MediaPipe finds the rendered dancer, tempo is right."""
    a = pipe.analyze(EXAMPLE_MP4)
    assert a.summary["frames_with_person"] == a.summary["frames_total"]
    assert a.summary["tempo_bpm"] == pytest.approx(96, abs=2)
    g = pipe.generate(EXAMPLE_MP4, seed=3)
    s = _streams(g.video_mp4)
    assert s["video"] == ("h264", pytest.approx(8.0, abs=0.1))
    assert s["audio"][0] == "aac"


def test_non_browser_video_is_transcoded_once(pipe, tmp_path, make_video, monkeypatch):
    """An MPEG-4 Part 2 upload: one background transcode, every generation copies it."""
    m = synthetic_dance(bpm=100, duration_s=3, fps=25, seed=4, frame_size=(96, 64))
    frames = [np.full((64, 96, 3), 40 + 5 * (i % 20), np.uint8) for i in range(m.num_frames)]
    src = make_video("upload.mp4", frames, fps=25, codec="mpeg4")
    assert not is_browser_safe(src)
    # No person in flat frames: stand in the synthetic motion for the pose pass.
    monkeypatch.setattr(pipeline, "analyze", lambda path, **kw: analyze_motion(m))
    transcodes = []
    real = pipeline._transcode
    monkeypatch.setattr(
        pipeline, "_transcode", lambda *a: transcodes.append(1) or real(*a)
    )  # fmt: skip
    pipe.analyze(src)
    outs = [pipe.generate(src, seed=s) for s in (0, 1)]
    assert len(transcodes) == 1
    for g in outs:
        s = _streams(g.video_mp4)
        assert s["video"][0] == "h264" and s["audio"][0] == "aac"
        assert s["video"][1] == pytest.approx(3.0, abs=0.1)
