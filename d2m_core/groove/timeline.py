"""The musical clock: a beat grid that lands on the dance's beats, bars, and motion energy.

Musical time is measured in *beat positions* ``u``: float indices into the grid, so beat ``k``
sounds at ``grid[k]`` and an 8th note after it at ``u = k + 0.5``, placed linearly between
``grid[k]`` and ``grid[k + 1]``. Tempo therefore follows the dance beat by beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Beats extrapolated before t = 0 so that the first bar can start before the audio does.
_LEAD_IN_BEATS = 5
# Beats kept after the end so that notes and reverb tails near the end have a grid.
_TAIL_BEATS = 6


def _clean_beats(beat_times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted finite beats, spurious near-duplicates dropped.

    Returns
    -------
    beats : np.ndarray, shape (K,), seconds
    keep : np.ndarray, shape (K,), int
        Index of each kept beat in the caller's (unsorted) array.
    """
    b = np.asarray(beat_times_s, dtype=np.float64).reshape(-1)
    idx = np.flatnonzero(np.isfinite(b))
    order = idx[np.argsort(b[idx], kind="stable")]
    b = b[order]
    # Beats closer than 50 ms are duplicates whatever the tempo.
    first = np.diff(b, prepend=-np.inf) > 0.05
    b, order = b[first], order[first]
    if b.size < 3:
        return b, order
    # A beat much closer to its predecessor than the local period is a detection glitch.
    ioi = np.diff(b)
    ref = _running_median(ioi, 9)
    keep = np.ones(b.size, dtype=bool)
    keep[1:] = ioi >= 0.5 * ref
    return b[keep], order[keep]


def _running_median(x: np.ndarray, width: int) -> np.ndarray:
    """Median over a centred window of ``width`` values (shrunk at the edges)."""
    n = x.size
    half = width // 2
    out = np.empty(n)
    for i in range(n):
        out[i] = np.median(x[max(0, i - half) : i + half + 1])
    return out


