"""Scene cuts in edited dance videos: finding them and keeping the rhythm whole across them.

- :func:`frame_signature` / :func:`signature_change` / :func:`frame_cuts`: a cut is a jump of
  the whole frame. While decoding, each frame is reduced to a tiny grey image (cheap) and
  compared with the one before; a cut is where the mean absolute difference is large both
  absolutely and against the frames around it (fast moves and camera pans raise it for many
  frames, a cut for one).
- :func:`keypoint_cuts`: for keypoint files (no frames), a cut is a jump of the dancer's torso
  position or size in one frame, far beyond the motion of the frames around it.
- :func:`bridge_cuts`: the keypoints made continuous across each cut (the later shot scaled to
  the earlier one's body size and shifted so every joint goes on at its speed), so that the
  rhythm features see neither a spurious hit nor a gap there and the beats run on across it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "frame_signature",
    "signature_change",
    "frame_cuts",
    "keypoint_cuts",
    "bridge_cuts",
    "cut_frames",
]

#: Side of the blocks a frame is averaged over for its signature, pixels.
_BLOCK = 16
#: A cut's signature difference (grey levels 0-255, brightness removed) is at least this ...
_MIN_FRAME_DIFF = 18.0
#: ... and this many times the largest difference among the frames around it.
_FRAME_RATIO = 2.5
#: Frames on each side that make the context of a candidate cut, seconds.
_CONTEXT_S = 0.25
#: A keypoint cut moves the torso by this many torso sizes in one frame, or scales it by
#: this log-ratio ...
_MIN_KP_JUMP = 0.5
_MIN_KP_LOG_SCALE = float(np.log(1.35))
#: ... and is this many times the largest frame-to-frame change around it.
_KP_RATIO = 4.0
_TORSO = (5, 6, 11, 12)  # COCO shoulders and hips
_SEEN = 0.3


def frame_signature(rgb: np.ndarray) -> np.ndarray:
    """A tiny grey version of a frame (block means), for :func:`frame_cuts`.

    Parameters
    ----------
    rgb : np.ndarray [shape=(H, W, 3)], uint8

    Returns
    -------
    np.ndarray [shape=(H // 16, W // 16)], float32
        Grey level per 16 x 16 block, the frame's mean removed (a flash or fade moves every
        block alike and is not a cut).
    """
    h, w = rgb.shape[0] // _BLOCK * _BLOCK, rgb.shape[1] // _BLOCK * _BLOCK
    if h == 0 or w == 0:
        g = rgb.astype(np.float32).mean(axis=2)
    else:
        blocks = rgb[:h, :w].reshape(h // _BLOCK, _BLOCK, w // _BLOCK, _BLOCK, -1)
        g = blocks.mean(axis=(1, 3, 4), dtype=np.float32)
    return g - g.mean()


def _isolated_jumps(
    times: np.ndarray, score: np.ndarray, *, minimum: float, ratio: float
) -> np.ndarray:
    """Times ``times[i]`` whose ``score[i]`` is >= ``minimum`` and >= ``ratio`` x its context."""
    cuts = []
    for i in np.flatnonzero(score >= minimum):
        near = (np.abs(times - times[i]) <= _CONTEXT_S) & (np.arange(len(times)) != i)
        context = float(score[near].max()) if near.any() else 0.0
        if score[i] >= ratio * context:
            cuts.append(float(times[i]))
    return np.asarray(cuts, np.float64)


def signature_change(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean absolute difference of two :func:`frame_signature` (0 if their sizes differ)."""
    if previous.shape != current.shape:
        return 0.0
    return float(np.abs(current - previous).mean())


def frame_cuts(times_s: Sequence[float], changes: Sequence[float]) -> np.ndarray:
    """Scene cuts from how much each frame changed from the one before it.

    Parameters
    ----------
    times_s : sequence of float
        Frame times, increasing, seconds.
    changes : sequence of float
        :func:`signature_change` from the previous frame to each frame (0 for the first).

    Returns
    -------
    np.ndarray [shape=(C,)]
        Times of the first frame of each new shot, seconds.
    """
    times = np.asarray(times_s, np.float64)
    if len(times) < 2:
        return np.zeros(0)
    score = np.asarray(changes, np.float64)
    return _isolated_jumps(times, score, minimum=_MIN_FRAME_DIFF, ratio=_FRAME_RATIO)


def _torso_track(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: torso centre (T, 2), torso size (T,), and whether the torso is seen (T,)."""
    kp = np.asarray(keypoints, np.float64)
    torso = kp[:, list(_TORSO)]
    seen = (torso[:, :, 2] > _SEEN).all(axis=1) if kp.shape[2] > 2 else np.ones(len(kp), bool)
    centre = torso[:, :, :2].mean(axis=1)
    shoulders = torso[:, :2, :2].mean(axis=1)
    hips = torso[:, 2:, :2].mean(axis=1)
    size = np.maximum(np.linalg.norm(shoulders - hips, axis=1), 1e-6)
    return centre, size, seen


def keypoint_cuts(keypoints: np.ndarray, *, fps: float) -> np.ndarray:
    """Scene cuts from jumps of the dancer's torso position or size.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 17, 3)]
        COCO-17 positions (pixels) and confidences.
    fps : float
        Frame rate.

    Returns
    -------
    np.ndarray [shape=(C,)]
        Times of the first frame of each new shot, seconds.
    """
    if len(keypoints) < 3:
        return np.zeros(0)
    centre, size, seen = _torso_track(keypoints)
    ref = np.minimum(size[1:], size[:-1])
    move = np.linalg.norm(np.diff(centre, axis=0), axis=1) / ref
    scale = np.abs(np.diff(np.log(size)))
    both = seen[1:] & seen[:-1]
    # One score in units of the thresholds: either kind of jump counts.
    score = np.where(both, np.maximum(move / _MIN_KP_JUMP, scale / _MIN_KP_LOG_SCALE), 0.0)
    times = np.arange(1, len(keypoints)) / fps
    return _isolated_jumps(times, score, minimum=1.0, ratio=_KP_RATIO)


def cut_frames(cuts_s: Sequence[float], *, fps: float, num_frames: int) -> np.ndarray:
    """Index of the first frame at or after each cut, those inside the clip, unique."""
    idx = np.ceil(np.asarray(cuts_s, np.float64) * fps - 1e-6).astype(int)
    return np.unique(idx[(idx > 0) & (idx < num_frames)])


def bridge_cuts(keypoints: np.ndarray, *, fps: float, cuts_s: Sequence[float]) -> np.ndarray:
    """Keypoints made continuous across scene cuts (for rhythm analysis only).

    At each cut the frames from just after it on are scaled about the torso to the body size
    before it, then each joint is shifted to go on at its speed before the cut; the frame
    before and the frame of the cut (either may blend both shots when the video was resampled)
    are replaced by that constant-speed path. Shifts are constant within a shot, so the
    motion inside each shot is untouched up to scale.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 17, 2|3)]
    fps : float
    cuts_s : sequence of float
        Cut times, seconds (first frame of each new shot).

    Returns
    -------
    np.ndarray
        A copy of ``keypoints`` (the same array when there is no cut to bridge).
    """
    kp = np.asarray(keypoints)
    frames = cut_frames(cuts_s, fps=fps, num_frames=len(kp))
    frames = frames[(frames >= 3) & (frames + 1 < len(kp))]
    if len(frames) == 0:
        return kp
    out = kp.astype(np.float64, copy=True)
    for c in frames:
        p, q = c - 2, c + 1  # last frame surely before, first surely after the cut
        centre, size, _ = _torso_track(out[[p, q]])
        s = size[0] / size[1]
        xy = out[q:, :, :2]
        out[q:, :, :2] = (xy - centre[1]) * s + centre[1]
        vel = out[p, :, :2] - out[p - 1, :, :2]
        for k in range(1, q - p + 1):
            target = out[p, :, :2] + k * vel
            if p + k == q:
                out[q:, :, :2] += target - out[q, :, :2]
            else:
                out[p + k, :, :2] = target
    return out.astype(kp.dtype)
