"""The registered Riffusion backbone: spectrogram-picture latents denoised window by window
for the dance."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from d2m_core.backbones.base import register
from d2m_core.backbones.diffusion import DiffusionBackbone
from d2m_core.backbones.riffusion import model as rf
from d2m_core.backbones.riffusion import spectrogram as rs
from d2m_core.backbones.windowed import open_model

if TYPE_CHECKING:
    import torch


@register
class RiffusionBackbone(DiffusionBackbone):
    """Riffusion driven by the dance through trained rhythm and genre encoders (or zero-shot).

    Takes :class:`~d2m_core.backbones.diffusion.DiffusionBackbone`'s parameters: guidance
    :data:`~d2m_core.backbones.riffusion.model.DEFAULT_GUIDANCE` (7.0) and 50 steps per window
    by default; on a GPU the UNet and the VAE run in fp16. Without an encoder only plain prompts
    (no ``@`` / ``*``) work: zero-shot use. ``window_overlap`` defaults to 0.25 (1.28 s of
    context, 3.84 s new per 5.12 s window; with encoders, short overlaps leave most of each
    window to its own rhythm embedding, as for MusicGen).
    """

    name = "riffusion"
    label = "Riffusion (neural)"
    sample_rate = rs.SAMPLE_RATE
    default_model = rf.DEFAULT_MODEL
    model_kind = rf.LoadedRiffusion
    text_window_s = rs.TILE_SECONDS  # one tile per window without encoders
    default_guidance = rf.DEFAULT_GUIDANCE
    default_steps = rf.DEFAULT_STEPS

    def _load_model(self, *, half: bool) -> None:
        self.pipe, self.core, self.conditioner = open_model(
            self.model_kind, self.model_name, device=self.device, half=half
        )

    # -- geometry: latent frames of spectrogram columns

    @property
    def seconds_per_latent(self) -> float:
        return self.pipe.columns_per_latent * rs.HOP_LENGTH / rs.SAMPLE_RATE

    @property
    def frame_rate(self) -> float:
        return 1.0 / self.seconds_per_latent

    def frames_per_window(self, window_s: float) -> int:
        return self.pipe.latent_frames(int(round(window_s * rs.SAMPLE_RATE)) // rs.HOP_LENGTH)

    def total_frames(self, duration_s: float) -> int:
        """Latent frames covering the spectrogram columns of ``duration_s`` seconds."""
        cols = int(math.ceil(round(float(duration_s) * rs.SAMPLE_RATE) / rs.HOP_LENGTH))
        return max(1, int(math.ceil(cols / self.pipe.columns_per_latent)))

    def window_start_s(self, start: int) -> float:
        return start * self.seconds_per_latent

    # -- audio

    def render(self, windows: list[torch.Tensor], *, num_samples: int, seed: int) -> np.ndarray:
        """Audio ``(num_samples,)`` of consecutive windows' latents, rendered in one pass
        (see :func:`~d2m_core.backbones.riffusion.model.render_mels`)."""
        mels = [self.core.latents_to_mels(w)[0] for w in windows]
        return rf.render_mels(
            mels,
            overlap_columns=self.overlap * self.pipe.columns_per_latent,
            num_samples=num_samples,
            seed=seed,
        )
