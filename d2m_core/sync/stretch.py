"""Time-map stretching: render music along a time map, pitch unchanged (time-scale modification).

Two renderers, both driven frame by frame by the time map (see :mod:`d2m_core.sync.timemap`):
WSOLA (default), which keeps transients sharp (drums stay drums) and is click-free by
construction (windowed overlap-add with exact normalisation), and a phase vocoder with
identity phase locking, smoother on sustained chords but softer on attacks.

Conventions
-----------
- Audio is ``(N,)`` mono or ``(N, C)`` samples-first float at any sample rate ``sr`` (Hz);
  outputs are float32 with the input's layout and rate. Silence is assumed outside the source.
- Time maps are ``(K, 2)`` arrays of ``(output_s, source_s)`` anchors, seconds.
- Frame lengths are given at 22.05 kHz and scale with ``sr`` (:func:`frame_length`); frames
  are periodic Hann windows centred on their time (frame ``m`` of the output at ``m * hop``).
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.signal

from d2m_core.errors import D2MError
from d2m_core.sync.timemap import map_times

METHODS = ("wsola", "pv")
"""Time-scale modification methods of :func:`time_map_stretch`."""

WSOLA_FRAME = 1024
"""WSOLA frame at 22.05 kHz, samples (46 ms); hop half a frame, search ±a quarter frame."""

PV_FRAME = 2048
"""Phase-vocoder frame at 22.05 kHz, samples (93 ms); hop a quarter frame."""


def as_2d(audio: np.ndarray) -> tuple[np.ndarray, bool]:
    """Audio as float32 ``(N, C)``, and whether it was mono ``(N,)``.

    Raises
    ------
    D2MError
        When ``audio`` is neither 1-D nor 2-D.
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        return x[:, None], True
    if x.ndim != 2:
        raise D2MError(f"audio must be (N,) or (N, C), got shape {x.shape}")
    return x, False


def frame_length(*, sr: int, base: int) -> int:
    """``base`` samples at 22.05 kHz scaled to ``sr`` (Hz), rounded to an even count >= 16."""
    return max(16, int(round(base * sr / 22050 / 2)) * 2)


def raised_cosine(n: int) -> np.ndarray:
    """Fade-in ramp ``0.5 - 0.5 cos(pi (k + 0.5) / n)``, ``k = 0 .. n-1``, shape ``(n,)``.

    Sampled at half-sample offsets so that a fade-in and its reverse sum to exactly 1
    (a crossfade keeps the level).
    """
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)


