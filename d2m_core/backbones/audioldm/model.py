"""AudioLDM (diffusers) with encoder-based textual inversion: the latent-diffusion backbone.

Models
------
``--model`` is a Hugging Face id of a diffusers AudioLDM pipeline (``cvssp/audioldm-s-full-v2``,
``cvssp/audioldm-m-full``, ``cvssp/audioldm-l-full``, ...), a local folder holding one
(``model_index.json`` and the ``vae``, ``text_encoder``, ``tokenizer``, ``unet``, ``scheduler``,
``vocoder`` folders), or ``debug``: a tiny random AudioLDM built from configs (same mel
front end, 16 kHz, a word-level tokenizer) for tests and smoke runs. Nothing is downloaded:
ids load from the local Hugging Face cache only (``local_files_only``), and
:meth:`AudioldmBackbone.availability` says how to download a missing one.

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
A clip becomes the log-mel spectrogram AudioLDM was trained on (its published preprocessing,
``audioldm/audio/tools.py`` and ``stft.py``, and the diffusers ``SpeechT5HifiGan`` vocoder
config, whose ``model_in_dim``, ``sampling_rate`` and ``upsample_rates`` must agree):

- 16 kHz mono, mean removed, scaled to a peak of 0.5 (``normalize_wav``);
- STFT magnitude: ``n_fft = win_length = 1024``, periodic Hann window, ``hop = 160``
  (10 ms, 100 frames/s; the vocoder upsamples by 5*4*2*2*2 = 160), centred with reflect padding;
- 64 Slaney-normalised mel bands (``librosa.filters.mel``, ``fmin = 0``, ``fmax = 8000`` Hz);
- natural log of the mel magnitudes clamped at 1e-5 (HiFi-GAN's dynamic-range compression);
- ``frames = N / 160`` rounded up so the latents fit the UNet (a multiple of the VAE's times
  the UNet's downsampling, 4 x 8 = 32 for the real models), the audio zero-padded to match.
  A 5.12 s clip gives ``(512, 64)``.

The mel ``(1, frames, 64)`` (time on the image height) goes through the VAE encoder; the
posterior *mean* (AudioLDM's own training draws a posterior sample; a cached target should
not freeze one random draw) times ``scaling_factor`` is the target ``(C, frames/4, 64/4)``
(``C = 8`` for the real models), cached as float16 (half the disk; the rounding, ~1e-3
relative, is far below the noise the loss adds).

Generation
----------
The denoising loop is :func:`~d2m_core.backbones.diffusion.denoise` (DDIM by default,
``steps`` 50, guidance 2.5 as AudioLDM's pipeline). Music of any length is made window by
window: with encoders a window is one encoder clip (5.12 s = 128 latent frames), without them
:data:`TEXT_WINDOW_S` (10.24 s, AudioLDM's training length). Each window after the first keeps
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
import hashlib
import json
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from d2m_core.backbones.base import Progress, register
from d2m_core.backbones.diffusion import (
    denoise,
    model_ref,
    noise_prediction_loss,
    pipeline_availability,
)
from d2m_core.backbones.encoded import DEBUG_MODEL, EncodedBackbone, window_plan
from d2m_core.dance.analysis import Analysis
from d2m_core.dance.rhythm import RhythmFeatures
from d2m_core.errors import D2MError
from d2m_core.inversion.adapter import InversionAdapter
from d2m_core.music.prompt import ParsedPrompt

if TYPE_CHECKING:
    import torch

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
_TARGET_FORMAT = "float16"


# --- finding models (torch-free) ----------------------------------------------------------------


def model_availability(model: str, *, cache_dir: str | Path | None = None) -> tuple[bool, str]:
    """Whether AudioLDM ``model`` (``debug``, a local pipeline folder, or a Hugging Face id) can
    be loaded here without any download: ready or not, and a one-line reason / how to get it
    (:func:`~d2m_core.backbones.diffusion.pipeline_availability` with
    :data:`COMPONENTS`; ``cache_dir`` is the Hugging Face hub cache)."""
    return pipeline_availability(
        str(model), family="AudioLDM", components=COMPONENTS, cache_dir=cache_dir
    )


# --- the mel front end (AudioLDM's published preprocessing) -------------------------------------


@dataclass(frozen=True)
class MelSettings:
    """AudioLDM's log-mel spectrogram (see the module docstring for the sources).

    Attributes
    ----------
    sample_rate : int
        Hz (16000).
    n_fft, win_length, hop_length : int
        STFT size, Hann window length and hop, samples (1024, 1024, 160).
    n_mels : int
        Mel bands (64), the vocoder's ``model_in_dim``.
    fmin, fmax : float
        Mel filter range, Hz (0, 8000).
    log_floor : float
        Magnitudes are clamped here before the natural log (1e-5).
    peak : float
        Clips are scaled to this peak amplitude after removing the mean (0.5).
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float = 8000.0
    log_floor: float = 1e-5
    peak: float = 0.5

    @property
    def frame_rate(self) -> float:
        """Mel frames per second (100)."""
        return self.sample_rate / self.hop_length


