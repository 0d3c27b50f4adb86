"""Mixing and the master bus: part levels, beat-synchronous pulse, reverb, tone, limiter.

Everything is vectorised over the whole piece (no per-sample Python loops).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage, signal

from d2m_core.groove.timeline import Timeline

TARGET_RMS_DBFS = -15.0
CEILING = 0.944  # -0.5 dBFS
_ODD_BEAT_WEIGHT = 1.6


def active_rms(x: np.ndarray, sr: int) -> float:
    """RMS of ``x`` (shape (N, 2)) over the 50 ms frames where it is not near-silent."""
    # Every 4th sample is plenty for a level estimate and four times cheaper.
    xs = x[::4]
    hop = max(1, sr // 80)
    n = (xs.shape[0] // hop) * hop
    if n == 0:
        return 0.0
    p = np.einsum("ij,ij->i", xs[:n], xs[:n]).reshape(-1, hop).mean(axis=1, dtype=np.float64)
    p /= 2.0
    on = p > p.max() * 1e-4
    return float(np.sqrt(p[on].mean())) if on.any() else 0.0


def pulse_gain(timeline: Timeline, *, sr: int, n: int, depth: float) -> np.ndarray:
    """Beat-synchronous gain that sinks gently through each beat and snaps back on the beat.

    Sustained sounds are thereby re-articulated on every beat (like a kick-keyed compressor
    releasing on the downbeat), which makes the quarter-note pulse the dominant periodicity
    of the mix without extra notes.

    Returns
    -------
    np.ndarray, shape (n,), float32
        Gain in ``[1 - depth, 1]``; 1 right after each beat.
    """
    if depth <= 0:
        return np.ones(n, dtype=np.float32)
    g = timeline.grid
    t = np.arange(n) / sr
    i = np.clip(np.searchsorted(g, t, side="right") - 1, 0, g.size - 2)
    phase = np.clip((t - g[i]) / (g[i + 1] - g[i]), 0.0, 1.0)
    # The last 4 ms before the beat ramp back up so the return is click-free.
    ramp = np.clip((g[i + 1] - t) / 0.004, 0.0, 1.0)
    # Beats 1 and 3 carry kick and chords, 2 and 4 the (louder-sounding) backbeat: the snap
    # into 1 and 3 is deeper so that all four beats read alike and the tempo is not halved.
    into_odd = ((i + 1 - timeline.bar0) % 2) == 0
    d = np.where(into_odd, depth * _ODD_BEAT_WEIGHT, depth * (2.0 - _ODD_BEAT_WEIGHT))
    return (1.0 - d * phase**1.5 * ramp).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _reverb_ir(sr: int, rt60: float) -> np.ndarray:
    """Stereo impulse response: decorrelated noise with an exponential decay that darkens."""
    rng = np.random.default_rng(20240611)  # fixed: the room is part of the sound, not the seed
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    noise = rng.standard_normal((n, 2))
    # Split into a bright, fast-decaying and a dark, slower band: air absorbs highs first.
    sos_lo = signal.butter(2, 2500, "low", fs=sr, output="sos")
    lo = signal.sosfilt(sos_lo, noise, axis=0)
    hi = noise - lo
    decay_lo = np.exp(-6.9 * t / rt60)[:, None]
    decay_hi = np.exp(-6.9 * t / (0.45 * rt60))[:, None]
    ir = lo * decay_lo + 0.5 * hi * decay_hi
    pre = int(0.015 * sr)  # pre-delay keeps attacks clear of the tail
    ir = np.concatenate([np.zeros((pre, 2)), ir])
    ir /= np.sqrt((ir**2).sum(axis=0, keepdims=True))
    return ir.astype(np.float32)


def reverb(send: np.ndarray, *, sr: int, rt60: float = 1.8) -> np.ndarray:
    """Wet signal of a plate-like reverb fed by the mono sum of ``send`` (shape (N, 2))."""
    mono = send.mean(axis=1)
    sos = signal.butter(2, 180, "high", fs=sr, output="sos")
    mono = signal.sosfilt(sos, mono).astype(np.float32)
    ir = _reverb_ir(sr, rt60)
    wet = np.stack([signal.oaconvolve(mono, ir[:, c])[: send.shape[0]] for c in range(2)], axis=1)
    return wet.astype(np.float32)


def _limit(x: np.ndarray, sr: int) -> np.ndarray:
    """Look-ahead peak limiter to :data:`CEILING` with smooth gain changes."""
    peak = np.abs(x).max(axis=1)
    g_raw = np.minimum(1.0, CEILING / np.maximum(peak, 1e-9))
    if g_raw.min() >= 1.0:
        return x
    w = max(1, int(0.012 * sr))
    # Min over +-w then a w-long mean never exceeds the gain each sample needs.
    g = ndimage.minimum_filter1d(g_raw, size=2 * w + 1, mode="nearest")
    g = ndimage.uniform_filter1d(g, size=w, mode="nearest")
    return x * g[:, None]


def _high_shelf(x: np.ndarray, *, sr: int, freq: float, gain_db: float) -> np.ndarray:
    """Second-order high shelf (RBJ cookbook, slope 1) along axis 0."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * min(freq, 0.45 * sr) / sr
    alpha = np.sin(w0) / 2 * np.sqrt(2)
    cw, sa = np.cos(w0), 2 * np.sqrt(a) * alpha
    b = np.array([a * ((a + 1) + (a - 1) * cw + sa), -2 * a * ((a - 1) + (a + 1) * cw),
                  a * ((a + 1) + (a - 1) * cw - sa)])  # fmt: skip
    den = np.array([(a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw),
                    (a + 1) - (a - 1) * cw - sa])  # fmt: skip
    return signal.lfilter(b / den[0], den / den[0], x, axis=0)


def master(mix: np.ndarray, *, sr: int, tone: str) -> np.ndarray:
    """Master bus: rumble filter, tone colour, loudness to ~-15 dBFS RMS, limiter, fades.

    Parameters
    ----------
    mix : np.ndarray, shape (N, 2)
    sr : int
    tone : str
        "bright" (air lifted: the GM soundfont is dull up top), "warm" (a little air) or
        "lofi" (dark, slightly saturated).

    Returns
    -------
    np.ndarray, shape (N, 2), float32, peak <= 0.99
    """
    n = mix.shape[0]
    y = signal.sosfilt(signal.butter(2, 30, "high", fs=sr, output="sos"), mix, axis=0)
    if tone == "bright":
        y = _high_shelf(y, sr=sr, freq=4500, gain_db=4.0)
    elif tone == "warm":
        y = _high_shelf(y, sr=sr, freq=6000, gain_db=2.0)
    elif tone == "lofi":
        y = signal.sosfilt(
            signal.butter(2, min(6500, 0.45 * sr), "low", fs=sr, output="sos"), y, axis=0
        )
        y = np.tanh(1.6 * y / (np.abs(y).max() + 1e-9)) * (np.abs(y).max() + 1e-9) / 1.6
    rms = active_rms(y, sr)
    if rms > 0:
        y = y * (10 ** (TARGET_RMS_DBFS / 20) / rms)
    y = _limit(y, sr)
    fade_in = min(n, int(0.01 * sr))
    y[:fade_in] *= np.linspace(0.0, 1.0, fade_in)[:, None]
    fade_out = min(n, int(min(1.5, 0.08 * n / sr) * sr))
    if fade_out > 0:
        y[n - fade_out :] *= np.linspace(1.0, 0.0, fade_out)[:, None] ** 2
    return np.clip(y, -0.99, 0.99).astype(np.float32)
