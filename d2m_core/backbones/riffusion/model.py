"""Riffusion (Stable Diffusion on spectrogram pictures): finding and loading the model, its
CLIP conditioner, sampling, and pictures <-> latents <-> spectrograms.

Models
------
``--model`` is a Hugging Face id (default ``riffusion/riffusion-model-v1``), a local folder
holding a saved Stable-Diffusion-style pipeline (``model_index.json`` with ``unet/``, ``vae/``,
``text_encoder/``, ``tokenizer/``, ``scheduler/``), or ``debug``: a tiny random pipeline built
from configs (a 2-level UNet on 16 x 16 latents, a 3-level VAE, a 2-layer CLIP with a word-level
tokenizer), for tests and smoke runs. Ids load from the local Hugging Face cache only
(``local_files_only``), and :func:`model_availability` says how to download a missing one; d2m
fetches it itself only when asked (``D2M_DOWNLOAD=1`` or ``--download``:
:mod:`d2m_core.backbones.download`). The five components are loaded one by one (no safety checker or
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
embeddings (:meth:`LoadedRiffusion.make_conditioner`). Prompts longer than 77 tokens are an
error (never silently truncated). Without encoders (``encoder=None``) the backbone is a plain
text-to-music model: prompts must not contain ``@`` / ``*`` (``d2m generate --zero-shot``
spells them out).

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
window by window (:class:`~d2m_core.backbones.riffusion.backbone.RiffusionBackbone`): each
window's first ``window_overlap`` (default a quarter) latent frames are the previous window's
last ones, kept through the denoising (:func:`~d2m_core.backbones.diffusion.denoise` with
``known``, ``time_axis=3``), and each window gets the rhythm embedding of its own stretch of
the dance. Each window is decoded to a picture and a mel spectrogram; the spectrograms are
cross-faded over the shared columns (:func:`~.spectrogram.stitch_mels`) and the whole is
turned into audio at once (:func:`~.spectrogram.mel_to_audio`: Griffin-Lim whose phases run
on across chunks), so there is no seam (:func:`render_mels`). Generated pictures carry no
loudness (no ``max_value``), so the result is peak-normalised once, over the whole piece, to
:data:`OUTPUT_PEAK` (0.9, about -0.9 dBFS, as :mod:`.spectrogram` does for pictures without a
stored level): no level jumps between windows.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from d2m_core.backbones.diffusion import LatentDiffusion, LoadedPipeline, pipeline_availability
from d2m_core.backbones.riffusion import spectrogram as rs
from d2m_core.backbones.windowed import load_model, model_ref
from d2m_core.errors import D2MError

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


#: ``model_availability(model, *, cache_dir=None) -> Availability``: whether Riffusion ``model``
#: (``debug``, a local pipeline folder, or a Hugging Face id in the local cache) can be loaded
#: here without any download (:func:`~d2m_core.backbones.diffusion.pipeline_availability`
#: with :data:`COMPONENTS`).
model_availability = functools.partial(pipeline_availability, family=FAMILY, components=COMPONENTS)


@dataclass
class LoadedRiffusion(
    LoadedPipeline,
    family=FAMILY,
    availability=model_availability,
    debug_builder="d2m_core.backbones.riffusion.debug:debug_riffusion",
):
    """The components of a Riffusion pipeline
    (:class:`~d2m_core.backbones.diffusion.LoadedPipeline`): a Stable Diffusion VAE and UNet,
    CLIP's text model, its tokenizer (``model_max_length`` is the prompt length CLIP reads,
    77) and the model's sampler."""

    @property
    def sample_rate(self) -> int:
        """Hz of the audio its pictures stand for (44100)."""
        return rs.SAMPLE_RATE

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

    # -- loading steps (run by load_model)

    @classmethod
    def read(cls, model: str) -> LoadedRiffusion:
        import torch
        from diffusers import AutoencoderKL, UNet2DConditionModel
        from transformers import AutoTokenizer, CLIPTextModel

        ref = model_ref(model)
        kw: dict = {"local_files_only": True}
        tok = AutoTokenizer.from_pretrained(ref, subfolder="tokenizer", **kw)
        text = CLIPTextModel.from_pretrained(
            ref, subfolder="text_encoder", dtype=torch.float32, **kw
        )
        unet = UNet2DConditionModel.from_pretrained(
            ref, subfolder="unet", torch_dtype=torch.float32, **kw
        )
        vae = AutoencoderKL.from_pretrained(ref, subfolder="vae", torch_dtype=torch.float32, **kw)
        return cls(
            vae=vae.eval(), text_encoder=text.eval(), tokenizer=tok, unet=unet.eval(),
            scheduler=_load_scheduler(ref), name=str(model),
        )  # fmt: skip

    def make_core(self) -> RiffusionCore:
        return RiffusionCore(self)

    def make_conditioner(self) -> EmbeddingHookConditioner:
        """CLIP with ``@`` / ``*`` injected, tokenised as Stable Diffusion does
        (:class:`RiffusionConditioner`, defined lazily so that importing stays torch-free)."""
        return _conditioner_class()(
            tokenizer=self.tokenizer,
            text_model=self.text_encoder,
            max_length=int(self.tokenizer.model_max_length),
        )

    def halve(self) -> None:
        import torch

        # CLIP stays float32; the UNet and the VAE go fp16 (as Riffusion runs them).
        self.unet.to(torch.float16)
        self.vae.to(torch.float16)

    def check(self) -> None:
        """Raise a D2MError if the geometry is not one this module handles."""
        if rs.TILE_WIDTH % self.latent_size[1]:
            raise D2MError(
                f"{self.name}: a latent width of {self.latent_size[1]} does not divide a"
                f" {rs.TILE_WIDTH}-column Riffusion tile"
            )
        if int(self.vae.config.latent_channels) != self.latent_channels:
            raise D2MError(f"{self.name}: the VAE and the UNet disagree on latent channels")


