"""What the latent-diffusion backbones (AudioLDM, Riffusion) share.

- Finding a diffusers pipeline on this machine without downloading (:func:`pipeline_availability`;
  :func:`pipeline_patterns`, the files a download on first use fetches when the user allows it)
  and its loaded components (:class:`LoadedPipeline`).
- The inversion training loss of latent diffusion (paper Eq. 2, :func:`noise_prediction_loss`).
- A denoising loop with classifier-free guidance and an optional *known* stretch of latents
  (:func:`denoise`), used to continue one window from the previous one so that music longer
  than one clip has no seams; :class:`LatentDiffusion` runs it for one loaded model.
- :class:`DiffusionBackbone`: the windowed backbone whose windows are denoised latents
  (guidance, steps, the empty prompt as the unconditional input).

Conventions
-----------
Latents are ``(B, C, H, W)``; one of the two spatial axes is time (``time_axis``: AudioLDM's
mel latents have time on ``H`` = axis 2, Riffusion's spectrogram images on ``W`` = axis 3). The
UNet is called through ``unet_fn(latents, t, cond) -> prediction`` so each backbone wraps its
own conditioning (cross-attention states, class embeddings). Conditions are tensors or dicts of
tensors with the batch first; guidance concatenates ``[uncond, cond]`` along the batch.

The loop is written here rather than calling the pipelines' ``__call__`` because inversion
needs the injected text states, continuation needs the known latents re-noised at every step
(as in RePaint, Lugmayr et al. 2022), and the guidance must really apply at batch >= 2.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from d2m_core.backbones.base import Availability
from d2m_core.backbones.encoded import find_model
from d2m_core.backbones.windowed import (
    LoadedModel,
    WindowedBackbone,
    WindowTask,
    denoising_steps,
)
from d2m_core.errors import D2MError

if TYPE_CHECKING:
    import torch

UnetFn = Callable[["torch.Tensor", "torch.Tensor", Any], "torch.Tensor"]


# --- finding models (torch-free) ----------------------------------------------------------------


def pipeline_availability(
    model: str, *, family: str, components: tuple[str, ...], cache_dir: str | Path | None = None
) -> Availability:
    """Whether a diffusers pipeline can be loaded here without any download, or will be
    downloaded on first use when allowed (:func:`~d2m_core.backbones.encoded.find_model`, the
    files of :func:`pipeline_patterns`).

    Parameters
    ----------
    model : str
        ``debug``, a local pipeline folder (``model_index.json`` + component folders), or a
        Hugging Face id looked up in the local cache only.
    family : str
        Human name for messages (``AudioLDM``, ``Riffusion``).
    components : tuple of str
        Sub-folders whose ``config.json`` must be present (``unet``, ``vae``, ...).
    cache_dir : str or Path, optional
        Hugging Face hub cache (default: ``HF_HUB_CACHE``).
    """
    return find_model(
        model,
        family=family,
        folder=f"a saved {family} pipeline (model_index.json and its component folders)",
        check_folder=functools.partial(_pipeline_folder_gap, family=family, components=components),
        check_cache=functools.partial(_pipeline_cache_gap, components=components),
        download_patterns=pipeline_patterns(components),
        cache_dir=cache_dir,
    )


def pipeline_patterns(components: tuple[str, ...]) -> tuple[str, ...]:
    """The files of a diffusers pipeline repository that d2m reads (glob patterns).

    ``model_index.json``; each component folder's configs and weights (safetensors or ``.bin``,
    one of them is fetched); the ``tokenizer`` and ``scheduler`` folders whole. Not the
    pipeline's other folders (safety checker, feature extractor) nor single-file checkpoints
    (``*.ckpt``) at the top.

    Parameters
    ----------
    components : tuple of str
        The component folders the backbone loads (``unet``, ``vae``, ...).
    """
    kinds = ("*.json", "*.safetensors", "*.bin")
    per_component = (f"{c}/{kind}" for c in components for kind in kinds)
    return ("model_index.json", *per_component, "tokenizer/*", "scheduler/*")


def _pipeline_folder_gap(p: Path, *, family: str, components: tuple[str, ...]) -> str | None:
    if not (p / "model_index.json").is_file():
        return f"{p} has no model_index.json: point --model at a saved {family} pipeline"
    missing = [c for c in components if not (p / c / "config.json").is_file()]
    if missing:
        return f"{p} lacks the pipeline components {', '.join(missing)}"
    return None


def _pipeline_cache_gap(
    model: str, cached: Callable[[str], bool], *, components: tuple[str, ...]
) -> str | None:
    if not cached("model_index.json"):
        return ""
    missing = [c for c in components if not cached(f"{c}/config.json")]
    if missing:
        return f"'{model}' is only partly cached (no {', '.join(missing)}); "
    return None


# --- loaded pipelines ---------------------------------------------------------------------------


@dataclass
class LoadedPipeline(LoadedModel):
    """The components of a diffusers latent-diffusion pipeline (AudioLDM, Riffusion), loaded by
    :func:`~d2m_core.backbones.windowed.load_model`.

    Attributes
    ----------
    vae : diffusers.AutoencoderKL
        Spectrogram pictures <-> latents.
    text_encoder : transformers text model
        Always float32.
    tokenizer : transformers tokenizer
    unet : diffusers.UNet2DConditionModel
    scheduler : diffusers scheduler
        The model's sampler (copied before ``set_timesteps``, which changes it).
    name : str
        What the user passed (id, folder or ``debug``).
    """

    vae: Any
    text_encoder: Any
    tokenizer: Any
    unet: Any
    scheduler: Any
    name: str

    @property
    def vae_scale(self) -> int:
        """The VAE's downsampling of each picture axis (8 for Stable Diffusion's, 4 for
        AudioLDM's)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def unet_multiple(self) -> int:
        """Latent sizes must be multiples of this (the UNet's downsampling)."""
        return 2 ** (len(self.unet.config.block_out_channels) - 1)

    def modules(self) -> list:
        return [self.text_encoder, self.unet, self.vae]


