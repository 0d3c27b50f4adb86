"""AudioLDM (diffusers): finding and loading the model, its CLAP conditioner, sampling and
decoding.

Models
------
``--model`` is a Hugging Face id of a diffusers AudioLDM pipeline (``cvssp/audioldm-s-full-v2``,
``cvssp/audioldm-m-full``, ``cvssp/audioldm-l-full``, ...), a local folder holding one
(``model_index.json`` and the ``vae``, ``text_encoder``, ``tokenizer``, ``unet``, ``scheduler``,
``vocoder`` folders), or ``debug``: a tiny random AudioLDM built from configs (same mel
front end, 16 kHz, a word-level tokenizer) for tests and smoke runs. Ids load from the local
Hugging Face cache only (``local_files_only``), and :func:`model_availability` says how to
download a missing one; d2m fetches it itself only when asked (``D2M_DOWNLOAD=1`` or
``--download``: :mod:`d2m_core.backbones.download`).

Conditioning
------------
AudioLDM has no text cross-attention. Its UNet is conditioned on the CLAP text model's
*projected* sentence embedding (``text_embeds``: the first token's pooled state through CLAP's
projection, ``(B, 512)`` for the real models), L2-normalised, passed as ``class_labels``
(``class_embed_type="simple_projection"``, concatenated to the time embedding) with
``encoder_hidden_states=None`` (diffusers ``AudioLDMPipeline._encode_prompt`` and its UNet
call). ``@`` / ``*`` are injected into the CLAP text model's token embeddings through a forward
hook (:class:`ClapConditioner`); the text encoder always runs in float32. The unconditional
input of classifier-free guidance is what the pipeline uses for an empty negative prompt: the
normalised ``text_embeds`` of ``""``. Roberta's byte-level BPE writes a word's leading space
into the token (``Ġ@``), so a bare ``@`` never occurs inside a prompt; the pseudo-words are
therefore added as tokens that absorb the space before them
(:func:`~d2m_core.inversion.injection.pseudo_token_ids`).

Targets (inversion training, paper Eq. 2)
-----------------------------------------
A clip becomes AudioLDM's log-mel spectrogram (:mod:`.mel`). The mel ``(1, frames, 64)`` (time
on the image height) goes through the VAE encoder; the posterior *mean* (AudioLDM's own
training draws a posterior sample; a cached target should not freeze one random draw) times
``scaling_factor`` is the target ``(C, frames/4, 64/4)`` (``C = 8`` for the real models),
cached as float16 (half the disk; the rounding, ~1e-3 relative, is far below the noise the
loss adds).

Generation
----------
The denoising loop is :func:`~d2m_core.backbones.diffusion.denoise` (DDIM by default,
``steps`` 50, guidance 2.5 as AudioLDM's pipeline). Music of any length is made window by
window (:class:`~d2m_core.backbones.audioldm.backbone.AudioldmBackbone`): with encoders a
window is one encoder clip (5.12 s = 128 latent frames), without them :data:`TEXT_WINDOW_S`
(10.24 s, AudioLDM's training length). Each window after the first keeps
the last ``window_overlap`` of the previous one as known latents (re-noised at every step, so
the new part continues them) and gets the rhythm embedding of its own stretch of the dance.
The concatenated latents are decoded as one sequence, so window boundaries leave no seam:
the VAE (whose mid-block attention is global) decodes at most 10.24 s at once, longer music in
chunks cross-faded over 1.28 s, and the (convolutional) vocoder runs in chunks with enough
context to equal one call. The output is float32 mono at 16 kHz.

AudioLDM 2
----------
AudioLDM 2 is not built: its UNet is not conditioned by one text encoder but cross-attends to
Flan-T5 states and to 8 embeddings that a GPT-2 generates autoregressively from a projection
of CLAP *and* T5 outputs (diffusers ``AudioLDM2Pipeline.encode_prompt``). Injecting ``@`` / ``*``
would need encoders for two text encoders of different widths (768 and 1024) and training
gradients through GPT-2's generation loop, a different method from the paper's single-encoder
inversion rather than another backbone behind this interface.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from d2m_core.backbones.audioldm.mel import MelSettings
from d2m_core.backbones.diffusion import LatentDiffusion, LoadedPipeline, pipeline_availability
from d2m_core.backbones.windowed import load_model, model_ref
from d2m_core.errors import D2MError

if TYPE_CHECKING:
    import torch

    from d2m_core.inversion.injection import EmbeddingHookConditioner

DEFAULT_MODEL = "cvssp/audioldm-s-full-v2"
KNOWN_MODELS = (
    "cvssp/audioldm-s-full-v2",
    "cvssp/audioldm-s-full",
    "cvssp/audioldm-m-full",
    "cvssp/audioldm-l-full",
)
COMPONENTS = ("vae", "text_encoder", "unet", "vocoder")
#: Window of encoder-less generation: AudioLDM's training clips are 10.24 s.
TEXT_WINDOW_S = 10.24
DEFAULT_GUIDANCE = 2.5
DEFAULT_STEPS = 50


# --- finding models (torch-free) ----------------------------------------------------------------


#: ``model_availability(model, *, cache_dir=None) -> Availability``: whether AudioLDM ``model``
#: (``debug``, a local pipeline folder, or a Hugging Face id in the local cache) can be loaded
#: here without any download (:func:`~d2m_core.backbones.diffusion.pipeline_availability`
#: with :data:`COMPONENTS`).
model_availability = functools.partial(
    pipeline_availability, family="AudioLDM", components=COMPONENTS
)


@contextlib.contextmanager
def _quiet_diffusers() -> Iterator[None]:
    # AudioLDMPipeline logs a deprecation notice on every construction; nothing else is hidden.
    from diffusers.utils import logging as dlog

    level = dlog.get_verbosity()
    dlog.set_verbosity_error()
    try:
        yield
    finally:
        dlog.set_verbosity(level)


@dataclass
class LoadedAudioldm(
    LoadedPipeline,
    family="AudioLDM",
    availability=model_availability,
    debug_builder="d2m_core.backbones.audioldm.debug:debug_audioldm",
):
    """An AudioLDM ready for inference or inversion training: the pipeline's components
    (:class:`~d2m_core.backbones.diffusion.LoadedPipeline`: a mel VAE, ``(B, 1, T, n_mels)``
    <-> ``(B, C, T / f, n_mels / f)``; the CLAP text model with projection; Roberta's tokenizer,
    word-level for ``debug``; a UNet conditioned by ``class_labels``, the normalised CLAP text
    embedding; the pipeline's scheduler, DDIM for the published models) and its vocoder.

    Attributes
    ----------
    vocoder : SpeechT5HifiGan
        Log-mel ``(B, T, n_mels)`` -> waveform ``(B, T * hop)``.
    """

    vocoder: Any

    @property
    def mel(self) -> MelSettings:
        """The mel front end, checked against the vocoder."""
        cfg = self.vocoder.config
        mel = MelSettings(n_mels=int(cfg.model_in_dim))
        hop = int(np.prod(cfg.upsample_rates))
        if int(cfg.sampling_rate) != mel.sample_rate or hop != mel.hop_length:
            raise D2MError(
                f"{self.name}: vocoder at {cfg.sampling_rate} Hz with hop {hop}; AudioLDM's"
                f" preprocessing is {mel.sample_rate} Hz with hop {mel.hop_length}"
            )
        return mel

    @property
    def sample_rate(self) -> int:
        return int(self.vocoder.config.sampling_rate)

    @property
    def latent_rate(self) -> float:
        """Latent frames per second (25 for the real models)."""
        return self.mel.frame_rate / self.vae_scale

    @property
    def latent_shape(self) -> tuple[int, int]:
        """``(C, n_mels / f)``: latent channels and frequency width."""
        return int(self.vae.config.latent_channels), self.mel.n_mels // self.vae_scale

    @property
    def dtype(self):
        return next(self.unet.parameters()).dtype

    @property
    def device(self):
        return next(self.unet.parameters()).device

    def modules(self) -> list:
        return [self.unet, self.vae, self.text_encoder, self.vocoder]

    # -- loading steps (run by load_model)

    @classmethod
    def read(cls, model: str) -> LoadedAudioldm:
        import torch
        from diffusers import AudioLDMPipeline

        ref = model_ref(model)
        index = AudioLDMPipeline.load_config(ref, local_files_only=True)
        kind = index.get("_class_name")
        if kind != "AudioLDMPipeline":
            hint = ""
            if str(kind).startswith("AudioLDM2"):
                hint = " (AudioLDM 2 is not supported: see d2m_core/backbones/audioldm/model.py)"
            raise D2MError(f"{model} is a '{kind}', not an AudioLDM pipeline{hint}")
        with _quiet_diffusers():
            pipe = AudioLDMPipeline.from_pretrained(ref, local_files_only=True, dtype=torch.float32)
        return cls(
            vae=pipe.vae.eval(), text_encoder=pipe.text_encoder.eval(), tokenizer=pipe.tokenizer,
            unet=pipe.unet.eval(), scheduler=pipe.scheduler, vocoder=pipe.vocoder.eval(),
            name=model,
        )  # fmt: skip

    def make_core(self) -> DiffusionCore:
        return DiffusionCore(self)

    def make_conditioner(self) -> EmbeddingHookConditioner:
        """The CLAP text model with ``@`` / ``*`` injected (:class:`ClapConditioner`)."""
        return _conditioner_class()(
            tokenizer=self.tokenizer,
            text_model=self.text_encoder,
            max_length=_clap_max_length(self.tokenizer, self.text_encoder),
        )

    def halve(self) -> None:
        import torch

        for m in (self.unet, self.vae, self.vocoder):  # the CLAP text encoder stays float32
            # diffusers warns on every cast, even with no module to keep in float32.
            quiet = _quiet_diffusers() if not getattr(m, "_keep_in_fp32_modules", None) else None
            with quiet or contextlib.nullcontext():
                m.to(torch.float16)

    def check(self) -> None:
        self.mel  # noqa: B018 - fail at load time on a vocoder with another front end


def load_audioldm(model: str, *, device: str = "cpu", half: bool = False) -> LoadedAudioldm:
    """Load (once per process, device and precision) an AudioLDM without downloading
    (:func:`~d2m_core.backbones.windowed.load_model`; ``half``: fp16 UNet, VAE and vocoder,
    for GPU inference; the text encoder stays float32)."""
    return load_model(LoadedAudioldm, model, device=device, half=half)


# --- text conditioning --------------------------------------------------------------------------


def _clap_max_length(tokenizer, text_encoder) -> int:
    cfg = text_encoder.config
    room = int(cfg.max_position_embeddings) - int(cfg.pad_token_id) - 1  # Roberta positions
    return min(int(tokenizer.model_max_length), room)


@functools.cache
def _conditioner_class():
    from d2m_core.inversion.injection import EmbeddingHookConditioner

    class ClapConditioner(EmbeddingHookConditioner):
        """CLAP text with ``@`` / ``*`` injected through the input-embedding hook.

        :meth:`encode` returns what AudioLDM's UNet is conditioned on, the L2-normalised
        projected sentence embedding ``(B, P)`` (``P = projection_dim``, 512 for the real
        models), instead of token states, plus the ``(B, S)`` attention mask.
        """

        def _output(self, out):
            import torch

            return torch.nn.functional.normalize(out.text_embeds.float(), dim=-1)

    ClapConditioner.__module__ = __name__
    return ClapConditioner


def __getattr__(name: str):
    # ClapConditioner subclasses a torch class: built on first use so importing stays torch-free.
    if name == "ClapConditioner":
        return _conditioner_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- UNet calls, sampling, decoding -------------------------------------------------------------


def _chunked(fn: Callable, x: torch.Tensor, *, axis: int, chunk: int, ctx: int, ratio: int):
    """``fn`` over ``x`` in chunks along ``axis`` with ``ctx`` frames of context each side.

    For local (convolutional) decoders: ``fn`` must map ``n`` input frames to at least
    ``n * ratio`` output frames on the same axis, aligned at the start; the chunks' middles
    are joined, which equals one call on the whole input once ``ctx`` covers the receptive
    field.
    """
    import torch

    t = x.shape[axis]
    parts = []
    for s in range(0, t, chunk):
        e = min(t, s + chunk)
        a, z = max(0, s - ctx), min(t, e + ctx)
        y = fn(x.narrow(axis, a, z - a))
        parts.append(y.narrow(axis, (s - a) * ratio, (e - s) * ratio))
    return torch.cat(parts, dim=axis)


def _crossfaded(fn: Callable, x: torch.Tensor, *, axis: int, chunk: int, fade: int, ratio: int):
    """``fn`` over overlapping chunks of ``x`` along ``axis``, cross-faded where they overlap.

    For decoders with global attention (AudioLDM's VAE mid-block), whose chunks are not
    exactly local: chunks of ``chunk`` input frames start every ``chunk - fade`` frames and
    consecutive outputs are blended with complementary linear ramps over the ``fade`` frames
    they share (weights sum to one), so no chunk boundary is a hard edge. Input of at most
    ``chunk`` frames is decoded in one call.
    """
    import torch

    t = x.shape[axis]
    if t <= chunk:
        return fn(x).narrow(axis, 0, t * ratio)
    fade = min(max(1, fade), chunk - 1)
    out = weight = None
    for s in range(0, t - fade, chunk - fade):
        e = min(t, s + chunk)
        y = fn(x.narrow(axis, s, e - s)).narrow(axis, 0, (e - s) * ratio)
        w = torch.ones((e - s) * ratio, dtype=y.dtype, device=y.device)
        ramp = (torch.arange(fade * ratio, dtype=y.dtype, device=y.device) + 0.5) / (fade * ratio)
        if s > 0:
            w[: fade * ratio] = ramp
        if e < t:
            w[-fade * ratio :] = 1 - ramp
        shape = [1] * y.ndim
        shape[axis] = -1
        if out is None:
            full = list(y.shape)
            full[axis] = t * ratio
            out = torch.zeros(full, dtype=y.dtype, device=y.device)
            weight = torch.zeros(t * ratio, dtype=y.dtype, device=y.device)
        out.narrow(axis, s * ratio, (e - s) * ratio).add_(y * w.reshape(shape))
        weight[s * ratio : e * ratio] += w
    shape = [1] * out.ndim
    shape[axis] = -1
    return out / weight.reshape(shape)


class DiffusionCore(LatentDiffusion):
    """The UNet, sampling (:meth:`~d2m_core.backbones.diffusion.LatentDiffusion.sample`) and
    decoding calls of one loaded AudioLDM; latents ``(B, C, frames, n_mels / f)``, time on
    axis 2.

    Parameters
    ----------
    la : LoadedAudioldm
    decode_chunk : int
        Latent frames the VAE decodes at once (256 = 10.24 s, AudioLDM's training length);
        longer music is decoded in chunks cross-faded over ``decode_fade`` frames (1.28 s).
        The vocoder (convolutional) runs on the same spans with that much context each side.
    """

    time_axis = 2

    def __init__(
        self, la: LoadedAudioldm, *, decode_chunk: int = 256, decode_fade: int = 32
    ) -> None:
        self.la = la
        self.scheduler = la.scheduler
        self.decode_chunk = int(decode_chunk)
        self.decode_fade = int(decode_fade)

    def unet_fn(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The UNet's prediction ``(B, C, H, W)`` float32 for latents ``x`` at timesteps ``t``
        ``(B,)`` conditioned on normalised CLAP embeddings ``cond`` ``(B, P)``."""
        dt = self.la.dtype
        out = self.la.unet(x.to(dt), t, encoder_hidden_states=None, class_labels=cond.to(dt))
        return out.sample.float()

    def latent_shape(self, batch: int, frames: int) -> tuple[int, int, int, int]:
        c, w = self.la.latent_shape
        return batch, c, frames, w

    @property
    def latent_dtype(self) -> torch.dtype:
        import torch

        return torch.float32

    @property
    def device(self) -> torch.device:
        return self.la.device

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Waveforms from latents, as one sequence (no seams).

        Parameters
        ----------
        latents : torch.Tensor [shape=(B, C, H, W)]
            Scaled by ``scaling_factor`` (as :meth:`sample` returns them).

        Returns
        -------
        np.ndarray [shape=(B, H * f * hop)], float32
            16 kHz audio (not clipped).
        """
        import torch

        la = self.la
        f, hop = la.vae_scale, la.mel.hop_length
        vae_dt = next(la.vae.parameters()).dtype
        voc_dt = next(la.vocoder.parameters()).dtype
        z = latents.to(la.device, torch.float32) / float(la.vae.config.scaling_factor)
        with torch.no_grad():
            mel = _crossfaded(
                lambda x: la.vae.decode(x.to(vae_dt)).sample.float(),
                z,
                axis=2,
                chunk=self.decode_chunk,
                fade=self.decode_fade,
                ratio=f,
            )[:, 0]  # (B, T, n_mels)
            wav = _chunked(
                lambda m: la.vocoder(m.to(voc_dt)).float(),
                mel,
                axis=1,
                chunk=self.decode_chunk * f,
                ctx=self.decode_fade * f,
                ratio=hop,
            )
        return wav.cpu().numpy().astype(np.float32)

    def encode_mels(self, mels: np.ndarray, *, batch: int = 8) -> np.ndarray:
        """VAE latents of log-mel spectrograms (posterior mean times ``scaling_factor``).

        Parameters
        ----------
        mels : np.ndarray [shape=(B, T, n_mels)]

        Returns
        -------
        np.ndarray [shape=(B, C, T / f, n_mels / f)], float32
        """
        import torch

        vae = self.la.vae
        dt = next(vae.parameters()).dtype
        scale = float(vae.config.scaling_factor)
        out = []
        with torch.no_grad():
            for s in range(0, len(mels), batch):
                x = torch.as_tensor(np.asarray(mels[s : s + batch], np.float32))[:, None]
                z = vae.encode(x.to(self.la.device, dt)).latent_dist.mean.float() * scale
                out.append(z.cpu().numpy())
        return np.concatenate(out, axis=0)
