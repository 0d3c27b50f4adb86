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


@dataclass(frozen=True)
class Availability:
    """Whether a backbone (or one of its models) can run on this machine.

    Attributes
    ----------
    ok : bool
        It can run.
    reason : str
        One line: what is wrong and how to fix it, or what will run (``ready``, a folder).
    missing_model : str or None
        The Hugging Face id whose weights are not (fully) in the local cache; set exactly when
        that is the reason it cannot run (``ok`` False), or what will be downloaded on first
        use (``ok`` True: downloads allowed, :mod:`d2m_core.backbones.download`), so callers
        can offer the download without parsing ``reason``.
    download_command : str or None
        The shell command that fetches ``missing_model`` (needs internet).
    download_patterns : tuple of str
        Glob patterns of the files of ``missing_model`` the backbone reads: what a download
        on first use fetches (empty when nothing is missing).
    """

    ok: bool
    reason: str
    missing_model: str | None = None
    download_command: str | None = None
    download_patterns: tuple[str, ...] = ()

    @classmethod
    def not_cached(
        cls, model: str, reason: str, *, patterns: tuple[str, ...] = (), ok: bool = False
    ) -> Availability:
        """Hugging Face id ``model`` is not (fully) in the local cache, for ``reason``
        (``ok``: it will be downloaded on first use; ``patterns``: the files to fetch)."""
        return cls(
            ok=ok,
            reason=reason,
            missing_model=model,
            download_command=f"hf download {model}",
            download_patterns=tuple(patterns),
        )


@dataclass(frozen=True)
class GenerationRequest:
    """One piece of music to generate (the arguments of :meth:`Backbone.generate`).

    Attributes
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
    """

    analysis: Analysis
    prompt: ParsedPrompt
    genre: str
    seed: int
    duration_s: float


class Backbone(ABC):
    """A music generator d2m can drive.

    Subclasses set ``name`` (CLI id), ``label`` (shown in the app) and ``sample_rate``, and
    implement :meth:`compose`. Construction may load models; do it once per process through
    :func:`get_backbone`, which caches instances.
    """

    name: str = ""
    label: str = ""
    sample_rate: int = 32000

    @classmethod
    def availability(cls, **options: object) -> Availability:
        """Whether this backbone can run here with ``options``, and why not if it cannot."""
        return Availability(ok=True, reason="ready")

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
        analysis, prompt, genre, seed, duration_s
            What to generate (:class:`GenerationRequest`).
        progress : callable(fraction, message), optional

        Returns
        -------
        np.ndarray [shape=(N,) or (N, 2)], float32
            Audio at :attr:`sample_rate`, ``N = round(duration_s * sample_rate)``, in [-1, 1].
        """
        request = GenerationRequest(
            analysis=analysis, prompt=prompt, genre=genre, seed=seed, duration_s=duration_s
        )
        return self.compose(request, progress=progress)

    @abstractmethod
    def compose(
        self, request: GenerationRequest, *, progress: Progress | None = None
    ) -> np.ndarray:
        """The music :meth:`generate` asks for (same shape, rate and range)."""


@dataclass(frozen=True)
class BackboneInfo:
    """A registered backbone, as menus list it, and whether it can run here."""

    name: str
    label: str
    availability: Availability

    @property
    def available(self) -> bool:
        return self.availability.ok

    @property
    def reason(self) -> str:
        return self.availability.reason


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
    return BackboneInfo(name=name, label=cls.label, availability=cls.availability(**options))


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
            avail = cls.availability(**options)
            if not avail.ok:
                raise D2MError(f"backbone '{name}' cannot run here: {avail.reason}")
            _INSTANCES[key] = cls(**options)
        return _INSTANCES[key]
