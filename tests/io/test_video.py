from __future__ import annotations

import hashlib
import os
from pathlib import Path

import av
import numpy as np
import pytest

from d2m_core.errors import D2MError
from d2m_core.io.video import (
    iter_frames,
    mux_audio,
    probe_video,
    read_frames_at,
    write_video,
)

UNIANIMATE = "videos/unianimate_dance_9s.mp4"
AIST = "videos/aist_clip_2s_a.mp4"


def _streams(path: Path) -> dict[str, tuple[str, float]]:
    """{type: (codec, duration_s)} of a media file."""
    with av.open(str(path)) as c:
        return {s.type: (s.codec_context.name, float(s.duration * s.time_base)) for s in c.streams}


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".part" in p.name]


def _level(rgb: np.ndarray) -> int:
    """Frame index encoded by the gray_frames fixture (grey = 10 + 20 k)."""
    return int(round((float(rgb.mean()) - 10) / 20))


# ---------------------------------------------------------------------------------- probing


@pytest.mark.parametrize(
    ("rel", "size", "fps", "duration", "frames"),
    [
        (UNIANIMATE, (692, 1108), 16.0, 9.375, 150),
        (AIST, (1920, 1080), 60000 / 1001, 2.002, 120),
    ],
)
def test_probe_shared_videos(shared_file, rel, size, fps, duration, frames):
    info = probe_video(shared_file(rel))
    assert (info.width, info.height) == size
    assert info.fps == pytest.approx(fps, rel=1e-6)
    assert info.duration_s == pytest.approx(duration, abs=1e-3)
    assert info.num_frames == frames
    assert info.rotation == 0 and not info.has_audio and info.codec == "h264"


def test_iter_frames_shared_downscaled(shared_file):
    frames = list(iter_frames(shared_file(AIST), max_side=640))
    assert len(frames) == 120
    assert frames[0][1].shape == (360, 640, 3) and frames[0][1].dtype == np.uint8
    t = np.array([f[0] for f in frames])
    assert t[0] == 0.0
    np.testing.assert_allclose(np.diff(t), 1001 / 60000, atol=1e-6)


def test_cfr_synthetic(make_video, gray_frames):
    path = make_video("cfr.mp4", gray_frames(10), fps=25)
    info = probe_video(path)
    assert (info.width, info.height, info.num_frames) == (64, 48, 10)
    assert info.fps == pytest.approx(25) and info.duration_s == pytest.approx(0.4)
    got = list(iter_frames(path))
    assert [round(t * 25) for t, _ in got] == list(range(10))
    assert [_level(rgb) for _, rgb in got] == list(range(10))
    # no upscaling when the frame is already small
    assert next(iter_frames(path, max_side=640))[1].shape == (48, 64, 3)