@functools.lru_cache(maxsize=4)
def mel_filters(mel: MelSettings) -> np.ndarray:
    """Slaney mel filter bank ``(n_mels, n_fft // 2 + 1)``, float32 (librosa's defaults).

    Cached: do not modify the returned array.
    """
    import librosa

    fb = librosa.filters.mel(
        sr=mel.sample_rate, n_fft=mel.n_fft, n_mels=mel.n_mels, fmin=mel.fmin, fmax=mel.fmax
    )
    return fb.astype(np.float32)


def log_mel(audio: np.ndarray, *, mel: MelSettings, frames: int) -> np.ndarray:
    """AudioLDM's log-mel spectrograms of mono clips.

    Parameters
    ----------
    audio : np.ndarray [shape=(B, N)]
        Clips at ``mel.sample_rate``, any scale (each is re-centred and scaled to ``mel.peak``).
    mel : MelSettings
    frames : int
        Spectrogram frames ``T`` to return; the audio is zero-padded or cut to ``T * hop``.

    Returns
    -------
    np.ndarray [shape=(B, T, n_mels)], float32
        Natural-log mel magnitudes (>= log(1e-5) = -11.51).
    """
    import torch

    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"audio must be (B, N), got shape {x.shape}")
    x = x - x.mean(axis=1, keepdims=True)
    x = x / (np.abs(x).max(axis=1, keepdims=True) + 1e-8) * mel.peak
    n = frames * mel.hop_length
    x = np.pad(x[:, :n], ((0, 0), (0, max(0, n - x.shape[1]))))
    wav = torch.from_numpy(np.clip(x, -1.0, 1.0).astype(np.float32))
    window = torch.hann_window(mel.win_length, periodic=True)
    spec = torch.stft(
        wav,
        n_fft=mel.n_fft,
        hop_length=mel.hop_length,
        win_length=mel.win_length,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).abs()[:, :, :frames]  # (B, F, T): center padding gives T + 1 frames
    m = torch.matmul(torch.from_numpy(mel_filters(mel)), spec)
    return torch.log(m.clamp_min(mel.log_floor)).transpose(1, 2).contiguous().numpy()


# --- loading ------------------------------------------------------------------------------------


def _debug_tokenizer():
    from tokenizers import processors

    from d2m_core.inversion.vocab import BASE_WORDS, word_tokenizer
    from d2m_core.music.genres import GENRES
    from d2m_core.music.prompt import DEFAULT_WORD_BANK

    words = ["<s>", *BASE_WORDS, *(w for g in GENRES for w in g.split("_")), *GENRES]
    words += [w for ws in DEFAULT_WORD_BANK.values() for w in ws]
    tok = word_tokenizer(words)
    # Roberta's layout: <s> first (CLAP pools the first token), </s> last.
    bos, eos = tok.convert_tokens_to_ids("<s>"), tok.eos_token_id
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    tok.bos_token = "<s>"
    return tok


