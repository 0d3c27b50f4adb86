"""Visual tempo and beats: where the music's beats should fall for a dance (beyond the paper).

Conventions
-----------
- The *novelty* curve is the paper's acceleration envelope (:mod:`d2m_core.dance.rhythm`)
  computed on lightly smoothed keypoints (Gaussian, ``smooth_s`` seconds) so single-frame
  jitter does not dominate, minus its 1 s running mean, half-wave rectified, resampled to
  ``NOVELTY_RATE`` Hz.
  Everything below is in seconds, so any frame rate gives the same answer.
- Tempo is a single global value in BPM: the pulse whose harmonic series (1x..4x) best explains
  the novelty's spectrum, with octave errors (half / double / three-halves time, common when a
  dancer moves on every other beat or on eighths) resolved by a log-normal prior around
  ``prior_bpm``, the centre of dance-music tempi.
- ``confidence`` in [0, 1]: how far the chosen pulse stands above the spectrum's background
  (0 = no periodicity, values above ~0.5 are clear pulses).
- Beats are placed by dynamic programming on the novelty (librosa's beat tracker) with the
  global tempo as its period, so their phase follows the moves and they drift with local tempo
  changes; a quadratic Savitzky-Golay fit over 9 beats then removes the moves' scatter around
  the pulse (tempo ramps survive it).
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
import scipy.ndimage as ndi
import scipy.signal

from d2m_core.dance.motion import Motion
from d2m_core.dance.rhythm import acceleration_envelope

NOVELTY_RATE = 100.0  # Hz: 10 ms beat resolution whatever the video's frame rate
MIN_BPM = 40.0
MAX_BPM = 240.0


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


def motion_novelty(
    keypoints: np.ndarray, *, fps: float, smooth_s: float = 0.05, num_bins: int = 10
) -> np.ndarray:
    """Beat novelty of a motion, resampled to :data:`NOVELTY_RATE` Hz.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 17, 2|3)], pixels
    fps : float
        Frame rate of ``keypoints``.
    smooth_s : float
        Standard deviation of the Gaussian smoothing of positions, seconds.
    num_bins : int
        Direction bins of the directogram.

    Returns
    -------
    np.ndarray [shape=(ceil(T / fps * NOVELTY_RATE),)]
        Non-negative novelty, normalised to unit maximum (all zeros for a still dancer).
    """
    kp = np.array(keypoints, dtype=np.float64)
    sigma = smooth_s * fps
    if sigma > 0.3 and len(kp) > 1:
        kp[:, :, :2] = ndi.gaussian_filter1d(kp[:, :, :2], sigma, axis=0, mode="nearest")
    env = acceleration_envelope(kp, num_bins=num_bins)
    n_out = max(1, int(np.ceil(len(env) / fps * NOVELTY_RATE)))
    t_out = np.arange(n_out) / NOVELTY_RATE
    nov = np.interp(t_out, np.arange(len(env)) / fps, env)
    nov = nov - ndi.uniform_filter1d(nov, int(NOVELTY_RATE), mode="nearest")
    nov = np.maximum(nov, 0.0)
    peak = nov.max()
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


def estimate_tempo(
    novelty: np.ndarray,
    *,
    prior_bpm: float = 105.0,
    prior_octaves: float = 0.6,
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
    """
    if len(novelty) < NOVELTY_RATE or not np.any(novelty > 0):
        return 0.0, 0.0
    # Coarse search, then refine: the spectral peak is ~60/duration BPM wide.
    grid = np.arange(min_bpm, max_bpm, 0.5)
    sal = tempo_salience(novelty, bpm_grid=grid)
    prior = np.exp(-0.5 * (np.log2(grid / prior_bpm) / prior_octaves) ** 2)
    score = sal * prior
    best = float(grid[int(np.argmax(score))])
    fine = np.arange(best - 1.0, best + 1.0, 0.05)
    best = float(fine[int(np.argmax(tempo_salience(novelty, bpm_grid=fine)))])
    # Confidence: the chosen pulse against its strongest rival that is not an octave relative
    # (half, double, 3/2 ... time are the same beat grid, so they are not rivals).
    related = np.zeros(len(grid), dtype=bool)
    for ratio in (1 / 3, 1 / 2, 2 / 3, 1, 3 / 2, 2, 3):
        related |= np.abs(grid / (best * ratio) - 1) < 0.06
    idx = int(np.argmin(np.abs(grid - best)))
    rival = float(sal[~related].max()) if (~related).any() else 0.0
    conf = 1.0 - rival / max(float(sal[idx]), 1e-9)
    return best, float(np.clip(conf, 0.0, 1.0))


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
    _, beats = librosa.beat.beat_track(
        onset_envelope=novelty,
        sr=int(NOVELTY_RATE),
        hop_length=1,
        bpm=bpm,
        tightness=tightness,
        trim=False,
        units="time",
    )
    beats = np.asarray(beats, dtype=np.float64)
    # Untrimmed DP may pin a beat to the clip's first or last frame; drop such stragglers
    # when they sit much closer to their neighbour than a beat period.
    period = 60.0 / bpm
    while len(beats) >= 3 and beats[-1] - beats[-2] < 0.75 * period:
        beats = beats[:-1]
    while len(beats) >= 3 and beats[1] - beats[0] < 0.75 * period:
        beats = beats[1:]
    window = min(smooth_beats, len(beats) if len(beats) % 2 else len(beats) - 1)
    if window >= 5:
        beats = scipy.signal.savgol_filter(beats, window, 2)
        beats = beats[(beats >= 0) & (beats <= (len(novelty) - 1) / NOVELTY_RATE)]
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
    """
    nov = motion_novelty(motion.keypoints, fps=motion.fps)
    bpm, conf = estimate_tempo(nov, prior_bpm=prior_bpm)
    beats = track_beats(nov, bpm=bpm)
    return TempoEstimate(bpm=bpm, confidence=conf, beats_s=beats, novelty=nov)
