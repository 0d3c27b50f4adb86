"""Music backbones behind one interface, and the registry the CLI and app choose from.

A backbone turns an analysed dance, a prompt, a genre and a seed into audio:
``backbone.generate(analysis=..., prompt=..., genre=..., seed=..., duration_s=...)``.
``groove`` (offline, weight-free) always runs; neural backbones register here too and say,
through :meth:`Backbone.availability` (an :class:`~d2m_core.backbones.base.Availability`),
whether their weights can be found on this machine.

The neural backbones (``musicgen/``, ``audioldm/``, ``riffusion/``: one sub-package each, split
into ``model``, ``debug``, ``adapter`` and ``backbone``) share :mod:`.encoded` (encoders,
finding models), :mod:`.windowed` (loading, parameter checks, window-by-window generation) and,
for the latent-diffusion ones, :mod:`.diffusion`.
"""

from __future__ import annotations

from d2m_core.backbones.base import (
    Availability,
    Backbone,
    BackboneInfo,
    GenerationRequest,
    available_backbones,
    get_backbone,
    register,
)

__all__ = [
    "Availability",
    "Backbone",
    "BackboneInfo",
    "GenerationRequest",
    "available_backbones",
    "get_backbone",
    "register",
]
