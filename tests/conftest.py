"""Shared test fixtures: the real test data beside the project, synthetic video writers, click
tracks, and one torch thread for the tiny-model tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real test data folder (``../shared/data`` from the project root); skips if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (a fresh clone has none)")
    return SHARED_DATA


def _shared_file(shared_data: Path, rel: str) -> Path:
    p = shared_data / rel
    if not p.is_file():
        pytest.skip(f"real test file {rel} not found in {shared_data}")
    return p


@pytest.fixture(scope="session")
def shared_file(shared_data: Path) -> Callable[[str], Path]:
    """Factory: ``shared_file("videos/x.mp4")`` -> that file; skips when it is missing."""
    return lambda rel: _shared_file(shared_data, rel)


def write_test_video(
    path: Path,
    frames: Sequence[np.ndarray],
    *,
    fps: float | Fraction = 30,
    times_s: Sequence[float] | None = None,
    codec: str = "libx264",
    rotation: int | None = None,
    faststart: bool = False,
    audio_sr: int | None = None,
) -> Path:
    """Encode RGB frames with PyAV, optionally with explicit (VFR) timestamps and rotation.

    ``rotation`` is the counter-clockwise display rotation stored in the container (the coded
    frames are ``frames`` as given). No B-frames, so stream durations are exact.
    """
    h, w = frames[0].shape[:2]
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as c:
        rate = Fraction(fps).limit_denominator(1001)
        s = c.add_stream(codec, rate=rate)
        s.width, s.height = w, h
        s.pix_fmt = "yuv420p"
        if codec == "libx264":
            s.options = {"bframes": "0", "preset": "ultrafast"}
        else:
            s.max_b_frames = 0
        tb = Fraction(1, 1000) if times_s is not None else 1 / rate
        s.time_base = tb
        s.codec_context.time_base = tb
        if rotation is not None:
            s.set_display_rotation(rotation)
        a_stream = None
        if audio_sr:
            a_stream = c.add_stream("aac", rate=audio_sr, layout="mono")
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            f.pts = i if times_s is None else int(round(times_s[i] * 1000))
            f.time_base = tb
            c.mux(s.encode(f))
        c.mux(s.encode(None))
        if a_stream is not None:
            n = int(len(frames) / float(rate) * audio_sr)
            af = av.AudioFrame.from_ndarray(
                np.zeros((1, n), np.float32), format="fltp", layout="mono"
            )
            af.sample_rate = audio_sr
            af.pts = 0
            c.mux(a_stream.encode(af))
            c.mux(a_stream.encode(None))
    return path


@pytest.fixture(scope="session")
def video_writer() -> Callable[..., Path]:
    """:func:`write_test_video` itself, for module- or session-scoped fixtures."""
    return write_test_video


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_video(name, frames, **kw)`` -> path of a synthetic video in tmp_path."""

    def make(name: str, frames: Sequence[np.ndarray], **kw) -> Path:
        return write_test_video(tmp_path / name, frames, **kw)

    return make


def _gray_frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    return [np.full((h, w, 3), 10 + (20 * k) % 230, np.uint8) for k in range(n)]


@pytest.fixture(scope="session")
def gray_frames() -> Callable[..., list[np.ndarray]]:
    """Factory: ``gray_frames(n, w=64, h=48)`` -> solid RGB frames, grey = 10 + (20 k mod 230)."""
    return _gray_frames


@pytest.fixture(scope="session")
def dancer_frames(shared_data: Path) -> tuple[list[np.ndarray], float]:
    """The first 48 frames (3 s) of the shared dance video at max side 480, and its fps."""
    from d2m_core.io.video import iter_frames, probe_video

    path = _shared_file(shared_data, "videos/unianimate_dance_9s.mp4")
    frames = []
    for _, rgb in iter_frames(path, max_side=480):
        frames.append(rgb)
        if len(frames) == 48:
            break
    return frames, probe_video(path).fps


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module's tests (``pytestmark = pytest.mark.usefixtures(
    "one_thread")``): tiny models run faster on one, and far faster on a busy CI machine."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _click_track(beats: Sequence[float], duration_s: float, sr: int = 16000) -> np.ndarray:
    y = np.zeros(int(duration_s * sr), np.float32)
    n = 600
    seg = np.exp(-np.arange(n) / 150) * np.sin(2 * np.pi * 180 * np.arange(n) / sr)
    for b in beats:
        a = int(b * sr)
        y[a : a + n] += seg[: len(y[a : a + n])]
    return y


@pytest.fixture(scope="session")
def click_track() -> Callable[..., np.ndarray]:
    """Factory: ``click_track(beats_s, duration_s, sr=16000)`` -> float32 mono music with a
    decaying 180 Hz click (37.5 ms) on every beat."""
    return _click_track


def _burst_track(
    times_s, duration_s: float, *, sr: int = 22050, freq: float = 1500.0
) -> np.ndarray:
    """Silence with a 10 ms decaying sine burst starting at each time (float32 mono)."""
    y = np.zeros(int(round(duration_s * sr)), np.float32)
    t = np.arange(int(0.01 * sr)) / sr
    burst = (0.8 * np.sin(2 * np.pi * freq * t) * np.exp(-t / 0.002)).astype(np.float32)
    for s in np.asarray(times_s, float):
        i = int(round(s * sr))
        seg = y[i : i + burst.size]
        seg += burst[: seg.size]
    return y


@pytest.fixture(scope="session")
def clicks() -> Callable[..., np.ndarray]:
    """Factory: ``clicks(times_s, duration_s, sr=22050)`` -> a click track."""
    return _burst_track


@pytest.fixture(autouse=True)
def _never_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never fetch models: a ``D2M_DOWNLOAD=1`` in the developer's shell is ignored
    (tests/backbones/test_download.py turns the option on against a fake hub)."""
    monkeypatch.delenv("D2M_DOWNLOAD", raising=False)
