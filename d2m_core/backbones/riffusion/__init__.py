"""Riffusion backbone (diffusers, Stable Diffusion on spectrogram pictures): encoder-based
inversion on the CLIP text encoder."""

from d2m_core.backbones.riffusion.model import RiffusionBackbone

__all__ = ["RiffusionBackbone"]
