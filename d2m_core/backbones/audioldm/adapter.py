"""AudioLDM for inversion training: the CLAP conditioner, mel-VAE latents as targets, and the
noise-prediction loss of paper Eq. 2."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict

import numpy as np

from d2m_core.backbones.audioldm.mel import log_mel
from d2m_core.backbones.audioldm.model import LoadedAudioldm
from d2m_core.backbones.diffusion import noise_prediction_loss
from d2m_core.backbones.windowed import ModelAdapter, open_model
from d2m_core.errors import D2MError

#: How cached targets are stored (half the disk; far finer than the noise the loss adds).
TARGET_FORMAT = "float16"


class AudioldmInversionAdapter(ModelAdapter):
    """AudioLDM for inversion training: CLAP conditioner, mel-VAE latents, Eq. 2 loss."""

    backbone = "audioldm"

    def _load(self, *, device: str) -> None:
        self.la, self.core, self.conditioner = open_model(
            LoadedAudioldm, self.model_id, device=device
        )
        self.sample_rate = self.la.sample_rate

    def modules(self):
        return self.la.modules()

    def target_frames(self, num_samples: int) -> int:
        """Mel frames of a clip of ``num_samples``: ``N / hop`` rounded up so the latents fit
        the UNet (a multiple of the VAE's and the UNet's downsampling; 512 for 5.12 s)."""
        m = self.la.vae_scale * self.la.unet_multiple
        return max(m, int(math.ceil(num_samples / self.la.mel.hop_length / m)) * m)

    def target_signature(self) -> str:
        blob = json.dumps(
            {
                "model": self.model_id,
                "vae": self.la.vae.config,
                "mel": asdict(self.la.mel),
                "latents": "posterior-mean",
                "format": TARGET_FORMAT,
            },
            sort_keys=True,
            default=str,
        )
        return "audioldm-" + hashlib.sha1(blob.encode()).hexdigest()[:16]

    def encode_targets(self, audio: np.ndarray) -> np.ndarray:
        """Latent targets of equal-length clips.

        Parameters
        ----------
        audio : np.ndarray [shape=(B, N)], float32
            Mono clips at 16 kHz.

        Returns
        -------
        np.ndarray [shape=(B, C, H, W)], float16
            VAE latents times ``scaling_factor``, ``H = frames / f``.
        """
        audio = np.asarray(audio, np.float32)
        mels = log_mel(audio, mel=self.la.mel, frames=self.target_frames(audio.shape[1]))
        lat = self.core.encode_mels(mels)
        if not np.isfinite(lat).all():
            raise D2MError(f"{self.model_id}: the VAE gave non-finite latents for a clip")
        return lat.astype(np.float16)

    def loss(self, *, hidden, mask, targets):
        """Paper Eq. 2 for the normalised CLAP embeddings ``hidden`` ``(B, P)`` (``mask`` is
        unused: the embedding is already pooled) and cached latent ``targets``."""
        lat = targets.to(self.la.device).float()
        return noise_prediction_loss(
            unet_fn=self.core.unet_fn, scheduler=self.la.scheduler, latents=lat, cond=hidden
        )
