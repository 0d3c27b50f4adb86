"""What the latent-diffusion backbones (AudioLDM, Riffusion) share.

- Finding a diffusers pipeline on this machine without downloading (:func:`pipeline_availability`).
- The inversion training loss of latent diffusion (paper Eq. 2, :func:`noise_prediction_loss`).
- A denoising loop with classifier-free guidance and an optional *known* stretch of latents
  (:func:`denoise`), used to continue one window from the previous one so that music longer
  than one clip has no seams (windows planned by :func:`~d2m_core.backbones.encoded.window_plan`).

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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from d2m_core.backbones.encoded import DEBUG_MODEL, hub_cached, looks_like_path
from d2m_core.errors import D2MError

if TYPE_CHECKING:
    import torch

UnetFn = Callable[["torch.Tensor", "torch.Tensor", Any], "torch.Tensor"]


# --- finding models (torch-free) ----------------------------------------------------------------


def pipeline_availability(
    model: str, *, family: str, components: tuple[str, ...], cache_dir: str | Path | None = None
) -> tuple[bool, str]:
    """Whether a diffusers pipeline can be loaded here without any download.

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

    Returns
    -------
    (bool, str)
        Ready or not, and a one-line reason / how to get it.
    """
    if model == DEBUG_MODEL:
        return True, f"tiny random {family} (debug)"
    hint = (
        f"{family} model '{model}' is not on this machine: download it once with"
        f" `huggingface-cli download {model}` (needs internet), or pass --model with a folder"
        f" holding a saved {family} pipeline (model_index.json and its component folders)"
    )
    p = Path(model).expanduser()
    if p.is_dir():
        if not (p / "model_index.json").is_file():
            return False, f"{p} has no model_index.json: point --model at a saved {family} pipeline"
        missing = [c for c in components if not (p / c / "config.json").is_file()]
        if missing:
            return False, f"{p} lacks the pipeline components {', '.join(missing)}"
        return True, f"local folder {p}"
    if looks_like_path(model):
        return False, f"model folder {p} not found"
    cached = functools.partial(hub_cached, model, cache_dir=cache_dir)
    if not cached("model_index.json"):
        return False, hint
    missing = [c for c in components if not cached(f"{c}/config.json")]
    if missing:
        return False, f"'{model}' is only partly cached (no {', '.join(missing)}); " + hint
    return True, f"{model} (Hugging Face cache)"


def model_ref(model: str) -> str:
    """What ``from_pretrained`` should get: the expanded folder, or the id."""
    p = Path(model).expanduser()
    return str(p) if p.is_dir() else model


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
