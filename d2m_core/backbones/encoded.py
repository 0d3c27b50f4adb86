"""What the neural backbones driven by dance encoders (MusicGen, AudioLDM, Riffusion) share.

Each is a text-conditioned model whose prompt gets ``*`` (rhythm) and ``@`` (genre) from trained
encoders (encoder-based textual inversion) or, without an encoder checkpoint, a plain
text-to-music model that only takes prompts without them (``d2m generate --zero-shot`` spells
them out). Shared here:

- Finding a model on this machine without downloading (:func:`find_model`: ``debug``, a local
  folder or the local Hugging Face cache, with the backbone's own file checks; torch-free), or
  one to download on first use when the user allows it (:mod:`d2m_core.backbones.download`).
- :class:`EncodedBackbone`, their base class: :meth:`~EncodedBackbone.availability` (the model,
  the encoder checkpoint and its backbone), choosing the model and loading the checkpoint for
  the backbone's text conditioner, the plain-prompt check, the encoders' embeddings of a
  stretch of the dance, and the text conditioning with them injected.
- :func:`default_device`, :func:`window_plan` (how music longer than one window is cut) and
  :func:`debug_words` (the debug models' vocabulary).

Importing this module does not import torch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from d2m_core.backbones import download
from d2m_core.backbones.base import Availability, Backbone
from d2m_core.dance.analysis import Analysis
from d2m_core.dance.rhythm import RhythmFeatures
from d2m_core.errors import D2MError
from d2m_core.music.prompt import GENRE_TOKEN, RHYTHM_TOKEN, ParsedPrompt

if TYPE_CHECKING:
    import torch

    from d2m_core.inversion.config import EncoderConfig
    from d2m_core.inversion.encoders import InversionEncoders
    from d2m_core.inversion.injection import TextConditioner

#: ``--model`` value of each backbone's tiny random model (tests and smoke runs).
DEBUG_MODEL = "debug"


# --- finding models (torch-free) ----------------------------------------------------------------


def looks_like_path(model: str) -> bool:
    """Whether ``model`` is meant as a folder rather than a Hugging Face id."""
    return model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1


def hub_cached(model: str, name: str, *, cache_dir: str | Path | None = None) -> bool:
    """Whether file ``name`` of Hugging Face repository ``model`` is in the local cache.

    Parameters
    ----------
    model : str
        Hugging Face id (a malformed one is simply not cached).
    name : str
        File path inside the repository (``config.json``, ``unet/config.json``).
    cache_dir : str or Path, optional
        Hugging Face hub cache (default: ``HF_HUB_CACHE``).
    """
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model, name, cache_dir=cache_dir), str)
    except Exception:  # noqa: BLE001 - malformed ids are simply "not cached"
        return False


def download_hint(model: str, *, family: str, folder: str) -> str:
    """The one-line reason for a Hugging Face id that is not in the local cache.

    Parameters
    ----------
    model : str
        The Hugging Face id.
    family : str
        Human name for messages (``MusicGen``).
    folder : str
        What a local ``--model`` folder must hold (``a MusicGen (config.json, ...)``).
    """
    return (
        f"{family} model '{model}' is not on this machine: download it once with"
        f" `hf download {model}` (needs internet), or pass --model with a folder"
        f" holding {folder}"
    )


#: ``check_folder(path)``: why a local model folder cannot be loaded, or None.
FolderCheck = Callable[[Path], "str | None"]
#: ``check_cache(model, cached)``: None when every file is cached, else what is missing as a
#: prefix of the download hint ("" when the model is not cached at all); ``cached(name)`` says
#: whether one file of the repository is in the local cache.
CacheCheck = Callable[[str, Callable[[str], bool]], "str | None"]


def find_model(
    model: str,
    *,
    family: str,
    folder: str,
    check_folder: FolderCheck,
    check_cache: CacheCheck,
    download_patterns: tuple[str, ...] = (),
    cache_dir: str | Path | None = None,
) -> Availability:
    """Whether ``model`` can be loaded here without any download, or will be downloaded on
    first use.

    The steps every neural backbone shares: ``debug`` is always here, a folder is checked by
    ``check_folder``, a path-like name that is no folder is not found, and a Hugging Face id
    is looked up in the local cache only and checked by ``check_cache``. An id missing from
    the cache is available only when downloads are allowed
    (:func:`d2m_core.backbones.download.allowed`; off by default), to be fetched on first use.

    Parameters
    ----------
    model : str
        ``debug``, a local folder, or a Hugging Face id.
    family : str
        Human name for messages (``MusicGen``).
    folder : str
        What a local ``--model`` folder must hold, for the download hint.
    check_folder, check_cache : callable
        The backbone's file checks (:data:`FolderCheck`, :data:`CacheCheck`).
    download_patterns : tuple of str
        Glob patterns of the repository files the backbone reads: what a download fetches.
    cache_dir : str or Path, optional
        Hugging Face hub cache (default: ``HF_HUB_CACHE``).

    Returns
    -------
    Availability
        Ready or not, a one-line reason / how to get it, and the id to download (with its
        patterns) when its files are not (all) in the cache.
    """
    if model == DEBUG_MODEL:
        return Availability(ok=True, reason=f"tiny random {family} (debug)")
    p = Path(model).expanduser()
    if p.is_dir():
        why = check_folder(p)
        return Availability(ok=why is None, reason=why or f"local folder {p}")
    if looks_like_path(model):
        return Availability(ok=False, reason=f"model folder {p} not found")
    gap = check_cache(model, functools.partial(hub_cached, model, cache_dir=cache_dir))
    if gap is not None:
        hint = gap + download_hint(model, family=family, folder=folder)
        if download.allowed():
            return download.pending(model, family=family, patterns=download_patterns, hint=hint)
        return Availability.not_cached(model, hint, patterns=download_patterns)
    return Availability(ok=True, reason=f"{model} (Hugging Face cache)")


def debug_words() -> list[str]:
    """The vocabulary of the debug models' word-level tokenizers: the base words, the genres
    (split at ``_`` and whole) and the default prompt word bank, in that order."""
    from d2m_core.inversion.vocab import BASE_WORDS
    from d2m_core.music.genres import GENRES
    from d2m_core.music.prompt import DEFAULT_WORD_BANK

    words = [*BASE_WORDS, *(w for g in GENRES for w in g.split("_")), *GENRES]
    return words + [w for ws in DEFAULT_WORD_BANK.values() for w in ws]


def default_device() -> str:
    """``cuda`` when a GPU is present, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _encoder_meta(encoder: object) -> dict:
    from d2m_core.inversion.checkpoint import read_meta

    return read_meta(Path(str(encoder)).expanduser())


