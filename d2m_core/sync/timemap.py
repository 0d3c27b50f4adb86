"""Beat pairing and the time map: which music beat goes to which dance beat, and when.

Conventions
-----------
- Times are in seconds. Beat lists are 1-D float arrays, strictly increasing.
- *Source* time is time in the music being warped (along the looped timeline when the music
  was looped, see :mod:`d2m_core.sync.looping`); *output* time is time in the warped music.
- The *time map* is an array of anchors ``(output_s, source_s)``, shape ``(K, 2)``, strictly
  increasing in both columns, linear between anchors and extrapolated with the end segments'
  slopes. The music heard at output time ``t`` is the music at source time ``map(t)``.
- The *stretch ratio* of a segment is output duration / source duration: 1.25 plays that
  stretch of music 25 % slower (longer). Ratios are bounded to
  ``[1 / max_stretch, max_stretch]``.
- Beat pairing: music beats ``s[o + a k]`` go with dance beats ``t[p + b k]``, where
  ``(a, b)`` is ``(1, 1)``, ``(2, 1)`` (music near double the dance tempo: every other music
  beat lands on a dance beat) or ``(1, 2)`` (music near half: every music beat lands on every
  other dance beat), whichever needs the least overall stretch (median beat periods); the
  offsets ``o`` (which music beat meets the first dance beat, within one bar) and ``p`` are
  chosen by fitting the map for each and keeping the one with the least total absolute log
  stretch (plus a penalty for fitted beats that miss their dance beats and for dance beats
  left unpaired).
- The map is fitted by bounded least squares: paired beats land on their dance beats within
  ~:data:`POSITION_SCALE_S` while the ratio changes from one beat to the next are penalised
  with weight ``smoothing`` (0 = land exactly wherever the bounds allow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize

from d2m_core.errors import D2MError

DEFAULT_MAX_STRETCH = 1.45
"""Default bound on the stretch ratio of one beat-to-beat segment (and its inverse)."""

POSITION_SCALE_S = 0.02
"""How far (s) a paired beat may miss its dance beat for the cost of one unit of smoothness."""

RATIO_SCALE = 0.1
"""A beat-to-beat change of the stretch ratio of this size costs ``smoothing`` units."""

BEATS_PER_BAR = 4
"""Bars are this many beats: pairing offsets span one bar, loops are whole bars."""

MISS_SCALE_S = 0.07
"""A fitted beat missing its dance beat by ``m`` seconds adds ``(m / MISS_SCALE_S)^2`` to the
pairing cost: 1 at the edge of the ±70 ms beat-agreement window."""

UNPAIRED_COST = 10.0
"""Pairing cost of each dance beat left unpaired (prefers pairings covering the dance)."""

OFFSET_COST = 1e-3
"""Pairing cost per beat of offset (breaks ties towards the earliest music beat)."""


@dataclass
class BeatPairing:
    """Which music beats go with which dance beats (see the module docstring).

    Attributes
    ----------
    pairs : np.ndarray [shape=(P, 2)], int
        ``(source beat index, target beat index)``.
    step : tuple of int
        ``(a, b)``.
    anchors_s : np.ndarray [shape=(P,)]
        Fitted output times of the paired source beats, seconds.
    cost : float
        Selection cost: total absolute log stretch of the fitted segments, plus the miss and
        coverage penalties (see :func:`pairing_cost`).
    """

    pairs: np.ndarray
    step: tuple[int, int]
    anchors_s: np.ndarray
    cost: float


def median_ibi(beats_s: np.ndarray) -> float:
    """Median inter-beat interval, seconds, of ``beats_s`` (shape ``(B,)``, B >= 2)."""
    return float(np.median(np.diff(beats_s)))


def choose_step(source_beats_s: np.ndarray, target_beats_s: np.ndarray) -> tuple[int, int]:
    """The pairing step ``(a, b)`` that needs the least overall stretch.

    Parameters
    ----------
    source_beats_s : np.ndarray [shape=(B,)], B >= 2
        Music beats, seconds.
    target_beats_s : np.ndarray [shape=(M,)], M >= 2
        Dance beats, seconds.

    Returns
    -------
    tuple of int
        ``(1, 1)``, ``(2, 1)`` or ``(1, 2)``.
    """
    s_ibi, t_ibi = median_ibi(source_beats_s), median_ibi(target_beats_s)
    steps = [(1, 1), (2, 1), (1, 2)]
    costs = [abs(np.log(b * t_ibi / (a * s_ibi))) for a, b in steps]
    return steps[int(np.argmin(costs))]


def fit_anchors(
    source_s: np.ndarray,
    target_s: np.ndarray,
    *,
    max_stretch: float = DEFAULT_MAX_STRETCH,
    smoothing: float = 1.0,
) -> np.ndarray:
    """Output times for paired source beats: near their targets, with bounded smooth ratios.

    Solves ``min sum((u_k - t_k) / POSITION_SCALE_S)^2 + smoothing * sum((r_{k+1} - r_k) /
    RATIO_SCALE)^2`` over the output times ``u`` (strictly increasing), where
    ``r_k = (u_{k+1} - u_k) / (s_{k+1} - s_k)`` is bounded to ``[1/max_stretch, max_stretch]``.

    Parameters
    ----------
    source_s : np.ndarray [shape=(P,)]
        Paired source beat times, strictly increasing, seconds.
    target_s : np.ndarray [shape=(P,)]
        Their dance beats, strictly increasing, seconds.
    max_stretch : float
        Ratio bound, > 1.
    smoothing : float
        Weight of the ratio-change penalty, >= 0.

    Returns
    -------
    np.ndarray [shape=(P,)]
        Output times ``u``, seconds.
    """
    s = np.asarray(source_s, dtype=np.float64)
    t = np.asarray(target_s, dtype=np.float64)
    p = s.size
    if p < 2:
        return t.copy()
    sig = np.diff(s)
    # Unknowns x = [u_0, d_0 .. d_{P-2}] with d_k = u_{k+1} - u_k; u = L x, so the ratio
    # bounds become plain box bounds on d.
    lower = np.tril(np.ones((p, p)))
    rows = [lower / POSITION_SCALE_S]
    rhs = [t / POSITION_SCALE_S]
    if smoothing > 0 and p > 2:
        # r_k = d_k / sig_k; penalise r_{k+1} - r_k.
        dr = np.zeros((p - 2, p))
        k = np.arange(p - 2)
        dr[k, k + 1] = -1.0 / sig[:-1]
        dr[k, k + 2] = 1.0 / sig[1:]
        rows.append(dr * np.sqrt(smoothing) / RATIO_SCALE)
        rhs.append(np.zeros(p - 2))
    a = np.vstack(rows)
    b = np.concatenate(rhs)
    lo = np.concatenate([[-np.inf], sig / max_stretch])
    hi = np.concatenate([[np.inf], sig * max_stretch])
    x0 = np.clip(np.concatenate([[t[0]], np.diff(t)]), lo, hi)
    sol = scipy.optimize.lsq_linear(a, b, bounds=(lo, hi), method="bvls", tol=1e-10)
    x = sol.x if sol.success else x0
    return lower @ x


def pairing_cost(
    *,
    source_s: np.ndarray,
    target_s: np.ndarray,
    anchors_s: np.ndarray,
    offset: int,
    unpaired: int,
) -> float:
    """Selection cost of one candidate pairing (lower is better).

    Parameters
    ----------
    source_s, target_s : np.ndarray [shape=(P,)], P >= 2
        The paired music beats and their dance beats, seconds.
    anchors_s : np.ndarray [shape=(P,)]
        Fitted output times of ``source_s`` (:func:`fit_anchors`), seconds.
    offset : int
        Index of the first paired music beat.
    unpaired : int
        Dance beats of this phase left without a music beat.

    Returns
    -------
    float
        Total absolute log stretch, plus ``((anchor - target) / MISS_SCALE_S)^2`` summed,
        plus :data:`OFFSET_COST` per beat of offset and :data:`UNPAIRED_COST` per unpaired
        dance beat.
    """
    ratios = np.diff(anchors_s) / np.diff(source_s)
    return float(
        np.abs(np.log(ratios)).sum()
        + np.sum(((anchors_s - target_s) / MISS_SCALE_S) ** 2)
        + OFFSET_COST * offset
        + UNPAIRED_COST * unpaired
    )


def pair_beats(
    source_beats_s: np.ndarray,
    target_beats_s: np.ndarray,
    *,
    max_stretch: float = DEFAULT_MAX_STRETCH,
    smoothing: float = 1.0,
    step: tuple[int, int] | None = None,
    max_offset_bars: int = 1,
) -> BeatPairing:
    """Pair music beats with dance beats and fit their output times (module docstring).

    Parameters
    ----------
    source_beats_s : np.ndarray [shape=(B,)], B >= 2
        Music beats on the source timeline, seconds.
    target_beats_s : np.ndarray [shape=(M,)], M >= 2
        Dance beats, seconds.
    max_stretch, smoothing
        See :func:`fit_anchors`.
    step : tuple of int, optional
        Force the pairing step ``(a, b)``; chosen by :func:`choose_step` by default.
    max_offset_bars : int
        Offsets ``o`` tried: which of the first ``max_offset_bars`` bars' music beats meets the
        first dance beat.

    Returns
    -------
    BeatPairing

    Raises
    ------
    D2MError
        When no offset leaves two beats to pair.
    """
    s = np.asarray(source_beats_s, dtype=np.float64)
    t = np.asarray(target_beats_s, dtype=np.float64)
    a, b = step if step is not None else choose_step(s, t)
    best: BeatPairing | None = None
    for p in range(b):
        tk = np.arange(p, t.size, b)
        for o in range(min(max_offset_bars * BEATS_PER_BAR * a, s.size)):
            n = min(tk.size, (s.size - 1 - o) // a + 1)
            if n < 2:
                continue
            si = o + a * np.arange(n)
            u = fit_anchors(s[si], t[tk[:n]], max_stretch=max_stretch, smoothing=smoothing)
            cost = pairing_cost(
                source_s=s[si], target_s=t[tk[:n]], anchors_s=u, offset=o, unpaired=tk.size - n
            )
            if best is None or cost < best.cost:
                pairs = np.stack([si, tk[:n]], axis=1).astype(np.int64)
                best = BeatPairing(pairs=pairs, step=(a, b), anchors_s=u, cost=cost)
    if best is None:
        raise D2MError("the music has too few beats to pair with the dance")
    return best


def build_time_map(
    source_s: np.ndarray, output_s: np.ndarray, *, duration_s: float, edge_segments: int = 4
) -> np.ndarray:
    """Anchors of the full time map: the paired beats plus extrapolated end points.

    Parameters
    ----------
    source_s : np.ndarray [shape=(P,)], P >= 2
        Paired source beat times, seconds.
    output_s : np.ndarray [shape=(P,)]
        Their output times, seconds (strictly increasing).
    duration_s : float
        Output length, seconds.
    edge_segments : int
        The end slopes are the mean ratio of this many segments at each end.

    Returns
    -------
    np.ndarray [shape=(K, 2)]
        ``(output_s, source_s)`` anchors covering ``[min(0, u_0), max(duration, u_-1)]``.
    """
    s = np.asarray(source_s, dtype=np.float64)
    u = np.asarray(output_s, dtype=np.float64)
    r = np.diff(u) / np.diff(s)
    r0 = float(np.mean(r[:edge_segments]))
    r1 = float(np.mean(r[-edge_segments:]))
    pts = [(u[i], s[i]) for i in range(u.size)]
    if u[0] > 0:
        pts.insert(0, (0.0, s[0] - u[0] / r0))
    end = max(duration_s, 0.0) + 1.0  # one second past the end, for the TSM's last frames
    if u[-1] < end:
        pts.append((end, s[-1] + (end - u[-1]) / r1))
    return np.asarray(pts, dtype=np.float64)


def map_times(time_map: np.ndarray, output_s: np.ndarray) -> np.ndarray:
    """Source times of output times through a time map, extrapolating linearly at the ends.

    Parameters
    ----------
    time_map : np.ndarray [shape=(K, 2)], K >= 2
        ``(output_s, source_s)`` anchors.
    output_s : np.ndarray
        Output times, seconds.

    Returns
    -------
    np.ndarray (same shape as ``output_s``)
        Source times, seconds.
    """
    return _interp_extrap(np.asarray(output_s, dtype=np.float64), time_map[:, 0], time_map[:, 1])


def inverse_map_times(time_map: np.ndarray, source_s: np.ndarray) -> np.ndarray:
    """Output times of source times (the inverse map), extrapolating linearly at the ends.

    Parameters
    ----------
    time_map : np.ndarray [shape=(K, 2)], K >= 2
        ``(output_s, source_s)`` anchors.
    source_s : np.ndarray
        Source times, seconds.

    Returns
    -------
    np.ndarray (same shape as ``source_s``)
        Output times, seconds.
    """
    return _interp_extrap(np.asarray(source_s, dtype=np.float64), time_map[:, 1], time_map[:, 0])


def _interp_extrap(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp`` continued past both ends along the first and last segments."""
    y = np.interp(x, xp, fp)
    lo, hi = x < xp[0], x > xp[-1]
    if np.any(lo):
        y[lo] = fp[0] + (x[lo] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
    if np.any(hi):
        y[hi] = fp[-1] + (x[hi] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return y