def debug_audioldm(*, seed: int = 0) -> dict[str, Any]:
    """A tiny random AudioLDM pipeline's components, identical on every call.

    AudioLDM's real mel front end (16 kHz, hop 160, 64 mel bands), a 3-level VAE (downsampling
    4, 4 latent channels, mid-block attention as the real one), a 2-level UNet of width 16/32
    conditioned through ``simple_projection`` class embeddings, a 2-layer CLAP text model of
    width 32 projecting to 16, a HiFi-GAN vocoder upsampling 8*4*5 = 160, AudioLDM's DDIM
    schedule, and a word-level tokenizer with Roberta's ``<s> ... </s>`` layout.

    Returns
    -------
    dict
        ``vae``, ``text_encoder``, ``tokenizer``, ``unet``, ``scheduler``, ``vocoder`` (eval).
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import (
        ClapTextConfig,
        ClapTextModelWithProjection,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
    )

    tok = _debug_tokenizer()
    vocab = int(math.ceil(len(tok) / 8) * 8)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text = ClapTextModelWithProjection(
            ClapTextConfig(
                vocab_size=vocab, hidden_size=32, intermediate_size=64, num_attention_heads=4,
                num_hidden_layers=2, projection_dim=16,
                max_position_embeddings=tok.model_max_length + tok.pad_token_id + 2,
                pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0,
            )
        )  # fmt: skip
        vae = AutoencoderKL(
            in_channels=1, out_channels=1, latent_channels=4, block_out_channels=(8, 16, 16),
            down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
            layers_per_block=1, norm_num_groups=8, sample_size=128,
        )  # fmt: skip
        unet = UNet2DConditionModel(
            sample_size=32, in_channels=4, out_channels=4, block_out_channels=(16, 32),
            layers_per_block=1, norm_num_groups=8, attention_head_dim=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=(16, 32),
            class_embed_type="simple_projection", projection_class_embeddings_input_dim=16,
            class_embeddings_concat=True,
        )  # fmt: skip
        vocoder = SpeechT5HifiGan(
            SpeechT5HifiGanConfig(
                model_in_dim=64, sampling_rate=16000, upsample_initial_channel=16,
                upsample_rates=[8, 4, 5], upsample_kernel_sizes=[16, 8, 10],
                resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
                normalize_before=False, initializer_range=0.1,  # audible, not ~1e-7
            )
        )  # fmt: skip
    scheduler = DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.0015, beta_end=0.0195,
        beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1,
    )  # fmt: skip
    parts = dict(vae=vae, text_encoder=text, unet=unet, vocoder=vocoder)
    return {**{k: m.eval() for k, m in parts.items()}, "tokenizer": tok, "scheduler": scheduler}


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


def _load_files(model: str) -> dict[str, Any]:
    import torch

    ok, why = model_availability(model)
    if not ok:
        raise D2MError(why)
    ref = model_ref(model)
    try:
        from diffusers import AudioLDMPipeline

        index = AudioLDMPipeline.load_config(ref, local_files_only=True)
        kind = index.get("_class_name")
        if kind != "AudioLDMPipeline":
            hint = ""
            if str(kind).startswith("AudioLDM2"):
                hint = " (AudioLDM 2 is not supported: see d2m_core/backbones/audioldm.py)"
            raise D2MError(f"{model} is a '{kind}', not an AudioLDM pipeline{hint}")
        with _quiet_diffusers():
            pipe = AudioLDMPipeline.from_pretrained(ref, local_files_only=True, dtype=torch.float32)
    except D2MError:
        raise
    except Exception as exc:  # noqa: BLE001 - corrupt or partial downloads surface here
        raise D2MError(f"cannot load AudioLDM '{model}' ({type(exc).__name__}: {exc})") from None
    return {
        "vae": pipe.vae.eval(),
        "text_encoder": pipe.text_encoder.eval(),
        "tokenizer": pipe.tokenizer,
        "unet": pipe.unet.eval(),
        "scheduler": pipe.scheduler,
        "vocoder": pipe.vocoder.eval(),
    }


@dataclass
class LoadedAudioldm:
    """An AudioLDM ready for inference or inversion training.

    Attributes
    ----------
    vae : AutoencoderKL
        Mel <-> latents (``(B, 1, T, n_mels)`` <-> ``(B, C, T / f, n_mels / f)``).
    text_encoder : ClapTextModelWithProjection
        Always float32.
    tokenizer : Roberta tokenizer (word-level for ``debug``)
    unet : UNet2DConditionModel
        Conditioned by ``class_labels`` (the normalised CLAP text embedding).
    scheduler : diffusers scheduler
        The pipeline's (DDIM for the published models); copy it before ``set_timesteps``.
    vocoder : SpeechT5HifiGan
        Log-mel ``(B, T, n_mels)`` -> waveform ``(B, T * hop)``.
    name : str
        What the user passed (id, folder or ``debug``).
    """

    vae: Any
    text_encoder: Any
    tokenizer: Any
    unet: Any
    scheduler: Any
    vocoder: Any
    name: str

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
    def vae_factor(self) -> int:
        """The VAE's downsampling of both mel axes (4 for the real models)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def unet_multiple(self) -> int:
        """Latent sizes must be multiples of this (the UNet's downsampling)."""
        return 2 ** (len(self.unet.config.block_out_channels) - 1)

    @property
    def latent_rate(self) -> float:
        """Latent frames per second (25 for the real models)."""
        return self.mel.frame_rate / self.vae_factor

    @property
    def latent_shape(self) -> tuple[int, int]:
        """``(C, n_mels / f)``: latent channels and frequency width."""
        return int(self.vae.config.latent_channels), self.mel.n_mels // self.vae_factor

    @property
    def dtype(self):
        return next(self.unet.parameters()).dtype

    @property
    def device(self):
        return next(self.unet.parameters()).device

    def modules(self) -> list:
        return [self.unet, self.vae, self.text_encoder, self.vocoder]