def window_plan(total: int, *, window: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, known)`` frames (codes or latents) of each generation window of long music.

    Each window spans ``window`` frames from ``start``; its first ``known`` frames are the
    previous window's last ones (continuation), the rest are new. The last window may extend
    past ``total`` (its tail is cut after decoding).
    """
    if window < 2:
        raise ValueError("window must be >= 2 frames")
    overlap = min(window - 1, max(0, int(overlap)))
    plan, produced = [(0, 0)], window
    while produced < total:
        plan.append((produced - overlap, overlap))
        produced += window - overlap
    return plan


# --- the base class -----------------------------------------------------------------------------


class EncodedBackbone(Backbone):
    """A backbone driven by trained rhythm and genre encoders, or by plain text without them.

    Subclasses set, besides :class:`Backbone`'s attributes, :attr:`family`,
    :attr:`default_model` and :attr:`model_availability`. Their ``__init__`` calls
    :meth:`_choose_model`, loads the model, sets :attr:`conditioner` and calls
    :meth:`_load_encoders`.

    Attributes
    ----------
    family : str
        The model family in messages (``MusicGen``).
    default_model : str
        The model used when neither ``model`` nor the encoder checkpoint names one.
    model_availability : callable(model, cache_dir=None) -> Availability
        The backbone module's torch-free check that a model is on this machine.
    model_name : str
        The model in use (id, folder or ``debug``).
    device : str
        Torch device.
    conditioner : TextConditioner
        The model's text encoder with ``@`` / ``*`` injection.
    encoders : InversionEncoders or None
        The trained encoders (None: plain prompts only).
    cfg : EncoderConfig or None
        The encoders' config (clip length, genres, rhythm input).
    meta : dict
        The encoder checkpoint's JSON (empty without one).
    """

    family: str = ""
    default_model: str = ""
    model_availability: Callable[..., Availability]
    model_name: str
    device: str
    conditioner: TextConditioner
    encoders: InversionEncoders | None
    cfg: EncoderConfig | None
    meta: dict

    @classmethod
    def availability(cls, **options: object) -> Availability:
        """Whether the model (``model``, else the one the ``encoder`` checkpoint was trained
        on, else :attr:`default_model`) is on this machine and the checkpoint is this
        backbone's."""
        model = options.get("model")
        encoder = options.get("encoder")
        if encoder is None:
            return cls.model_availability(str(model or cls.default_model))
        if model is not None:
            avail = cls.model_availability(str(model))
            if not avail.ok:
                return avail
        try:
            meta = _encoder_meta(encoder)
        except D2MError as exc:
            return Availability(ok=False, reason=str(exc))
        if meta.get("backbone") != cls.name:
            why = f"encoder {encoder} was trained for backbone '{meta.get('backbone')}'"
            return Availability(ok=False, reason=why)
        return cls.model_availability(str(model or meta.get("model", cls.default_model)))

    def _choose_model(
        self, model: str | None, encoder: str | Path | None, device: str | None
    ) -> None:
        """Set :attr:`meta` (the checkpoint's JSON), :attr:`model_name` (``model``, else the
        checkpoint's, else :attr:`default_model`) and :attr:`device` (default
        :func:`default_device`).

        Raises
        ------
        D2MError
            ``encoder`` is not a readable encoder checkpoint.
        """
        self.meta = {} if encoder is None else _encoder_meta(encoder)
        self.model_name = str(model or self.meta.get("model") or self.default_model)
        self.device = str(device or default_device())

    def _load_encoders(self, encoder: str | Path | None) -> None:
        """Load the encoder checkpoint for :attr:`conditioner`'s width onto :attr:`device`:
        sets :attr:`encoders`, :attr:`cfg` (None without ``encoder``) and :attr:`meta`.

        Raises
        ------
        D2MError
            The checkpoint is another backbone's or has another text width.
        """
        self.encoders = self.cfg = None
        if encoder is not None:
            from d2m_core.inversion.checkpoint import load_encoders

            self.encoders, self.meta = load_encoders(
                Path(str(encoder)).expanduser(),
                text_width=self.conditioner.width,
                backbone=self.name,
                model_name=self.model_name,
                device=self.device,
            )
            self.cfg = self.encoders.cfg

    # -- conditioning

    def check_prompt(self, prompt: ParsedPrompt) -> None:
        """Raise a D2MError if the prompt needs encoders this backbone does not have."""
        if self.encoders is None and (prompt.has_rhythm or prompt.has_genre):
            raise D2MError(
                f"this {self.family} has no dance encoders, so @ and * mean nothing to it: pass"
                " --encoder DIR or use --zero-shot, which writes the genre and tempo into the"
                f" prompt (train encoders with `d2m train --backbone {self.name}`)"
            )

    def dance_features(self, analysis: Analysis, prompt: ParsedPrompt) -> RhythmFeatures | None:
        """Check ``prompt`` (:meth:`check_prompt`) and give the dance's rhythm features for the
        encoders, computed once per piece (None without encoders)."""
        from d2m_core.inversion.features import motion_rhythm

        self.check_prompt(prompt)
        if self.encoders is None:
            return None
        return motion_rhythm(analysis.motion, cfg=self.cfg)

    def dance_embeddings(
        self,
        *,
        analysis: Analysis,
        genre: str,
        start_s: float,
        feats: RhythmFeatures | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoders' embeddings of the stretch of the dance starting at ``start_s``.

        Parameters
        ----------
        analysis : Analysis
        genre : str
            One of the encoders' genres (``cfg.genres``).
        start_s : float
            Start of the stretch (one encoder clip long), seconds.
        feats : RhythmFeatures, optional
            The dance's rhythm features (:meth:`dance_features`), computed if not given.

        Returns
        -------
        rhythm_emb, genre_emb : torch.Tensor [shape=(1, D)]
            What ``*`` and ``@`` stand for (``D`` = the conditioner's width).

        Raises
        ------
        D2MError
            A genre the encoders were not trained on.
        """
        import torch

        from d2m_core.inversion.features import motion_rhythm, rhythm_input

        cfg = self.cfg
        if genre not in cfg.genres:
            raise D2MError(f"genre '{genre}' is not one the encoders know: {', '.join(cfg.genres)}")
        if feats is None:
            feats = motion_rhythm(analysis.motion, cfg=cfg)
        r = torch.as_tensor(rhythm_input(feats, cfg=cfg, start_s=start_s)[None])
        g = torch.tensor([cfg.genres.index(genre)])
        with torch.no_grad():
            return self.encoders(r.to(self.device), g.to(self.device))

    def text_conditioning(self, prompt: ParsedPrompt) -> tuple[torch.Tensor, torch.Tensor]:
        """The conditioner's ``(hidden (1, S, W), mask (1, S))`` of a plain prompt (no encoders;
        :meth:`check_prompt`)."""
        import torch

        self.check_prompt(prompt)
        with torch.no_grad():
            return self.conditioner.encode([prompt.text], {})

    def dance_conditioning(
        self,
        *,
        analysis: Analysis,
        prompt: ParsedPrompt,
        genre: str,
        start_s: float,
        feats: RhythmFeatures | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The conditioner's ``(hidden (1, S, W), mask (1, S))`` for a window starting at
        ``start_s`` of the dance: ``*`` and ``@`` injected from :meth:`dance_embeddings`, or
        :meth:`text_conditioning` without encoders."""
        import torch

        if self.encoders is None:
            return self.text_conditioning(prompt)
        r_emb, g_emb = self.dance_embeddings(
            analysis=analysis, genre=genre, start_s=start_s, feats=feats
        )
        with torch.no_grad():
            return self.conditioner.encode([prompt.text], {RHYTHM_TOKEN: r_emb, GENRE_TOKEN: g_emb})
