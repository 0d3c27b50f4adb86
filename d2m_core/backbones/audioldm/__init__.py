"""AudioLDM backbone (diffusers): encoder-based inversion on the CLAP text encoder."""

from d2m_core.backbones.audioldm.model import AudioldmBackbone

__all__ = ["AudioldmBackbone"]
