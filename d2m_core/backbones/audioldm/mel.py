"""AudioLDM's mel front end: the log-mel spectrograms its VAE encodes (inversion targets).

A clip becomes the log-mel spectrogram AudioLDM was trained on (its published preprocessing,
``audioldm/audio/tools.py`` and ``stft.py``, and the diffusers ``SpeechT5HifiGan`` vocoder
config, whose ``model_in_dim``, ``sampling_rate`` and ``upsample_rates`` must agree):

- 16 kHz mono, mean removed, scaled to a peak of 0.5 (``normalize_wav``);
- STFT magnitude: ``n_fft = win_length = 1024``, periodic Hann window, ``hop = 160``
  (10 ms, 100 frames/s; the vocoder upsamples by 5*4*2*2*2 = 160), centred with reflect padding;
- 64 Slaney-normalised mel bands (``librosa.filters.mel``, ``fmin = 0``, ``fmax = 8000`` Hz);
- natural log of the mel magnitudes clamped at 1e-5 (HiFi-GAN's dynamic-range compression);
- ``frames = N / 160`` rounded up so the latents fit the UNet (a multiple of the VAE's times
  the UNet's downsampling, 4 x 8 = 32 for the real models), the audio zero-padded to match.
  A 5.12 s clip gives ``(512, 64)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MelSettings:
    """AudioLDM's log-mel spectrogram (see the module docstring for the sources).

    Attributes
    ----------
    sample_rate : int
        Hz (16000).
    n_fft, win_length, hop_length : int
        STFT size, Hann window length and hop, samples (1024, 1024, 160).
    n_mels : int
        Mel bands (64), the vocoder's ``model_in_dim``.
    fmin, fmax : float
        Mel filter range, Hz (0, 8000).
    log_floor : float
        Magnitudes are clamped here before the natural log (1e-5).
    peak : float
        Clips are scaled to this peak amplitude after removing the mean (0.5).
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float = 8000.0
    log_floor: float = 1e-5
    peak: float = 0.5

    @property
    def frame_rate(self) -> float:
        """Mel frames per second (100)."""
        return self.sample_rate / self.hop_length


@functools.lru_cache(maxsize=4)
def mel_filters(mel: MelSettings) -> np.ndarray:
    """Slaney mel filter bank ``(n_mels, n_fft // 2 + 1)``, float32 (librosa's defaults).

    Cached: do not modify the returned array.
    """
    import librosa

    fb = librosa.filters.mel(
        sr=mel.sample_rate, n_fft=mel.n_fft, n_mels=mel.n_mels, fmin=mel.fmin, fmax=mel.fmax
    )
    return fb.astype(np.float32)


def log_mel(audio: np.ndarray, *, mel: MelSettings, frames: int) -> np.ndarray:
    """AudioLDM's log-mel spectrograms of mono clips.

    Parameters
    ----------
    audio : np.ndarray [shape=(B, N)]
        Clips at ``mel.sample_rate``, any scale (each is re-centred and scaled to ``mel.peak``).
    mel : MelSettings
    frames : int
        Spectrogram frames ``T`` to return; the audio is zero-padded or cut to ``T * hop``.

    Returns
    -------
    np.ndarray [shape=(B, T, n_mels)], float32
        Natural-log mel magnitudes (>= log(1e-5) = -11.51).
    """
    import torch

    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"audio must be (B, N), got shape {x.shape}")
    x = x - x.mean(axis=1, keepdims=True)
    x = x / (np.abs(x).max(axis=1, keepdims=True) + 1e-8) * mel.peak
    n = frames * mel.hop_length
    x = np.pad(x[:, :n], ((0, 0), (0, max(0, n - x.shape[1]))))
    wav = torch.from_numpy(np.clip(x, -1.0, 1.0).astype(np.float32))
    window = torch.hann_window(mel.win_length, periodic=True)
    spec = torch.stft(
        wav,
        n_fft=mel.n_fft,
        hop_length=mel.hop_length,
        win_length=mel.win_length,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).abs()[:, :, :frames]  # (B, F, T): center padding gives T + 1 frames
    m = torch.matmul(torch.from_numpy(mel_filters(mel)), spec)
    return torch.log(m.clamp_min(mel.log_floor)).transpose(1, 2).contiguous().numpy()