def _keyframe_video(path: Path, frames: list[np.ndarray], *, fps: int, gop: int) -> Path:
    """Encode ``frames`` with a keyframe every ``gop`` frames (and no B-frames)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"bframes": "0", "preset": "ultrafast", "sc_threshold": "0"}
        s.codec_context.gop_size = gop
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


def test_iter_frames_part_and_keep(make_video, gray_frames, tmp_path):
    """A part of the video (seeking to a keyframe, or decoding on from the one before) and a
    subset of frames give the same frames and times as the whole decode."""
    path = _keyframe_video(tmp_path / "gop.mp4", gray_frames(12), fps=10, gop=4)
    assert probe_video(path).keyframes_s == pytest.approx((0.0, 0.4, 0.8))
    whole = [(round(t * 10), _level(rgb)) for t, rgb in iter_frames(path)]
    assert whole == [(k, k) for k in range(12)]
    parts = [
        (0.4, 0.8, [4, 5, 6, 7]),  # from a keyframe
        (0.5, 0.7, [5, 6]),  # between keyframes
        (0.8, None, [8, 9, 10, 11]),
        (0.0, 0.25, [0, 1, 2]),
    ]
    for start, end, expect in parts:
        got = [
            (round(t * 10), _level(rgb)) for t, rgb in iter_frames(path, start_s=start, end_s=end)
        ]
        assert got == [(k, k) for k in expect], (start, end)
    even = [
        round(t * 10)
        for t, _ in iter_frames(path, start_s=0.3, keep=lambda t: round(t * 10) % 2 == 0)
    ]
    assert even == [4, 6, 8, 10]
    # One keyframe only (the usual for short clips): a late start decodes from the first frame.
    single = make_video("single.mp4", gray_frames(8), fps=10)
    assert probe_video(single).keyframes_s == (0.0,)
    assert [_level(rgb) for _, rgb in iter_frames(single, start_s=0.5)] == [5, 6, 7]


def test_vfr_timestamps(make_video, gray_frames):
    times = [0.0, 0.04, 0.08, 0.2, 0.24, 0.5, 0.54, 0.58]
    path = make_video("vfr.mp4", gray_frames(len(times)), fps=25, times_s=times)
    got = [t for t, _ in iter_frames(path)]
    np.testing.assert_allclose(got, times, atol=1e-3)
    info = probe_video(path)
    assert info.num_frames == len(times)
    assert info.duration_s == pytest.approx(0.62, abs=0.01)  # last frame lasts 40 ms
    assert info.fps == pytest.approx(len(times) / info.duration_s)


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_metadata_is_applied(make_video, rotation):
    # Coded frame: 64 wide x 32 high, left quarter white.
    coded = np.zeros((32, 64, 3), np.uint8)
    coded[:, :16] = 255
    path = make_video("rot.mp4", [coded] * 3, rotation=rotation)
    info = probe_video(path)
    assert info.rotation == rotation
    assert (info.width, info.height) == ((32, 64) if rotation != 180 else (64, 32))
    rgb = next(iter_frames(path))[1]
    assert rgb.shape[:2] == (info.height, info.width)
    # The white band sits where a counter-clockwise rotation puts the left edge.
    white = rgb.mean(axis=2) > 128
    if rotation == 90:
        assert white[-16:].all() and not white[:-18].any()  # bottom
    elif rotation == -90:
        assert white[:16].all() and not white[18:].any()  # top
    else:
        assert white[:, -16:].all() and not white[:, :-18].any()  # right
    small = next(iter_frames(path, max_side=32))[1]
    assert max(small.shape[:2]) == 32 and small.shape[0] > small.shape[1] or rotation == 180


def test_read_frames_at(make_video, gray_frames):
    path = make_video("seek.mp4", gray_frames(12), fps=10)
    got = read_frames_at(path, [0.55, 0.0, 0.3, 0.31, 5.0, -1.0])
    assert [_level(f) for f in got] == [5, 0, 3, 3, 11, 0]


# ---------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    with pytest.raises(D2MError, match="not found"):
        probe_video(tmp_path / "nope.mp4")


def test_text_file_named_mp4(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("this is not a video\n" * 20)
    with pytest.raises(D2MError, match="not a video"):
        probe_video(p)
    with pytest.raises(D2MError):
        list(iter_frames(p))


def test_empty_file_and_folder(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(D2MError, match="empty"):
        probe_video(tmp_path / "empty.mp4")
    with pytest.raises(D2MError, match="not a file"):
        probe_video(tmp_path)


def test_truncated_real_video(shared_file, tmp_path):
    data = shared_file(UNIANIMATE).read_bytes()
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[: len(data) // 2])  # its index (moov) is at the end: now gone
    with pytest.raises(D2MError, match="truncated") as e:
        probe_video(p)
    assert "\n" not in str(e.value)


def test_truncated_faststart_video(make_video, tmp_path):
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(40)]
    full = make_video("fs.mp4", noise, faststart=True).read_bytes()
    mdat = full.find(b"mdat")
    assert mdat < len(full) // 10  # index first: the cut keeps it
    p = tmp_path / "cut.mp4"
    p.write_bytes(full[: mdat + (len(full) - mdat) // 2])
    with pytest.raises(D2MError, match="truncated"):
        probe_video(p)
    with pytest.raises(D2MError, match="truncated"):
        list(iter_frames(p))


def test_zero_decodable_frames(make_video, gray_frames, tmp_path):
    full = bytearray(make_video("ok.mp4", gray_frames(10), faststart=True).read_bytes())
    mdat = full.find(b"mdat")
    full[mdat + 4 :] = bytes(len(full) - mdat - 4)  # all frame data zeroed
    p = tmp_path / "zeroed.mp4"
    p.write_bytes(bytes(full))
    with pytest.raises(D2MError, match="could be decoded"):
        probe_video(p)


def test_fps_out_of_range(make_video, gray_frames):
    p = make_video("slow.mp4", gray_frames(3), fps=0.5)
    with pytest.raises(D2MError, match="frame rate"):
        probe_video(p)


def test_audio_only_file(tmp_path):
    p = tmp_path / "tone.mp4"
    with av.open(str(p), "w") as c:
        s = c.add_stream("aac", rate=16000, layout="mono")
        f = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), "fltp", "mono")
        f.sample_rate, f.pts = 16000, 0
        c.mux(s.encode(f))
        c.mux(s.encode(None))
    with pytest.raises(D2MError, match="no video stream"):
        probe_video(p)


# ---------------------------------------------------------------------------------- writing


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_mux_audio_real_video(shared_file, tmp_path):
    src = shared_file(UNIANIMATE)
    before = _sha(src)
    sr = 32000
    stereo = np.random.default_rng(0).uniform(-0.5, 0.5, (12 * sr, 2)).astype(np.float32)
    out = mux_audio(src, stereo, sr, tmp_path / "sub" / "out.mp4")
    assert out == tmp_path / "sub" / "out.mp4" and out.is_file()
    assert _sha(src) == before
    st = _streams(out)
    assert st["video"][0] == "h264" and st["audio"][0] == "aac"
    assert st["video"][1] == pytest.approx(9.375, abs=0.1)
    assert st["audio"][1] == pytest.approx(st["video"][1], abs=0.1)
    data = out.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # faststart: plays while downloading
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert c.streams.audio[0].channels == 2
    assert os.stat(out).st_mode & 0o044  # readable by others, like any ordinary file
    assert _no_temp_files(out.parent)


def test_mux_audio_reencodes_and_pads(make_video, gray_frames, tmp_path):
    # mpeg4, odd size, rotated: must come out H.264 yuv420p, even size, upright.
    frames = [np.pad(f, ((0, 1), (0, 1), (0, 0)), mode="edge") for f in gray_frames(20, 64, 48)]
    src = make_video("odd.mp4", frames, codec="mpeg4", fps=20, rotation=90)
    short = np.zeros(4000, np.float32)  # 0.25 s of mono at 16 kHz, video is 1 s
    out = mux_audio(src, short, 16000, tmp_path / "out.mp4")
    st = _streams(out)
    assert st["video"][0] == "h264" and st["audio"][0] == "aac"
    assert st["audio"][1] == pytest.approx(1.0, abs=0.1)
    info = probe_video(out)
    assert (info.width, info.height, info.rotation) == (50, 66, 0)
    assert info.duration_s == pytest.approx(1.0, abs=0.05)


def test_mux_audio_replaces_existing_audio(make_video, gray_frames, tmp_path):
    src = make_video("with_audio.mp4", gray_frames(10), fps=10, audio_sr=16000)
    assert probe_video(src).has_audio
    out = mux_audio(src, np.zeros(22050, np.float32), 22050, tmp_path / "o.mp4")
    with av.open(str(out)) as c:
        assert len(c.streams.audio) == 1 and c.streams.audio[0].sample_rate == 22050


def test_mux_audio_failures_leave_nothing(tmp_path, make_video, gray_frames):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    out = tmp_path / "out.mp4"
    with pytest.raises(D2MError):
        mux_audio(bad, np.zeros(100, np.float32), 16000, out)
    assert not out.exists() and _no_temp_files(tmp_path)
    src = make_video("v.mp4", gray_frames(5))
    with pytest.raises(D2MError, match="is the input"):
        mux_audio(src, np.zeros(100, np.float32), 16000, src)
    with pytest.raises(ValueError, match="shape"):
        mux_audio(src, np.zeros((100, 3), np.float32), 16000, out)


def test_write_video_with_audio(tmp_path):
    rng = np.random.default_rng(1)
    frames = (rng.integers(0, 256, (45, 33, 3), dtype=np.uint8) for _ in range(30))  # odd size
    audio = np.zeros(5 * 44100, np.float32)  # longer than the video: trimmed
    out = write_video(frames, 15, tmp_path / "r.mp4", audio=audio, sr=44100)
    info = probe_video(out)
    assert (info.width, info.height, info.num_frames) == (34, 46, 30)
    assert info.fps == pytest.approx(15) and info.duration_s == pytest.approx(2.0)
    st = _streams(out)
    assert st["video"][0] == "h264" and st["audio"][1] == pytest.approx(2.0, abs=0.1)


def test_write_video_bad_frames_leave_nothing(tmp_path):
    frames = [np.zeros((32, 32, 3), np.uint8), np.zeros((16, 16, 3), np.uint8)]
    with pytest.raises(ValueError, match="same shape"):
        write_video(frames, 30, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists() and _no_temp_files(tmp_path)
    with pytest.raises(ValueError, match="fps"):
        write_video(frames, 0, tmp_path / "x.mp4")
