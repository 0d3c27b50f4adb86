"""Zero-shot sync: warp any music so that its beats land on a dance's visual beats.

Beat-aligned time-warping (beyond the paper, which generates new music instead): the music's
beats are paired with the dance's beats, a monotonic piecewise-linear *time map* sends each
paired music beat to its dance beat, and a time-varying time-scale modification (TSM) renders
the music along that map. Tempo changes locally, beat by beat; pitch does not.

Conventions
-----------
- Times are in seconds, tempi in BPM. Audio is ``(N,)`` mono or ``(N, C)`` samples-first
  float at any sample rate; the output keeps the input's rate and channels.
- *Source* time is time in the music being warped. When the music is looped to cover a longer
  dance (see below), source time runs along the looped music (the *timeline*), not the file.
- The *time map* is an array of anchors ``(output_s, source_s)``, shape ``(K, 2)``, strictly
  increasing in both columns, linear between anchors and extrapolated with the end segments'
  slopes. The music heard at output time ``t`` is the music at source time ``map(t)``.
- The *stretch ratio* of a segment is output duration / source duration: 1.25 plays that
  stretch of music 25 % slower (longer). Ratios are clamped to
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
  ~``POSITION_SCALE_S`` while the ratio changes from one beat to the next are penalised with
  weight ``smoothing`` (0 = land exactly wherever the bounds allow).
- Looping: when the music is too short for the requested output (the fitted map runs past
  its end), it is looped at bar boundaries (a whole number of 4-beat bars, joined 30 ms
  before a beat with a 20 ms crossfade, at the pair of beats whose surroundings sound most
  alike) so the output covers the whole dance. With ``loop=False`` the output is silent once
  the music runs out.
- Rendering: WSOLA (default) or a phase vocoder with identity phase locking, both driven by the
  time map frame by frame; see :func:`time_map_stretch`. WSOLA keeps transients sharp (drums
  stay drums) and is click-free by construction (windowed overlap-add with exact
  normalisation); the phase vocoder is smoother on sustained chords but smears attacks.
- Beat agreement is mir_eval's F-measure (±70 ms) of the beats detected in the audio
  (:func:`d2m_core.music.beats.detect_beats`) against the dance's beats, within the span the
  music covers.
- Pitch preservation is measured two ways (:func:`pitch_figures`): the mean cosine distance
  between the chroma of each paired source segment and its output segment
  (``chroma_distance``; tolerance :data:`CHROMA_TOLERANCE`), and the pitch shift in cents
  between fine (20-cent) pitch-class profiles of source and output (``pitch_shift_cents``;
  tolerance :data:`PITCH_TOLERANCE_CENTS`). A one-semitone shift reads ~100 cents and a chroma
  distance ten times the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import librosa
import numpy as np
import scipy.fft
import scipy.optimize

from d2m_core.errors import D2MError
from d2m_core.music.beats import (
    ANALYSIS_SR,
    BEAT_WINDOW_S,
    beat_f_measure,
    detect_beats,
    to_analysis_audio,
)

DEFAULT_MAX_STRETCH = 1.45
"""Default bound on the stretch ratio of one beat-to-beat segment (and its inverse)."""

POSITION_SCALE_S = 0.02
"""How far (s) a paired beat may miss its dance beat for the cost of one unit of smoothness."""

RATIO_SCALE = 0.1
"""A beat-to-beat change of the stretch ratio of this size costs ``smoothing`` units."""

BEATS_PER_BAR = 4
"""Loops are a whole number of bars of this many beats."""

CHROMA_TOLERANCE = 0.01
"""Largest mean chroma cosine distance accepted as "pitch kept" (measured on the shared music:
warping reads 0.0005-0.005, a quarter-tone shift 0.02-0.03, a semitone 0.11-0.19)."""

PITCH_TOLERANCE_CENTS = 5.0
"""Largest estimated pitch shift accepted as "pitch kept", cents (about the smallest pitch
change listeners notice; warping reads within +-3, a 0.1-semitone shift 8-10)."""

MIN_SEGMENT_S = 0.1
"""Segments shorter than this (s) are left out of the chroma distance (too few frames)."""

METHODS = ("wsola", "pv")


@dataclass
class AlignResult:
    """Music warped onto a dance's beats, with the map used and before/after measurements.

    Attributes
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)], float32
        The warped music at ``sr``, ``duration_s`` long.
    sr : int
        Sample rate, Hz (the input's).
    duration_s : float
        Output length, seconds.
    target_beats_s : np.ndarray [shape=(M,)]
        The dance's beats, seconds.
    source_beats_s : np.ndarray [shape=(B,)]
        The music's beats as detected in the input file, seconds (file time).
    timeline_beats_s : np.ndarray [shape=(B',)]
        The music's beats on the (possibly looped) source timeline, seconds.
    output_beats_s : np.ndarray [shape=(E,)]
        Beats detected in the output, seconds.
    pairs : np.ndarray [shape=(P, 2)], int
        ``(timeline beat index, target beat index)`` of each paired beat.
    time_map : np.ndarray [shape=(K, 2)]
        Anchors ``(output_s, source_s)`` (source = timeline time), see the module docstring.
    step : tuple of int
        ``(a, b)``: every ``a``-th music beat is paired with every ``b``-th dance beat.
    stretch : dict
        Per-segment stretch ratios: ``min``, ``max``, ``mean``, ``std``, ``clamped`` (how many
        segments hit a bound), ``max_miss_s`` (largest |paired beat - dance beat|).
    f_measure_before : float
        Beat F-measure of the unwarped music (played from its start) against the dance's
        beats, within ``span_before_s``.
    f_measure_after : float
        Beat F-measure of the output against the dance's beats, within ``span_after_s``.
    hit_rate_before, hit_rate_after : float
        Share of the dance's beats (within the span) that have a music beat within ±70 ms:
        the recall side of the F-measure, blind to extra music beats between dance beats.
    span_before_s, span_after_s : float
        Evaluated spans ``[0, span)``: the shorter of music and output for "before"; the part
        of the output that music covers for "after".
    chroma_distance : float
        Mean chroma cosine distance between paired source and output segments (0 = same).
    pitch_shift_cents : float
        Estimated pitch shift of the output relative to the input, cents.
    loop : dict or None
        ``{"start_s", "end_s", "bars", "repeats"}`` (file times of the looped section) when the
        music was looped, else None.
    method : str
        The TSM used (``wsola`` or ``pv``).
    warnings : list of str
        Things a user should know (clamped ratios, short music, weak beats).
    """

    audio: np.ndarray
    sr: int
    duration_s: float
    target_beats_s: np.ndarray
    source_beats_s: np.ndarray
    timeline_beats_s: np.ndarray
    output_beats_s: np.ndarray
    pairs: np.ndarray
    time_map: np.ndarray
    step: tuple[int, int]
    stretch: dict
    f_measure_before: float
    f_measure_after: float
    hit_rate_before: float
    hit_rate_after: float
    span_before_s: float
    span_after_s: float
    chroma_distance: float
    pitch_shift_cents: float
    loop: dict | None
    method: str
    warnings: list[str] = field(default_factory=list)

    @property
    def pitch_kept(self) -> bool:
        """True when both pitch figures are within their tolerances."""
        return (
            self.chroma_distance <= CHROMA_TOLERANCE
            and abs(self.pitch_shift_cents) <= PITCH_TOLERANCE_CENTS
        )

    def to_dict(self) -> dict:
        """JSON-ready summary (times in seconds, rounded to the millisecond)."""

        def r(x: np.ndarray) -> list:
            return np.round(np.asarray(x, dtype=np.float64), 3).tolist()

        return {
            "sr": self.sr,
            "duration_s": round(self.duration_s, 3),
            "method": self.method,
            "f_measure_before": round(self.f_measure_before, 4),
            "f_measure_after": round(self.f_measure_after, 4),
            "hit_rate_before": round(self.hit_rate_before, 4),
            "hit_rate_after": round(self.hit_rate_after, 4),
            "span_before_s": round(self.span_before_s, 3),
            "span_after_s": round(self.span_after_s, 3),
            "chroma_distance": round(self.chroma_distance, 4),
            "chroma_tolerance": CHROMA_TOLERANCE,
            "pitch_shift_cents": round(self.pitch_shift_cents, 2),
            "pitch_tolerance_cents": PITCH_TOLERANCE_CENTS,
            "pitch_kept": self.pitch_kept,
            "step": list(self.step),
            "stretch": {
                k: (int(v) if k == "clamped" else round(float(v), 4))
                for k, v in self.stretch.items()
            },
            "loop": self.loop,
            "target_beats_s": r(self.target_beats_s),
            "source_beats_s": r(self.source_beats_s),
            "output_beats_s": r(self.output_beats_s),
            "pairs": self.pairs.tolist(),
            "time_map": r(self.time_map),
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------------------------
# Pairing and the time map


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
        coverage penalties (see the module docstring).
    """

    pairs: np.ndarray
    step: tuple[int, int]
    anchors_s: np.ndarray
    cost: float


def _median_ibi(beats_s: np.ndarray) -> float:
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
    s_ibi, t_ibi = _median_ibi(source_beats_s), _median_ibi(target_beats_s)
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
    # Unknowns x = [u_0, d_0 .. d_{P-2}] with d_k = u_{k+1} - u_k; u = L x.
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
            ratios = np.diff(u) / np.diff(s[si])
            # Cost: stretch, plus a miss penalty, plus a small bias towards early offsets and
            # towards covering more dance beats.
            cost = float(
                np.abs(np.log(ratios)).sum()
                + np.sum(((u - t[tk[:n]]) / 0.07) ** 2)
                + 1e-3 * o
                + 10.0 * (tk.size - n)
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
    """Output times of source times (the inverse map), extrapolating linearly at the ends."""
    return _interp_extrap(np.asarray(source_s, dtype=np.float64), time_map[:, 1], time_map[:, 0])


def _interp_extrap(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    y = np.interp(x, xp, fp)
    lo, hi = x < xp[0], x > xp[-1]
    if np.any(lo):
        y[lo] = fp[0] + (x[lo] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
    if np.any(hi):
        y[hi] = fp[-1] + (x[hi] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return y


# --------------------------------------------------------------------------------------------
# Time-scale modification along a time map


def _as_2d(audio: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        return x[:, None], True
    if x.ndim != 2:
        raise D2MError(f"audio must be (N,) or (N, C), got shape {x.shape}")
    return x, False


def _frame_params(sr: int, base: int) -> int:
    """``base`` samples at 22.05 kHz scaled to ``sr``, rounded to an even integer."""
    return max(16, int(round(base * sr / 22050 / 2)) * 2)


def time_map_stretch(
    audio: np.ndarray,
    sr: int,
    *,
    time_map: np.ndarray,
    duration_s: float,
    method: str = "wsola",
) -> np.ndarray:
    """Render audio along a time map with pitch-preserving time-scale modification.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        The source, samples first; silence is assumed outside it.
    sr : int
        Its sample rate, Hz.
    time_map : np.ndarray [shape=(K, 2)], K >= 2
        ``(output_s, source_s)`` anchors, strictly increasing (module docstring).
    duration_s : float
        Output length, seconds.
    method : {"wsola", "pv"}
        WSOLA (46 ms Hann frames, 50 % overlap, ±11.6 ms similarity search) or a phase vocoder
        (93 ms Hann frames, 75 % overlap, identity phase locking). Frame sizes scale with
        ``sr`` (given here at 22.05 kHz).

    Returns
    -------
    np.ndarray [shape=(round(duration_s * sr),) or (that, C)], float32
    """
    if method not in METHODS:
        raise D2MError(f"unknown time-scale method '{method}': choose one of {', '.join(METHODS)}")
    x, mono = _as_2d(audio)
    n_out = int(round(duration_s * sr))
    tm = np.asarray(time_map, dtype=np.float64)
    if tm.ndim != 2 or tm.shape[1] != 2 or tm.shape[0] < 2:
        raise ValueError("time_map must be (K, 2) with K >= 2")
    if np.any(np.diff(tm[:, 0]) <= 0) or np.any(np.diff(tm[:, 1]) <= 0):
        raise ValueError("time_map must be strictly increasing in both columns")
    if n_out <= 0:
        y = np.zeros((0, x.shape[1]), np.float32)
    elif method == "wsola":
        y = _wsola(x, sr, tm, n_out)
    else:
        y = _phase_vocoder(x, sr, tm, n_out)
    return y[:, 0] if mono else y


def _padded_source(x: np.ndarray, centres: np.ndarray, reach: int) -> tuple[np.ndarray, int]:
    """``x`` zero-padded so that every window ``centre +- reach`` lies inside; and the offset."""
    lo = int(min(0, np.floor(centres.min()) - reach - 1))
    hi = int(max(x.shape[0], np.ceil(centres.max()) + reach + 2))
    xp = np.zeros((hi - lo, x.shape[1]), np.float32)
    xp[-lo : -lo + x.shape[0]] = x
    return xp, -lo


def _hann(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def _wsola(x: np.ndarray, sr: int, tm: np.ndarray, n_out: int) -> np.ndarray:
    win_len = _frame_params(sr, 1024)
    hop = win_len // 2
    tol = win_len // 4
    half = win_len // 2
    n_frames = int(np.ceil(n_out / hop)) + 2
    out_centres = np.arange(n_frames) * hop
    nominal = np.round(map_times(tm, out_centres / sr) * sr).astype(np.int64)
    xp, off = _padded_source(x, nominal, half + tol + hop)
    nominal = nominal + off
    mono = xp.mean(axis=1) if xp.shape[1] > 1 else xp[:, 0]
    w = _hann(win_len)
    y = np.zeros((n_frames * hop + win_len, x.shape[1]), np.float32)
    wsum = np.zeros(y.shape[0], np.float32)
    nfft = scipy.fft.next_fast_len(win_len + 2 * tol + win_len)
    prev = int(nominal[0])
    for m in range(n_frames):
        c = int(nominal[m])
        if m > 0:
            nat = mono[prev + hop - half : prev + hop + half]
            region = mono[c - tol - half : c + tol + half]
            if np.any(nat) and np.any(region):
                # corr[d] = sum_n nat[n] * region[d + n], d = 0 .. 2 tol
                spec = scipy.fft.rfft(region, nfft) * np.conj(scipy.fft.rfft(nat, nfft))
                corr = scipy.fft.irfft(spec, nfft)[: 2 * tol + 1]
                c = c - tol + int(np.argmax(corr))
        frame = xp[c - half : c + half] * w[:, None]
        o = m * hop
        y[o : o + win_len] += frame
        wsum[o : o + win_len] += w
        prev = c
    y = y[half : half + n_out]
    ws = wsum[half : half + n_out]
    return (y / np.maximum(ws, 1e-3)[:, None]).astype(np.float32)


def _phase_vocoder(x: np.ndarray, sr: int, tm: np.ndarray, n_out: int) -> np.ndarray:
    win_len = _frame_params(sr, 2048)
    hop = win_len // 4
    half = win_len // 2
    n_frames = int(np.ceil(n_out / hop)) + 4
    out_centres = np.arange(n_frames) * hop
    centres = np.round(map_times(tm, out_centres / sr) * sr).astype(np.int64)
    xp, off = _padded_source(x, centres, half + hop)
    centres = centres + off
    w = _hann(win_len)
    n_bins = win_len // 2 + 1
    omega = 2 * np.pi * np.arange(n_bins) / win_len
    idx = np.arange(win_len) - half
    y = np.zeros((n_frames * hop + win_len, x.shape[1]), np.float32)
    for ch in range(x.shape[1]):
        sig = xp[:, ch]
        cur = scipy.fft.rfft(sig[centres[:, None] + idx] * w, axis=1)
        before = scipy.fft.rfft(sig[centres[:, None] - hop + idx] * w, axis=1)
        mag = np.abs(cur)
        ph_cur, ph_prev = np.angle(cur), np.angle(before)
        dphi = ph_cur - ph_prev - omega * hop
        dphi -= 2 * np.pi * np.round(dphi / (2 * np.pi))
        advance = omega * hop + dphi  # instantaneous phase advance over one hop
        out_ph = np.empty_like(ph_cur)
        phase = ph_cur[0].copy()
        for m in range(n_frames):
            if m > 0:
                phase = phase + advance[m]
            # Identity phase locking: bins follow the phase of their spectral peak.
            mm = mag[m]
            peaks = (
                np.flatnonzero((mm[1:-1] > mm[:-2]) & (mm[1:-1] >= mm[2:]) & (mm[1:-1] > 1e-6)) + 1
            )
            if peaks.size:
                bounds = (peaks[:-1] + peaks[1:]) // 2
                owner = peaks[np.searchsorted(bounds, np.arange(n_bins), side="right")]
                phase = phase[owner] + ph_cur[m] - ph_cur[m][owner]
            out_ph[m] = phase
        frames = scipy.fft.irfft(mag * np.exp(1j * out_ph), win_len, axis=1) * w
        for m in range(n_frames):
            y[m * hop : m * hop + win_len, ch] += frames[m]
    wsum = np.zeros(y.shape[0], np.float32)
    for m in range(n_frames):
        wsum[m * hop : m * hop + win_len] += w**2
    y = y[half : half + n_out]
    return (y / np.maximum(wsum[half : half + n_out], 1e-3)[:, None]).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Looping at bar boundaries


@dataclass
class LoopedMusic:
    """Music laid out on a timeline, its looped section repeated.

    Attributes
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        The timeline's samples.
    beats_s : np.ndarray [shape=(B,)]
        Beats on the timeline, seconds.
    info : dict or None
        ``{"start_s", "end_s", "bars", "repeats"}`` or None when no loop was needed.
    """

    audio: np.ndarray
    beats_s: np.ndarray
    info: dict | None


JOIN_LEAD_S = 0.03
"""Loop joins sit this long before a beat, between notes rather than on an attack."""

JOIN_FADE_S = 0.02
"""Crossfade length at a loop join, seconds."""


def _beat_features(y: np.ndarray, beats_s: np.ndarray) -> np.ndarray:
    """Chroma + MFCC of one beat-long window each side of every beat (rows unit length)."""
    hop = 512
    chroma = librosa.feature.chroma_stft(y=y, sr=ANALYSIS_SR, hop_length=hop)
    mfcc = librosa.feature.mfcc(y=y, sr=ANALYSIS_SR, hop_length=hop, n_mfcc=13)[1:]
    mfcc = mfcc / (np.linalg.norm(mfcc, axis=0, keepdims=True) + 1e-9)
    feats = np.vstack([chroma, mfcc])
    ibi = _median_ibi(beats_s)
    out = []
    n = feats.shape[1]
    for b in beats_s:
        f0 = int(np.clip((b - ibi) * ANALYSIS_SR / hop, 0, n - 1))
        f1 = int(np.clip(b * ANALYSIS_SR / hop, f0 + 1, n))
        f2 = int(np.clip((b + ibi) * ANALYSIS_SR / hop, f1 + 1, n))
        v = np.concatenate([feats[:, f0:f1].mean(axis=1), feats[:, f1:f2].mean(axis=1)])
        out.append(v / (np.linalg.norm(v) + 1e-9))
    return np.asarray(out)


def loop_music(
    audio: np.ndarray,
    sr: int,
    *,
    beats_s: np.ndarray,
    min_duration_s: float,
    analysis: np.ndarray | None = None,
) -> LoopedMusic:
    """Lay the music out on a timeline at least ``min_duration_s`` long, looping whole bars.

    The loop runs from beat ``s`` to beat ``e`` (``e - s`` a multiple of 4 beats, as long as
    the music allows; fewer beats when it has under 5), joined :data:`JOIN_LEAD_S` before those
    beats with a :data:`JOIN_FADE_S` raised-cosine crossfade; among candidate pairs, the one
    whose two-beat surroundings (chroma and MFCC) are most alike wins, longer loops preferred.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        The music.
    sr : int
        Its sample rate, Hz.
    beats_s : np.ndarray [shape=(B,)]
        Its beats, seconds.
    min_duration_s : float
        Timeline length needed, seconds.
    analysis : np.ndarray [shape=(M,)], optional
        The music mono at :data:`ANALYSIS_SR` (computed when absent).

    Returns
    -------
    LoopedMusic
    """
    x, mono_in = _as_2d(audio)
    length_s = x.shape[0] / sr
    beats = np.asarray(beats_s, dtype=np.float64)
    if length_s >= min_duration_s or beats.size < 3:
        return LoopedMusic(audio=audio, beats_s=beats, info=None)
    ana = to_analysis_audio(audio, sr) if analysis is None else analysis
    ibi = _median_ibi(beats)
    ok = (beats - JOIN_LEAD_S - JOIN_FADE_S > 0) & (beats + ibi <= length_s)
    idx = np.flatnonzero(ok)
    if idx.size < 2:
        idx = np.arange(beats.size)
    span = int(idx[-1] - idx[0])
    unit = BEATS_PER_BAR if span >= BEATS_PER_BAR else (2 if span >= 2 else 1)
    feats = _beat_features(ana, beats)
    best, best_score = None, -np.inf
    for e in idx[::-1][: 2 * BEATS_PER_BAR]:
        for s in idx:
            if e - s < unit or (e - s) % unit:
                continue
            sim = float(feats[s] @ feats[e])
            score = sim + 0.2 * (beats[e] - beats[s]) / length_s
            if score > best_score:
                best, best_score = (int(s), int(e)), score
    if best is None:
        best = (int(idx[0]), int(idx[-1]))
    s, e = best
    j0 = max(beats[s] - JOIN_LEAD_S, 0.0)
    j1 = beats[e] - JOIN_LEAD_S
    n0, n1 = int(round(j0 * sr)), int(round(j1 * sr))
    period = n1 - n0
    nf = max(1, int(round(JOIN_FADE_S * sr)))
    repeats = int(np.ceil((min_duration_s * sr - n1) / period)) + 1
    total = n1 + repeats * period
    y = np.zeros((total + nf, x.shape[1]), np.float32)
    y[: min(n1 + nf, x.shape[0])] = x[: min(n1 + nf, x.shape[0])]
    fade_in = (0.5 - 0.5 * np.cos(np.pi * (np.arange(nf) + 0.5) / nf)).astype(np.float32)
    body_end = min(n1 + nf, x.shape[0])
    body = x[n0:body_end]  # loop body plus the fade tail beyond its end
    for r in range(repeats):
        start = n1 + r * period
        # fade out what is there (the natural continuation), fade in the loop start
        y[start : start + nf] *= (1 - fade_in)[: y[start : start + nf].shape[0], None]
        seg = body.copy()
        seg[:nf] *= fade_in[: seg[:nf].shape[0], None]
        end = min(start + seg.shape[0], y.shape[0])
        y[start:end] += seg[: end - start]
    y = y[:total]
    period_s = period / sr
    in_loop = beats[(beats >= j0) & (beats < j1)]
    tl = [beats[beats < j1]]
    for r in range(1, repeats + 1):
        tl.append(in_loop + r * period_s)
    timeline_beats = np.concatenate(tl)
    timeline_beats = timeline_beats[timeline_beats < total / sr]
    info = {
        "start_s": round(float(j0), 4),
        "end_s": round(float(j1), 4),
        "bars": (e - s) / BEATS_PER_BAR,
        "repeats": repeats,
    }
    return LoopedMusic(audio=y[:, 0] if mono_in else y, beats_s=timeline_beats, info=info)


# --------------------------------------------------------------------------------------------
# Measurements


def hit_rate(
    reference_s: np.ndarray, estimated_s: np.ndarray, *, window_s: float = BEAT_WINDOW_S
) -> float:
    """Share of reference beats with an estimated beat within ``window_s`` (0 when empty).

    Parameters
    ----------
    reference_s : np.ndarray [shape=(R,)]
        Reference (dance) beats, seconds.
    estimated_s : np.ndarray [shape=(E,)]
        Estimated (music) beats, seconds.
    window_s : float
        Tolerance, ± seconds.
    """
    ref = np.asarray(reference_s, dtype=np.float64)
    est = np.sort(np.asarray(estimated_s, dtype=np.float64))
    if ref.size == 0 or est.size == 0:
        return 0.0
    near = np.abs(est[None, :] - ref[:, None]).min(axis=1)
    return float(np.mean(near <= window_s))


def pitch_figures(
    source: np.ndarray,
    output: np.ndarray,
    *,
    source_segments_s: np.ndarray,
    output_segments_s: np.ndarray,
    source_span_s: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Chroma distance and pitch shift of an output against its source (module docstring).

    Parameters
    ----------
    source, output : np.ndarray [shape=(N,)]
        Mono audio at :data:`ANALYSIS_SR`.
    source_segments_s, output_segments_s : np.ndarray [shape=(S, 2)]
        Corresponding ``(start, end)`` segments, seconds.
    source_span_s : tuple of float, optional
        The part of ``source`` the output was made from, for the global pitch estimate (the
        whole source by default).

    Returns
    -------
    chroma_distance : float
        Mean over segments, weighted by output duration, of ``1 - cos(chroma_src,
        chroma_out)`` (segment-mean chroma; segments shorter than :data:`MIN_SEGMENT_S` or
        near silent on either side skipped); NaN when none is left.
    pitch_shift_cents : float
        See :func:`pitch_shift_cents` (on the whole output against ``source_span_s``).
    """
    hop = 512
    kw = {"sr": ANALYSIS_SR, "hop_length": hop, "n_fft": 4096}
    c_src = librosa.feature.chroma_stft(y=source, tuning=0.0, **kw)
    c_out = librosa.feature.chroma_stft(y=output, tuning=0.0, **kw)
    e_src = librosa.feature.rms(y=source, hop_length=hop)[0]
    e_out = librosa.feature.rms(y=output, hop_length=hop)[0]
    floor_src, floor_out = 0.01 * e_src.max(), 0.01 * e_out.max()
    dists, weights = [], []
    for (s0, s1), (o0, o1) in zip(source_segments_s, output_segments_s, strict=True):
        if min(s1 - s0, o1 - o0) < MIN_SEGMENT_S:
            continue
        a0, a1 = int(s0 * ANALYSIS_SR / hop), int(np.ceil(s1 * ANALYSIS_SR / hop))
        b0, b1 = int(o0 * ANALYSIS_SR / hop), int(np.ceil(o1 * ANALYSIS_SR / hop))
        a0, b0 = max(a0, 0), max(b0, 0)
        if a1 > c_src.shape[1] or b1 > c_out.shape[1] or a1 - a0 < 1 or b1 - b0 < 1:
            continue
        if e_src[a0:a1].mean() < floor_src or e_out[b0:b1].mean() < floor_out:
            continue
        u, v = c_src[:, a0:a1].mean(axis=1), c_out[:, b0:b1].mean(axis=1)
        dists.append(1.0 - float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12)))
        weights.append(o1 - o0)
    chroma_distance = float(np.average(dists, weights=weights)) if dists else float("nan")
    if source_span_s is not None:
        i0 = int(max(0.0, source_span_s[0]) * ANALYSIS_SR)
        i1 = int(source_span_s[1] * ANALYSIS_SR)
        if i1 - i0 > ANALYSIS_SR // 2:
            source = source[i0:i1]
    return chroma_distance, pitch_shift_cents(source, output)


def pitch_shift_cents(source: np.ndarray, output: np.ndarray) -> float:
    """Pitch shift of ``output`` relative to ``source``, cents, from fine pitch-class profiles.

    Both signals' time-averaged 60-bin pitch-class profiles (20 cents per bin, STFT of 8192
    points at :data:`ANALYSIS_SR`) are cross-correlated circularly over ±6 semitones; the peak,
    refined by parabolic interpolation, is the shift. Relative by construction: no absolute
    tuning estimate is involved, so detuned or percussive music does not bias it.

    Parameters
    ----------
    source, output : np.ndarray [shape=(N,)]
        Mono audio at :data:`ANALYSIS_SR`.

    Returns
    -------
    float
        Cents (positive = output higher); 0 when either profile is flat.
    """
    kw = {"sr": ANALYSIS_SR, "n_fft": 8192, "hop_length": 2048, "n_chroma": 60, "tuning": 0.0}
    profs = []
    for y in (source, output):
        p = librosa.feature.chroma_stft(y=y, **kw).mean(axis=1)
        p = p - p.mean()
        norm = np.linalg.norm(p)
        if norm < 1e-9:
            return 0.0
        profs.append(p / norm)
    shifts = np.arange(-30, 30)
    xc = np.array([profs[0] @ np.roll(profs[1], -s) for s in shifts])
    k = int(np.argmax(xc))
    frac = 0.0
    if 0 < k < xc.size - 1:
        a, b, c = xc[k - 1], xc[k], xc[k + 1]
        den = a - 2 * b + c
        frac = 0.5 * (a - c) / den if den < 0 else 0.0
    return float(20.0 * (shifts[k] + frac))


def _fade_edges(y: np.ndarray, sr: int, *, fade_in_s: float, fade_out_s: float) -> np.ndarray:
    """Raised-cosine fade-in and fade-out (no click where the output starts or ends mid-note)."""
    y = y.copy()
    shape = (-1,) + (1,) * (y.ndim - 1)
    for seconds, head in ((fade_in_s, True), (fade_out_s, False)):
        n = min(int(seconds * sr), y.shape[0])
        if n <= 0:
            continue
        ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(y.dtype)
        if head:
            y[:n] *= ramp.reshape(shape)
        else:
            y[-n:] *= ramp[::-1].reshape(shape)
    return y


# --------------------------------------------------------------------------------------------
# The whole alignment


def align_to_beats(
    audio: np.ndarray,
    sr: int,
    *,
    target_beats_s: np.ndarray,
    duration_s: float | None = None,
    max_stretch: float = DEFAULT_MAX_STRETCH,
    smoothing: float = 1.0,
    loop: bool = True,
    method: str = "wsola",
    source_beats_s: np.ndarray | None = None,
    measure: bool = True,
) -> AlignResult:
    """Warp music so that its beats land on target (dance) beats; pitch unchanged.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        The music, samples first, float.
    sr : int
        Its sample rate, Hz.
    target_beats_s : np.ndarray [shape=(M,)], M >= 2
        The dance's beats (e.g. ``analyze(...).tempo.beats_s``), seconds.
    duration_s : float, optional
        Output length, seconds. Default: the whole music, warped (no loop).
    max_stretch : float
        Bound on every segment's stretch ratio and its inverse (> 1; 1.45 by default).
    smoothing : float
        Weight of the beat-to-beat ratio-change penalty (0 = follow the dance's beats exactly).
    loop : bool
        Loop the music at bar boundaries when it is too short for ``duration_s``.
    method : {"wsola", "pv"}
        Time-scale modification (:func:`time_map_stretch`).
    source_beats_s : np.ndarray [shape=(B,)], optional
        The music's beats, seconds; detected with librosa's tracker when absent.
    measure : bool
        Compute the before/after beat F-measures and pitch figures (a few seconds of
        analysis); when False they are NaN.

    Returns
    -------
    AlignResult

    Raises
    ------
    D2MError
        Empty or non-finite audio, fewer than 2 target beats or music beats, a bad parameter.
    """
    x, _ = _as_2d(audio)
    if x.shape[0] == 0:
        raise D2MError("the music holds no samples")
    if not np.all(np.isfinite(x)):
        raise D2MError("the music holds NaN or infinite samples")
    if int(sr) <= 0:
        raise D2MError(f"sample rate must be positive, got {sr}")
    if not max_stretch > 1.0:
        raise D2MError(f"max_stretch must be above 1, got {max_stretch}")
    if smoothing < 0:
        raise D2MError(f"smoothing must be >= 0, got {smoothing}")
    if method not in METHODS:
        raise D2MError(f"unknown time-scale method '{method}': choose one of {', '.join(METHODS)}")
    try:
        target = np.unique(np.asarray(target_beats_s, dtype=np.float64))
    except (TypeError, ValueError):
        raise D2MError("target beats must be a list of times in seconds") from None
    if target.ndim != 1 or target.size < 2 or not np.all(np.isfinite(target)) or target[0] < 0:
        raise D2MError("the dance needs at least 2 beats (finite, non-negative seconds)")
    if duration_s is not None:
        target = target[target <= duration_s + 2 * _median_ibi(target)]
        if target.size < 2:
            raise D2MError("the dance needs at least 2 beats within the output's duration")
    warnings: list[str] = []
    music_s = x.shape[0] / sr
    ana = to_analysis_audio(audio, sr)
    if source_beats_s is None:
        _, beats = detect_beats(audio, sr)
    else:
        beats = np.unique(np.asarray(source_beats_s, dtype=np.float64))
    if beats.size < 2:
        raise D2MError("no beat found in the music: give music with a steady pulse")

    # 1. pairing and the time map on the music as it is; 2. when the output needs more music
    # than there is, loop it at bar boundaries and pair again
    if duration_s is not None and not duration_s > 0:
        raise D2MError(f"duration must be positive, got {duration_s}")
    timeline = LoopedMusic(audio=audio, beats_s=beats, info=None)
    pairing = pair_beats(beats, target, max_stretch=max_stretch, smoothing=smoothing)
    if duration_s is not None and loop:
        si = pairing.pairs[:, 0]
        tm0 = build_time_map(beats[si], pairing.anchors_s, duration_s=duration_s)
        used_s = float(map_times(tm0, np.array([duration_s]))[0])
        if used_s > music_s:
            need = 1.1 * used_s + 8 * _median_ibi(beats)
            timeline = loop_music(audio, sr, beats_s=beats, min_duration_s=need, analysis=ana)
            pairing = pair_beats(
                timeline.beats_s, target, max_stretch=max_stretch, smoothing=smoothing
            )
    tl_audio, tl_beats = timeline.audio, timeline.beats_s
    tl_s = np.asarray(tl_audio).shape[0] / sr
    if timeline.info is not None:
        warnings.append(
            f"the music ({music_s:.1f} s) is shorter than the dance: looped"
            f" {timeline.info['bars']:g} bars from {timeline.info['start_s']:.2f} s"
        )
    si, ti = pairing.pairs[:, 0], pairing.pairs[:, 1]
    src_p, out_p = tl_beats[si], pairing.anchors_s
    if duration_s is None:
        r_end = float(np.mean(np.diff(out_p)[-4:] / np.diff(src_p)[-4:]))
        duration_s = float(out_p[-1] + (tl_s - src_p[-1]) * r_end)
    tm = build_time_map(src_p, out_p, duration_s=duration_s)
    ratios = np.diff(out_p) / np.diff(src_p)
    eps = 1e-6
    clamped = int(np.sum((ratios <= 1 / max_stretch + eps) | (ratios >= max_stretch - eps)))
    miss = np.abs(out_p - target[ti])
    stretch = {
        "min": float(ratios.min()),
        "max": float(ratios.max()),
        "mean": float(ratios.mean()),
        "std": float(ratios.std()),
        "clamped": clamped,
        "max_miss_s": float(miss.max()),
    }
    if clamped:
        warnings.append(
            f"{clamped} of {ratios.size} beat segments needed more than the allowed stretch"
            f" ({1 / max_stretch:.2f}..{max_stretch:.2f}); those beats miss by up to"
            f" {1000 * miss.max():.0f} ms"
        )
    unpaired = target.size - ti.size if pairing.step[1] == 1 else 0
    if unpaired > 0:
        warnings.append(f"{unpaired} dance beats past the end of the music are not paired")

    # 3. render
    y = time_map_stretch(tl_audio, sr, time_map=tm, duration_s=duration_s, method=method)
    # music covers output times whose source time is inside the timeline
    out_end = float(inverse_map_times(tm, np.array([tl_s]))[0])
    out_start = float(inverse_map_times(tm, np.array([0.0]))[0])
    span_after = float(np.clip(out_end, 0.0, duration_s))
    y = _fade_edges(
        y, sr, fade_in_s=0.005 if out_start <= 0 else 0.0, fade_out_s=min(0.05, duration_s / 4)
    )

    # 4. measure
    nan = float("nan")
    f_before = f_after = hit_before = hit_after = chroma_d = cents = nan
    out_beats = np.zeros(0)
    span_before = min(music_s, duration_s)
    if measure:
        tb, sb = target[target < span_before], beats[beats < span_before]
        f_before, hit_before = beat_f_measure(tb, sb), hit_rate(tb, sb)
        _, out_beats = detect_beats(y, sr)
        ta, oa = target[target < span_after], out_beats[out_beats < span_after]
        f_after, hit_after = beat_f_measure(ta, oa), hit_rate(ta, oa)
        # pitch: paired segments inside the output, against the source span actually used
        u, src = tm[:, 0], tm[:, 1]
        out_seg = np.stack([u[:-1], u[1:]], axis=1)
        src_seg = np.stack([src[:-1], src[1:]], axis=1)
        keep = (out_seg[:, 0] >= 0) & (out_seg[:, 1] <= duration_s) & (src_seg[:, 0] >= 0)
        keep &= src_seg[:, 1] <= tl_s
        tl_ana = ana if timeline.info is None else to_analysis_audio(tl_audio, sr)
        s0 = max(0.0, float(map_times(tm, np.array([0.0]))[0]))
        s1 = min(tl_s, float(map_times(tm, np.array([duration_s]))[0]))
        chroma_d, cents = pitch_figures(
            tl_ana,
            to_analysis_audio(y, sr),
            source_segments_s=src_seg[keep],
            output_segments_s=out_seg[keep],
            source_span_s=(s0, s1),
        )
    return AlignResult(
        audio=y,
        sr=int(sr),
        duration_s=float(duration_s),
        target_beats_s=target,
        source_beats_s=beats,
        timeline_beats_s=tl_beats,
        output_beats_s=out_beats,
        pairs=pairing.pairs,
        time_map=tm,
        step=pairing.step,
        stretch=stretch,
        f_measure_before=f_before,
        f_measure_after=f_after,
        hit_rate_before=hit_before,
        hit_rate_after=hit_after,
        span_before_s=float(span_before),
        span_after_s=span_after,
        chroma_distance=chroma_d,
        pitch_shift_cents=cents,
        loop=timeline.info,
        method=method,
        warnings=warnings,
    )
