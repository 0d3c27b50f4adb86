"""The backbone plug-in interface and registry."""

from __future__ import annotations

import importlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from d2m_core.dance.analysis import Analysis
from d2m_core.errors import D2MError
from d2m_core.music.prompt import ParsedPrompt

Progress = Callable[[float, str], None]


class Backbone(ABC):
    """A music generator d2m can drive.

    Subclasses set ``name`` (CLI id), ``label`` (shown in the app) and ``sample_rate``, and
    implement :meth:`generate`. Construction may load models; do it once per process through
    :func:`get_backbone`, which caches instances.
    """

    name: str = ""
    label: str = ""
    sample_rate: int = 32000

    @classmethod
    def availability(cls, **options: object) -> tuple[bool, str]:
        """Whether this backbone can run here with ``options``, and why not if it cannot."""
        return True, "ready"

    @abstractmethod
    def generate(
        self,
        *,
        analysis: Analysis,
        prompt: ParsedPrompt,
        genre: str,
        seed: int,
        duration_s: float,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Music for the dance.

        Parameters
        ----------
        analysis : Analysis
            The dance (motion, rhythm features, visual tempo and beats).
        prompt : ParsedPrompt
            The validated prompt around ``@`` and ``*``.
        genre : str
            Genre id (:data:`d2m_core.music.genres.GENRES`), the meaning of ``@``.
        seed : int
            Random seed; the same inputs and seed give the same audio.
        duration_s : float
            Length of the music, seconds.
        progress : callable(fraction, message), optional

        Returns
        -------
        np.ndarray [shape=(N,) or (N, 2)], float32
            Audio at :attr:`sample_rate`, ``N = round(duration_s * sample_rate)``, in [-1, 1].
        """


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    label: str
    available: bool
    reason: str


_REGISTRY: dict[str, type[Backbone]] = {}
_INSTANCES: dict[tuple, Backbone] = {}
_LOCK = threading.Lock()


def register(cls: type[Backbone]) -> type[Backbone]:
    """Class decorator: make a backbone selectable by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


#: The backbones that ship with d2m, in menu order.
BUILTIN = ("groove", "musicgen", "audioldm", "riffusion")


def _ensure_builtin() -> None:
    # Imported here so that importing the registry never pulls heavy model libraries.
    for name in BUILTIN:  # this order is the menu's: the offline default first
        importlib.import_module(f"{__package__}.{name}")


def backbone_names() -> list[str]:
    _ensure_builtin()
    return list(_REGISTRY)


def backbone_class(name: str) -> type[Backbone]:
    """The registered class of backbone ``name``.

    Raises
    ------
    D2MError
        Unknown name (the message lists the valid ones).
    """
    _ensure_builtin()
    cls = _REGISTRY.get(name)
    if cls is None:
        raise D2MError(f"unknown backbone '{name}'; valid backbones: {', '.join(_REGISTRY)}")
    return cls


def backbone_info(name: str, **options: object) -> BackboneInfo:
    """Whether backbone ``name`` can run here with ``options``, and why not."""
    cls = backbone_class(name)
    ok, why = cls.availability(**options)
    return BackboneInfo(name=name, label=cls.label, available=ok, reason=why)


def available_backbones(**options: object) -> list[BackboneInfo]:
    """Every registered backbone with whether it can run here with the same ``options``
    (:func:`backbone_info` for each backbone's own)."""
    return [backbone_info(n, **options) for n in backbone_names()]


def get_backbone(name: str, **options: object) -> Backbone:
    """The (cached, thread-safe) instance of backbone ``name`` built with ``options``.

    Raises
    ------
    D2MError
        Unknown name (the message lists the valid ones) or a backbone that cannot run here.
    """
    cls = backbone_class(name)
    key = (name, tuple(sorted((k, str(v)) for k, v in options.items())))
    with _LOCK:
        if key not in _INSTANCES:
            ok, why = cls.availability(**options)
            if not ok:
                raise D2MError(f"backbone '{name}' cannot run here: {why}")
            _INSTANCES[key] = cls(**options)
        return _INSTANCES[key]
