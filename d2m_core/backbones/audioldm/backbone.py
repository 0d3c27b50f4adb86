"""The registered AudioLDM backbone: latents denoised window by window for the dance."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from d2m_core.backbones.audioldm import model as al
from d2m_core.backbones.base import register
from d2m_core.backbones.diffusion import DiffusionBackbone
from d2m_core.backbones.windowed import open_model

if TYPE_CHECKING:
    import numpy as np
    import torch


@register
class AudioldmBackbone(DiffusionBackbone):
    """AudioLDM driven by the dance through trained rhythm and genre encoders (or text alone).

    Takes :class:`~d2m_core.backbones.diffusion.DiffusionBackbone`'s parameters: guidance 2.5
    (AudioLDM's) and 50 steps by default; on a GPU the UNet, VAE and vocoder run in fp16, the
    CLAP text encoder in float32. Without an encoder AudioLDM is a plain text-to-audio model
    (``d2m generate --zero-shot`` spells ``@`` / ``*`` out and aligns the beats afterwards).
    ``window_overlap`` defaults to 0.25: with encoders 1.28 s of each 5.12 s window, without
    them 2.56 s of each :data:`~d2m_core.backbones.audioldm.model.TEXT_WINDOW_S` window.
    """

    name = "audioldm"
    label = "AudioLDM (neural)"
    sample_rate = 16000
    default_model = al.DEFAULT_MODEL
    model_kind = al.LoadedAudioldm
    text_window_s = al.TEXT_WINDOW_S
    default_guidance = al.DEFAULT_GUIDANCE
    default_steps = al.DEFAULT_STEPS

    def _load_model(self, *, half: bool) -> None:
        self.la, self.core, self.conditioner = open_model(
            self.model_kind, self.model_name, device=self.device, half=half
        )
        self.sample_rate = self.la.sample_rate

    @property
    def frame_rate(self) -> float:
        """Latent frames per second (25 for the real models)."""
        return self.la.latent_rate

    def frames_per_window(self, window_s: float) -> int:
        """Latent frames of a window (128 for 5.12 s), a multiple of the UNet's downsampling."""
        m = self.la.unet_multiple
        return max(m, int(math.ceil(window_s * self.frame_rate / m)) * m)

    def render(self, windows: list[torch.Tensor], *, num_samples: int, seed: int) -> np.ndarray:
        """The windows' latents joined and decoded as one sequence (no seams), 16 kHz mono."""
        return self.core.decode(self.join_windows(windows))[0]
