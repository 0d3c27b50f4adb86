"""The generation skeleton the neural backbones (MusicGen, AudioLDM, Riffusion) share.

- :func:`load_model`: a backbone's networks, loaded once per process, device and precision
  without downloading (unless the user allows a download on first use); each backbone
  supplies its own steps as a :class:`LoadedModel`.
  :func:`open_model` adds the model's calls and text conditioner, which both generation and
  inversion training (:class:`ModelAdapter`) start from.
- :func:`overlap_share`, :func:`denoising_steps`, :func:`check_duration`: the parameter
  checks, one message each.
- :class:`WindowedBackbone`: music of any length made window by window. A window is one
  encoder clip (without encoders, the model's own training length); each window after the
  first starts with the last frames (codes or latents) of the previous one, kept unchanged,
  and is conditioned on its own stretch of the dance. The windows are then rendered as one
  piece, so their joins leave no seam. Each backbone supplies the model-specific steps: its
  frame geometry, how one window is sampled and how the windows become audio.

Importing this module does not import torch.
"""

from __future__ import annotations

import functools
import importlib
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from d2m_core.backbones import download
from d2m_core.backbones.base import Availability, GenerationRequest, Progress
from d2m_core.backbones.encoded import DEBUG_MODEL, EncodedBackbone, window_plan
from d2m_core.errors import D2MError
from d2m_core.inversion.adapter import InversionAdapter

if TYPE_CHECKING:
    import torch

    from d2m_core.inversion.injection import TextConditioner

L = TypeVar("L", bound="LoadedModel")


# --- loading ------------------------------------------------------------------------------------


