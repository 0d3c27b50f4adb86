"""Riffusion for inversion training: the CLIP conditioner, VAE latents of spectrogram pictures
as targets, and the noise-prediction loss of paper Eq. 2."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from d2m_core.backbones.diffusion import noise_prediction_loss
from d2m_core.backbones.riffusion import spectrogram as rs
from d2m_core.backbones.riffusion.model import TARGET_FORMAT, LoadedRiffusion
from d2m_core.backbones.windowed import ModelAdapter, open_model


class RiffusionInversionAdapter(ModelAdapter):
    """Riffusion for inversion training: CLIP conditioner, VAE latents, Eq. 2 loss."""

    backbone = "riffusion"
    sample_rate = rs.SAMPLE_RATE

    def _load(self, *, device: str) -> None:
        from diffusers import DDPMScheduler

        self.pipe, self.core, self.conditioner = open_model(
            LoadedRiffusion, self.model_id, device=device
        )
        self.train_scheduler = DDPMScheduler.from_config(self.pipe.scheduler.config)

    def modules(self):
        return self.pipe.modules()

    def target_signature(self) -> str:
        pipe = self.pipe
        blob = json.dumps(
            {
                "model": self.model_id,
                "vae": dict(pipe.vae.config),
                "image": [*pipe.image_size, pipe.vae_scale, pipe.scaling_factor],
                "spec": [rs.SAMPLE_RATE, rs.N_FFT, rs.WIN_LENGTH, rs.HOP_LENGTH, rs.N_MELS,
                         rs.F_MAX, rs.POWER_FOR_IMAGE],
                "latent": "posterior-mean",
                "format": TARGET_FORMAT,
            },
            sort_keys=True,
            default=str,
        )  # fmt: skip
        return "riffusion-" + hashlib.sha1(blob.encode()).hexdigest()[:16]

    def encode_targets(self, audio: np.ndarray) -> np.ndarray:
        """Latents ``(B, C, h, w)`` of 44.1 kHz clips ``(B, N)``, float16."""
        return self.core.encode_pixels(self.core.audio_pixels(audio)).astype(np.float16)

    def loss(self, *, hidden, mask, targets):
        # ``mask`` is all ones: the UNet attends to all 77 rows, as Stable Diffusion's does.
        dev = hidden.device
        return noise_prediction_loss(
            unet_fn=self.core.unet_fn,
            scheduler=self.train_scheduler,
            latents=targets.to(dev).float(),
            cond=hidden,
        )
