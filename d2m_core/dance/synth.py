"""A procedural dancer with a known beat grid: examples for the app and ground truth for tests.

The figure hits a new pose on every beat (a quick move starting on the beat, then a hold), and
bounces down on each beat, so the acceleration peaks sit on the beats the way they do for a
human dancer. Positions are COCO-17 pixels in a ``frame_size`` image; small Gaussian jitter
imitates a pose estimator's noise.
"""

from __future__ import annotations

import numpy as np

from d2m_core.dance.motion import Motion

# A neutral standing pose, COCO-17 (x, y) in units of body height, origin at the hip centre.
_BASE = np.array(
    [
        [0.00, -0.62], [-0.02, -0.64], [0.02, -0.64], [-0.05, -0.63], [0.05, -0.63],  # head
        [-0.11, -0.48], [0.11, -0.48],  # shoulders
        [-0.16, -0.30], [0.16, -0.30],  # elbows
        [-0.18, -0.13], [0.18, -0.13],  # wrists
        [-0.07, 0.00], [0.07, 0.00],  # hips
        [-0.08, 0.24], [0.08, 0.24],  # knees
        [-0.09, 0.47], [0.09, 0.47],  # ankles
    ]
)  # fmt: skip

_ARM_POSES = (  # (elbow, wrist) offsets of one arm relative to its shoulder, body heights
    ((-0.05, 0.18), (-0.07, 0.35)),  # down
    ((-0.17, 0.00), (-0.34, 0.00)),  # out to the side
    ((-0.05, -0.17), (-0.06, -0.34)),  # up
    ((-0.15, 0.10), (-0.02, 0.02)),  # bent in front
    ((-0.12, -0.12), (-0.25, -0.25)),  # diagonal up
)


def _hit_curve(phase: np.ndarray, *, move: float) -> np.ndarray:
    """0 -> 1 quickly (in ``move`` of a beat) after each beat, smooth ease-out, then hold."""
    x = np.clip(phase / move, 0.0, 1.0)
    return 1.0 - (1.0 - x) ** 3


def synthetic_dance(
    *,
    bpm: float = 100.0,
    duration_s: float = 8.0,
    fps: float = 30.0,
    seed: int = 0,
    frame_size: tuple[int, int] = (640, 480),
    jitter_px: float = 0.8,
    start_s: float = 0.0,
) -> Motion:
    """Generate a dancer whose moves land on a steady beat grid.

    Parameters
    ----------
    bpm : float
        Tempo of the beat grid, beats per minute.
    duration_s : float
        Length, seconds.
    fps : float
        Frame rate.
    seed : int
        Random seed for the pose sequence and jitter.
    frame_size : (int, int)
        (width, height) of the virtual camera, pixels.
    jitter_px : float
        Standard deviation of keypoint noise, pixels.
    start_s : float
        Time of the first beat, seconds (beats repeat every 60 / bpm s from there).

    Returns
    -------
    Motion
        ``meta["beats_s"]`` holds the true beat times; ``meta["bpm"]`` the tempo.
    """
    rng = np.random.default_rng(seed)
    n = max(2, int(round(duration_s * fps)))
    t = np.arange(n) / fps
    period = 60.0 / bpm
    beat_pos = (t - start_s) / period
    beat_idx = np.floor(beat_pos).astype(int)
    phase = beat_pos - beat_idx
    n_beats = int(beat_idx.max()) + 2
    # Each beat: a new pose per arm (never the same twice in a row).
    choices = np.zeros((n_beats + 1, 2), dtype=int)
    for b in range(1, n_beats + 1):
        for arm in range(2):
            options = [k for k in range(len(_ARM_POSES)) if k != choices[b - 1, arm]]
            choices[b, arm] = rng.choice(options)
    ease = _hit_curve(np.where(beat_idx >= 0, phase, 0.0), move=0.3)
    idx_now = np.clip(beat_idx + 1, 0, n_beats)
    idx_prev = np.clip(beat_idx, 0, n_beats)

    w, h = frame_size
    height_px = 0.75 * h
    pose = np.repeat(_BASE[None], n, axis=0).copy()
    for arm, (sh, el, wr, sign) in enumerate(((5, 7, 9, 1.0), (6, 8, 10, -1.0))):
        arm_poses = np.array(_ARM_POSES)  # (P, 2 joints, 2)
        arm_poses[:, :, 0] *= sign  # mirror for the right arm
        prev = arm_poses[choices[idx_prev, arm]]
        now = arm_poses[choices[idx_now, arm]]
        cur = prev + (now - prev) * ease[:, None, None]
        pose[:, el] = pose[:, sh] + cur[:, 0]
        pose[:, wr] = pose[:, sh] + cur[:, 1]
    # Knee bounce: down fast on the beat, back up over the beat.
    dip = np.where(beat_idx >= 0, np.exp(-phase / 0.12) * (phase >= 0), 0.0)
    upper = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    pose[:, upper, 1] += 0.04 * dip[:, None]
    pose[:, 13:15, 0] *= 1.0 + 0.6 * dip[:, None]
    # Slow sway across the frame so the figure is not pinned in place.
    sway = 0.08 * np.sin(2 * np.pi * t / (8 * period) + rng.uniform(0, 2 * np.pi))
    pose[:, :, 0] += sway[:, None]

    xy = np.empty((n, 17, 2))
    xy[..., 0] = w / 2 + pose[..., 0] * height_px
    xy[..., 1] = 0.55 * h + pose[..., 1] * height_px
    xy += rng.normal(0.0, jitter_px, size=xy.shape)
    kp = np.concatenate([xy, np.full((n, 17, 1), 0.95)], axis=2).astype(np.float32)
    beats = start_s + period * np.arange(int(np.ceil((duration_s - start_s) / period)))
    return Motion(
        keypoints=kp,
        fps=fps,
        frame_size=(w, h),
        source=f"synthetic dance ({bpm:g} BPM, seed {seed})",
        meta={"bpm": float(bpm), "beats_s": beats[beats < duration_s].tolist()},
    )