class LoadedModel(ABC):
    """A backbone's networks, ready for inference or inversion training.

    Subclasses are dataclasses with a ``name`` field (what the user passed: id, folder or
    ``debug``); they give :attr:`family`, :attr:`availability` and :attr:`debug_builder` as
    class keywords (``class LoadedX(LoadedModel, family="X", ...)``) and implement the
    model-specific steps that :func:`load_model` runs.

    Attributes
    ----------
    family : str
        The model family in messages (``MusicGen``).
    availability : callable(model) -> Availability
        The backbone's torch-free check that ``model`` is on this machine.
    debug_builder : str
        ``"module:function"`` building the tiny random model (tests and smoke runs),
        identical on every call; imported on demand, as it needs torch.
    """

    family: ClassVar[str] = ""
    availability: ClassVar[Callable[[str], Availability]]
    debug_builder: ClassVar[str] = ""

    def __init_subclass__(
        cls,
        *,
        family: str | None = None,
        availability: Callable[[str], Availability] | None = None,
        debug_builder: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if family is not None:
            cls.family = family
        if availability is not None:
            cls.availability = staticmethod(availability)
        if debug_builder is not None:
            cls.debug_builder = debug_builder

    @classmethod
    @abstractmethod
    def read(cls: type[L], model: str) -> L:
        """Read ``model`` (a folder or a cached Hugging Face id, known to be on this machine)
        in float32 on the CPU, never downloading."""

    @abstractmethod
    def modules(self) -> list[torch.nn.Module]:
        """Every network (moved, frozen and cast by :func:`load_model`)."""

    @abstractmethod
    def halve(self) -> None:
        """Cast to fp16 what the backbone runs in fp16 on a GPU (text encoders stay float32)."""

    def check(self) -> None:  # noqa: B027 - most models need no check
        """Raise a D2MError if this is not a model the backbone handles."""

    @abstractmethod
    def make_core(self) -> Any:
        """The model's sampling and decoding calls; their ``time_axis`` is the time axis of
        the codes or latents they make."""

    @abstractmethod
    def make_conditioner(self) -> TextConditioner:
        """The text encoder with ``@`` / ``*`` injection (its tokenizer gets the pseudo-words)."""


_LOAD_LOCK = threading.Lock()


def load_model(kind: type[L], model: str, *, device: str = "cpu", half: bool = False) -> L:
    """Load (once per process, device and precision) a backbone's model without downloading,
    unless downloads are allowed and it is missing (:func:`d2m_core.backbones.download.ensure`
    fetches it into the Hugging Face cache first).

    Parameters
    ----------
    kind : type of LoadedModel
        The backbone's loaded-model class.
    model : str
        Hugging Face id, local folder, or ``debug``.
    device : str
        Torch device.
    half : bool
        fp16 where :meth:`LoadedModel.halve` says (GPU inference).

    Raises
    ------
    D2MError
        Not on this machine (the message says how to download it), a failed download, not a
        model of this backbone, or unreadable.
    """
    with _LOAD_LOCK:
        return _load_cached(kind, str(model), str(device), bool(half))


@functools.lru_cache(maxsize=12)  # four models per backbone
def _load_cached(kind: type[L], model: str, device: str, half: bool) -> L:
    loaded = _build_debug(kind) if model == DEBUG_MODEL else _read_checked(kind, model)
    for net in loaded.modules():
        net.to(device)
        for p in net.parameters():
            p.requires_grad_(False)
    if half:
        loaded.halve()
    loaded.check()
    return loaded


def _build_debug(kind: type[L]) -> L:
    module, function = kind.debug_builder.split(":")
    return getattr(importlib.import_module(module), function)()


def _read_checked(kind: type[L], model: str) -> L:
    download.ensure(model, family=kind.family, check=kind.availability)
    try:
        return kind.read(model)
    except D2MError:
        raise
    except Exception as exc:  # noqa: BLE001 - corrupt or partial downloads surface here
        raise D2MError(
            f"cannot load {kind.family} '{model}' ({type(exc).__name__}: {exc})"
        ) from None


def open_model(
    kind: type[L], model: str, *, device: str = "cpu", half: bool = False
) -> tuple[L, Any, TextConditioner]:
    """A loaded model (:func:`load_model`) with its calls (:meth:`LoadedModel.make_core`) and its
    text conditioner: what generation and inversion training both start from."""
    loaded = load_model(kind, model, device=device, half=half)
    return loaded, loaded.make_core(), loaded.make_conditioner()


def model_ref(model: str) -> str:
    """What ``from_pretrained`` should get: the expanded folder, or for a Hugging Face id its
    snapshot folder in the local cache (the id itself when there is none).

    A cached id is read as a folder because that is the one path every loader handles alike:
    transformers' ``AutoTokenizer`` looks for a model config beside a pipeline's ``tokenizer/``
    sub-folder and fails on a cached id where it passes on a folder, and cache-only reads by id
    still ask the hub for request headers.
    """
    p = Path(model).expanduser()
    if p.is_dir():
        return str(p)
    from huggingface_hub import snapshot_download

    try:
        return str(snapshot_download(model, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached or malformed: the loaders say what is missing
        return model


# --- inversion training --------------------------------------------------------------------------


class ModelAdapter(InversionAdapter):
    """The inversion-training view of one neural backbone's frozen model.

    Parameters
    ----------
    model : str
        Id, folder or ``debug``.
    device : str
        Torch device the model is loaded on.
    """

    def __init__(self, *, model: str, device: str = "cpu") -> None:
        self.model_id = str(model)
        self._load(device=str(device))
        self.freeze()

    @abstractmethod
    def _load(self, *, device: str) -> None:
        """Load :attr:`model_id` onto ``device``: set the model, :attr:`conditioner` and
        :attr:`sample_rate`."""


# --- parameter checks ---------------------------------------------------------------------------


def overlap_share(value: float | None, *, default: float) -> float:
    """The share of each window that continues the previous one (``default`` for None).

    Raises
    ------
    D2MError
        Outside ``[0, 1)``.
    """
    share = float(default if value is None else value)
    if not 0.0 <= share < 1.0:
        raise D2MError(f"window overlap must be in [0, 1), got {share}")
    return share


def denoising_steps(value: int | None, *, default: int) -> int:
    """Diffusion steps per window (``default`` for None).

    Raises
    ------
    D2MError
        Fewer than 1.
    """
    steps = int(default if value is None else value)
    if steps < 1:
        raise D2MError(f"--steps must be at least 1, got {steps}")
    return steps


def check_duration(duration_s: float) -> float:
    """``duration_s`` as a float, seconds.

    Raises
    ------
    D2MError
        Not more than 0.
    """
    if not float(duration_s) > 0:
        raise D2MError(f"the music must last more than 0 s, got {duration_s}")
    return float(duration_s)


def fit_length(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """``audio`` ``(N,)`` or ``(N, C)`` zero-padded or cut to ``num_samples``, clipped to
    [-1, 1], float32."""
    if len(audio) < num_samples:
        pad = [(0, num_samples - len(audio))] + [(0, 0)] * (audio.ndim - 1)
        audio = np.pad(audio, pad)
    return np.clip(audio[:num_samples], -1.0, 1.0).astype(np.float32)


# --- the windowed backbone ----------------------------------------------------------------------


@dataclass(frozen=True)
class WindowTask:
    """One window to sample (:meth:`WindowedBackbone.sample_window`).

    Attributes
    ----------
    hidden, mask : torch.Tensor [shape=(B, S, W)], [shape=(B, S)]
        The conditioner's output for the window's stretch of the dance
        (:meth:`~d2m_core.backbones.encoded.EncodedBackbone.dance_conditioning`).
    frames : int
        Frames to return along the time axis (:meth:`WindowedBackbone.frames_to_sample`).
    generator : torch.Generator
        Seeded; on :attr:`WindowedBackbone.generator_device`, shared by the piece's windows.
    known : torch.Tensor or None
        The first ``k`` frames (the previous window's last ones), returned unchanged.
    progress : callable(fraction) or None
        Told how far the window's sampling is.
    """

    hidden: torch.Tensor
    mask: torch.Tensor | None
    frames: int
    generator: torch.Generator
    known: torch.Tensor | None = None
    progress: Callable[[float], None] | None = None


def _report_step(progress: Progress, index: int, count: int, fraction: float) -> None:
    """Progress of window ``index`` of ``count`` at ``fraction`` of its sampling."""
    progress((index + fraction) / (count + 1), f"window {index + 1}/{count}")


class WindowedBackbone(EncodedBackbone):
    """An encoder-driven backbone that makes music of any length window by window.

    ``__init__`` chooses the model, loads it (:meth:`_load_model`), loads the encoders and
    sizes the windows. Subclasses set :attr:`model_kind`, :attr:`default_model` and
    :attr:`text_window_s` and supply the model-specific steps: :meth:`_load_model`,
    :attr:`frame_rate`, :meth:`frames_per_window`, :meth:`sample_window` and :meth:`render`
    (and :meth:`total_frames` / :meth:`window_start_s` where frames are not counted from
    :attr:`frame_rate`).

    Parameters
    ----------
    model : str, optional
        Id, folder or ``debug``; default: the model the encoder checkpoint was trained on,
        else :attr:`default_model`.
    encoder : str or Path, optional
        Encoder checkpoint folder; without one only plain prompts (no ``@`` / ``*``) work.
    device : str, optional
        Torch device (default ``cuda`` when present; fp16 there where the model allows).
    window_overlap : float, optional
        The share of each window that continues the previous one, in ``[0, 1)`` (default
        :meth:`default_overlap`).

    Attributes
    ----------
    model_kind : type of LoadedModel
        The loaded-model class; the backbone's :attr:`family` and :attr:`model_availability`
        are its own.
    text_window_s : float
        Window length without encoders, seconds (the model's training clips).
    core : object
        The loaded model's calls (sampling, decoding), set by :meth:`_load_model`; its
        ``time_axis`` is the windows' (:attr:`time_axis`).
    window_s : float
        Window length, seconds (one encoder clip, or :attr:`text_window_s`).
    window : int
        Frames per window (>= 2).
    overlap : int
        Frames each window shares with the previous one (``1 <= overlap < window``).
    window_overlap : float
        The share asked for.
    """

    model_kind: ClassVar[type[LoadedModel]]
    text_window_s: float = 0.0
    core: Any
    window_s: float
    window: int
    overlap: int
    window_overlap: float

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("model_kind")
        if kind is not None:  # the model's family and availability check are the backbone's
            cls.family = kind.family
            cls.model_availability = staticmethod(kind.availability)

    def __init__(
        self,
        *,
        model: str | None = None,
        encoder: str | Path | None = None,
        device: str | None = None,
        window_overlap: float | None = None,
    ) -> None:
        self._choose_model(model, encoder, device)
        self._load_model(half=self.device.startswith("cuda"))
        self._load_encoders(encoder)
        self._size_windows(window_overlap)
        self._lock = threading.Lock()

    # -- model-specific steps

    @abstractmethod
    def _load_model(self, *, half: bool) -> None:
        """Load :attr:`model_name` onto :attr:`device` (fp16 parts when ``half``); set
        :attr:`core`, :attr:`conditioner` and :attr:`sample_rate`."""

    @property
    @abstractmethod
    def frame_rate(self) -> float:
        """Frames (codes or latent frames) per second of music."""

    @abstractmethod
    def frames_per_window(self, window_s: float) -> int:
        """Frames of one window of ``window_s`` seconds.

        Raises
        ------
        D2MError
            The model cannot make windows of that length.
        """

    @abstractmethod
    def sample_window(self, task: WindowTask) -> torch.Tensor:
        """One window's frames, ``(B, ..., task.frames)`` along :attr:`time_axis`, starting
        with ``task.known`` unchanged."""

    @abstractmethod
    def render(self, windows: list[torch.Tensor], *, num_samples: int, seed: int) -> np.ndarray:
        """Audio of consecutive windows (each sharing :attr:`overlap` frames with the last).

        Parameters
        ----------
        windows : list of torch.Tensor
            :meth:`sample_windows`' windows, batch 1.
        num_samples : int
            The length asked for at :attr:`sample_rate` (the result may be longer or shorter;
            :meth:`generate` fits it).
        seed : int
            The generation's seed (for renderers that draw random numbers).

        Returns
        -------
        np.ndarray [shape=(N,) or (N, 2)], float32
        """

    @property
    def time_axis(self) -> int:
        """The time axis of a window's frames (that of :attr:`core`'s codes or latents)."""
        return self.core.time_axis

    def default_overlap(self) -> float:
        """The window overlap used when none is given."""
        return 0.25

    @property
    def generator_device(self) -> str:
        """Where :meth:`sample_window` wants its generator (the CPU: the draws are moved)."""
        return "cpu"

    def total_frames(self, duration_s: float) -> int:
        """Frames needed for ``duration_s`` seconds of music."""
        return max(1, int(math.ceil(float(duration_s) * self.frame_rate)))

    def frames_to_sample(self, *, start: int, total: int) -> int:
        """Frames to sample for the window at frame ``start`` of ``total``: a whole window
        (the music is cut to length after rendering)."""
        return self.window

    def window_start_s(self, start: int) -> float:
        """The time of frame ``start``, seconds."""
        return start / self.frame_rate

    # -- the skeleton

    def _size_windows(self, window_overlap: float | None) -> None:
        self.window_overlap = overlap_share(window_overlap, default=self.default_overlap())
        self.window_s = self.cfg.clip_s if self.cfg is not None else self.text_window_s
        self.window = self.frames_per_window(self.window_s)
        if self.window < 2:
            raise D2MError(f"a {self.window_s:g} s window is under 2 frames of {self.model_name}")
        self.overlap = min(self.window - 1, max(1, round(self.window * self.window_overlap)))

    def window_plan(self, total_frames: int) -> list[tuple[int, int]]:
        """``(start, known)`` frames of each window covering ``total_frames`` (see
        :func:`~d2m_core.backbones.encoded.window_plan`)."""
        return window_plan(int(total_frames), window=self.window, overlap=self.overlap)

    def join_windows(self, windows: list[torch.Tensor]) -> torch.Tensor:
        """Consecutive windows as one sequence along :attr:`time_axis` (shared frames once)."""
        import torch

        ax, k = self.time_axis, self.overlap
        rest = [w.narrow(ax, k, w.shape[ax] - k) for w in windows[1:]]
        return torch.cat([windows[0], *rest], dim=ax)

    def known_frames(self, previous: torch.Tensor | None, known: int) -> torch.Tensor | None:
        """The last ``known`` frames of the previous window, which the next one starts with."""
        if previous is None:
            return None
        ax = self.time_axis
        return previous.narrow(ax, previous.shape[ax] - known, known)

    def sample_windows(
        self, request: GenerationRequest, *, progress: Progress | None = None
    ) -> tuple[list[tuple[int, int]], list[torch.Tensor]]:
        """The window plan covering ``request.duration_s`` and each window's frames (batch 1);
        window ``k > 0`` starts with the last ``known`` frames of window ``k - 1``, unchanged."""
        import torch

        feats = self.dance_features(request.analysis, request.prompt)  # fail before sampling
        total = self.total_frames(request.duration_s)
        plan = self.window_plan(total)
        gen = torch.Generator(device=self.generator_device).manual_seed(int(request.seed))
        windows: list[torch.Tensor] = []
        for i, (start, k) in enumerate(plan):
            step = None
            if progress:
                progress(i / (len(plan) + 1), f"window {i + 1}/{len(plan)}")
                step = functools.partial(_report_step, progress, i, len(plan))
            hidden, mask = self.dance_conditioning(
                analysis=request.analysis, prompt=request.prompt, genre=request.genre,
                start_s=self.window_start_s(start), feats=feats,
            )  # fmt: skip
            task = WindowTask(
                hidden=hidden, mask=mask, frames=self.frames_to_sample(start=start, total=total),
                generator=gen, known=self.known_frames(windows[-1] if windows else None, k),
                progress=step,
            )  # fmt: skip
            windows.append(self.sample_window(task))
        return plan, windows

    def compose(
        self, request: GenerationRequest, *, progress: Progress | None = None
    ) -> np.ndarray:
        import torch

        num_samples = int(round(check_duration(request.duration_s) * self.sample_rate))
        with self._lock, torch.no_grad():
            plan, windows = self.sample_windows(request, progress=progress)
            if progress:
                progress(len(plan) / (len(plan) + 1), "decoding audio")
            audio = self.render(windows, num_samples=num_samples, seed=request.seed)
        if not np.isfinite(audio).all():
            raise RuntimeError(f"{self.family} '{self.model_name}' produced non-finite audio")
        if progress:
            progress(1.0, "done")
        return fit_length(audio, num_samples)
