"""AudioLDM backbone (diffusers), stage *music generation*: encoder-based inversion on the
CLAP text encoder, mel latents denoised window by window.

- :mod:`.model`: finding and loading an AudioLDM, its CLAP conditioner, sampling and decoding.
- :mod:`.mel`: AudioLDM's log-mel front end (the inversion targets' spectrograms).
- :mod:`.debug`: the tiny random model for tests and smoke runs.
- :mod:`.adapter`: the model as inversion training sees it.
- :mod:`.backbone`: the registered :class:`AudioldmBackbone` (importing this package
  registers it).
"""

from d2m_core.backbones.audioldm.backbone import AudioldmBackbone

__all__ = ["AudioldmBackbone"]
