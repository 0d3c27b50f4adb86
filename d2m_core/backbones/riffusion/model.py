"""Riffusion (Stable Diffusion on spectrogram pictures) with encoder-based textual inversion.

Models
------
``--model`` is a Hugging Face id (default ``riffusion/riffusion-model-v1``), a local folder
holding a saved Stable-Diffusion-style pipeline (``model_index.json`` with ``unet/``, ``vae/``,
``text_encoder/``, ``tokenizer/``, ``scheduler/``), or ``debug``: a tiny random pipeline built
from configs (a 2-level UNet on 16 x 16 latents, a 3-level VAE, a 2-layer CLIP with a word-level
tokenizer), for tests and smoke runs. Nothing is ever downloaded: ids load from the local
Hugging Face cache only (``local_files_only``), and :func:`model_availability` says how to
download a missing one. The five components are loaded one by one (no safety checker or
feature extractor). On a GPU the UNet and the VAE run in fp16; CLIP always runs in float32.

Pictures, latents and time
--------------------------
Audio <-> picture conversion is :mod:`.spectrogram` (44.1 kHz, one picture column
per 10 ms, 512 mel rows; a 512-column tile = 5.12 s). The model's native picture is
``image_size`` pixels square (``unet.sample_size x vae_scale``: 64 x 8 = 512 for Riffusion) and
covers one tile, so for Riffusion a pixel is a spectrogram column and a latent frame is
``columns_per_latent`` = 8 columns (80 ms). Pictures of other sizes (the debug model's 64) are
resized (bilinear, anti-aliased) to the model and back. Time is the picture's width: latents
``(B, 4, h, w)`` have time on axis 3. Clip lengths must be whole latent frames (multiples of
0.08 s for Riffusion, 0.32 s for the debug model).

Conditioning
------------
As Stable Diffusion does: prompts are tokenised padded to the tokenizer's ``model_max_length``
(77), CLIP runs without a padding mask, and the UNet cross-attends to all 77
``last_hidden_state`` rows; the unconditional input of classifier-free guidance is the empty
prompt ``""`` encoded the same way. ``@`` / ``*`` are injected by a hook on CLIP's token
embeddings (:func:`make_conditioner`). Prompts longer than 77 tokens are an error (never
silently truncated). Without encoders (``encoder=None``) the backbone is a plain text-to-music
model: prompts must not contain ``@`` / ``*`` (``d2m generate --zero-shot`` spells them out).

Training targets and loss
-------------------------
A clip (5.12 s in the paper) -> :func:`~.spectrogram.audio_to_image` (black = the
clip's loudest mel amplitude, Riffusion's convention) -> pixels scaled to [-1, 1] -> the VAE
posterior *mean* (deterministic, so cached targets are reproducible) times ``scaling_factor``.
The cached targets are these latents in float16 (half the cache). The loss is the
noise-prediction MSE of paper Eq. 2
(:func:`~d2m_core.backbones.diffusion.noise_prediction_loss`) under a DDPM schedule made
from the model's scheduler config, as diffusers' training scripts do.

Generation
----------
One window is one encoder clip (one tile, 5.12 s, without encoders) of latents, denoised with
classifier-free guidance (default 7.0, Riffusion's own inference default, and 50 steps:
riffusion-hobby ``riffusion/datatypes.py``) by the model's own scheduler. Longer music is made
window by window: each window's first ``window_overlap`` (default a quarter) latent frames are
the previous window's last ones, kept through the denoising
(:func:`~d2m_core.backbones.diffusion.denoise` with ``known``, ``time_axis=3``), and each
window gets the rhythm embedding of its own stretch of the dance. Each window is decoded to a
picture and a mel spectrogram; the spectrograms are cross-faded over the shared columns
(:func:`~.spectrogram.stitch_mels`) and the whole is turned into audio at once
(:func:`~.spectrogram.mel_to_audio`: Griffin-Lim whose phases run on across chunks),
so there is no seam. Generated pictures carry no loudness (no ``max_value``), so the result is
peak-normalised once, over the whole piece, to :data:`OUTPUT_PEAK` (0.9, about -0.9 dBFS, as
:mod:`.spectrogram` does for pictures without a stored level): no level jumps between windows.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import threading
from dataclasses import dataclass
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
from d2m_core.backbones.riffusion import spectrogram as rs
from d2m_core.dance.analysis import Analysis
from d2m_core.dance.rhythm import RhythmFeatures
from d2m_core.errors import D2MError
from d2m_core.inversion.adapter import InversionAdapter
from d2m_core.music.prompt import ParsedPrompt

if TYPE_CHECKING:
    import torch

    from d2m_core.inversion.injection import EmbeddingHookConditioner

DEFAULT_MODEL = "riffusion/riffusion-model-v1"
FAMILY = "Riffusion"
COMPONENTS = ("unet", "vae", "text_encoder")
"""Pipeline sub-folders whose ``config.json`` must be present (the tokenizer and scheduler
folders hold other file names; a missing one is reported when loading)."""

DEFAULT_GUIDANCE = 7.0
"""Classifier-free guidance scale: Riffusion's inference default (riffusion-hobby
``PromptInput.guidance``); Stable Diffusion's pipelines default to 7.5."""