# --- training -----------------------------------------------------------------------------------


def prediction_target(
    scheduler, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """What the UNet learned to predict: the noise (``epsilon``) or the velocity."""
    kind = getattr(scheduler.config, "prediction_type", "epsilon")
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, t)
    raise D2MError(f"unsupported diffusion prediction type '{kind}'")


def noise_prediction_loss(
    *,
    unet_fn: UnetFn,
    scheduler,
    latents: torch.Tensor,
    cond: Any,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Paper Eq. 2: ``E ||eps - eps_theta(z_t, t, c)||^2`` at a random step per example.

    Parameters
    ----------
    unet_fn : callable(latents, t, cond) -> torch.Tensor
        The frozen UNet's prediction for noisy latents ``(B, C, H, W)`` and timesteps ``(B,)``.
    scheduler : diffusers scheduler
        The training noise schedule (``num_train_timesteps``, ``add_noise``).
    latents : torch.Tensor [shape=(B, C, H, W)]
        Clean target latents (already scaled by the VAE's ``scaling_factor``).
    cond : tensor or dict of tensors
        The injected text conditioning (gradients flow back through it).
    generator : torch.Generator, optional
        For a reproducible noise draw (validation).

    Returns
    -------
    torch.Tensor, scalar
        Mean squared error in float32.
    """
    import torch

    b = latents.shape[0]
    n_train = int(scheduler.config.num_train_timesteps)
    dev = latents.device
    t = torch.randint(0, n_train, (b,), generator=generator, device="cpu").to(dev)
    noise = torch.randn(latents.shape, generator=generator, device="cpu").to(dev, latents.dtype)
    noisy = scheduler.add_noise(latents, noise, t)
    pred = unet_fn(noisy, t, cond)
    target = prediction_target(scheduler, latents, noise, t)
    return torch.nn.functional.mse_loss(pred.float(), target.float())


# --- sampling -----------------------------------------------------------------------------------


def _cat(a: Any, b: Any) -> Any:
    import torch

    if isinstance(a, dict):
        return {k: _cat(a[k], b[k]) for k in a}
    if a is None:
        return None
    return torch.cat([a, b], dim=0)


def time_slice(ndim: int, axis: int, sl: slice) -> tuple:
    """Index tuple selecting ``sl`` along ``axis`` of an ``ndim`` array."""
    idx = [slice(None)] * ndim
    idx[axis] = sl
    return tuple(idx)


def denoise(
    *,
    unet_fn: UnetFn,
    scheduler,
    shape: tuple[int, ...],
    cond: Any,
    uncond: Any | None,
    steps: int,
    guidance: float,
    generator: torch.Generator,
    device: torch.device | str,
    dtype: torch.dtype,
    known: torch.Tensor | None = None,
    time_axis: int = -1,
    progress: Callable[[float], None] | None = None,
) -> torch.Tensor:
    """Sample latents by reverse diffusion with classifier-free guidance.

    Parameters
    ----------
    unet_fn : callable(latents, t, cond) -> torch.Tensor
    scheduler : diffusers scheduler
        Its ``set_timesteps`` is called here (a copy is not needed: the state is reset).
    shape : tuple
        Latent shape ``(B, C, H, W)``.
    cond, uncond : tensor or dict of tensors
        Conditional and unconditional conditioning, batch ``B`` each. With ``guidance > 1`` the
        UNet runs once on ``[uncond, cond]`` (batch ``2B``) and the prediction is
        ``uncond + guidance * (cond - uncond)``; with ``guidance <= 1`` only ``cond`` is used.
    steps : int
        Denoising steps.
    guidance : float
    generator : torch.Generator
        Seeds the initial noise and any scheduler noise (CPU generator; draws are moved).
    device, dtype
        Where and in which precision the latents live.
    known : torch.Tensor [shape=(B, C, H, k) along ``time_axis``], optional
        Latents of the first ``k`` time steps that must come out unchanged (the end of the
        previous window). They are re-noised to each step's level and written over the sample
        before every UNet call, so the new part is denoised in their context; at the end they
        are copied in exactly.
    time_axis : int
        The latents' time axis (2 or 3 / -1).
    progress : callable(fraction), optional

    Returns
    -------
    torch.Tensor [shape=shape]
        Denoised latents (still scaled by the VAE's ``scaling_factor``).
    """
    import inspect

    import torch

    if steps < 1:
        raise D2MError(f"diffusion steps must be >= 1, got {steps}")
    scheduler.set_timesteps(int(steps), device=device)
    latents = torch.randn(shape, generator=generator, device="cpu").to(device, dtype)
    latents = latents * scheduler.init_noise_sigma
    use_cfg = uncond is not None and guidance > 1.0
    both = _cat(uncond, cond) if use_cfg else cond
    known_idx = None
    if known is not None:
        k = known.shape[time_axis]
        known_idx = time_slice(len(shape), time_axis, slice(0, k))
        known = known.to(device, dtype)
        known_noise = torch.randn(known.shape, generator=generator, device="cpu").to(device, dtype)
    step_kw = {}
    if "generator" in inspect.signature(scheduler.step).parameters:
        step_kw["generator"] = generator
    timesteps = scheduler.timesteps
    for i, t in enumerate(timesteps):
        if known_idx is not None:
            tt = t.reshape(1).to(device)
            latents[known_idx] = scheduler.add_noise(known, known_noise, tt).to(dtype)
        x = torch.cat([latents, latents]) if use_cfg else latents
        x = scheduler.scale_model_input(x, t)
        tb = t.reshape(1).expand(x.shape[0]).to(device)
        pred = unet_fn(x, tb, both)
        if use_cfg:
            p_u, p_c = pred.chunk(2)
            pred = p_u + guidance * (p_c - p_u)
        latents = scheduler.step(pred, t, latents, **step_kw).prev_sample.to(dtype)
        if progress:
            progress((i + 1) / len(timesteps))
    if known_idx is not None:
        latents[known_idx] = known
    return latents


class LatentDiffusion(ABC):
    """A loaded latent-diffusion model's sampling: its UNet call and latent geometry around
    :func:`denoise`.

    Subclasses set :attr:`scheduler` (the loaded model's; each sampling uses a fresh copy, as
    ``set_timesteps`` changes it) and :attr:`time_axis`, and implement :meth:`unet_fn`,
    :meth:`latent_shape` and :attr:`latent_dtype`.
    """

    scheduler: Any
    time_axis: int

    @abstractmethod
    def unet_fn(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The UNet's float32 prediction for latents ``x`` ``(B, C, H, W)`` at timesteps ``t``
        ``(B,)`` under condition ``cond`` (batch ``B``)."""

    @abstractmethod
    def latent_shape(self, batch: int, frames: int) -> tuple[int, int, int, int]:
        """``(B, C, H, W)`` of ``batch`` latents ``frames`` long on :attr:`time_axis`."""

    @property
    @abstractmethod
    def latent_dtype(self) -> torch.dtype:
        """The precision the latents are denoised in."""

    @property
    @abstractmethod
    def device(self) -> torch.device:
        """Where the UNet runs."""

    def sample(
        self,
        *,
        cond: torch.Tensor,
        uncond: torch.Tensor | None,
        frames: int,
        steps: int,
        guidance: float,
        generator: torch.Generator,
        known: torch.Tensor | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> torch.Tensor:
        """Denoise a batch of latents (:func:`denoise`).

        Parameters
        ----------
        cond : torch.Tensor [shape=(B, ...)]
            The condition (pseudo-words injected).
        uncond : torch.Tensor [shape=(1, ...) or (B, ...)], optional
            The unconditional condition (the empty prompt); None or ``guidance <= 1``: no
            guidance.
        frames : int
            Latent frames on :attr:`time_axis`.
        steps : int
        guidance : float
        generator : torch.Generator
            CPU generator (seeds the noise).
        known : torch.Tensor, optional
            Latents of the first ``k`` frames to keep (continuation).
        progress : callable(fraction), optional

        Returns
        -------
        torch.Tensor [shape=latent_shape(B, frames)]
            Latents scaled by the VAE's ``scaling_factor``.
        """
        import torch

        b = cond.shape[0]
        if uncond is not None and uncond.shape[0] != b:
            uncond = uncond.expand(b, *uncond.shape[1:])
        with torch.no_grad():
            return denoise(
                unet_fn=self.unet_fn,
                scheduler=type(self.scheduler).from_config(self.scheduler.config),
                shape=self.latent_shape(b, int(frames)),
                cond=cond,
                uncond=uncond,
                steps=int(steps),
                guidance=float(guidance),
                generator=generator,
                device=self.device,
                dtype=self.latent_dtype,
                known=known,
                time_axis=self.time_axis,
                progress=progress,
            )


class DiffusionBackbone(WindowedBackbone):
    """A windowed backbone whose windows are denoised latents (AudioLDM, Riffusion).

    Parameters
    ----------
    guidance : float, optional
        Classifier-free guidance scale (default :attr:`default_guidance`); <= 1 turns it off.
    steps : int, optional
        Denoising steps per window (default :attr:`default_steps`).
    model, encoder, device, window_overlap
        As :class:`~d2m_core.backbones.windowed.WindowedBackbone`.

    Attributes
    ----------
    core : LatentDiffusion
        The loaded model's sampling (set by :meth:`_load_model`).
    uncond : torch.Tensor
        The empty prompt's condition, the unconditional input of guidance.
    """

    default_guidance: float = 7.5
    default_steps: int = 50
    core: LatentDiffusion

    def __init__(
        self,
        *,
        model: str | None = None,
        encoder: str | Path | None = None,
        guidance: float | None = None,
        steps: int | None = None,
        device: str | None = None,
        window_overlap: float | None = None,
    ) -> None:
        import torch

        super().__init__(model=model, encoder=encoder, device=device, window_overlap=window_overlap)
        self.guidance = float(self.default_guidance if guidance is None else guidance)
        self.steps = denoising_steps(steps, default=self.default_steps)
        with torch.no_grad():
            self.uncond, _ = self.conditioner.encode([""], {})

    def sample_window(self, task: WindowTask) -> torch.Tensor:
        """Latents of one window for the condition ``task.hidden`` (the mask is unused: the
        UNet attends to every row), guided against :attr:`uncond`."""
        return self.core.sample(
            cond=task.hidden, uncond=self.uncond, frames=task.frames, steps=self.steps,
            guidance=self.guidance, generator=task.generator, known=task.known,
            progress=task.progress,
        )  # fmt: skip
