"""Music backbones behind one interface, and the registry the CLI and app choose from.

A backbone turns an analysed dance, a prompt, a genre and a seed into audio:
``backbone.generate(analysis=..., prompt=..., genre=..., seed=..., duration_s=...)``.
``groove`` (offline, weight-free) always runs; neural backbones register here too and say,
through :meth:`Backbone.availability`, whether their weights can be found on this machine.
"""

from __future__ import annotations

from d2m_core.backbones.base import (
    Backbone,
    BackboneInfo,
    available_backbones,
    get_backbone,
    register,
)

__all__ = ["Backbone", "BackboneInfo", "available_backbones", "get_backbone", "register"]
