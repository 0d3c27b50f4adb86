"""MusicGen backbone (transformers), stage *music generation*: encoder-based inversion on the
T5 text encoder, codes sampled with the delay pattern window by window.

- :mod:`.model`: finding and loading a MusicGen, and its decoder-side calls (conditioning,
  sampling, decoding to audio).
- :mod:`.debug`: the tiny random model for tests and smoke runs.
- :mod:`.adapter`: the model as inversion training sees it.
- :mod:`.backbone`: the registered :class:`MusicgenBackbone` (importing this package
  registers it).
"""

from d2m_core.backbones.musicgen.backbone import MusicgenBackbone

__all__ = ["MusicgenBackbone"]