def _load_scheduler(ref: str):
    import diffusers
    from diffusers import SchedulerMixin

    cfg = diffusers.DDPMScheduler.load_config(ref, subfolder="scheduler", local_files_only=True)
    cls = getattr(diffusers, str(cfg.get("_class_name")), None)
    if not (isinstance(cls, type) and issubclass(cls, SchedulerMixin)):
        raise D2MError(f"unknown diffusers scheduler '{cfg.get('_class_name')}'")
    return cls.from_config(cfg)


def load_riffusion(model: str, *, device: str = "cpu", half: bool = False) -> LoadedRiffusion:
    """Load (once per process, device and precision) a Riffusion pipeline without downloading
    (:func:`~d2m_core.backbones.windowed.load_model`; ``half``: fp16 UNet and VAE, for GPU
    inference; the text encoder stays float32)."""
    return load_model(LoadedRiffusion, model, device=device, half=half)


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


# --- sampling, pictures <-> latents -------------------------------------------------------------


def _resize(grey: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear (anti-aliased) resize of a uint8 ``(h, w)`` picture to ``(height, width)``."""
    if grey.shape == (height, width):
        return grey
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(grey))
    return np.asarray(im.resize((width, height), Image.Resampling.BILINEAR))


class RiffusionCore(LatentDiffusion):
    """The UNet, sampling (:meth:`~d2m_core.backbones.diffusion.LatentDiffusion.sample`) and
    picture calls of one loaded Riffusion; latents ``(B, C, h, frames)``, time on axis 3.

    Parameters
    ----------
    pipe : LoadedRiffusion
    """

    time_axis = TIME_AXIS

    def __init__(self, pipe: LoadedRiffusion) -> None:
        self.pipe = pipe
        self.scheduler = pipe.scheduler

    def unet_fn(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The UNet's float32 noise prediction for latents ``x`` ``(B, C, h, w)`` at timesteps
        ``t`` ``(B,)`` cross-attending to CLIP states ``cond`` ``(B, S, W)``."""
        dtype = self.pipe.unet.dtype
        return self.pipe.unet(x.to(dtype), t, encoder_hidden_states=cond.to(dtype)).sample.float()

    def latent_shape(self, batch: int, frames: int) -> tuple[int, int, int, int]:
        pipe = self.pipe
        return batch, pipe.latent_channels, pipe.latent_size[0], frames

    @property
    def latent_dtype(self) -> torch.dtype:
        return self.pipe.unet.dtype

    @property
    def device(self) -> torch.device:
        return self.pipe.unet.device

    def audio_pixels(self, audio: np.ndarray) -> np.ndarray:
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
        pipe = self.pipe
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2:
            raise D2MError(f"clips must be (B, N), got shape {audio.shape}")
        frames = pipe.latent_frames(audio.shape[1] // rs.HOP_LENGTH)
        height, width = pipe.image_size[0], frames * pipe.vae_scale
        out = np.empty((len(audio), 3, height, width), np.float32)
        for i, clip in enumerate(audio):
            grey = np.asarray(rs.audio_to_image(clip, rs.SAMPLE_RATE))[:, :, 0]
            out[i] = _resize(grey, height, width)[None].astype(np.float32) / 127.5 - 1.0
        return out

    def encode_pixels(self, pixels: np.ndarray, *, batch: int = 8) -> np.ndarray:
        """Scaled VAE latents (posterior mean x ``scaling_factor``) of ``(B, 3, H, W)`` pixels.

        Returns
        -------
        np.ndarray [shape=(B, C, H / vae_scale, W / vae_scale)], float32
        """
        import torch

        pipe = self.pipe
        p = next(pipe.vae.parameters())
        out = []
        with torch.no_grad():
            for s in range(0, len(pixels), batch):
                x = torch.as_tensor(pixels[s : s + batch], device=p.device, dtype=p.dtype)
                z = pipe.vae.encode(x).latent_dist.mean * pipe.scaling_factor
                out.append(z.float().cpu().numpy())
        z = np.concatenate(out, axis=0)
        if not np.isfinite(z).all():
            raise D2MError(f"the {pipe.name} VAE gave non-finite latents")
        return z

    def latents_to_mels(self, latents: torch.Tensor) -> list[np.ndarray]:
        """Mel spectrograms of latents, through the VAE decoder and a uint8 picture (as
        Riffusion).

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

        pipe = self.pipe
        p = next(pipe.vae.parameters())
        cols = latents.shape[TIME_AXIS] * pipe.columns_per_latent
        mels = []
        with torch.no_grad():
            for z in latents:
                img = pipe.vae.decode(z[None].to(p.device, p.dtype) / pipe.scaling_factor).sample[0]
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