_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_cached(model: str, device: str, half: bool) -> LoadedAudioldm:
    import torch

    parts = debug_audioldm() if model == DEBUG_MODEL else _load_files(model)
    la = LoadedAudioldm(name=model, **parts)
    for m in la.modules():
        m.to(device)
        for p in m.parameters():
            p.requires_grad_(False)
    if half:  # the CLAP text encoder stays float32
        for m in (la.unet, la.vae, la.vocoder):
            # diffusers warns on every cast, even with no module to keep in float32.
            quiet = _quiet_diffusers() if not getattr(m, "_keep_in_fp32_modules", None) else None
            with quiet or contextlib.nullcontext():
                m.to(torch.float16)
    la.mel  # noqa: B018 - fail at load time on a vocoder with another front end
    return la


def load_audioldm(model: str, *, device: str = "cpu", half: bool = False) -> LoadedAudioldm:
    """Load (once per process, device and precision) an AudioLDM without downloading.

    Parameters
    ----------
    model : str
        Hugging Face id, local pipeline folder, or ``debug``.
    device : str
        Torch device.
    half : bool
        fp16 UNet, VAE and vocoder (GPU inference); the text encoder stays float32.

    Raises
    ------
    D2MError
        Not on this machine (the message says how to download it), not an AudioLDM, or
        unreadable.
    """
    with _LOAD_LOCK:
        return _load_cached(str(model), str(device), bool(half))


# --- text conditioning --------------------------------------------------------------------------


def _clap_max_length(tokenizer, text_encoder) -> int:
    cfg = text_encoder.config
    room = int(cfg.max_position_embeddings) - int(cfg.pad_token_id) - 1  # Roberta positions
    return min(int(tokenizer.model_max_length), room)