DEFAULT_STEPS = 50
"""Denoising steps: Riffusion's inference default (``InferenceInput.num_inference_steps``)."""

OUTPUT_PEAK = 0.9
"""Peak level of generated music (generated pictures carry no loudness)."""

TIME_AXIS = 3
TARGET_FORMAT = "float16"


# --- finding and loading models -----------------------------------------------------------------


def model_availability(model: str, *, cache_dir: str | Path | None = None) -> tuple[bool, str]:
    """Whether Riffusion ``model`` (``debug``, a local pipeline folder, or a Hugging Face id) can
    be loaded here without any download: ready or not, and a one-line reason / how to get it
    (:func:`~d2m_core.backbones.diffusion.pipeline_availability` with
    :data:`COMPONENTS`; ``cache_dir`` is the Hugging Face hub cache)."""
    return pipeline_availability(
        str(model), family=FAMILY, components=COMPONENTS, cache_dir=cache_dir
    )


@dataclass
class LoadedRiffusion:
    """The components of a Riffusion pipeline.

    Attributes
    ----------
    vae : diffusers.AutoencoderKL
    text_encoder : transformers.CLIPTextModel
        Always float32.
    tokenizer : transformers tokenizer
        ``model_max_length`` is the prompt length CLIP reads (77).
    unet : diffusers.UNet2DConditionModel
    scheduler : diffusers scheduler
        The model's sampler (copied per generation).
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
        """Pixels per latent frame (8 for Stable Diffusion's VAE)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_size(self) -> tuple[int, int]:
        """``(h, w)``: the UNet's native latent size, which covers one 5.12 s tile."""
        s = self.unet.config.sample_size
        return (int(s), int(s)) if isinstance(s, int) else (int(s[0]), int(s[1]))

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)``: the native picture size, pixels (512 x 512 for Riffusion)."""
        h, w = self.latent_size
        return h * self.vae_scale, w * self.vae_scale

    @property
    def columns_per_latent(self) -> int:
        """Spectrogram columns (10 ms each) per latent frame (8 for Riffusion, 80 ms)."""
        return rs.TILE_WIDTH // self.latent_size[1]

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    def check(self) -> LoadedRiffusion:
        """Raise a D2MError if the geometry is not one this module handles."""
        if rs.TILE_WIDTH % self.latent_size[1]:
            raise D2MError(
                f"{self.name}: a latent width of {self.latent_size[1]} does not divide a"
                f" {rs.TILE_WIDTH}-column Riffusion tile"
            )
        if int(self.vae.config.latent_channels) != self.latent_channels:
            raise D2MError(f"{self.name}: the VAE and the UNet disagree on latent channels")
        return self

    def latent_frames(self, columns: int) -> int:
        """Latent frames of ``columns`` spectrogram columns.

        Raises
        ------
        D2MError
            ``columns`` is not a whole number of latent frames.
        """
        cpl = self.columns_per_latent
        if columns <= 0 or columns % cpl:
            step = cpl * rs.HOP_LENGTH / rs.SAMPLE_RATE
            raise D2MError(
                f"{columns} spectrogram columns ({columns / 100:g} s) are not a whole number of"
                f" {self.name} latent frames: clip lengths must be multiples of {step:g} s"
                " (e.g. 5.12)"
            )
        return columns // cpl


def _tokenizer_words() -> list[str]:
    from d2m_core.inversion.vocab import BASE_WORDS
    from d2m_core.music.genres import GENRES
    from d2m_core.music.prompt import DEFAULT_WORD_BANK

    words = [*BASE_WORDS, *(w for g in GENRES for w in g.split("_")), *GENRES]
    return words + [w for ws in DEFAULT_WORD_BANK.values() for w in ws]


def debug_riffusion(*, seed: int = 0) -> LoadedRiffusion:
    """A tiny random Riffusion-style pipeline, identical on every call.

    UNet: 2 levels (32, 64 channels), cross-attention width 32, native latents 4 x 16 x 16.
    VAE: 3 levels (scale factor 4, the real one has 4 levels and 8), so the native picture is
    64 x 64 and one latent frame is 32 spectrogram columns (0.32 s). CLIP: 2 layers of width 32
    with a word-level tokenizer padded to 77 tokens. Scheduler: PNDM with Stable Diffusion's
    noise schedule (scaled linear betas 0.00085..0.012, 1000 steps).

    Returns
    -------
    LoadedRiffusion
        Everything in eval mode, float32, on the CPU.
    """
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from d2m_core.inversion.vocab import word_tokenizer

    tok = word_tokenizer(_tokenizer_words(), model_max_length=77)
    vocab = int(math.ceil(len(tok) / 8) * 8)
    text_cfg = CLIPTextConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, projection_dim=32,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text = CLIPTextModel(text_cfg)
        unet = UNet2DConditionModel(
            sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
            block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
            attention_head_dim=8, norm_num_groups=32,
        )  # fmt: skip
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
            down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
            block_out_channels=(8, 16, 16), norm_num_groups=8, sample_size=64,
            scaling_factor=0.18215,
        )  # fmt: skip
    scheduler = PNDMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
        beta_schedule="scaled_linear", skip_prk_steps=True, set_alpha_to_one=False,
        steps_offset=1,
    )  # fmt: skip
    return LoadedRiffusion(
        vae=vae.eval(), text_encoder=text.eval(), tokenizer=tok, unet=unet.eval(),
        scheduler=scheduler, name=DEBUG_MODEL,
    ).check()  # fmt: skip


def _load_scheduler(ref: str):
    import diffusers
    from diffusers import SchedulerMixin

    cfg = diffusers.DDPMScheduler.load_config(ref, subfolder="scheduler", local_files_only=True)
    cls = getattr(diffusers, str(cfg.get("_class_name")), None)
    if not (isinstance(cls, type) and issubclass(cls, SchedulerMixin)):
        raise D2MError(f"unknown diffusers scheduler '{cfg.get('_class_name')}'")
    return cls.from_config(cfg)


def _load_files(model: str) -> LoadedRiffusion:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextModel

    ok, why = model_availability(model)
    if not ok:
        raise D2MError(why)
    ref = model_ref(model)
    kw: dict = {"local_files_only": True}
    try:
        tok = AutoTokenizer.from_pretrained(ref, subfolder="tokenizer", **kw)
        text = CLIPTextModel.from_pretrained(
            ref, subfolder="text_encoder", dtype=torch.float32, **kw
        )
        unet = UNet2DConditionModel.from_pretrained(
            ref, subfolder="unet", torch_dtype=torch.float32, **kw
        )
        vae = AutoencoderKL.from_pretrained(ref, subfolder="vae", torch_dtype=torch.float32, **kw)
        scheduler = _load_scheduler(ref)
    except D2MError:
        raise
    except Exception as exc:  # noqa: BLE001 - corrupt or partial downloads surface here
        raise D2MError(f"cannot load {FAMILY} '{model}' ({type(exc).__name__}: {exc})") from None
    return LoadedRiffusion(
        vae=vae.eval(), text_encoder=text.eval(), tokenizer=tok, unet=unet.eval(),
        scheduler=scheduler, name=str(model),
    ).check()  # fmt: skip


_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_cached(model: str, device: str, half: bool) -> LoadedRiffusion:
    import torch

    lr = debug_riffusion() if model == DEBUG_MODEL else _load_files(model)
    for net in (lr.vae, lr.text_encoder, lr.unet):
        net.to(device)
        for p in net.parameters():
            p.requires_grad_(False)
    if half:  # CLIP stays float32; the UNet and the VAE go fp16 (as Riffusion runs them)
        lr.unet.to(torch.float16)
        lr.vae.to(torch.float16)
    return lr


def load_riffusion(model: str, *, device: str = "cpu", half: bool = False) -> LoadedRiffusion:
    """Load (once per process, device and precision) a Riffusion pipeline without downloading.

    Parameters
    ----------
    model : str
        Hugging Face id, local folder, or ``debug``.
    device : str
        Torch device.
    half : bool
        fp16 UNet and VAE (GPU inference); the text encoder stays float32.

    Raises
    ------
    D2MError
        Not on this machine (the message says how to download it), or unreadable.
    """
    with _LOAD_LOCK:
        return _load_cached(str(model), str(device), bool(half))


# --- conditioning -------------------------------------------------------------------------------


@functools.cache
def _conditioner_class():
    from d2m_core.inversion.injection import EmbeddingHookConditioner

    class RiffusionConditioner(EmbeddingHookConditioner):
        """CLIP with ``@`` / ``*`` injection, tokenised the way Stable Diffusion does.

        Prompts are padded to ``max_length`` (the tokenizer's ``model_max_length``, 77) and the
        returned mask is all ones: CLIP runs without a padding mask (its attention is causal,
        so the padding never changes the prompt's own rows) and the UNet attends to every row.
        """

        def tokenize(self, prompts):
            import torch

            n = int(self.max_length or self.tokenizer.model_max_length)
            prompts = list(prompts)
            lengths = [len(x) for x in self.tokenizer(prompts)["input_ids"]]
            if max(lengths, default=0) > n:
                raise D2MError(
                    f"the prompt is {max(lengths)} tokens long; CLIP reads at most {n}: shorten it"
                )
            enc = self.tokenizer(prompts, padding="max_length", max_length=n, return_tensors="pt")
            ids = enc["input_ids"].to(self.device)
            return ids, torch.ones_like(ids)

    return RiffusionConditioner


def make_conditioner(lr: LoadedRiffusion) -> EmbeddingHookConditioner:
    """The pseudo-word-aware CLIP conditioner of a loaded pipeline (see
    :class:`RiffusionConditioner`, defined lazily so that importing this module stays
    torch-free)."""
    cls = _conditioner_class()
    return cls(
        tokenizer=lr.tokenizer,
        text_model=lr.text_encoder,
        max_length=int(lr.tokenizer.model_max_length),
    )


def unet_fn(lr: LoadedRiffusion):
    """``f(latents (B, C, h, w), t (B,), states (B, S, W)) -> noise prediction`` in float32."""

    def f(x, t, cond):
        dtype = lr.unet.dtype
        return lr.unet(x.to(dtype), t, encoder_hidden_states=cond.to(dtype)).sample.float()

    return f


# --- pictures <-> latents -----------------------------------------------------------------------


def _resize(grey: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear (anti-aliased) resize of a uint8 ``(h, w)`` picture to ``(height, width)``."""
    if grey.shape == (height, width):
        return grey
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(grey))
    return np.asarray(im.resize((width, height), Image.Resampling.BILINEAR))


def audio_pixels(lr: LoadedRiffusion, audio: np.ndarray) -> np.ndarray:
    """Model input pictures of equal-length clips.

    Parameters
    ----------
    audio : np.ndarray [shape=(B, N)], float32
        Mono clips at 44.1 kHz in [-1, 1]; ``N // 441`` columns must be whole latent frames.

    Returns
    -------
    np.ndarray [shape=(B, 3, H, W)], float32
        Pixels in [-1, 1] (white, silence, is 1), ``H`` the model's picture height and
        ``W = latent_frames * vae_scale``.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise D2MError(f"clips must be (B, N), got shape {audio.shape}")
    frames = lr.latent_frames(audio.shape[1] // rs.HOP_LENGTH)
    height, width = lr.image_size[0], frames * lr.vae_scale
    out = np.empty((len(audio), 3, height, width), np.float32)
    for i, clip in enumerate(audio):
        grey = np.asarray(rs.audio_to_image(clip, rs.SAMPLE_RATE))[:, :, 0]
        out[i] = _resize(grey, height, width)[None].astype(np.float32) / 127.5 - 1.0
    return out


def encode_pixels(lr: LoadedRiffusion, pixels: np.ndarray, *, batch: int = 8) -> np.ndarray:
    """Scaled VAE latents (posterior mean x ``scaling_factor``) of ``(B, 3, H, W)`` pixels.

    Returns
    -------
    np.ndarray [shape=(B, C, H / vae_scale, W / vae_scale)], float32
    """
    import torch

    vae = lr.vae
    p = next(vae.parameters())
    out = []
    with torch.no_grad():
        for s in range(0, len(pixels), batch):
            x = torch.as_tensor(pixels[s : s + batch], device=p.device, dtype=p.dtype)
            z = vae.encode(x).latent_dist.mean * lr.scaling_factor
            out.append(z.float().cpu().numpy())
    z = np.concatenate(out, axis=0)
    if not np.isfinite(z).all():
        raise D2MError(f"the {lr.name} VAE gave non-finite latents")
    return z


def latents_to_mels(lr: LoadedRiffusion, latents: torch.Tensor) -> list[np.ndarray]:
    """Mel spectrograms of latents, through the VAE decoder and a uint8 picture (as Riffusion).

    Parameters
    ----------
    latents : torch.Tensor [shape=(B, C, h, w)]
        Scaled latents.

    Returns
    -------
    list of np.ndarray [shape=(N_MELS, w * columns_per_latent)], float32
        Mel amplitudes at :data:`~.spectrogram.DEFAULT_MAX_VALUE` for black.
    """
    import torch

    vae = lr.vae
    p = next(vae.parameters())
    cols = latents.shape[TIME_AXIS] * lr.columns_per_latent
    mels = []
    with torch.no_grad():
        for z in latents:
            img = vae.decode(z[None].to(p.device, p.dtype) / lr.scaling_factor).sample[0]
            img = (img.float() / 2 + 0.5).clamp(0, 1) * 255  # Stable Diffusion's output mapping
            grey = img[0].round().to(torch.uint8).cpu().numpy()  # Riffusion reads channel 0
            mels.append(rs.image_to_mel(_resize(grey, rs.N_MELS, cols)))
    return mels


def render_mels(
    mels: list[np.ndarray], *, overlap_columns: int, num_samples: int, seed: int
) -> np.ndarray:
    """Audio of consecutive window spectrograms, without seams.

    Parameters
    ----------
    mels : list of np.ndarray [shape=(N_MELS, T)]
        Windows, each starting ``T - overlap_columns`` columns after the previous one.
    overlap_columns : int
        Columns shared by consecutive windows (cross-faded linearly).
    num_samples : int
        Output length at 44.1 kHz.
    seed : int
        Griffin-Lim's initial phase.

    Returns
    -------
    np.ndarray [shape=(num_samples,)], float32
        Peak-normalised to :data:`OUTPUT_PEAK` (silence stays silent).
    """
    mel = rs.stitch_mels(mels, overlap=overlap_columns)
    need = int(math.ceil(num_samples / rs.HOP_LENGTH))
    if mel.shape[1] < need:
        raise D2MError(f"internal: {mel.shape[1]} spectrogram columns for {need} needed")
    y = rs.mel_to_audio(mel[:, :need], seed=int(seed) % 2**32)[:num_samples]
    peak = float(np.max(np.abs(y), initial=0.0))
    if peak > 0:
        y = y * (OUTPUT_PEAK / peak)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


# --- training adapter ---------------------------------------------------------------------------


class RiffusionInversionAdapter(InversionAdapter):
    """Riffusion for inversion training: CLIP conditioner, VAE latents, Eq. 2 loss.

    Parameters
    ----------
    model : str
        Id, folder or ``debug``.
    device : str
    """

    backbone = "riffusion"
    sample_rate = rs.SAMPLE_RATE

    def __init__(self, *, model: str, device: str = "cpu") -> None:
        from diffusers import DDPMScheduler

        self.lr = load_riffusion(model, device=str(device))
        self.model_id = str(model)
        self.conditioner = make_conditioner(self.lr)
        self.train_scheduler = DDPMScheduler.from_config(self.lr.scheduler.config)
        self.unet_fn = unet_fn(self.lr)
        self.freeze()

    def modules(self):
        return [self.lr.text_encoder, self.lr.unet, self.lr.vae]

    def target_signature(self) -> str:
        lr = self.lr
        blob = json.dumps(
            {
                "model": self.model_id,
                "vae": dict(lr.vae.config),
                "image": [*lr.image_size, lr.vae_scale, lr.scaling_factor],
                "spec": [rs.SAMPLE_RATE, rs.N_FFT, rs.WIN_LENGTH, rs.HOP_LENGTH, rs.N_MELS,
                         rs.F_MAX, rs.POWER_FOR_IMAGE],
                "latent": "posterior-mean",
                "format": TARGET_FORMAT,
            },
            sort_keys=True,
            default=str,
        )  # fmt: skip
        return "riffusion-" + hashlib.sha1(blob.encode()).hexdigest()[:16]

    def encode_targets(self, audio: np.ndarray) -> np.ndarray:
        """Latents ``(B, C, h, w)`` of 44.1 kHz clips ``(B, N)``, float16."""
        return encode_pixels(self.lr, audio_pixels(self.lr, audio)).astype(np.float16)

    def loss(self, *, hidden, mask, targets):
        # ``mask`` is all ones: the UNet attends to all 77 rows, as Stable Diffusion's does.
        dev = hidden.device
        return noise_prediction_loss(
            unet_fn=self.unet_fn,
            scheduler=self.train_scheduler,
            latents=targets.to(dev).float(),
            cond=hidden,
        )


# --- the backbone -------------------------------------------------------------------------------


@register
class RiffusionBackbone(EncodedBackbone):
    """Riffusion driven by the dance through trained rhythm and genre encoders (or zero-shot).

    Parameters
    ----------
    model : str, optional
        Id, folder or ``debug``; default: the model the encoder checkpoint was trained on,
        else :data:`DEFAULT_MODEL`.
    encoder : str or Path, optional
        Encoder checkpoint folder (``d2m train --backbone riffusion --out``). Without it only
        plain prompts (no ``@`` / ``*``) work: zero-shot use.
    guidance : float
        Classifier-free guidance scale (default :data:`DEFAULT_GUIDANCE`, 7.0); 1 turns it off.
    steps : int
        Denoising steps per window (default 50).
    device : str, optional
        Torch device (default ``cuda`` when present); fp16 UNet and VAE on GPU.
    window_overlap : float, optional
        Music longer than one window: the share of each window that continues the previous one
        (default 0.25: 1.28 s of context, 3.84 s new per 5.12 s window; with encoders, short
        overlaps leave most of each window to its own rhythm embedding, as for MusicGen).
    """

    name = "riffusion"
    label = "Riffusion (neural)"
    sample_rate = rs.SAMPLE_RATE
    family = FAMILY
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
        self._choose_model(model, encoder, device)
        self.lr = load_riffusion(
            self.model_name, device=self.device, half=self.device.startswith("cuda")
        )
        self.conditioner = make_conditioner(self.lr)
        self._load_encoders(encoder)
        self.guidance = float(guidance if guidance is not None else DEFAULT_GUIDANCE)
        self.steps = int(steps if steps is not None else DEFAULT_STEPS)
        if self.steps < 1:
            raise D2MError(f"--steps must be at least 1, got {self.steps}")
        window_overlap = 0.25 if window_overlap is None else float(window_overlap)
        if not 0 <= window_overlap < 1:
            raise D2MError(f"window_overlap must be in [0, 1), got {window_overlap}")
        clip_s = self.cfg.clip_s if self.cfg is not None else rs.TILE_SECONDS
        #: latent frames per window: one encoder clip (one tile without encoders)
        self.window = self.lr.latent_frames(int(round(clip_s * rs.SAMPLE_RATE)) // rs.HOP_LENGTH)
        if self.window < 2:
            raise D2MError(f"a {clip_s:g} s window is under 2 latent frames of {self.model_name}")
        self.overlap = min(self.window - 1, max(1, int(round(self.window * window_overlap))))
        self._unet_fn = unet_fn(self.lr)
        self._uncond = None
        self._lock = threading.Lock()

    # -- geometry

    @property
    def seconds_per_latent(self) -> float:
        return self.lr.columns_per_latent * rs.HOP_LENGTH / rs.SAMPLE_RATE

    def window_plan(self, total_frames: int) -> list[tuple[int, int]]:
        """``(start, known)`` latent frames of each window covering ``total_frames``."""
        return window_plan(int(total_frames), window=self.window, overlap=self.overlap)

    def total_frames(self, duration_s: float) -> int:
        """Latent frames needed for ``duration_s`` seconds of music."""
        cols = int(math.ceil(round(float(duration_s) * rs.SAMPLE_RATE) / rs.HOP_LENGTH))
        return max(1, int(math.ceil(cols / self.lr.columns_per_latent)))

    # -- conditioning

    def unconditional(self) -> torch.Tensor:
        """The empty prompt's CLIP states ``(1, 77, W)`` (cached)."""
        import torch

        if self._uncond is None:
            with torch.no_grad():
                self._uncond = self.conditioner.encode([""], {})[0]
        return self._uncond

    def conditioning(
        self,
        *,
        analysis: Analysis,
        prompt: ParsedPrompt,
        genre: str,
        start_s: float,
        feats: RhythmFeatures | None = None,
    ) -> torch.Tensor:
        """CLIP states ``(1, 77, W)`` for a window starting at ``start_s`` of the dance
        (``feats``: its rhythm features, computed if not given; unused without encoders; see
        :meth:`~d2m_core.backbones.encoded.EncodedBackbone.dance_conditioning`)."""
        states, _ = self.dance_conditioning(
            analysis=analysis, prompt=prompt, genre=genre, start_s=start_s, feats=feats
        )
        return states

    # -- sampling

    def sample(
        self,
        cond: torch.Tensor,
        *,
        frames: int,
        generator: torch.Generator,
        known: torch.Tensor | None = None,
        progress=None,
    ) -> torch.Tensor:
        """Latents ``(B, C, h, frames)`` for CLIP states ``cond`` ``(B, 77, W)``.

        ``known`` ``(B, C, h, k)``: the first ``k`` latent frames, kept as they are. Guidance
        uses the empty prompt for every row.
        """
        import torch

        lr = self.lr
        b = cond.shape[0]
        uncond = self.unconditional().expand(b, -1, -1)
        scheduler = type(lr.scheduler).from_config(lr.scheduler.config)
        with torch.no_grad():
            return denoise(
                unet_fn=self._unet_fn,
                scheduler=scheduler,
                shape=(b, lr.latent_channels, lr.latent_size[0], int(frames)),
                cond=cond,
                uncond=uncond,
                steps=self.steps,
                guidance=self.guidance,
                generator=generator,
                device=self.device,
                dtype=lr.unet.dtype,
                known=known,
                time_axis=TIME_AXIS,
                progress=progress,
            )

    def sample_windows(
        self,
        *,
        analysis: Analysis,
        prompt: ParsedPrompt,
        genre: str,
        seed: int,
        total_frames: int,
        progress: Progress | None = None,
    ) -> tuple[list[tuple[int, int]], list[torch.Tensor]]:
        """The window plan and each window's latents ``(1, C, h, window)``; window ``k > 0``
        starts with the last ``known`` frames of window ``k - 1``, unchanged."""
        import torch

        feats = self.dance_features(analysis, prompt)  # a bad prompt fails before any sampling
        plan = self.window_plan(total_frames)
        gen = torch.Generator().manual_seed(int(seed))
        windows: list[torch.Tensor] = []
        for i, (start, k) in enumerate(plan):
            cond = self.conditioning(
                analysis=analysis, prompt=prompt, genre=genre,
                start_s=start * self.seconds_per_latent, feats=feats,
            )  # fmt: skip
            known = windows[-1][..., self.window - k :] if k else None

            def step(f: float, i: int = i) -> None:
                if progress:
                    progress((i + f) / (len(plan) + 1), f"window {i + 1}/{len(plan)}")

            windows.append(
                self.sample(cond, frames=self.window, generator=gen, known=known, progress=step)
            )
        return plan, windows

    def render(self, windows: list[torch.Tensor], *, num_samples: int, seed: int) -> np.ndarray:
        """Audio ``(num_samples,)`` of consecutive windows' latents (see :func:`render_mels`)."""
        mels = [latents_to_mels(self.lr, w)[0] for w in windows]
        return render_mels(
            mels,
            overlap_columns=self.overlap * self.lr.columns_per_latent,
            num_samples=num_samples,
            seed=seed,
        )

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
        if not float(duration_s) > 0:
            raise D2MError(f"the music must last more than 0 s, got {duration_s}")
        n_out = int(round(float(duration_s) * self.sample_rate))
        with self._lock:
            plan, windows = self.sample_windows(
                analysis=analysis, prompt=prompt, genre=genre, seed=seed,
                total_frames=self.total_frames(duration_s), progress=progress,
            )  # fmt: skip
            if progress:
                progress(len(plan) / (len(plan) + 1), "decoding audio")
            audio = self.render(windows, num_samples=n_out, seed=seed)
        if progress:
            progress(1.0, "done")
        return audio
