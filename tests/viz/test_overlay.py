from __future__ import annotations

import cv2
import numpy as np
import pytest

from d2m_core.dance.motion import Motion
from d2m_core.io.video import iter_frames, probe_video
from d2m_core.viz.overlay import MIN_DRAW_CONFIDENCE, draw_skeleton, overlay_grid, render_overlay


def _motion(n: int, fps: float, w: int, h: int, conf: float = 1.0) -> Motion:
    """A stick figure standing in the middle of a w x h frame, swaying right over time."""
    base = np.array(
        [
            [0.50, 0.15], [0.48, 0.13], [0.52, 0.13], [0.46, 0.14], [0.54, 0.14],
            [0.42, 0.25], [0.58, 0.25], [0.38, 0.40], [0.62, 0.40], [0.36, 0.55],
            [0.64, 0.55], [0.45, 0.55], [0.55, 0.55], [0.45, 0.72], [0.55, 0.72],
            [0.45, 0.90], [0.55, 0.90],
        ]
    )  # fmt: skip
    kp = np.zeros((n, 17, 3), np.float32)
    for t in range(n):
        kp[t, :, 0] = (base[:, 0] + 0.1 * t / max(n - 1, 1)) * w
        kp[t, :, 1] = base[:, 1] * h
    kp[:, :, 2] = conf
    return Motion(keypoints=kp, fps=fps, frame_size=(w, h), source="synthetic")


def test_draw_skeleton_respects_confidence():
    m = _motion(1, 30, 200, 300)
    blank = np.zeros((300, 200, 3), np.uint8)
    low = m.keypoints[0].copy()
    low[:, 2] = MIN_DRAW_CONFIDENCE - 0.01
    assert not draw_skeleton(blank.copy(), low).any()
    drawn = draw_skeleton(blank.copy(), m.keypoints[0])
    assert drawn.any()
    # Drawing stays near the joints: nothing in the top-left corner.
    assert not drawn[:20, :20].any()
    # A single confident joint: a dot, no bones.
    one = low.copy()
    one[0, 2] = 1.0
    dot = draw_skeleton(blank.copy(), one)
    ys, xs = np.nonzero(dot.any(axis=2))
    assert np.ptp(xs) < 15 and np.ptp(ys) < 15


def test_render_overlay(make_video, gray_frames, tmp_path):
    frames = gray_frames(12, 320, 240)
    src = make_video("v.mp4", frames, fps=12)
    m = _motion(12, 12, 320, 240)
    out = render_overlay(src, m, tmp_path / "o" / "overlay.mp4", max_side=160)
    info = probe_video(out)
    assert (info.width, info.height) == (160, 120)
    assert info.num_frames == 12 and info.fps == pytest.approx(12)
    first, last = (f for _, f in list(iter_frames(out))[::11])
    # Something coloured (the skeleton) on a grey frame, and it moved right over time.
    sat = lambda f: np.ptp(f.astype(int), axis=2) > 60  # noqa: E731
    assert sat(first).sum() > 50
    assert np.nonzero(sat(last))[1].mean() > np.nonzero(sat(first))[1].mean() + 5


def test_overlay_grid(make_video, gray_frames, tmp_path):
    src = make_video("v.mp4", gray_frames(30, 320, 240), fps=10)
    m = _motion(30, 10, 320, 240)
    out = overlay_grid(src, m, tmp_path / "grid.png", n=5, tile_side=160)
    img = cv2.imread(str(out))
    assert img is not None
    assert img.shape == (3 * 120, 2 * 160, 3)  # landscape tiles: 2 per row
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_overlay_on_shared_video(shared_file, tmp_path):
    src = shared_file("videos/aist_clip_2s_a.mp4")
    m = _motion(120, 60000 / 1001, 1920, 1080)
    out = overlay_grid(src, m, tmp_path / "g.png", n=6)
    assert cv2.imread(str(out)).shape == (3 * 202, 2 * 360, 3)


def test_render_skeleton_video_with_music(tmp_path):
    from d2m_core.dance.synth import synthetic_dance
    from d2m_core.io.video import probe_video
    from d2m_core.viz.overlay import render_skeleton_video

    m = synthetic_dance(duration_s=2, fps=30, frame_size=(320, 240))
    audio = np.zeros((32000 * 2, 2), np.float32)
    out = render_skeleton_video(m, tmp_path / "s.mp4", audio=audio, sr=32000)
    info = probe_video(out)
    assert info.has_audio and info.codec == "h264"
    assert abs(info.duration_s - 2.0) < 0.1 and (info.width, info.height) == (640, 480)