def fade_edges(y: np.ndarray, sr: int, *, fade_in_s: float, fade_out_s: float) -> np.ndarray:
    """Raised-cosine fade-in and fade-out (no click where the output starts or ends mid-note).

    Parameters
    ----------
    y : np.ndarray [shape=(N,) or (N, C)]
        Audio, samples first.
    sr : int
        Sample rate, Hz.
    fade_in_s, fade_out_s : float
        Fade lengths, seconds (0 = none).

    Returns
    -------
    np.ndarray
        A faded copy of ``y`` (same shape and dtype).
    """
    y = y.copy()
    shape = (-1,) + (1,) * (y.ndim - 1)
    for seconds, head in ((fade_in_s, True), (fade_out_s, False)):
        n = min(int(seconds * sr), y.shape[0])
        if n <= 0:
            continue
        ramp = raised_cosine(n).astype(y.dtype)
        if head:
            y[:n] *= ramp.reshape(shape)
        else:
            y[-n:] *= ramp[::-1].reshape(shape)
    return y


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

    Raises
    ------
    D2MError
        Unknown ``method`` or audio that is not 1-D or 2-D.
    ValueError
        A malformed or non-increasing ``time_map``.
    """
    if method not in METHODS:
        raise D2MError(f"unknown time-scale method '{method}': choose one of {', '.join(METHODS)}")
    x, mono = as_2d(audio)
    n_out = int(round(duration_s * sr))
    tm = np.asarray(time_map, dtype=np.float64)
    if tm.ndim != 2 or tm.shape[1] != 2 or tm.shape[0] < 2:
        raise ValueError("time_map must be (K, 2) with K >= 2")
    if np.any(np.diff(tm[:, 0]) <= 0) or np.any(np.diff(tm[:, 1]) <= 0):
        raise ValueError("time_map must be strictly increasing in both columns")
    if n_out <= 0:
        y = np.zeros((0, x.shape[1]), np.float32)
    elif method == "wsola":
        y = _wsola(x, sr=sr, time_map=tm, n_out=n_out)
    else:
        y = _phase_vocoder(x, sr=sr, time_map=tm, n_out=n_out)
    return y[:, 0] if mono else y


def _padded_source(x: np.ndarray, *, centres: np.ndarray, reach: int) -> tuple[np.ndarray, int]:
    """``x`` zero-padded so that every window ``centre +- reach`` lies inside; and the offset.

    ``x`` is ``(N, C)``; ``centres`` are sample indices into ``x`` (any shape). Returns the
    padded float32 ``(N', C)`` and the index of ``x[0]`` in it.
    """
    lo = int(min(0, np.floor(centres.min()) - reach - 1))
    hi = int(max(x.shape[0], np.ceil(centres.max()) + reach + 2))
    xp = np.zeros((hi - lo, x.shape[1]), np.float32)
    xp[-lo : -lo + x.shape[0]] = x
    return xp, -lo


def _hann(n: int) -> np.ndarray:
    """Periodic Hann window, float32 ``(n,)`` (periodic: overlap-adds evenly at hop n/2)."""
    return scipy.signal.get_window("hann", n).astype(np.float32)


def _best_shift(natural: np.ndarray, region: np.ndarray, *, tol: int, nfft: int) -> int:
    """Offset ``d`` in ``0 .. 2 tol`` maximising ``sum_n natural[n] * region[d + n]``.

    ``natural`` is ``(L,)``, ``region`` is ``(L + 2 tol,)``; the correlation is taken by FFT of
    length ``nfft`` (>= ``2 L + 2 tol``, so nothing wraps around).
    """
    spec = scipy.fft.rfft(region, nfft) * np.conj(scipy.fft.rfft(natural, nfft))
    corr = scipy.fft.irfft(spec, nfft)[: 2 * tol + 1]
    return int(np.argmax(corr))


def _wsola(x: np.ndarray, *, sr: int, time_map: np.ndarray, n_out: int) -> np.ndarray:
    """WSOLA along ``time_map``: ``(N, C)`` float32 in, ``(n_out, C)`` float32 out."""
    win_len = frame_length(sr=sr, base=WSOLA_FRAME)
    hop = win_len // 2
    tol = win_len // 4
    half = win_len // 2
    n_frames = int(np.ceil(n_out / hop)) + 2
    out_centres = np.arange(n_frames) * hop
    nominal = np.round(map_times(time_map, out_centres / sr) * sr).astype(np.int64)
    xp, off = _padded_source(x, centres=nominal, reach=half + tol + hop)
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
            # Move the frame (within ±tol) to where the source best continues the previous
            # frame's natural successor: no phase jumps, so no clicks.
            nat = mono[prev + hop - half : prev + hop + half]
            region = mono[c - tol - half : c + tol + half]
            if np.any(nat) and np.any(region):
                c = c - tol + _best_shift(nat, region, tol=tol, nfft=nfft)
        o = m * hop
        y[o : o + win_len] += xp[c - half : c + half] * w[:, None]
        wsum[o : o + win_len] += w
        prev = c
    y = y[half : half + n_out]
    ws = wsum[half : half + n_out]
    return (y / np.maximum(ws, 1e-3)[:, None]).astype(np.float32)


def _locked_phases(mag: np.ndarray, phase: np.ndarray, *, advance: np.ndarray) -> np.ndarray:
    """Output phases of a phase vocoder with identity phase locking.

    Parameters
    ----------
    mag, phase : np.ndarray [shape=(F, n_bins)]
        Magnitudes and phases of the analysis frames (radians).
    advance : np.ndarray [shape=(F, n_bins)]
        Instantaneous phase advance of each bin over one synthesis hop, radians.

    Returns
    -------
    np.ndarray [shape=(F, n_bins)]
        Synthesis phases: each spectral peak's phase accumulates its advance; the bins around
        a peak keep their analysis phase relative to it (vertical coherence, less phasiness).
    """
    n_frames, n_bins = mag.shape
    out = np.empty_like(phase)
    acc = phase[0].copy()
    for m in range(n_frames):
        if m > 0:
            acc = acc + advance[m]
        mm = mag[m]
        peaks = np.flatnonzero((mm[1:-1] > mm[:-2]) & (mm[1:-1] >= mm[2:]) & (mm[1:-1] > 1e-6)) + 1
        if peaks.size:
            bounds = (peaks[:-1] + peaks[1:]) // 2
            owner = peaks[np.searchsorted(bounds, np.arange(n_bins), side="right")]
            acc = acc[owner] + phase[m] - phase[m][owner]
        out[m] = acc
    return out


def _phase_vocoder(x: np.ndarray, *, sr: int, time_map: np.ndarray, n_out: int) -> np.ndarray:
    """Phase vocoder along ``time_map``: ``(N, C)`` float32 in, ``(n_out, C)`` float32 out."""
    win_len = frame_length(sr=sr, base=PV_FRAME)
    hop = win_len // 4
    half = win_len // 2
    n_frames = int(np.ceil(n_out / hop)) + 4
    out_centres = np.arange(n_frames) * hop
    centres = np.round(map_times(time_map, out_centres / sr) * sr).astype(np.int64)
    xp, off = _padded_source(x, centres=centres, reach=half + hop)
    centres = centres + off
    w = _hann(win_len)
    omega = 2 * np.pi * np.arange(win_len // 2 + 1) / win_len
    idx = np.arange(win_len) - half
    y = np.zeros((n_frames * hop + win_len, x.shape[1]), np.float32)
    for ch in range(x.shape[1]):
        sig = xp[:, ch]
        # Each output frame is analysed at its source time and one hop earlier: the phase
        # difference gives every bin's true frequency, whatever the local stretch.
        cur = scipy.fft.rfft(sig[centres[:, None] + idx] * w, axis=1)
        before = scipy.fft.rfft(sig[centres[:, None] - hop + idx] * w, axis=1)
        mag = np.abs(cur)
        ph_cur, ph_prev = np.angle(cur), np.angle(before)
        dphi = ph_cur - ph_prev - omega * hop
        dphi -= 2 * np.pi * np.round(dphi / (2 * np.pi))
        out_ph = _locked_phases(mag, ph_cur, advance=omega * hop + dphi)
        frames = scipy.fft.irfft(mag * np.exp(1j * out_ph), win_len, axis=1) * w
        for m in range(n_frames):
            y[m * hop : m * hop + win_len, ch] += frames[m]
    wsum = np.zeros(y.shape[0], np.float32)
    for m in range(n_frames):
        wsum[m * hop : m * hop + win_len] += w**2
    y = y[half : half + n_out]
    return (y / np.maximum(wsum[half : half + n_out], 1e-3)[:, None]).astype(np.float32)
