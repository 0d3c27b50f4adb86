"""The paper's visual rhythm features (Li et al. 2024, §3.2, Eqs. 4-7; after LORIS).

Conventions
-----------
- Input keypoints ``(T, 17, 3)``: x, y in pixels, confidence in [0, 1], uniform frames at ``fps``.
- Velocity is the first difference of positions (pixels per frame), Eq. 6: speed
  ``V = sqrt(vx^2 + vy^2)`` and direction ``theta = atan2(vy, vx)`` mapped to [0, 2 pi).
- Direction discretisation (Eqs. 4-5): the speed goes to bin ``k = floor(theta / (2 pi / K))``
  (the "directogram", shape ``(T-1, 17, K)``). A joint's velocity is weighted by the lower of its
  two frames' confidences, so joints that blink in and out do not fake motion.
- Acceleration (Eq. 7): first difference of the directogram over time, positive part, summed
  over joints and bins: ``a`` of shape ``(T-2,)``, which we pad with zeros at both ends so that
  ``a[t]`` belongs to frame ``t`` (the frame the second difference is centred on).
- Rhythm sequence ``r``: 1 at local maxima of ``a``, 0 elsewhere. A frame is a peak when it is
  the maximum of a window of ``peak_window_s`` around it and exceeds the local mean over
  ``mean_window_s`` by ``delta`` x mean(a); peaks closer than ``min_gap_s`` collapse to the first.
  Window defaults (0.05 s either side, i.e. 3 frames at 60 fps) follow the authors' release.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

from d2m_core.dance.motion import Motion

#: Frame rate and clip length of the paper's encoders (AIST++ at 60 fps, 5.12 s clips).
MODEL_FPS = 60.0
CLIP_SECONDS = 5.12
CLIP_FRAMES = 307  # round(5.12 * 60) frames, as the paper's clips


@dataclass
class RhythmFeatures:
    """The paper's rhythm features for one motion.

    Attributes
    ----------
    envelope : np.ndarray [shape=(T,)]
        Total positive acceleration a(t), pixels / frame^2 summed over joints and bins.
    peaks : np.ndarray [shape=(T,)], uint8
        Binary rhythm sequence r (1 at local maxima of ``envelope``).
    fps : float
        Frame rate of both arrays.
    """

    envelope: np.ndarray
    peaks: np.ndarray
    fps: float

    @property
    def times_s(self) -> np.ndarray:
        return np.arange(len(self.envelope)) / self.fps

    @property
    def peak_times_s(self) -> np.ndarray:
        return np.flatnonzero(self.peaks) / self.fps


def directogram(keypoints: np.ndarray, *, num_bins: int = 10) -> np.ndarray:
    """Speed-weighted direction histogram per joint (paper Eqs. 4-6).

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 17, 2|3)], pixels (+ confidence)
    num_bins : int
        K, the number of direction bins over [0, 2 pi).

    Returns
    -------
    np.ndarray [shape=(T-1, 17, K)]
        ``v_Q(t, j, k)``: the speed of joint j between frames t and t+1 in its direction bin.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[0] < 2:
        return np.zeros((max(kp.shape[0] - 1, 0), kp.shape[1] if kp.ndim == 3 else 17, num_bins))
    vel = np.diff(kp[:, :, :2], axis=0)
    speed = np.hypot(vel[..., 0], vel[..., 1])
    if kp.shape[2] >= 3:
        conf = np.minimum(kp[:-1, :, 2], kp[1:, :, 2])
        speed = speed * np.clip(conf, 0.0, 1.0)
    theta = np.mod(np.arctan2(vel[..., 1], vel[..., 0]), 2 * np.pi)
    k = np.minimum((theta / (2 * np.pi / num_bins)).astype(np.int64), num_bins - 1)
    out = np.zeros(speed.shape + (num_bins,))
    np.put_along_axis(out, k[..., None], speed[..., None], axis=-1)
    return out


