"""MusicGen backbone (transformers): encoder-based inversion on the T5 text encoder."""

from d2m_core.backbones.musicgen.model import MusicgenBackbone

__all__ = ["MusicgenBackbone"]
