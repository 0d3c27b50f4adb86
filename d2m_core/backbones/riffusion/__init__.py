"""Riffusion backbone (diffusers, Stable Diffusion on spectrogram pictures), stage *music
generation*: encoder-based inversion on the CLIP text encoder, picture latents denoised window
by window.

- :mod:`.spectrogram`: audio <-> Riffusion's spectrogram pictures.
- :mod:`.model`: finding and loading a Riffusion pipeline, its CLIP conditioner, sampling, and
  pictures <-> latents <-> spectrograms.
- :mod:`.debug`: the tiny random pipeline for tests and smoke runs.
- :mod:`.adapter`: the model as inversion training sees it.
- :mod:`.backbone`: the registered :class:`RiffusionBackbone` (importing this package
  registers it).
"""

from d2m_core.backbones.riffusion.backbone import RiffusionBackbone

__all__ = ["RiffusionBackbone"]