def acceleration_envelope(keypoints: np.ndarray, *, num_bins: int = 10) -> np.ndarray:
    """Total positive acceleration a(t) (paper Eq. 7), aligned to frames.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 17, 2|3)]
    num_bins : int
        Direction bins K.

    Returns
    -------
    np.ndarray [shape=(T,)]
        ``a[t]`` for frames 1..T-2; zero at the first and last frame.
    """
    vq = directogram(keypoints, num_bins=num_bins)
    env = np.zeros(len(keypoints))
    if len(vq) >= 2:
        acc = np.diff(vq, axis=0)
        env[1:-1] = np.clip(acc, 0.0, None).sum(axis=(1, 2))
    return env


def pick_peaks(
    envelope: np.ndarray,
    *,
    fps: float,
    peak_window_s: float = 0.05,
    mean_window_s: float = 1 / 30,
    delta: float = 0.1,
    min_gap_s: float = 1 / 60,
) -> np.ndarray:
    """Binary rhythm sequence r from an envelope: 1 at local maxima, shape ``(T,)`` uint8.

    Parameters
    ----------
    envelope : np.ndarray [shape=(T,)]
    fps : float
        Frame rate of ``envelope``.
    peak_window_s : float
        Half-width of the local-maximum window, seconds.
    mean_window_s : float
        Half-width of the local-mean window, seconds.
    delta : float
        Threshold above the local mean, as a fraction of the envelope's mean.
    min_gap_s : float
        Peaks closer than this collapse to the first.
    """
    env = np.asarray(envelope, dtype=np.float64)
    r = np.zeros(len(env), dtype=np.uint8)
    if len(env) < 3 or env.max() <= 0:
        return r
    frames = lambda s: max(1, int(round(s * fps)))  # noqa: E731 - tiny local helper
    idx = librosa.util.peak_pick(
        env,
        pre_max=frames(peak_window_s),
        post_max=frames(peak_window_s) + 1,
        pre_avg=frames(mean_window_s),
        post_avg=frames(mean_window_s) + 1,
        delta=delta * float(env.mean()),
        wait=max(0, int(round(min_gap_s * fps)) - 1) + 1,
    )
    r[idx] = 1
    return r


def rhythm_features(motion: Motion, *, num_bins: int = 10, **peak_kwargs: float) -> RhythmFeatures:
    """Acceleration envelope and rhythm peaks of a motion at its own frame rate.

    Parameters
    ----------
    motion : Motion
    num_bins : int
        Direction bins K (paper: 10).
    **peak_kwargs
        Passed to :func:`pick_peaks`.
    """
    env = acceleration_envelope(motion.keypoints, num_bins=num_bins)
    return RhythmFeatures(
        envelope=env, peaks=pick_peaks(env, fps=motion.fps, **peak_kwargs), fps=motion.fps
    )


def resample_rhythm(
    features: RhythmFeatures,
    *,
    fps_out: float = MODEL_FPS,
    start_s: float = 0.0,
    num_frames: int = CLIP_FRAMES,
) -> tuple[np.ndarray, np.ndarray]:
    """The rhythm sequence and envelope of one clip at the encoders' frame rate.

    Peaks are moved to the nearest output frame (so none is lost or doubled by interpolation);
    the envelope is linearly interpolated and normalised by its clip maximum (as the authors do).
    Frames past the end of the motion are zero.

    Parameters
    ----------
    features : RhythmFeatures
    fps_out : float
        Output frame rate (default 60, the paper's).
    start_s : float
        Clip start, seconds.
    num_frames : int
        Output length (default 307 = 5.12 s at 60 fps).

    Returns
    -------
    r : np.ndarray [shape=(num_frames,)], float32
        Binary rhythm sequence.
    envelope : np.ndarray [shape=(num_frames,)], float32
        Envelope in [0, 1].
    """
    t_out = start_s + np.arange(num_frames) / fps_out
    t_in = features.times_s
    env = np.interp(t_out, t_in, features.envelope, left=0.0, right=0.0)
    peak = env.max()
    env = env / peak if peak > 0 else env
    r = np.zeros(num_frames, dtype=np.float32)
    pt = features.peak_times_s
    pos = np.round((pt - start_s) * fps_out).astype(np.int64)
    r[pos[(pos >= 0) & (pos < num_frames)]] = 1.0
    return r, env.astype(np.float32)
