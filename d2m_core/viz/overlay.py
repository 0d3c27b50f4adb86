"""Draw a :class:`~d2m_core.dance.motion.Motion`'s skeleton over its video (to check the pose)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from d2m_core.dance.motion import COCO17_SKELETON, Motion
from d2m_core.errors import D2MError
from d2m_core.io.files import atomic_path
from d2m_core.io.video import iter_frames, probe_video, read_frames_at, write_video

__all__ = [
    "MIN_DRAW_CONFIDENCE",
    "draw_skeleton",
    "overlay_grid",
    "render_overlay",
    "render_skeleton_video",
    "skeleton_grid",
]

#: Joints below this confidence are not drawn (nor their bones).
MIN_DRAW_CONFIDENCE = 0.3

# RGB colours: the dancer's left side orange, right side blue, centre line green.
_LEFT, _RIGHT, _MID = (255, 140, 0), (0, 150, 255), (60, 220, 60)
_LEFT_JOINTS = {1, 3, 5, 7, 9, 11, 13, 15}
_RIGHT_JOINTS = {2, 4, 6, 8, 10, 12, 14, 16}


def _bone_colour(a: int, b: int) -> tuple[int, int, int]:
    if a in _LEFT_JOINTS and b in _LEFT_JOINTS:
        return _LEFT
    if a in _RIGHT_JOINTS and b in _RIGHT_JOINTS:
        return _RIGHT
    return _MID


def draw_skeleton(
    rgb: np.ndarray, keypoints: np.ndarray, *, min_confidence: float = MIN_DRAW_CONFIDENCE
) -> np.ndarray:
    """Draw one COCO-17 pose onto an image (in place) and return it.

    Parameters
    ----------
    rgb : np.ndarray [shape=(H, W, 3)], uint8
        Image, modified in place.
    keypoints : np.ndarray [shape=(17, 3)]
        (x, y) in pixels of ``rgb`` and confidence; joints below ``min_confidence`` are skipped.
    min_confidence : float
        Drawing threshold.

    Returns
    -------
    np.ndarray [shape=(H, W, 3)], uint8
        ``rgb``.
    """
    ok = keypoints[:, 2] >= min_confidence
    if not ok.any():
        return rgb
    # Line width follows the dancer's size on screen (a far dancer gets a thin skeleton).
    extent = float(np.ptp(keypoints[ok, :2], axis=0).max()) if ok.sum() > 1 else 0.0
    thick = int(np.clip(round(extent / 60), 1, max(2, round(max(rgb.shape[:2]) / 240))))
    # Fixed-point coordinates (4 fractional bits) keep thin lines from snapping to pixels.
    pts = np.round(keypoints[:, :2] * 16).astype(np.int64)
    for a, b in COCO17_SKELETON:
        if ok[a] and ok[b]:
            cv2.line(rgb, tuple(pts[a]), tuple(pts[b]), _bone_colour(a, b), thick, cv2.LINE_AA, 4)
    for j in np.flatnonzero(ok):
        colour = _LEFT if j in _LEFT_JOINTS else _RIGHT if j in _RIGHT_JOINTS else _MID
        cv2.circle(rgb, tuple(pts[j]), (thick + 1) * 16, (255, 255, 255), -1, cv2.LINE_AA, 4)
        cv2.circle(rgb, tuple(pts[j]), thick * 16, colour, -1, cv2.LINE_AA, 4)
    return rgb


def _scale_for(motion: Motion, video_wh: tuple[int, int], frame: np.ndarray) -> np.ndarray:
    """(sx, sy) from motion pixel coordinates to the pixels of a decoded (maybe small) frame."""
    w0, h0 = motion.frame_size or video_wh
    return np.array([frame.shape[1] / w0, frame.shape[0] / h0], np.float32)


def _pose_at(motion: Motion, t: float) -> np.ndarray:
    k = min(max(int(round(t * motion.fps)), 0), motion.num_frames - 1)
    return motion.keypoints[k]


def _scaled(kp: np.ndarray, s: np.ndarray) -> np.ndarray:
    out = kp.copy()
    out[:, :2] *= s
    return out


def render_overlay(
    video_path: str | os.PathLike,
    motion: Motion,
    out_path: str | os.PathLike,
    *,
    max_side: int = 640,
) -> Path:
    """Render the video with ``motion``'s skeleton drawn on every frame.

    Parameters
    ----------
    video_path : str or os.PathLike
        The video the motion was estimated from.
    motion : Motion
        Keypoints in the video's pixel coordinates (``motion.frame_size`` = video size).
    out_path : str or os.PathLike
        Destination ``.mp4`` (H.264, no audio), written atomically.
    max_side : int
        Longer side of the rendered video in pixels (downscaled, never upscaled).

    Returns
    -------
    Path
        ``out_path``.
    """
    info = probe_video(video_path)

    def frames() -> Iterator[np.ndarray]:
        scale = None
        for t, rgb in iter_frames(video_path, max_side=max_side):
            if scale is None:
                scale = _scale_for(motion, (info.width, info.height), rgb)
            yield draw_skeleton(rgb, _scaled(_pose_at(motion, t), scale))

    return write_video(frames(), info.fps, out_path)


def overlay_grid(
    video_path: str | os.PathLike,
    motion: Motion,
    out_png: str | os.PathLike,
    *,
    n: int = 6,
    tile_side: int = 360,
) -> Path:
    """Save a PNG contact sheet of ``n`` evenly spaced frames with their skeletons.

    Parameters
    ----------
    video_path : str or os.PathLike
        The video the motion was estimated from.
    motion : Motion
        Keypoints in the video's pixel coordinates.
    out_png : str or os.PathLike
        Destination ``.png``, written atomically.
    n : int
        Number of frames (>= 1), laid out in rows of at most 3 (portrait) or 2 (landscape).
    tile_side : int
        Longer side of each tile in pixels.

    Returns
    -------
    Path
        ``out_png``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    info = probe_video(video_path)
    k = np.linspace(0, motion.num_frames - 1, n).round().astype(int)
    times = k / motion.fps
    tiles = read_frames_at(video_path, times, max_side=tile_side)
    th, tw = tiles[0].shape[:2]
    cols = min(n, 3 if th >= tw else 2)
    rows = math.ceil(n / cols)
    sheet = np.full((rows * th, cols * tw, 3), 255, np.uint8)
    for i, (tile, t) in enumerate(zip(tiles, times, strict=True)):
        tile = np.ascontiguousarray(tile)
        draw_skeleton(
            tile, _scaled(_pose_at(motion, t), _scale_for(motion, (info.width, info.height), tile))
        )
        label = f"{t:.2f} s"
        cv2.putText(tile, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(
            tile, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA
        )
        r, c = divmod(i, cols)
        sheet[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = tile[:th, :tw]
    with atomic_path(out_png) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise D2MError(f"could not write {Path(out_png).name}; check the folder is writable")
    return Path(out_png)


def render_skeleton_video(
    motion: Motion,
    out_path: str | os.PathLike,
    *,
    audio: np.ndarray | None = None,
    sr: int | None = None,
    max_side: int = 640,
) -> Path:
    """Render a motion's skeleton on a plain background as an MP4 (for keypoint-file inputs).

    Parameters
    ----------
    motion : Motion
        The dance; frames are drawn at ``motion.fps``.
    out_path : str or os.PathLike
        Destination ``.mp4`` (H.264 + AAC when ``audio`` is given), written atomically.
    audio : np.ndarray [shape=(N,) or (N, 2)], optional
        Soundtrack in [-1, 1] at ``sr`` Hz.
    sr : int, optional
        Sample rate of ``audio``.
    max_side : int
        Longest side of the rendered frame, pixels.

    Returns
    -------
    Path
    """
    kp = motion.keypoints
    seen = kp[:, :, 2] >= MIN_DRAW_CONFIDENCE
    pts = kp[:, :, :2][seen] if seen.any() else kp[:, :, :2].reshape(-1, 2)
    if motion.frame_size:
        w0, h0 = motion.frame_size
        x0, y0 = 0.0, 0.0
    else:  # no camera size known: frame the dancer's whole range of motion with a margin
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = 0.1 * float((hi - lo).max() or 1.0)
        x0, y0 = lo - pad
        w0, h0 = (hi - lo) + 2 * pad
    scale = max_side / max(w0, h0)
    w = int(round(w0 * scale)) // 2 * 2 or 2
    h = int(round(h0 * scale)) // 2 * 2 or 2

    def frames() -> Iterator[np.ndarray]:
        for t in range(motion.num_frames):
            img = np.full((h, w, 3), 24, np.uint8)
            pose = kp[t].copy()
            pose[:, 0] = (pose[:, 0] - x0) * scale
            pose[:, 1] = (pose[:, 1] - y0) * scale
            yield draw_skeleton(img, pose)

    return write_video(frames(), motion.fps, out_path, audio=audio, sr=sr)


def skeleton_grid(
    motion: Motion, out_png: str | os.PathLike, *, n: int = 6, tile_side: int = 300
) -> Path:
    """A PNG contact sheet of ``n`` evenly spaced poses on a plain background.

    The pose check for keypoint-file inputs (which have no video to draw on), written
    atomically; each tile is labelled with its time in seconds.
    """

    kp = motion.keypoints
    ok = kp[:, :, 2] > 0
    pts = kp[:, :, :2][ok] if ok.any() else kp[:, :, :2].reshape(-1, 2)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.08 * float((hi - lo).max() or 1.0)
    lo, span = lo - pad, (hi - lo) + 2 * pad
    scale = tile_side / float(max(span.max(), 1e-6))
    tw, th = (int(math.ceil(v * scale)) // 2 * 2 or 2 for v in span)
    idx = np.linspace(0, motion.num_frames - 1, n).round().astype(int)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    sheet = np.full((rows * th, cols * tw, 3), 255, np.uint8)
    for i, k in enumerate(idx):
        tile = np.full((th, tw, 3), 24, np.uint8)
        pose = kp[k].copy()
        pose[:, :2] = (pose[:, :2] - lo) * scale
        draw_skeleton(tile, pose)
        cv2.putText(tile, f"{k / motion.fps:.2f} s", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (255, 255, 255), 1, cv2.LINE_AA)  # fmt: skip
        r, c = divmod(i, cols)
        sheet[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = tile
    with atomic_path(out_png) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise D2MError(f"could not write {Path(out_png).name}; check the folder is writable")
    return Path(out_png)
