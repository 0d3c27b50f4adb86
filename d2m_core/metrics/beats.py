"""Beat and rhythm-alignment metrics.

Conventions
-----------
- Audio is analysed mono at :data:`ANALYSIS_SR` (22050 Hz), as the paper's protocol (after
  LORIS) does; any input rate is resampled first.
- *Paper beats* are librosa onsets with the LORIS settings (``wait=1, delta=0.2, pre_avg=3,
  post_avg=3, pre_max=3, post_max=3``). BCS / BHS quantise onset times into bins of ``bin_s``
  seconds (0.2 s default, the paper's; 1 s reproduces LORIS): BHS = hit bins / reference bins
  (recall), BCS = hit bins / generated bins (precision), per clip; the reference is truncated
  to the generated length. F1 is the harmonic mean of dataset-averaged BCS and BHS.
- *Paper tempo* is librosa's tempo on the onset-strength envelope with mean aggregation; TD is
  the absolute difference in BPM.
- *Beat F-measure* is mir_eval's (±70 ms window) between two beat sequences (seconds); both are
  used as given (mir_eval's usual trimming of the first 5 s is not applied, since dance clips
  are often short).
"""

from __future__ import annotations

import librosa
import mir_eval
import numpy as np

ANALYSIS_SR = 22050


def to_analysis_audio(y: np.ndarray, sr: int) -> np.ndarray:
    """Mono float32 audio at :data:`ANALYSIS_SR`.

    Parameters
    ----------
    y : np.ndarray [shape=(N,) or (N, C)]
        Audio, samples first.
    sr : int
        Its sample rate, Hz.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.ndim != 1:
        raise ValueError(f"audio must be (N,) or (N, C), got shape {y.shape}")
    if sr != ANALYSIS_SR:
        y = librosa.resample(y, orig_sr=sr, target_sr=ANALYSIS_SR)
    return y


def detect_beats(y: np.ndarray, sr: int) -> tuple[float, np.ndarray]:
    """Musical beats of audio with librosa's beat tracker.

    Returns
    -------
    tempo : float
        BPM.
    beats : np.ndarray [shape=(B,)]
        Beat times, seconds.
    """
    mono = to_analysis_audio(y, sr)
    tempo, beats = librosa.beat.beat_track(y=mono, sr=ANALYSIS_SR, units="time")
    return float(np.atleast_1d(tempo)[0]), np.asarray(beats, dtype=np.float64)


def paper_onsets(y: np.ndarray, sr: int) -> np.ndarray:
    """Onset times (seconds) as the paper's protocol detects 'musical beats'."""
    mono = to_analysis_audio(y, sr)
    return librosa.onset.onset_detect(
        y=mono, sr=ANALYSIS_SR, wait=1, delta=0.2, pre_avg=3, post_avg=3, pre_max=3,
        post_max=3, units="time",
    )  # fmt: skip


def paper_tempo(y: np.ndarray, sr: int) -> float:
    """Tempo (BPM) as the paper's TD metric measures it."""
    mono = to_analysis_audio(y, sr)
    env = librosa.onset.onset_strength(y=mono, sr=ANALYSIS_SR)
    return float(librosa.feature.tempo(onset_envelope=env, sr=ANALYSIS_SR, aggregate=np.mean)[0])


def beat_f_measure(
    reference_s: np.ndarray, estimated_s: np.ndarray, *, window_s: float = 0.07
) -> float:
    """mir_eval beat F-measure (±``window_s``) of estimated beats against reference beats."""
    ref = np.asarray(reference_s, dtype=np.float64)
    est = np.asarray(estimated_s, dtype=np.float64)
    if ref.size == 0 or est.size == 0:
        return 0.0
    return float(mir_eval.beat.f_measure(ref, est, f_measure_threshold=window_s))


def beat_bins(times_s: np.ndarray, *, bin_s: float = 0.2) -> set[int]:
    """The set of ``bin_s``-wide bins that hold at least one time."""
    if bin_s <= 0:
        raise ValueError("bin_s must be positive")
    return {int(b) for b in np.floor(np.asarray(times_s, dtype=np.float64) / bin_s)}


def bcs_bhs(
    generated_s: np.ndarray,
    reference_s: np.ndarray,
    *,
    bin_s: float = 0.2,
    duration_s: float | None = None,
) -> tuple[float, float]:
    """Beat coverage (BCS, precision) and beat hit (BHS, recall) scores of one clip.

    Parameters
    ----------
    generated_s, reference_s : np.ndarray
        Beat (onset) times, seconds.
    bin_s : float
        Bin width, seconds (0.2 paper, 1.0 LORIS).
    duration_s : float, optional
        Length of the generated clip; reference beats after it are dropped.

    Returns
    -------
    bcs, bhs : float
        0 when the corresponding denominator is empty.
    """
    ref = np.asarray(reference_s, dtype=np.float64)
    if duration_s is not None:
        ref = ref[ref < duration_s]
    g, r = beat_bins(generated_s, bin_s=bin_s), beat_bins(ref, bin_s=bin_s)
    hit = len(g & r)
    return (hit / len(g) if g else 0.0), (hit / len(r) if r else 0.0)
