"""Regenerate the project's own example files in assets/ (deterministic, no third-party media).

- ``example_dance_112bpm.npz``: a procedural dancer's COCO-17 keypoints
  (:mod:`d2m_core.dance.synth`).
- ``example_dancer_96bpm.mp4``: a procedural dancer rendered as a flat-shaded mannequin (head,
  hair, shirt, trousers, shoes on a wall and floor). MediaPipe finds the pose in it (checked
  below), so it is a video example the whole pipeline runs on, offline.

Usage: .venv/bin/python scripts/make_assets.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from d2m_core.dance.synth import synthetic_dance
from d2m_core.io.video import write_video

ASSETS = Path(__file__).resolve().parents[1] / "assets"
VIDEO_NAME = "example_dancer_96bpm.mp4"
VIDEO_BPM = 96.0

_SKIN = (224, 172, 140)
_SHIRT = (40, 90, 170)
_TROUSERS = (50, 50, 60)
_SHOE = (20, 20, 20)
_HAIR = (40, 25, 15)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0])), int(round(p[1]))


def _limb(img: np.ndarray, a: np.ndarray, b: np.ndarray, width: float, col) -> None:
    """A capsule from a to b (rounded ends, so joints look like joints)."""
    w = max(1, int(round(width)))
    cv2.line(img, _pt(a), _pt(b), col, w, cv2.LINE_AA)
    for p in (a, b):
        cv2.circle(img, _pt(p), max(1, w // 2), col, -1, cv2.LINE_AA)


def _background(w: int, h: int) -> np.ndarray:
    shade = (200 - 60 * np.arange(h) / h).astype(np.int16)
    img = np.stack([shade, shade - 10, shade - 25], axis=1)[:, None, :].repeat(w, axis=1)
    img = img.astype(np.uint8)
    img[int(0.86 * h) :] = (120, 100, 85)  # floor
    return img


def render_mannequin(kp: np.ndarray, bg: np.ndarray, body_px: float) -> np.ndarray:
    """Draw one COCO-17 pose as a flat-shaded human figure (RGB) on a copy of ``bg``.

    Limb widths are fractions of the body height ``body_px``. MediaPipe reads this figure as a
    person facing the camera (so its left/right labels are mirrored; irrelevant to rhythm).
    """
    img = bg.copy()
    p = kp[:, :2].astype(np.float64)
    s = body_px
    for hip, knee, ank in ((11, 13, 15), (12, 14, 16)):
        _limb(img, p[hip], p[knee], 0.075 * s, _TROUSERS)
        _limb(img, p[knee], p[ank], 0.06 * s, _TROUSERS)
        foot = p[ank] + (0.0, 0.02 * s)
        cv2.ellipse(img, _pt(foot), (int(0.045 * s), int(0.02 * s)), 0, 0, 360, _SHOE, -1)
    ls, rs, lh, rh = p[5], p[6], p[11], p[12]
    torso = np.array(
        [ls + (ls - rs) * 0.15, rs + (rs - ls) * 0.15, rh + (rh - lh) * 0.1, lh + (lh - rh) * 0.1]
    )
    cv2.fillPoly(img, [np.round(torso).astype(np.int32)], _SHIRT, cv2.LINE_AA)
    head = p[0] + (0.0, -0.02 * s)
    _limb(img, (ls + rs) / 2, head, 0.05 * s, _SKIN)  # neck
    for sh, el, wr in ((5, 7, 9), (6, 8, 10)):
        _limb(img, p[sh], p[el], 0.055 * s, _SHIRT)
        _limb(img, p[el], p[wr], 0.045 * s, _SKIN)
        cv2.circle(img, _pt(p[wr]), int(0.03 * s), _SKIN, -1, cv2.LINE_AA)
    cv2.ellipse(img, _pt(head), (int(0.055 * s), int(0.07 * s)), 0, 0, 360, _SKIN, -1, cv2.LINE_AA)
    hair = head + (0.0, -0.035 * s)
    cv2.ellipse(img, _pt(hair), (int(0.058 * s), int(0.045 * s)), 0, 180, 360, _HAIR, -1)
    for side in (-1, 1):
        eye = head + (side * 0.022 * s, -0.005 * s)
        cv2.circle(img, _pt(eye), max(1, int(0.008 * s)), (30, 30, 30), -1, cv2.LINE_AA)
    mouth = head + (0.0, 0.035 * s)
    cv2.ellipse(img, _pt(mouth), (int(0.015 * s), int(0.006 * s)), 0, 0, 180, (150, 60, 60), -1)
    return img


def make_video(path: Path, *, bpm: float = VIDEO_BPM, duration_s: float = 8.0) -> Path:
    w, h = 360, 480
    m = synthetic_dance(
        bpm=bpm, duration_s=duration_s, fps=30, seed=3, start_s=0.3, frame_size=(w, h),
        jitter_px=0.0,
    )  # fmt: skip
    bg = _background(w, h)
    frames = (render_mannequin(k, bg, 0.75 * h) for k in m.keypoints)
    return write_video(frames, m.fps, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="also analyse the video (MediaPipe)")
    args = ap.parse_args(argv)
    ASSETS.mkdir(exist_ok=True)
    m = synthetic_dance(bpm=112, duration_s=10, fps=30, seed=7, start_s=0.25)
    np.savez_compressed(
        ASSETS / "example_dance_112bpm.npz",
        dance=m.keypoints,
        fps=np.float32(m.fps),
        image_size_wh=np.array(m.frame_size, dtype=np.int32),
        dance__bpm=np.float32(112),
    )
    print("wrote", ASSETS / "example_dance_112bpm.npz")
    video = make_video(ASSETS / VIDEO_NAME)
    print("wrote", video, f"({video.stat().st_size / 1e3:.0f} kB)")
    if args.check:
        from d2m_core.dance.analysis import analyze

        a = analyze(video)
        d = a.to_dict()
        print(
            f"check: person in {d['frames_with_person']}/{d['frames_total']} frames,"
            f" tempo {d['tempo_bpm']} BPM (true {VIDEO_BPM:g})"
        )
        if d["frames_with_person"] < 0.9 * d["frames_total"] or abs(d["tempo_bpm"] - VIDEO_BPM) > 3:
            print("check FAILED", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