def make_conditioner(la: LoadedAudioldm):
    """The :class:`ClapConditioner` of ``la`` (its tokenizer gets the pseudo-words)."""
    return _conditioner_class()(
        tokenizer=la.tokenizer,
        text_model=la.text_encoder,
        max_length=_clap_max_length(la.tokenizer, la.text_encoder),
    )


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


class DiffusionCore:
    """The UNet, sampling and decoding calls of one loaded AudioLDM.

    Parameters
    ----------
    la : LoadedAudioldm
    decode_chunk : int
        Latent frames the VAE decodes at once (256 = 10.24 s, AudioLDM's training length);
        longer music is decoded in chunks cross-faded over ``decode_fade`` frames (1.28 s).
        The vocoder (convolutional) runs on the same spans with that much context each side.
    """

    def __init__(
        self, la: LoadedAudioldm, *, decode_chunk: int = 256, decode_fade: int = 32
    ) -> None:
        self.la = la
        # Our own scheduler: set_timesteps mutates it, and the loaded one is shared.
        self.scheduler = type(la.scheduler).from_config(la.scheduler.config)
        self.decode_chunk = int(decode_chunk)
        self.decode_fade = int(decode_fade)

    def unet_fn(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The UNet's prediction ``(B, C, H, W)`` float32 for latents ``x`` at timesteps ``t``
        ``(B,)`` conditioned on normalised CLAP embeddings ``cond`` ``(B, P)``."""
        dt = self.la.dtype
        out = self.la.unet(x.to(dt), t, encoder_hidden_states=None, class_labels=cond.to(dt))
        return out.sample.float()

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
        """Denoise a batch of latents.

        Parameters
        ----------
        cond : torch.Tensor [shape=(B, P)]
            Normalised CLAP embeddings (pseudo-words injected).
        uncond : torch.Tensor [shape=(1, P) or (B, P)], optional
            The unconditional embedding (``""``); None or ``guidance <= 1``: no guidance.
        frames : int
            Latent frames ``H`` (a multiple of :attr:`LoadedAudioldm.unet_multiple`).
        steps : int
        guidance : float
        generator : torch.Generator
            CPU generator (seeds the noise).
        known : torch.Tensor [shape=(B, C, k, W)], optional
            Latents of the first ``k`` frames to keep (continuation).
        progress : callable(fraction), optional

        Returns
        -------
        torch.Tensor [shape=(B, C, frames, W)], float32
            Latents scaled by the VAE's ``scaling_factor``.
        """
        import torch

        b = cond.shape[0]
        if uncond is not None and uncond.shape[0] != b:
            uncond = uncond.expand(b, -1)
        c, w = self.la.latent_shape
        return denoise(
            unet_fn=self.unet_fn,
            scheduler=self.scheduler,
            shape=(b, c, int(frames), w),
            cond=cond,
            uncond=uncond,
            steps=int(steps),
            guidance=float(guidance),
            generator=generator,
            device=self.la.device,
            dtype=torch.float32,
            known=known,
            time_axis=2,
            progress=progress,
        )

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
        f, hop = la.vae_factor, la.mel.hop_length
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


# --- training adapter ---------------------------------------------------------------------------


class AudioldmInversionAdapter(InversionAdapter):
    """AudioLDM for inversion training: CLAP conditioner, mel-VAE latents, Eq. 2 loss.

    Parameters
    ----------
    model : str
        Id, folder or ``debug``.
    device : str
    """

    backbone = "audioldm"

    def __init__(self, *, model: str, device: str = "cpu") -> None:
        self.la = load_audioldm(model, device=str(device))
        self.model_id = str(model)
        self.core = DiffusionCore(self.la)
        self.conditioner = make_conditioner(self.la)
        self.sample_rate = self.la.sample_rate
        self.freeze()

    def modules(self):
        return self.la.modules()

    def target_frames(self, num_samples: int) -> int:
        """Mel frames of a clip of ``num_samples``: ``N / hop`` rounded up so the latents fit
        the UNet (a multiple of the VAE's and the UNet's downsampling; 512 for 5.12 s)."""
        m = self.la.vae_factor * self.la.unet_multiple
        return max(m, int(math.ceil(num_samples / self.la.mel.hop_length / m)) * m)

    def target_signature(self) -> str:
        blob = json.dumps(
            {
                "model": self.model_id,
                "vae": self.la.vae.config,
                "mel": asdict(self.la.mel),
                "latents": "posterior-mean",
                "format": _TARGET_FORMAT,
            },
            sort_keys=True,
            default=str,
        )
        return "audioldm-" + hashlib.sha1(blob.encode()).hexdigest()[:16]

    def encode_targets(self, audio: np.ndarray) -> np.ndarray:
        """Latent targets of equal-length clips.

        Parameters
        ----------
        audio : np.ndarray [shape=(B, N)], float32
            Mono clips at 16 kHz.

        Returns
        -------
        np.ndarray [shape=(B, C, H, W)], float16
            VAE latents times ``scaling_factor``, ``H = frames / f``.
        """
        audio = np.asarray(audio, np.float32)
        mels = log_mel(audio, mel=self.la.mel, frames=self.target_frames(audio.shape[1]))
        lat = self.core.encode_mels(mels)
        if not np.isfinite(lat).all():
            raise D2MError(f"{self.model_id}: the VAE gave non-finite latents for a clip")
        return lat.astype(np.float16)

    def loss(self, *, hidden, mask, targets):
        """Paper Eq. 2 for the normalised CLAP embeddings ``hidden`` ``(B, P)`` (``mask`` is
        unused: the embedding is already pooled) and cached latent ``targets``."""
        lat = targets.to(self.la.device).float()
        return noise_prediction_loss(
            unet_fn=self.core.unet_fn, scheduler=self.la.scheduler, latents=lat, cond=hidden
        )


# --- the backbone -------------------------------------------------------------------------------


@register
class AudioldmBackbone(EncodedBackbone):
    """AudioLDM driven by the dance through trained rhythm and genre encoders (or text alone).

    Parameters
    ----------
    model : str, optional
        Id, folder or ``debug``; default: the model the encoder checkpoint was trained on,
        else :data:`DEFAULT_MODEL`.
    encoder : str or Path, optional
        Encoder checkpoint folder (``d2m train --backbone audioldm --out``). Without one,
        AudioLDM is a plain text-to-audio model: prompts must not contain ``@`` / ``*``
        (``d2m generate --zero-shot`` spells them out and aligns the beats afterwards).
    guidance : float
        Classifier-free guidance scale (default 2.5, AudioLDM's); <= 1 turns it off.
    steps : int
        Denoising steps (default 50).
    device : str, optional
        Torch device (default ``cuda`` when present); fp16 UNet, VAE and vocoder on GPU, the
        CLAP text encoder in float32.
    window_overlap : float, optional
        Music longer than one window: the share of each window that continues the previous
        one (default 0.25: with encoders 1.28 s of each 5.12 s window; without them 2.56 s of
        each :data:`TEXT_WINDOW_S` window).
    """

    name = "audioldm"
    label = "AudioLDM (neural)"
    sample_rate = 16000
    family = "AudioLDM"
    default_model = DEFAULT_MODEL
    model_availability = staticmethod(model_availability)

    def __init__(
        self,
        *,
        model: str | None = None,
        encoder: str | Path | None = None,
        guidance: float | None = DEFAULT_GUIDANCE,
        steps: int | None = DEFAULT_STEPS,
        device: str | None = None,
        window_overlap: float | None = None,
    ) -> None:
        import torch

        self._choose_model(model, encoder, device)
        self.la = load_audioldm(
            self.model_name, device=self.device, half=self.device.startswith("cuda")
        )
        self.conditioner = make_conditioner(self.la)
        self._load_encoders(encoder)
        self.window_s = self.cfg.clip_s if self.cfg else TEXT_WINDOW_S
        self.window_overlap = float(0.25 if window_overlap is None else window_overlap)
        if not 0.0 <= self.window_overlap < 1.0:
            raise D2MError(f"window overlap must be in [0, 1), got {self.window_overlap}")
        self.guidance = float(DEFAULT_GUIDANCE if guidance is None else guidance)
        self.steps = int(DEFAULT_STEPS if steps is None else steps)
        if self.steps < 1:
            raise D2MError(f"--steps must be at least 1, got {self.steps}")
        self.core = DiffusionCore(self.la)
        self.sample_rate = self.la.sample_rate
        with torch.no_grad():  # AudioLDM's unconditional input: the empty prompt
            self.uncond, _ = self.conditioner.encode([""], {})
        self._lock = threading.Lock()

    @property
    def window_frames(self) -> int:
        """Latent frames of one window (128 for 5.12 s), a multiple of the UNet's downsampling."""
        m = self.la.unet_multiple
        return max(m, int(math.ceil(self.window_s * self.la.latent_rate / m)) * m)

    def window_plan(self, total_frames: int) -> list[tuple[int, int]]:
        """``(start, known)`` latent frames of each window (see
        :func:`~d2m_core.backbones.diffusion.window_plan`)."""
        win = self.window_frames
        overlap = max(1, int(round(win * self.window_overlap)))
        return window_plan(int(total_frames), window=win, overlap=overlap)

    def conditioning(
        self,
        *,
        analysis: Analysis,
        prompt: ParsedPrompt,
        genre: str,
        start_s: float,
        feats: RhythmFeatures | None = None,
    ) -> torch.Tensor:
        """The UNet's condition ``(1, P)`` for a window starting at ``start_s`` of the dance
        (``feats``: its rhythm features, computed if not given; see
        :meth:`~d2m_core.backbones.encoded.EncodedBackbone.dance_conditioning`)."""
        cond, _ = self.dance_conditioning(
            analysis=analysis, prompt=prompt, genre=genre, start_s=start_s, feats=feats
        )
        return cond

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
        import torch

        rate = self.la.latent_rate
        total = max(1, int(math.ceil(float(duration_s) * rate)))
        plan = self.window_plan(total)
        win = self.window_frames
        feats = self.dance_features(analysis, prompt)  # a bad prompt fails before any sampling
        n = len(plan)
        with self._lock, torch.no_grad():
            gen = torch.Generator().manual_seed(int(seed))
            latents = None
            for i, (start, k) in enumerate(plan):
                msg = f"window {i + 1}/{n}"
                step_cb = None
                if progress:
                    progress(i / (n + 1), msg)

                    def step_cb(f: float, i: int = i, msg: str = msg) -> None:
                        progress((i + f) / (n + 1), msg)

                cond = self.conditioning(
                    analysis=analysis, prompt=prompt, genre=genre, start_s=start / rate, feats=feats
                )
                out = self.core.sample(
                    cond=cond,
                    uncond=self.uncond,
                    frames=win,
                    steps=self.steps,
                    guidance=self.guidance,
                    generator=gen,
                    known=None if latents is None else latents[:, :, start : start + k],
                    progress=step_cb,
                )
                latents = out if latents is None else torch.cat([latents, out[:, :, k:]], dim=2)
            if progress:
                progress(n / (n + 1), "decoding audio")
            audio = self.core.decode(latents)[0]
        n_out = int(round(float(duration_s) * self.sample_rate))
        if len(audio) < n_out:
            audio = np.pad(audio, (0, n_out - len(audio)))
        if not np.isfinite(audio).all():
            raise RuntimeError(f"AudioLDM '{self.model_name}' produced non-finite audio")
        if progress:
            progress(1.0, "done")
        return np.clip(audio[:n_out], -1.0, 1.0).astype(np.float32)
