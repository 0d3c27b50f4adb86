"""Visual beats against the music a dancer danced to: tempo levels, level-tolerant F, lag, AUC.

Conventions
-----------
- Times are seconds on one timeline (the video file's: a visual beat and a music beat at the
  same instant have the same time), tempi in BPM. Beat arrays are 1-D, finite, non-negative and
  non-decreasing (:func:`~d2m_core.music.beats.validate_times`).
- A reference's tempo is ``60 / median(inter-beat interval)``.
- *Metrical levels*: a dancer may move on every beat, every other beat or every half beat, and
  two machine references for the same music often disagree by 2:1 or 3:2. A visual tempo is
  *right at level r* when it is within ``tolerance`` (4% by default) of ``r`` times a
  reference's tempo; :data:`TEMPO_LEVELS` are the levels accepted (1, 2, 1/2, 3/2, 2/3).
- *Level-tolerant F* (:func:`level_f_measure`): mir_eval's beat F-measure (±70 ms, nothing
  trimmed) against the reference, against the reference at double time (midpoints inserted)
  and against both phases of the reference at half time (every other beat, starting with the
  first or the second); the best of the four. Off-beats (the reference shifted by half a beat)
  are never accepted: a visual beat on the off-beat is a wrong phase.
- *Best constant lag* (:func:`best_lag`): the shift of the visual beats, within half a
  reference beat either way, that maximises the F-measure (the centre of the best shifts);
  what a constant correction would gain.
- *ROC AUC* (:func:`roc_auc`): the probability that a randomly chosen positive (e.g. a clip
  whose tempo is right) has a higher score than a randomly chosen negative; ties count half.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from d2m_core.music.beats import BEAT_WINDOW_S, beat_f_measure, validate_times

#: Ratios of the visual tempo to a reference tempo that count as the same pulse.
TEMPO_LEVELS = (1.0, 2.0, 0.5, 1.5, 2.0 / 3.0)

#: Relative tempo tolerance.
TEMPO_TOLERANCE = 0.04


def reference_tempo(beats_s: np.ndarray | Sequence[float]) -> float:
    """Tempo (BPM) of a beat sequence from its median inter-beat interval (0 if < 2 beats)."""
    b = validate_times(beats_s, name="reference beats")
    if len(b) < 2:
        return 0.0
    ibi = float(np.median(np.diff(b)))
    return 60.0 / ibi if ibi > 0 else 0.0


def tempo_level(
    bpm: float,
    reference_bpm: float,
    *,
    levels: Sequence[float] = TEMPO_LEVELS,
    tolerance: float = TEMPO_TOLERANCE,
) -> float | None:
    """The metrical level at which ``bpm`` matches ``reference_bpm``, or None.

    Parameters
    ----------
    bpm, reference_bpm : float
        Visual and reference tempo, BPM.
    levels : sequence of float
        Ratios ``bpm / reference_bpm`` accepted, tried in order (the exact level first).
    tolerance : float
        Relative tolerance.

    Returns
    -------
    float or None
        The first level ``r`` with ``|bpm / (r * reference_bpm) - 1| <= tolerance``.
    """
    if bpm <= 0 or reference_bpm <= 0:
        return None
    for r in levels:
        if abs(bpm / (r * reference_bpm) - 1.0) <= tolerance:
            return float(r)
    return None


def double_time(beats_s: np.ndarray) -> np.ndarray:
    """The beats with their midpoints inserted (the same music counted twice as fast)."""
    b = validate_times(beats_s, name="reference beats")
    if len(b) < 2:
        return b
    mids = 0.5 * (b[:-1] + b[1:])
    return np.sort(np.concatenate([b, mids]))


def level_variants(beats_s: np.ndarray) -> dict[str, np.ndarray]:
    """The reference at its own level, at double time and at both phases of half time."""
    b = validate_times(beats_s, name="reference beats")
    return {"1x": b, "2x": double_time(b), "1/2 (odd)": b[0::2], "1/2 (even)": b[1::2]}


def level_f_measure(
    reference_s: np.ndarray, estimated_s: np.ndarray, *, window_s: float = BEAT_WINDOW_S
) -> tuple[float, str]:
    """Best beat F-measure over the reference's accepted metrical levels (module docstring).

    Returns
    -------
    f : float
        In [0, 1].
    level : str
        Which variant gave it (``"1x"``, ``"2x"``, ``"1/2 (odd)"`` or ``"1/2 (even)"``).
    """
    est = validate_times(estimated_s, name="estimated beats")
    best, which = 0.0, "1x"
    for name, ref in level_variants(reference_s).items():
        f = beat_f_measure(ref, est, window_s=window_s)
        if f > best + 1e-12:
            best, which = f, name
    return best, which


def best_lag(
    reference_s: np.ndarray,
    estimated_s: np.ndarray,
    *,
    step_s: float = 0.01,
    window_s: float = BEAT_WINDOW_S,
) -> tuple[float, float]:
    """The constant shift of the estimated beats that maximises the F-measure.

    Parameters
    ----------
    reference_s, estimated_s : np.ndarray [shape=(R,), (E,)]
        Beat times, seconds.
    step_s : float
        Grid step of the shifts tried, seconds.
    window_s : float
        Hit tolerance, ± seconds.

    Returns
    -------
    lag_s : float
        The shift (added to the estimated beats; positive = the visual beats come early),
        within half a reference beat either way: the centre of the shifts that score best.
    f : float
        The F-measure after that shift.
    """
    ref = validate_times(reference_s, name="reference beats")
    est = validate_times(estimated_s, name="estimated beats")
    if len(ref) < 2 or len(est) == 0:
        return 0.0, beat_f_measure(ref, est, window_s=window_s)
    half = 0.5 * float(np.median(np.diff(ref)))
    lags = np.arange(-half, half + 1e-9, step_s)
    scores = np.array(
        [beat_f_measure(ref, np.clip(est + lag, 0.0, None), window_s=window_s) for lag in lags]
    )
    # Every shift within ±window of the true offset scores alike: the plateau's centre is it.
    best = lags[scores >= scores.max() - 1e-12]
    lag = float(np.median(best))
    return lag, beat_f_measure(ref, np.clip(est + lag, 0.0, None), window_s=window_s)


def roc_auc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Area under the ROC curve of ``scores`` for separating ``positives`` (module docstring).

    Returns
    -------
    float
        In [0, 1]; NaN when there are no positives or no negatives.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positives, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError("scores and positives must be 1-D and of the same length")
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def evaluate(
    *,
    visual_bpm: float,
    visual_beats_s: np.ndarray,
    reference_beats_s: np.ndarray,
) -> dict:
    """Every figure of one clip against one reference.

    Returns
    -------
    dict
        ``reference_bpm``, ``tempo_ratio`` (visual / reference), ``tempo_exact`` (within
        tolerance at level 1), ``tempo_level`` (the accepted level or None), ``f`` (own level),
        ``f_level`` and ``f_level_variant`` (level-tolerant), ``lag_s`` and ``f_lagged`` (best
        constant shift, against the reference at the level ``f_level`` used).
    """
    ref = validate_times(reference_beats_s, name="reference beats")
    est = validate_times(visual_beats_s, name="visual beats")
    ref_bpm = reference_tempo(ref)
    level = tempo_level(visual_bpm, ref_bpm)
    f_level, variant = level_f_measure(ref, est)
    lag, f_lagged = best_lag(level_variants(ref)[variant], est)
    return {
        "reference_bpm": ref_bpm,
        "tempo_ratio": visual_bpm / ref_bpm if ref_bpm > 0 else float("nan"),
        "tempo_exact": tempo_level(visual_bpm, ref_bpm, levels=(1.0,)) is not None,
        "tempo_level": level,
        "f": beat_f_measure(ref, est),
        "f_level": f_level,
        "f_level_variant": variant,
        "lag_s": lag,
        "f_lagged": f_lagged,
    }
