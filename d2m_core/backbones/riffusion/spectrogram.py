"""Riffusion spectrogram images: audio <-> 512 x 512 pictures, with Riffusion's parameters.

Riffusion (Forsgren and Martiros 2022) fine-tunes Stable Diffusion on pictures of mel
spectrograms; this module converts audio to such pictures and back, in numpy / scipy / librosa
(no torch, no riffusion package), following the parameters its public code documents.

Conventions
-----------
- Audio is analysed mono at :data:`SAMPLE_RATE` (44.1 kHz; other rates are resampled, stereo
  is averaged). Samples in [-1, 1] are scaled by 32768 first, as Riffusion reads 16-bit
  samples, so mel amplitudes and ``max_value`` are on Riffusion's numeric scale.
- STFT: :data:`N_FFT` 17640 (400 ms), periodic Hann window of :data:`WIN_LENGTH` 4410 (100 ms)
  centred in the FFT frame, :data:`HOP_LENGTH` 441 (10 ms), centred frames with reflect
  padding (torchaudio's ``Spectrogram`` defaults, which Riffusion uses). Magnitudes, not power.
- Mel: :data:`N_MELS` 512 triangular bands from 0 to 10 kHz on the **HTK** mel scale with **no
  area normalisation** (peaks of 1) -- Riffusion's ``mel_scale="htk", norm=None``; this is
  ``librosa.filters.mel(htk=True, norm=None)``, identical to torchaudio's ``MelScale`` here
  (both use the FFT bin frequencies ``k * sr / n_fft``). Nothing above 10 kHz survives.
- Picture: ``v = (mel / max_value) ** 0.25`` (:data:`POWER_FOR_IMAGE`), ``pixel = 255 - 255 v``
  truncated to uint8 (inverted: silence is white, loud is dark), rows flipped so the lowest
  band is the bottom row, grey copied to RGB. x = time, one column per hop, so
  :data:`TILE_WIDTH` 512 columns = :data:`TILE_SECONDS` 5.12 s. ``max_value`` is the clip's
  largest mel amplitude by default (riffusion-hobby's ``image_from_spectrogram``) and is stored
  in the picture's EXIF tag 11080 (Riffusion's ``MAX_VALUE``) so a round trip keeps the level;
  :data:`V1_MAX_VALUE` = 50 ** 4 reproduces the fixed ``max_volume=50`` of Riffusion's first
  inference code. Decoding a picture without the tag uses :data:`DEFAULT_MAX_VALUE` (30e6,
  riffusion-hobby's ``spectrogram_from_image`` default) and peak-normalises the result.
- Back to audio: mel -> linear magnitude (:func:`mel_to_magnitude`: the minimum-norm least
  squares solution clipped at 0, which is what torchaudio's ``InverseMelScale`` now computes,
  optionally refined by non-negative multiplicative updates), then fast Griffin-Lim
  (Perraudin et al. 2013, momentum 0.99, :data:`GRIFFIN_LIM_ITERS` = 32 iterations, random
  initial phase with a fixed seed). Griffin-Lim runs on the same 100 ms frames and 10 ms hop;
  its FFT is either Riffusion's 17640 points (``gl_fft="full"``) or the 4410-point FFT of the
  unpadded frame with every fourth magnitude bin (``"compact"``, default: the same frames and
  consistency constraint, 4x less work). Long spectrograms are reconstructed in overlapping
  chunks whose phases continue from one chunk to the next, then crossfaded: no seams.
- Long audio: :func:`audio_to_tiles` cuts 512-column tiles every ``512 - overlap`` columns
  (one shared ``max_value``; the last tile padded with silence); :func:`tiles_to_audio`
  crossfades the overlapping columns linearly in the amplitude domain and reconstructs the
  whole spectrogram at once.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import librosa
import numpy as np
import scipy.fft
import scipy.linalg
import scipy.signal
import scipy.sparse

from d2m_core.errors import D2MError

SAMPLE_RATE = 44100
N_FFT = 17640
WIN_LENGTH = 4410
HOP_LENGTH = 441
N_MELS = 512
F_MIN = 0.0
F_MAX = 10000.0
POWER_FOR_IMAGE = 0.25
GRIFFIN_LIM_ITERS = 32
GRIFFIN_LIM_MOMENTUM = 0.99
TILE_WIDTH = 512
TILE_SECONDS = TILE_WIDTH * HOP_LENGTH / SAMPLE_RATE  # 5.12
INT16_SCALE = 32768.0
DEFAULT_MAX_VALUE = 30e6
V1_MAX_VALUE = 50.0**4
EXIF_MAX_VALUE = 11080
"""Riffusion's EXIF tag for the spectrogram's max value."""

GL_CHUNK_FRAMES = 1024
"""Griffin-Lim works on at most this many frames at once (memory), overlapping by
:data:`GL_OVERLAP_FRAMES`."""

GL_OVERLAP_FRAMES = 64


# --------------------------------------------------------------------------------------------
# Mel filterbank and its inverse


@functools.lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """Riffusion's mel filterbank.

    Returns
    -------
    np.ndarray [shape=(N_MELS, N_FFT // 2 + 1)], float64
        Triangles on the HTK mel scale, 0..10 kHz, peak 1 (read-only, cached).
    """
    fb = librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=F_MIN, fmax=F_MAX, htk=True, norm=None,
        dtype=np.float64,
    )  # fmt: skip
    fb.setflags(write=False)
    return fb


@functools.lru_cache(maxsize=1)
def _mel_solver() -> tuple[scipy.sparse.csr_matrix, scipy.sparse.csr_matrix, np.ndarray]:
    """Sparse filterbank, its transpose, and the banded Cholesky factor of ``M M^T``."""
    fb = mel_filterbank()
    m = scipy.sparse.csr_matrix(fb)
    gram = (m @ m.T).toarray()
    bw = int(np.max(np.abs(np.subtract.outer(*np.nonzero(gram)))))
    ab = np.zeros((bw + 1, N_MELS))
    for d in range(bw + 1):  # upper banded storage for scipy.linalg.cholesky_banded
        ab[bw - d, d:] = np.diagonal(gram, d)
    return m, m.T.tocsr(), scipy.linalg.cholesky_banded(ab)


def mel_to_magnitude(mel: np.ndarray, *, refine_iters: int = 0) -> np.ndarray:
    """Linear-frequency magnitudes whose mel projection matches ``mel``.

    Parameters
    ----------
    mel : np.ndarray [shape=(N_MELS, T)]
        Mel amplitudes, non-negative.
    refine_iters : int
        Non-negative multiplicative updates (Lee-Seung, towards the non-negative least squares
        solution) after the clipped minimum-norm solution; 0 = none.

    Returns
    -------
    np.ndarray [shape=(N_FFT // 2 + 1, T)], float32
        Non-negative magnitudes (0 above 10 kHz).
    """
    mel = np.asarray(mel, dtype=np.float64)
    m, mt, chol = _mel_solver()
    z = scipy.linalg.cho_solve_banded((chol, False), mel)
    x = np.maximum(mt @ z, 0.0)
    if refine_iters > 0:
        num = mt @ mel
        x = x + 1e-9 * float(mel.max(initial=0.0))
        for _ in range(refine_iters):
            x *= num / np.maximum(mt @ (m @ x), 1e-12)
    return x.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Audio -> mel -> picture


def _to_44k_mono(audio: np.ndarray, sr: int) -> np.ndarray:
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.ndim != 1:
        raise D2MError(f"audio must be (N,) or (N, C), got shape {y.shape}")
    if int(sr) <= 0:
        raise D2MError(f"sample rate must be positive, got {sr}")
    if y.size == 0:
        raise D2MError("the audio holds no samples")
    if not np.all(np.isfinite(y)):
        raise D2MError("the audio holds NaN or infinite samples")
    if int(sr) != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=int(sr), target_sr=SAMPLE_RATE)
    return y


def audio_to_mel(audio: np.ndarray, sr: int) -> np.ndarray:
    """Riffusion mel amplitudes of audio, one column per 10 ms.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        Samples in [-1, 1], samples first.
    sr : int
        Sample rate, Hz.

    Returns
    -------
    np.ndarray [shape=(N_MELS, n // HOP_LENGTH)], float32
        With ``n`` the length at 44.1 kHz; column ``t`` is centred at ``t * 10 ms``.
    """
    y = _to_44k_mono(audio, sr) * INT16_SCALE
    n_cols = y.size // HOP_LENGTH
    if n_cols == 0:
        raise D2MError(f"the audio is too short ({y.size} samples): at least 10 ms is needed")
    spec = np.abs(
        librosa.stft(
            y, n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=WIN_LENGTH, window="hann",
            center=True, pad_mode="reflect",
        )[:, :n_cols]
    )  # fmt: skip
    return np.asarray(_mel_solver()[0] @ spec, dtype=np.float32)


def mel_to_image(mel: np.ndarray, *, max_value: float | None = None):
    """Riffusion picture of mel amplitudes (module docstring).

    Parameters
    ----------
    mel : np.ndarray [shape=(N_MELS, T)]
        Mel amplitudes.
    max_value : float, optional
        Amplitude drawn black; default ``mel.max()``. Louder values saturate.

    Returns
    -------
    PIL.Image.Image
        RGB, ``T`` wide and 512 high, ``max_value`` in EXIF tag 11080.
    """
    from PIL import Image

    mel = np.asarray(mel, dtype=np.float64)
    if mel.ndim != 2 or mel.shape[0] != N_MELS:
        raise D2MError(f"mel must be ({N_MELS}, T), got shape {mel.shape}")
    peak = float(mel.max(initial=0.0))
    mv = float(max_value) if max_value is not None else (peak if peak > 0 else 1.0)
    if not mv > 0:
        raise D2MError(f"max_value must be positive, got {max_value}")
    v = np.power(np.clip(mel / mv, 0.0, 1.0), POWER_FOR_IMAGE)
    grey = (255.0 - v * 255.0).astype(np.uint8)[::-1]
    image = Image.fromarray(np.ascontiguousarray(grey), mode="L").convert("RGB")
    exif = image.getexif()
    exif[EXIF_MAX_VALUE] = mv
    image.info["exif"] = exif.tobytes()
    return image


def audio_to_image(audio: np.ndarray, sr: int, *, max_value: float | None = None):
    """Riffusion spectrogram picture of audio (5.12 s -> 512 x 512).

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        Samples in [-1, 1].
    sr : int
        Sample rate, Hz.
    max_value : float, optional
        See :func:`mel_to_image` (default: this clip's loudest mel amplitude).

    Returns
    -------
    PIL.Image.Image
        RGB, 512 high, one column per 10 ms (``len // 441`` at 44.1 kHz).
    """
    return mel_to_image(audio_to_mel(audio, sr), max_value=max_value)


# --------------------------------------------------------------------------------------------
# Picture -> mel -> audio


def image_max_value(image) -> float | None:
    """The ``max_value`` stored in a picture's EXIF tag 11080, or None."""
    try:
        exif = image.getexif()
    except AttributeError:
        return None
    v = exif.get(EXIF_MAX_VALUE)
    try:
        return float(v) if v is not None and float(v) > 0 else None
    except (TypeError, ValueError):
        return None


def image_to_mel(image, *, max_value: float = DEFAULT_MAX_VALUE) -> np.ndarray:
    """Mel amplitudes of a Riffusion picture (the first channel is read, as Riffusion does).

    Parameters
    ----------
    image : PIL.Image.Image or np.ndarray [shape=(512, T) or (512, T, C)], uint8
        The picture.
    max_value : float
        Amplitude of a black pixel.

    Returns
    -------
    np.ndarray [shape=(N_MELS, T)], float32
    """
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[:, :, 0]
    if a.ndim != 2 or a.shape[0] != N_MELS or a.shape[1] == 0:
        raise D2MError(f"a Riffusion picture is {N_MELS} pixels high, got shape {a.shape}")
    v = (255.0 - a[::-1].astype(np.float64)) / 255.0
    return (np.power(v, 1.0 / POWER_FOR_IMAGE) * float(max_value)).astype(np.float32)


def _frames_ola(frames: np.ndarray, hop: int) -> np.ndarray:
    """Overlap-add ``(T, W)`` frames at ``hop`` (``W`` a multiple of ``hop``) -> ``(T-1)*hop+W``."""
    t, w = frames.shape
    k = w // hop
    blocks = frames.reshape(t, k, hop)
    out = np.zeros((t + k - 1, hop), dtype=frames.dtype)
    for j in range(k):
        out[j : j + t] += blocks[:, j, :]
    return out.reshape(-1)


def _gl_window() -> np.ndarray:
    """The periodic Hann window of Riffusion's frames, ``(WIN_LENGTH,)`` float32."""
    return scipy.signal.get_window("hann", WIN_LENGTH, fftbins=True).astype(np.float32)


def griffin_lim(
    magnitude: np.ndarray,
    *,
    n_iter: int = GRIFFIN_LIM_ITERS,
    momentum: float = GRIFFIN_LIM_MOMENTUM,
    gl_fft: str = "compact",
    seed: int = 0,
    fixed_phase: np.ndarray | None = None,
    init: str = "random",
) -> tuple[np.ndarray, np.ndarray]:
    """Fast Griffin-Lim on Riffusion's frames (100 ms Hann, 10 ms hop).

    Parameters
    ----------
    magnitude : np.ndarray [shape=(N_FFT // 2 + 1, T)]
        Target magnitudes on Riffusion's 17640-point grid.
    n_iter : int
        Iterations.
    momentum : float
        Fast Griffin-Lim momentum (0 = classic Griffin-Lim).
    gl_fft : {"compact", "full"}
        FFT size of the iterations: 4410 (every fourth target bin) or 17640.
    seed : int
        Seed of the random initial phase.
    init : {"random", "advance"}
        Initial phase: uniform random (Riffusion's choice, the default) or every bin advancing
        at its centre frequency (consistent for steady tones: no slow beating on sustained
        notes, slightly duller attacks).
    fixed_phase : np.ndarray [shape=(F, T0)], optional
        Phases (radians) of the first ``T0`` frames on the iteration grid (``F`` = 2206
        compact, 8821 full), kept fixed through the iterations (used to continue a previous
        chunk coherently).

    Returns
    -------
    audio : np.ndarray [shape=(T * HOP_LENGTH,)], float32
        Samples; sample 0 is the centre of frame 0.
    phase : np.ndarray [shape=(F, T)], float32
        Final phases on the iteration grid.
    """
    if gl_fft not in ("compact", "full"):
        raise D2MError(f"gl_fft must be 'compact' or 'full', got '{gl_fft}'")
    if init not in ("random", "advance"):
        raise D2MError(f"init must be 'random' or 'advance', got '{init}'")
    n_fft = WIN_LENGTH if gl_fft == "compact" else N_FFT
    step = N_FFT // n_fft
    target = np.ascontiguousarray(np.asarray(magnitude, dtype=np.float32)[::step].T)  # (T, F)
    n_frames, n_bins = target.shape
    w = _gl_window()
    wsum = _frames_ola(np.tile(w**2, (n_frames, 1)), HOP_LENGTH)
    inv_wsum = (1.0 / np.maximum(wsum, 1e-3 * wsum.max())).astype(np.float32)
    half = WIN_LENGTH // 2
    n_samples = n_frames * HOP_LENGTH

    def istft(spec: np.ndarray) -> np.ndarray:
        frames = scipy.fft.irfft(spec, n_fft, axis=1, workers=-1)[:, :WIN_LENGTH] * w
        return _frames_ola(frames.astype(np.float32), HOP_LENGTH) * inv_wsum

    def stft(sig: np.ndarray) -> np.ndarray:
        frames = np.lib.stride_tricks.sliding_window_view(sig, WIN_LENGTH)[::HOP_LENGTH]
        return scipy.fft.rfft(frames[:n_frames] * w, n_fft, axis=1, workers=-1).astype(np.complex64)

    if init == "random":
        rng = np.random.default_rng(seed)
        phase = rng.uniform(-np.pi, np.pi, size=target.shape).astype(np.float32)
    else:  # every bin advancing at its centre frequency: consistent for steady tones
        adv = 2 * np.pi * np.arange(n_bins) * HOP_LENGTH / n_fft
        phase = np.mod(np.outer(np.arange(n_frames), adv), 2 * np.pi).astype(np.float32)
    pinned = None
    if fixed_phase is not None:
        p0 = np.asarray(fixed_phase, dtype=np.float32).T[:n_frames]
        phase[: p0.shape[0]] = p0
        pinned = target[: p0.shape[0]] * np.exp(1j * p0).astype(np.complex64)
    # ``spec`` = target magnitudes with the current phase estimate; ``a`` = its unnormalised
    # direction (the accelerated iterate), ``rebuilt`` = the last consistent spectrogram.
    spec = target * np.exp(1j * phase).astype(np.complex64)
    rebuilt = np.zeros_like(spec)
    alpha = np.float32(momentum / (1.0 + momentum))
    for _ in range(n_iter):
        previous = rebuilt
        rebuilt = stft(istft(spec))
        a = rebuilt - alpha * previous
        spec = a * (target / (np.abs(a) + np.float32(1e-16)))
        if pinned is not None:
            spec[: pinned.shape[0]] = pinned
    sig = istft(spec)
    final_phase = np.angle(spec).astype(np.float32).T
    return sig[half : half + n_samples].astype(np.float32), final_phase


def magnitude_to_audio(
    magnitude: np.ndarray,
    *,
    n_iter: int = GRIFFIN_LIM_ITERS,
    gl_fft: str = "compact",
    seed: int = 0,
    chunk_frames: int = GL_CHUNK_FRAMES,
    overlap_frames: int = GL_OVERLAP_FRAMES,
    init: str = "random",
) -> np.ndarray:
    """Griffin-Lim over a spectrogram of any length, in chunks whose phases continue.

    Chunk ``k + 1`` starts ``overlap_frames`` before the end of chunk ``k`` with those frames'
    phases pinned to chunk ``k``'s result, so both chunks hold the same signal there; they are
    crossfaded (raised cosine) over the middle half of the overlap: no seam.

    Parameters
    ----------
    magnitude : np.ndarray [shape=(N_FFT // 2 + 1, T)]
        Target magnitudes.
    n_iter, gl_fft, seed, init
        See :func:`griffin_lim`.
    chunk_frames, overlap_frames : int
        Chunk length and overlap, frames.

    Returns
    -------
    np.ndarray [shape=(T * HOP_LENGTH,)], float32
    """
    n_frames = magnitude.shape[1]
    if n_frames <= chunk_frames:
        return griffin_lim(magnitude, n_iter=n_iter, gl_fft=gl_fft, seed=seed, init=init)[0]
    if not 0 < overlap_frames < chunk_frames // 2:
        raise D2MError("overlap_frames must be positive and under half of chunk_frames")
    out = np.zeros(n_frames * HOP_LENGTH, np.float32)
    start, prev_phase, k = 0, None, 0
    # crossfade over the middle half of the overlap, away from both chunks' edges
    n_ov = overlap_frames * HOP_LENGTH
    x0, n_x = n_ov // 4, n_ov // 2
    fade = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n_x) + 0.5) / n_x)).astype(np.float32)
    while start < n_frames:
        stop = min(start + chunk_frames, n_frames)
        sig, phase = griffin_lim(
            magnitude[:, start:stop], n_iter=n_iter, gl_fft=gl_fft, seed=seed + k,
            fixed_phase=prev_phase, init=init,
        )  # fmt: skip
        a = start * HOP_LENGTH
        if start == 0:
            out[a : a + sig.size] = sig
        else:
            seg = slice(a + x0, a + x0 + n_x)
            out[seg] = out[seg] * (1 - fade) + sig[x0 : x0 + n_x] * fade
            out[a + x0 + n_x : a + sig.size] = sig[x0 + n_x :]
        if stop == n_frames:
            break
        prev_phase = phase[:, -overlap_frames:]
        start = stop - overlap_frames
        k += 1
    return out


def mel_to_audio(
    mel: np.ndarray,
    *,
    n_iter: int = GRIFFIN_LIM_ITERS,
    gl_fft: str = "compact",
    refine_iters: int = 0,
    seed: int = 0,
    init: str = "random",
) -> np.ndarray:
    """Audio (44.1 kHz, Riffusion's int16 scale divided back to [-1, 1]) from mel amplitudes.

    Parameters
    ----------
    mel : np.ndarray [shape=(N_MELS, T)]
        Mel amplitudes on Riffusion's scale.
    n_iter, gl_fft, seed, init
        See :func:`griffin_lim`.
    refine_iters : int
        See :func:`mel_to_magnitude`.

    Returns
    -------
    np.ndarray [shape=(T * HOP_LENGTH,)], float32
    """
    mag = mel_to_magnitude(mel, refine_iters=refine_iters)
    y = magnitude_to_audio(mag, n_iter=n_iter, gl_fft=gl_fft, seed=seed, init=init)
    return y / INT16_SCALE


def _finish(y: np.ndarray, *, normalise: bool) -> np.ndarray:
    peak = float(np.max(np.abs(y), initial=0.0))
    if peak > 0 and (normalise or peak > 1.0):
        y = y * ((0.9 if normalise else 0.999) / peak)
    return y.astype(np.float32)


def image_to_audio(
    image,
    *,
    max_value: float | None = None,
    n_iter: int = GRIFFIN_LIM_ITERS,
    gl_fft: str = "compact",
    refine_iters: int = 0,
    seed: int = 0,
    init: str = "random",
) -> tuple[np.ndarray, int]:
    """Audio of a Riffusion picture.

    Parameters
    ----------
    image : PIL.Image.Image or np.ndarray [shape=(512, T) or (512, T, C)], uint8
        The picture.
    max_value : float, optional
        Amplitude of black. Default: the picture's EXIF tag 11080; without it,
        :data:`DEFAULT_MAX_VALUE` and the result is peak-normalised to 0.9.
    n_iter, gl_fft, refine_iters, seed, init
        See :func:`mel_to_audio`.

    Returns
    -------
    audio : np.ndarray [shape=(T * 441,)], float32
        Mono samples (peak at most 1).
    sr : int
        :data:`SAMPLE_RATE`.
    """
    mv = max_value if max_value is not None else image_max_value(image)
    mel = image_to_mel(image, max_value=mv if mv is not None else DEFAULT_MAX_VALUE)
    y = mel_to_audio(
        mel, n_iter=n_iter, gl_fft=gl_fft, refine_iters=refine_iters, seed=seed, init=init
    )
    return _finish(y, normalise=mv is None), SAMPLE_RATE


# --------------------------------------------------------------------------------------------
# Long audio as 5.12 s tiles


def tile_starts(n_columns: int, *, overlap: int = 0, width: int = TILE_WIDTH) -> list[int]:
    """First column of each tile covering ``n_columns`` columns.

    Parameters
    ----------
    n_columns : int
        Spectrogram length, columns (10 ms each).
    overlap : int
        Columns shared by consecutive tiles, ``0 <= overlap < width``.
    width : int
        Tile width, columns.

    Returns
    -------
    list of int
        ``0, width - overlap, ...`` until a tile reaches ``n_columns``.
    """
    if not 0 <= overlap < width:
        raise D2MError(f"overlap must be in [0, {width}), got {overlap}")
    stride = width - overlap
    n = max(1, int(np.ceil(max(n_columns - overlap, 1) / stride)))
    return [k * stride for k in range(n)]


def audio_to_tiles(
    audio: np.ndarray,
    sr: int,
    *,
    overlap: int = 0,
    max_value: float | None = None,
) -> list:
    """Cut audio into 512 x 512 Riffusion pictures (5.12 s each).

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        Samples in [-1, 1].
    sr : int
        Sample rate, Hz.
    overlap : int
        Columns (10 ms each) shared by consecutive tiles.
    max_value : float, optional
        Shared black level; default the loudest mel amplitude of the whole audio.

    Returns
    -------
    list of PIL.Image.Image
        Tiles starting at :func:`tile_starts`; the last one padded with silence (white).
    """
    mel = audio_to_mel(audio, sr)
    mv = float(mel.max(initial=0.0)) if max_value is None else float(max_value)
    starts = tile_starts(mel.shape[1], overlap=overlap)
    padded = np.zeros((N_MELS, starts[-1] + TILE_WIDTH), np.float32)
    padded[:, : mel.shape[1]] = mel
    return [
        mel_to_image(padded[:, s : s + TILE_WIDTH], max_value=mv if mv > 0 else 1.0) for s in starts
    ]


def stitch_mels(mels: Sequence[np.ndarray], *, overlap: int = 0) -> np.ndarray:
    """Join tile spectrograms, crossfading ``overlap`` shared columns linearly.

    Parameters
    ----------
    mels : sequence of np.ndarray [shape=(N_MELS, W)]
        Consecutive tiles (any equal width ``W > overlap``).
    overlap : int
        Shared columns between consecutive tiles.

    Returns
    -------
    np.ndarray [shape=(N_MELS, W + (n - 1) * (W - overlap))], float32
    """
    if not mels:
        raise D2MError("no tiles to stitch")
    width = mels[0].shape[1]
    if any(m.shape != mels[0].shape for m in mels):
        raise D2MError("all tiles must have the same size")
    if not 0 <= overlap < width:
        raise D2MError(f"overlap must be in [0, {width}), got {overlap}")
    stride = width - overlap
    total = width + (len(mels) - 1) * stride
    acc = np.zeros((mels[0].shape[0], total), np.float64)
    wts = np.zeros(total, np.float64)
    ramp = np.ones(width)
    if overlap:
        r = (np.arange(overlap) + 0.5) / overlap
        ramp[:overlap], ramp[-overlap:] = r, r[::-1]
    for k, m in enumerate(mels):
        w = ramp.copy()
        if k == 0:
            w[:overlap] = 1.0
        if k == len(mels) - 1 and overlap:
            w[-overlap:] = 1.0
        acc[:, k * stride : k * stride + width] += m * w
        wts[k * stride : k * stride + width] += w
    return (acc / np.maximum(wts, 1e-12)).astype(np.float32)


def tiles_to_audio(
    images: Sequence,
    *,
    overlap: int = 0,
    length: int | None = None,
    max_value: float | None = None,
    n_iter: int = GRIFFIN_LIM_ITERS,
    gl_fft: str = "compact",
    refine_iters: int = 0,
    seed: int = 0,
    init: str = "random",
) -> tuple[np.ndarray, int]:
    """Audio of consecutive Riffusion pictures, stitched without seams.

    The pictures' spectrograms are crossfaded over their ``overlap`` shared columns and the
    whole is reconstructed at once (:func:`magnitude_to_audio`), so no join is audible.

    Parameters
    ----------
    images : sequence of PIL.Image.Image or np.ndarray
        Tiles, in order (e.g. from :func:`audio_to_tiles` or a generator).
    overlap : int
        Columns shared by consecutive tiles.
    length : int, optional
        Trim the result to this many samples (44.1 kHz).
    max_value : float, optional
        Amplitude of black; default each picture's EXIF value (:data:`DEFAULT_MAX_VALUE` and
        peak normalisation when absent).
    n_iter, gl_fft, refine_iters, seed, init
        See :func:`mel_to_audio`.

    Returns
    -------
    audio : np.ndarray [shape=(n,)], float32
    sr : int
        :data:`SAMPLE_RATE`.
    """
    mels, known = [], True
    for im in images:
        mv = max_value if max_value is not None else image_max_value(im)
        known &= mv is not None
        mels.append(image_to_mel(im, max_value=mv if mv is not None else DEFAULT_MAX_VALUE))
    mel = stitch_mels(mels, overlap=overlap)
    y = mel_to_audio(
        mel, n_iter=n_iter, gl_fft=gl_fft, refine_iters=refine_iters, seed=seed, init=init
    )
    if length is not None:
        y = y[: int(length)]
    return _finish(y, normalise=not known), SAMPLE_RATE
