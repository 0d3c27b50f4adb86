"""End to end: the app served on 127.0.0.1, driven with gradio_client like any API user."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from d2m_core.music.prompt import DEFAULT_PROMPT

ROOT = Path(__file__).resolve().parents[2]
VIDEO = "videos/unianimate_dance_9s.mp4"

# gradio's queue statistics trip pandas 3 deprecation warnings: not ours.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


def load_app():
    if "d2m_app" in sys.modules:
        return sys.modules["d2m_app"]
    spec = importlib.util.spec_from_file_location("d2m_app", ROOT / "app.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["d2m_app"] = mod
    spec.loader.exec_module(mod)
    return mod


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(*flags: str):
    """Start app.py's own launch path in this process; returns (demo, url)."""
    app = load_app()
    port = free_port()
    args = app.parse_args(["--port", str(port), "--no-warmup", *flags])
    demo = app.launch(args, prevent_thread_lock=True, quiet=True)
    return demo, f"http://127.0.0.1:{port}/"


def streams(path: str | Path) -> dict[str, tuple[str, float]]:
    with av.open(str(path)) as c:
        return {s.type: (s.codec_context.name, float(s.duration * s.time_base)) for s in c.streams}


@pytest.fixture(scope="module")
def server():
    demo, url = serve()
    yield url
    demo.close()


def test_analyze_and_generate_through_the_api(server, shared_file):
    from gradio_client import Client, handle_file

    from d2m_core.app import pipeline as service
    from d2m_core.io.video import probe_video

    video = shared_file(VIDEO)
    client = Client(server, verbose=False)
    t0 = time.perf_counter()
    # The file alone: every other parameter has a default (the README's form).
    preview, summary, plot, genre, length, *_, grid = client.predict(
        handle_file(str(video)), api_name="/analyze"
    )
    t_analyze = time.perf_counter() - t0
    assert Path(preview).is_file() and Path(plot).is_file()
    assert "BPM" in summary and "150 of 150 frames" in summary
    assert grid["source"] == "auto" and len(grid["beats_s"]) >= 8
    suggested = genre["value"]

    def gen(prompt: str, seed: int) -> tuple:
        return client.predict(
            handle_file(str(video)), prompt=prompt, genre=suggested, seed=seed,
            api_name="/generate",
        )  # fmt: skip

    t0 = time.perf_counter()
    mp4, wav, files, align, figures, _, records = gen("a @ music with * as the rhythm", 0)
    t_first = time.perf_counter() - t0
    s = streams(mp4)
    duration = probe_video(video).duration_s
    assert s["video"][0] == "h264" and s["audio"][0] == "aac"
    assert s["video"][1] == pytest.approx(duration, abs=0.1)
    assert s["audio"][1] == pytest.approx(duration, abs=0.1)
    assert Path(wav).suffix == ".wav" and len(files) == 4 and Path(align).is_file()
    assert "beats hit" in figures and "Beat F-measure" in figures and "BCS" in figures
    assert records[0]["seed"] == 0 and records[0]["total"] == len(grid["beats_s"])

    # A new prompt and seed reuse the analysis: no second pose pass.
    analyses = service.get_pipeline().stats["analyses"]
    t0 = time.perf_counter()
    mp4b, _, files_b, _, figures_b, *_ = gen("a @ music with * as the rhythm, jazzy piano", 5)
    t_regen = time.perf_counter() - t0
    assert "no pose pass" in figures_b and Path(mp4b).name != Path(mp4).name
    # The names differ too, not only the folders: downloads of two results never collide.
    assert {Path(f).name for f in files} & {Path(f).name for f in files_b} == set()
    assert service.get_pipeline().stats["analyses"] == analyses
    print(f"\nanalyze {t_analyze:.2f} s, generate {t_first:.2f} s, re-generate {t_regen:.2f} s")


def test_api_takes_and_returns_the_corrected_grid(server):
    """The beat correction travels as JSON: ``/analyze`` returns the grid in use and takes a
    correction; ``/generate`` follows it."""
    import mir_eval
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    example = handle_file(str(ROOT / "assets" / "example_dancer_96bpm.mp4"))
    auto = client.predict(example, api_name="/analyze")[-1]
    # 3/2 of the 96 BPM dancer: a tempo the music's beat tracker reads at its own level.
    fix = {"tempo_bpm": round(auto["tempo_bpm"] * 1.5, 2), "beat_shift_s": 0.05}
    grid = client.predict(example, beat_correction=fix, api_name="/analyze")[-1]
    assert grid["source"] == "tempo" and grid["correction"] == fix
    assert grid["tempo_bpm"] == pytest.approx(auto["tempo_bpm"] * 1.5, rel=0.02)
    *_, records = client.predict(example, beat_correction=fix, api_name="/generate")
    report = json.loads(Path(records[0]["report"]).read_text())
    assert report["visual_beats_s"] == grid["beats_s"] and report["beats_source"] == "tempo"
    f = mir_eval.beat.f_measure(np.array(grid["beats_s"]), np.array(report["music_beats_s"]))
    assert f >= 0.8, f


def test_user_errors_reach_the_client_as_messages(server, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    junk = tmp_path / "clip.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(AppError, match="clip.mp4"):
        client.predict(handle_file(str(junk)), api_name="/analyze")
    npz = ROOT / "assets" / "example_dance_112bpm.npz"
    with pytest.raises(AppError, match="prompt is empty"):
        client.predict(
            None, handle_file(str(npz)), "dance", 0, 0, "", "auto", "groove", 0, 0, 3.0, False,
            api_name="/generate",
        )  # fmt: skip
    # The server is still fine afterwards.
    assert "✓" in client.predict("a @ music with * as the rhythm", api_name="/check_prompt")


def test_analyze_takes_the_file_alone(server):
    """``Client(url).predict(handle_file("dance.mp4"), api_name="/analyze")``, as the README
    shows, with a keypoint file by name, and a long prompt refused with its reason."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in ("/analyze", "/generate"):
        assert all(p["parameter_has_default"] for p in info[name]["parameters"]), name
    npz = ROOT / "assets" / "example_dance_112bpm.npz"
    _, summary, *_ = client.predict(keypoints=handle_file(str(npz)), api_name="/analyze")
    assert "BPM" in summary
    example = ROOT / "assets" / "example_dancer_96bpm.mp4"
    preview, summary, plot, *_ = client.predict(handle_file(str(example)), api_name="/analyze")
    assert Path(preview).is_file() and Path(plot).is_file() and "BPM" in summary
    with pytest.raises(AppError, match="characters"):
        client.predict(
            handle_file(str(example)), prompt=DEFAULT_PROMPT + ", la" * 200, api_name="/generate"
        )