def _fill_gaps(beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insert evenly spaced beats into gaps that span several local periods.

    Returns
    -------
    grid : np.ndarray, shape (M,), seconds
    src : np.ndarray, shape (len(beats),), int
        Grid index of each input beat.
    """
    if beats.size < 3:
        return beats.copy(), np.arange(beats.size)
    ioi = np.diff(beats)
    ref = _running_median(ioi, 9)
    # The median ignores the gaps themselves as long as they are a minority.
    counts = np.maximum(1, np.rint(ioi / ref).astype(int))
    pieces = [beats[:1]]
    src = [0]
    for i, k in enumerate(counts):
        seg = beats[i] + (beats[i + 1] - beats[i]) * np.arange(1, k + 1) / k
        pieces.append(seg)
        src.append(src[-1] + k)
    return np.concatenate(pieces), np.asarray(src)


def _edge_period(ioi: np.ndarray, *, head: bool) -> float:
    part = ioi[:4] if head else ioi[-4:]
    # Extrapolate at a sane tempo (30..300 BPM) whatever the edge beats say.
    return float(np.clip(np.median(part), 0.2, 2.0))


@dataclass(frozen=True)
class Timeline:
    """Beat grid, bar layout and normalised motion energy of one piece.

    Attributes
    ----------
    grid : np.ndarray, shape (M,), seconds
        Beat times covering ``[0, duration_s]`` with lead-in and tail beats.
    bar0 : int
        Grid index of the first bar's downbeat (``grid[bar0] <= 0``).
    n_bars : int
        Bars needed to cover the piece.
    duration_s : float
        Length of the piece in seconds.
    energy_t : np.ndarray, shape (E,), seconds
    energy_v : np.ndarray, shape (E,)
        Motion energy normalised to roughly ``[0, 1]`` (5th..95th percentile).
    """

    grid: np.ndarray
    bar0: int
    n_bars: int
    duration_s: float
    energy_t: np.ndarray
    energy_v: np.ndarray

    def time_of(self, u: np.ndarray | float) -> np.ndarray:
        """Seconds of beat positions ``u`` (grid-index units), linear within each beat."""
        u = np.asarray(u, dtype=np.float64)
        g = self.grid
        i = np.clip(np.floor(u).astype(np.int64), 0, g.size - 2)
        return g[i] + (u - i) * (g[i + 1] - g[i])

    def bar_start(self, bar: int) -> int:
        """Grid index of the downbeat of ``bar`` (0-based)."""
        return self.bar0 + 4 * bar

    def energy_at(self, t_s: np.ndarray) -> np.ndarray:
        """Normalised energy at times ``t_s`` (seconds), held constant beyond the data."""
        if self.energy_t.size == 0:
            return np.full(np.shape(t_s), 0.5)
        return np.interp(t_s, self.energy_t, self.energy_v)

    def bar_energy(self) -> np.ndarray:
        """Mean normalised energy of each bar, shape (n_bars,)."""
        u = self.bar0 + np.arange(self.n_bars)[:, None] * 4 + np.linspace(0, 4, 17)[None, :-1]
        return self.energy_at(self.time_of(u)).mean(axis=1)


def _normalise_energy(times: np.ndarray, energy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    e = np.asarray(energy, dtype=np.float64).reshape(-1)
    n = min(t.size, e.size)
    t, e = t[:n], e[:n]
    ok = np.isfinite(t) & np.isfinite(e)
    t, e = t[ok], e[ok]
    if t.size == 0:
        return t, e
    order = np.argsort(t, kind="stable")
    t, e = t[order], e[order]
    lo, hi = np.percentile(e, [5, 95])
    span = hi - lo
    # A flat envelope carries no dynamics: treat it as medium energy throughout.
    if span <= 1e-9 * max(1.0, abs(hi)):
        return t, np.full_like(e, 0.5)
    return t, np.clip((e - lo) / span, 0.0, 1.2)


def _pick_downbeat_phase(grid: np.ndarray, src: np.ndarray, tl_energy) -> int:
    """Grid phase (0..3) whose beats carry the most motion energy on average."""
    if src.size < 4:
        return int(src[0] % 4) if src.size else 0
    e = tl_energy(grid[src])
    scores = np.array([e[(src - p) % 4 == 0].mean() for p in range(4)])
    if np.ptp(scores) < 1e-6:
        return int(src[0] % 4)
    return int(np.argmax(scores))


def build_timeline(
    *,
    beat_times_s: np.ndarray,
    duration_s: float,
    energy_times_s: np.ndarray,
    energy: np.ndarray,
    downbeat_index: int | None,
    default_bpm: float,
) -> Timeline:
    """Lay a bar grid over the dance's beats.

    Parameters
    ----------
    beat_times_s : np.ndarray, shape (K,), seconds
        Visual beats; kept exactly, gaps filled, glitches (much shorter than the local period)
        dropped. With fewer than 2 beats, ``default_bpm`` sets the period.
    duration_s : float
        Piece length in seconds.
    energy_times_s, energy : np.ndarray, shape (E,)
        Motion energy envelope, any scale.
    downbeat_index : int or None
        Index into ``beat_times_s`` of a bar's first beat; None picks the most energetic phase.
    default_bpm : float
        Tempo used where the beats give none.

    Returns
    -------
    Timeline
    """
    raw = np.asarray(beat_times_s, dtype=np.float64).reshape(-1)
    if downbeat_index is not None and not 0 <= int(downbeat_index) < max(raw.size, 1):
        raise ValueError(f"downbeat_index {downbeat_index} is outside the {raw.size} given beats")
    beats, kept = _clean_beats(raw)
    grid, src = _fill_gaps(beats)
    if grid.size >= 2:
        ioi = np.diff(grid)
        p_head, p_tail = _edge_period(ioi, head=True), _edge_period(ioi, head=False)
    else:
        p_head = p_tail = 60.0 / default_bpm
        if grid.size == 0:
            grid, src = np.zeros(1), np.zeros(0, dtype=int)
    n_head = int(np.ceil(max(grid[0], 0.0) / p_head)) + _LEAD_IN_BEATS
    n_tail = int(np.ceil(max(duration_s - grid[-1], 0.0) / p_tail)) + _TAIL_BEATS
    head = grid[0] - p_head * np.arange(n_head, 0, -1)
    tail = grid[-1] + p_tail * np.arange(1, n_tail + 1)
    full = np.concatenate([head, grid, tail])
    src = src + n_head

    et, ev = _normalise_energy(energy_times_s, energy)

    def energy_fn(t: np.ndarray) -> np.ndarray:
        return np.interp(t, et, ev) if et.size else np.full(np.shape(t), 0.5)

    if downbeat_index is not None and raw.size:
        pos = np.flatnonzero(kept == int(downbeat_index))
        # A downbeat that was dropped as a glitch still fixes the phase via its neighbour.
        if pos.size:
            phase = int(src[pos[0]] % 4)
        else:
            near = int(np.argmin(np.abs(beats - raw[int(downbeat_index)])))
            phase = int(src[near] % 4)
    else:
        phase = _pick_downbeat_phase(full, src, energy_fn)
    # The first downbeat at or before t = 0 (the lead-in guarantees one exists).
    before = np.flatnonzero((full <= 0.0) & (np.arange(full.size) % 4 == phase))
    bar0 = int(before[-1]) if before.size else phase
    n_bars = 1
    while full.size > bar0 + 4 * n_bars and full[bar0 + 4 * n_bars] < duration_s:
        n_bars += 1
    # Make sure every bar (plus one beat after it) lies on the grid.
    need = bar0 + 4 * n_bars + 2
    if full.size < need:
        extra = full[-1] + p_tail * np.arange(1, need - full.size + 1)
        full = np.concatenate([full, extra])
    return Timeline(
        grid=full,
        bar0=bar0,
        n_bars=n_bars,
        duration_s=float(duration_s),
        energy_t=et,
        energy_v=ev,
    )
