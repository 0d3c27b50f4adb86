"""Visual tempo and beats: where the music's beats should fall for a dance (beyond the paper).

Conventions
-----------
- The *novelty* curve marks the moments a move lands, the visual beat: the hips at the
  bottom of a bounce (hip height below its 1 s running mean, image y down), the body's vertical
  motion stopping (downward deceleration), and the whole body slowing (mean joint speed below
  its 1 s running mean). On real dance videos their pulse gives the music's tempo far more
  often than the acceleration peaks of the paper's rhythm (:mod:`d2m_core.dance.rhythm`)
  do (``bench/bench_realdance.py``; the README has the figures). Each part
  is computed on keypoints resampled to ``NOVELTY_RATE`` Hz and lightly smoothed (Gaussian,
  ``smooth_s``), scaled by its 99th percentile (so body size and camera distance cancel), and
  the three are summed. Everything is in seconds, so any frame rate gives the same answer.
- Tempo is a single global value in BPM: the pulse whose harmonic series (1x..4x) best
  explains the novelty's spectrum, averaged over 6 s windows every 2 s (so a long video votes
  with all its parts and a passing flourish does not dominate), with the metrical level (half,
  double, three-halves time, common when a dancer moves on every other beat or on eighths)
  chosen by a broad log-normal prior around ``prior_bpm``.
- ``confidence`` in [0, 1]: how far the chosen pulse stands above the average of the tempo
  spectrum (its prominence, 1.3 -> 0, 3.0 -> 1). On the real-dance benchmark it ranks clips by
  how likely the tempo is right (``bench/bench_realdance.py``); :data:`CLEAR_PULSE` is the
  level from which the pulse is called clear.
- Beats are placed by dynamic programming on the novelty (librosa's beat tracker) with the
  global tempo as its period and a high tightness (:data:`BEAT_TIGHTNESS`: the music's pulse
  is steady), so their phase follows the moves; where the local tempo ramps steadily
  (:func:`tempo_ramps`) the tightness is librosa's usual 100 so the beats follow the ramp. A
  quadratic Savitzky-Golay fit over 9 beats then removes the moves' scatter around
  the pulse (tempo ramps survive it).
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
import scipy.ndimage as ndi
import scipy.signal

from d2m_core.dance.motion import Motion

NOVELTY_RATE = 100.0  # Hz: 10 ms beat resolution whatever the video's frame rate
MIN_BPM = 40.0
MAX_BPM = 240.0

#: How strictly visual beats keep the period (librosa's DP): the music's pulse is steady
#: while the hits scatter around it, so far stricter than librosa's 100 for audio ...
BEAT_TIGHTNESS = 1600.0

#: ... except when the dance's local tempo ramps (:func:`tempo_ramps`): then the beats follow.
RAMP_TIGHTNESS = 100.0

#: Confidence from which the pulse is called clear (prominence 2.0).
CLEAR_PULSE = 0.4

_HIPS = (11, 12)  # COCO-17 left and right hip
_SEEN = 0.3  # joints below this confidence do not count in the body's mean motion
_WINDOW_S, _HOP_S = 6.0, 2.0  # tempo spectrum windows


@dataclass
class TempoEstimate:
    """A dance's visual tempo and beats.

    Attributes
    ----------
    bpm : float
        Global tempo, beats per minute (0 when the clip is too short or still).
    confidence : float
        Pulse clarity in [0, 1].
    beats_s : np.ndarray [shape=(B,)]
        Beat times, seconds from the first frame.
    novelty : np.ndarray [shape=(N,)]
        Novelty curve at ``NOVELTY_RATE`` Hz.
    """

    bpm: float
    confidence: float
    beats_s: np.ndarray
    novelty: np.ndarray


def pulse_words(confidence: float, bpm: float = 1.0) -> str:
    """The confidence in words for people: ``clear pulse`` or ``uncertain: check the beats``."""
    if bpm <= 0:
        return "no clear pulse"
    return "clear pulse" if confidence >= CLEAR_PULSE else "uncertain: check the beats"


def _resampled_positions(keypoints: np.ndarray, *, fps: float, smooth_s: float) -> tuple:
    """Joint positions and confidences at :data:`NOVELTY_RATE` Hz, positions smoothed."""
    kp = np.asarray(keypoints, dtype=np.float64)
    n_out = max(1, int(np.ceil(len(kp) / fps * NOVELTY_RATE)))
    t_in, t_out = np.arange(len(kp)) / fps, np.arange(n_out) / NOVELTY_RATE
    flat = kp.reshape(len(kp), -1)
    res = np.stack([np.interp(t_out, t_in, flat[:, i]) for i in range(flat.shape[1])], axis=1)
    res = res.reshape(n_out, kp.shape[1], kp.shape[2])
    xy = res[:, :, :2]
    if smooth_s > 0 and n_out > 1:
        xy = ndi.gaussian_filter1d(xy, smooth_s * NOVELTY_RATE, axis=0, mode="nearest")
    conf = res[:, :, 2] if kp.shape[2] > 2 else np.ones(res.shape[:2])
    return xy, conf


def _below_running_mean(x: np.ndarray) -> np.ndarray:
    """How far ``x`` dips below its 1 s running mean (half-wave rectified)."""
    return np.maximum(ndi.uniform_filter1d(x, int(NOVELTY_RATE), mode="nearest") - x, 0.0)


def _scaled(x: np.ndarray) -> np.ndarray:
    """``x`` over its 99th percentile, capped at 1.5: parts of any unit weigh alike."""
    p = float(np.percentile(x, 99)) if len(x) else 0.0
    return np.minimum(x / p, 1.5) if p > 0 else np.zeros_like(x)


def motion_novelty(keypoints: np.ndarray, *, fps: float, smooth_s: float = 0.03) -> np.ndarray:
    """Visual-beat novelty of a motion at :data:`NOVELTY_RATE` Hz (module conventions).

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 17, 2|3)], pixels
        COCO-17 positions and, optionally, confidences.
    fps : float
        Frame rate of ``keypoints``.
    smooth_s : float
        Standard deviation of the Gaussian smoothing of positions, seconds.

    Returns
    -------
    np.ndarray [shape=(ceil(T / fps * NOVELTY_RATE),)]
        Non-negative novelty, normalised to unit maximum (all zeros for a still dancer).
    """
    xy, conf = _resampled_positions(keypoints, fps=fps, smooth_s=smooth_s)
    weight = (conf > _SEEN).astype(np.float64)
    count = np.maximum(weight.sum(axis=1), 1.0)
    vel = np.gradient(xy, axis=0) * NOVELTY_RATE if len(xy) > 1 else np.zeros_like(xy)
    speed = (np.linalg.norm(vel, axis=2) * weight).sum(axis=1) / count
    vy = (vel[:, :, 1] * weight).sum(axis=1) / count
    hip_y = xy[:, list(_HIPS), 1].mean(axis=1)
    parts = (
        _below_running_mean(-hip_y),  # hips lower than usual (image y grows downwards)
        np.maximum(-np.gradient(vy), 0.0) if len(vy) > 1 else np.zeros_like(vy),  # stops
        _below_running_mean(speed),  # the body slows
    )
    nov = sum(_scaled(p) for p in parts)
    peak = float(nov.max())
    return nov / peak if peak > 0 else nov


def tempo_salience(novelty: np.ndarray, *, bpm_grid: np.ndarray, harmonics: int = 4) -> np.ndarray:
    """Harmonic-sum pulse salience of a novelty curve for each candidate tempo.

    Parameters
    ----------
    novelty : np.ndarray [shape=(N,)] at :data:`NOVELTY_RATE` Hz
    bpm_grid : np.ndarray [shape=(M,)]
        Candidate tempi, BPM.
    harmonics : int
        Number of harmonics summed (weights 1/h).

    Returns
    -------
    np.ndarray [shape=(M,)]
        Salience, normalised to unit maximum.
    """
    x = novelty - novelty.mean()
    # A Hann taper keeps a clip's ends from adding spurious low-tempo energy.
    x = x * np.hanning(len(x)) if len(x) > 8 else x
    grid = np.asarray(bpm_grid, dtype=np.float64)
    steps = np.diff(grid)
    uniform = len(grid) > 2 and np.allclose(steps, steps[0])
    sal = np.zeros(len(grid))
    for h in range(1, harmonics + 1):
        freqs = h * grid / 60.0
        if uniform:  # the DFT on an evenly spaced grid of frequencies, by chirp-z (fast)
            spec = scipy.signal.zoom_fft(
                x, [freqs[0], freqs[-1]], m=len(freqs), fs=NOVELTY_RATE, endpoint=True
            )
        else:
            t = np.arange(len(x)) / NOVELTY_RATE
            spec = np.exp(-2j * np.pi * np.outer(freqs, t)) @ x
        sal += np.abs(spec) / h
    peak = sal.max()
    return sal / peak if peak > 0 else sal


def windowed_salience(
    novelty: np.ndarray, *, bpm_grid: np.ndarray, harmonics: int = 4
) -> np.ndarray:
    """:func:`tempo_salience` averaged over 6 s windows every 2 s (the whole, if shorter).

    Returns
    -------
    np.ndarray [shape=(M,)]
        Mean salience over the windows, each normalised to unit maximum.
    """
    win, hop = int(_WINDOW_S * NOVELTY_RATE), int(_HOP_S * NOVELTY_RATE)
    if len(novelty) <= win:
        return tempo_salience(novelty, bpm_grid=bpm_grid, harmonics=harmonics)
    starts = range(0, len(novelty) - win + 1, hop)
    return np.mean(
        [tempo_salience(novelty[i : i + win], bpm_grid=bpm_grid, harmonics=harmonics)
         for i in starts],
        axis=0,
    )  # fmt: skip


def estimate_tempo(
    novelty: np.ndarray,
    *,
    prior_bpm: float = 105.0,
    prior_octaves: float = 1.0,
    min_bpm: float = MIN_BPM,
    max_bpm: float = MAX_BPM,
) -> tuple[float, float]:
    """Global tempo and confidence of a novelty curve.

    Parameters
    ----------
    novelty : np.ndarray [shape=(N,)] at :data:`NOVELTY_RATE` Hz
    prior_bpm : float
        Centre of the log-normal tempo prior, BPM.
    prior_octaves : float
        Its standard deviation, octaves.
    min_bpm, max_bpm : float
        Tempo search range.

    Returns
    -------
    bpm : float
    confidence : float in [0, 1]
        The chosen pulse's prominence in the tempo spectrum (module conventions).
    """
    if len(novelty) < NOVELTY_RATE or not np.any(novelty > 0):
        return 0.0, 0.0
    # The windows choose the pulse and its level; the whole clip's spectrum, whose peak is
    # the narrowest, then places it within 4% (two harmonics: more of them, each smeared,
    # pull the peak low by 1-3%).
    grid = np.arange(min_bpm, max_bpm, 0.5)
    sal = windowed_salience(novelty, bpm_grid=grid)
    prior = np.exp(-0.5 * (np.log2(grid / prior_bpm) / prior_octaves) ** 2)
    idx = int(np.argmax(sal * prior))
    fine = np.arange(grid[idx] * 0.96, grid[idx] * 1.04, 0.05)
    best = float(fine[int(np.argmax(tempo_salience(novelty, bpm_grid=fine, harmonics=2)))])
    prominence = float(sal[idx]) / max(float(sal.mean()), 1e-9)
    return best, float(np.clip((prominence - 1.3) / 1.7, 0.0, 1.0))


def local_tempi(novelty: np.ndarray, *, bpm: float) -> np.ndarray:
    """Tempo of each 6 s window (every 2 s), searched within 15% of ``bpm``, BPM."""
    win, hop = int(_WINDOW_S * NOVELTY_RATE), int(_HOP_S * NOVELTY_RATE)
    if bpm <= 0 or len(novelty) < win:
        return np.zeros(0)
    grid = np.arange(bpm * 0.85, bpm * 1.15, 0.25)
    starts = range(0, len(novelty) - win + 1, hop)
    return np.array(
        [grid[int(np.argmax(tempo_salience(novelty[i : i + win], bpm_grid=grid, harmonics=2)))]
         for i in starts]
    )  # fmt: skip


def tempo_ramps(local_bpm: np.ndarray, *, min_change: float = 0.08, min_r2: float = 0.8) -> bool:
    """Whether local tempi follow a steady trend (a ramp) rather than scatter around a pulse.

    Parameters
    ----------
    local_bpm : np.ndarray [shape=(W,)]
        Local tempi in time order (:func:`local_tempi`).
    min_change : float
        Smallest relative change over the clip, along the fitted line, that counts.
    min_r2 : float
        Smallest share of the local tempi's variance the line must explain.
    """
    if len(local_bpm) < 4 or np.ptp(local_bpm) == 0:
        return False
    x = np.arange(len(local_bpm), dtype=np.float64)
    slope, icpt = np.polyfit(x, local_bpm, 1)
    fit = slope * x + icpt
    r2 = 1.0 - np.sum((local_bpm - fit) ** 2) / np.sum((local_bpm - local_bpm.mean()) ** 2)
    change = abs(fit[-1] - fit[0]) / max(float(np.mean(fit)), 1e-9)
    return bool(r2 >= min_r2 and change >= min_change)


def track_beats(
    novelty: np.ndarray, *, bpm: float, tightness: float = 100.0, smooth_beats: int = 9
) -> np.ndarray:
    """Beat times (seconds) on a novelty curve at a given tempo, by dynamic programming.

    Parameters
    ----------
    novelty : np.ndarray [shape=(N,)] at :data:`NOVELTY_RATE` Hz
    bpm : float
        Tempo the beat period follows.
    tightness : float
        How strictly beats keep the period (higher: steadier; lower: follows the moves more).
    smooth_beats : int
        Window (beats, odd) of a quadratic Savitzky-Golay fit of beat time against beat index:
        a dancer's moves scatter around the pulse by tens of milliseconds, the fit keeps the
        pulse, including steady tempo ramps, and drops the scatter. 0 or 1 disables it.

    Returns
    -------
    np.ndarray [shape=(B,)]
        Increasing beat times covering the clip.
    """
    if bpm <= 0 or not np.any(novelty > 0):
        return np.zeros(0)
    # A beat period of silence on each side: the DP otherwise tends to pin a beat to the
    # clip's first or last frame, and a strict period then drags its neighbours off the moves.
    period = 60.0 / bpm
    pad = int(round(period * NOVELTY_RATE))
    _, beats = librosa.beat.beat_track(
        onset_envelope=np.pad(novelty, pad),
        sr=int(NOVELTY_RATE),
        hop_length=1,
        bpm=bpm,
        tightness=tightness,
        trim=False,
        units="time",
    )
    end = (len(novelty) - 1) / NOVELTY_RATE
    beats = np.asarray(beats, dtype=np.float64) - pad / NOVELTY_RATE
    beats = beats[(beats >= 0) & (beats <= end)]
    # Drop stragglers that sit much closer to their neighbour than a beat period.
    while len(beats) >= 3 and beats[-1] - beats[-2] < 0.75 * period:
        beats = beats[:-1]
    while len(beats) >= 3 and beats[1] - beats[0] < 0.75 * period:
        beats = beats[1:]
    window = min(smooth_beats, len(beats) if len(beats) % 2 else len(beats) - 1)
    if window >= 5:
        beats = scipy.signal.savgol_filter(beats, window, 2)
        beats = beats[(beats >= 0) & (beats <= end)]
    return beats


def visual_tempo(motion: Motion, *, prior_bpm: float = 105.0) -> TempoEstimate:
    """Tempo, confidence and beats of a dance.

    Parameters
    ----------
    motion : Motion
    prior_bpm : float
        Centre of the tempo prior, BPM (see :func:`estimate_tempo`).

    Returns
    -------
    TempoEstimate

    Notes
    -----
    Scene cuts are the caller's to bridge first (:func:`~d2m_core.dance.cuts.bridge_cuts`, as
    :func:`~d2m_core.dance.analysis.analyze_motion` does), so a cut neither hits nor breaks
    the pulse.
    """
    nov = motion_novelty(motion.keypoints, fps=motion.fps)
    bpm, conf = estimate_tempo(nov, prior_bpm=prior_bpm)
    ramp = tempo_ramps(local_tempi(nov, bpm=bpm))
    beats = track_beats(nov, bpm=bpm, tightness=RAMP_TIGHTNESS if ramp else BEAT_TIGHTNESS)
    return TempoEstimate(bpm=bpm, confidence=conf, beats_s=beats, novelty=nov)
