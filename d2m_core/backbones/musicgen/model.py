"""MusicGen (transformers) with encoder-based textual inversion: the first neural backbone.

Models
------
``--model`` is a Hugging Face id (``facebook/musicgen-small``, ``-medium``, ``-large``,
``-melody``, the ``-stereo-*`` variants), a local folder holding one (``config.json``, weights,
tokenizer), or ``debug``: a tiny random MusicGen built from configs (4 codebooks at 50 Hz,
32 kHz, a word-level tokenizer), like audiocraft's debug model, for tests and smoke runs.
Nothing is ever downloaded: ids load from the local Hugging Face cache only
(``local_files_only``), and :meth:`MusicgenBackbone.availability` says how to download a
missing one.

Conditioning
------------
The prompt goes through T5 with the ``@`` / ``*`` token embeddings replaced by the trained
encoders' outputs (:class:`~d2m_core.inversion.injection.InputsEmbedsConditioner`). T5 runs in
float32 (as audiocraft does; it overflows in fp16); on a GPU the decoder runs in fp16.
MusicGen attends to the text by cross-attention; MusicGen-Melody prepends it (with a null
chroma) to the decoder's input instead. Both are handled here.

Codes and the delay pattern
---------------------------
Encodec gives ``K`` codebooks ``codes[k, t]`` at ``frame_rate`` Hz. The decoder sees them with
codebook ``k`` delayed by ``k`` steps (stereo models: by ``k // 2``) after a start token
``s`` (= ``pad_token_id``, 2048 for the real models): position 0 is ``s`` for all codebooks,
position ``1 + delay[k] + t`` holds ``codes[k, t]``, everything else is ``s``. Training feeds
positions ``0..L-2`` and scores positions ``1..L-1`` (``s`` -> ignored), per-codebook cross-entropy
averaged over codebooks (paper Eq. 3). Sampling walks the same layout (:func:`sample_codes`).

Generation
----------
Classifier-free guidance is done here, not by ``generate()`` (transformers' MusicGen silently
drops it for ``encoder_outputs``): the batch is doubled with a null condition (zeros, as
MusicGen trains it) and ``logits = uncond + g * (cond - uncond)``, then top-k sampling with a
seeded ``torch.Generator``. Music longer than one clip is made window by window: each window
is one encoder clip long (5.12 s), starts with the last quarter of the previous window's codes
as its prompt, and gets the rhythm embedding of its own stretch of the dance.
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
from d2m_core.backbones.encoded import (
    DEBUG_MODEL,
    EncodedBackbone,
    hub_cached,
    looks_like_path,
    window_plan,
)
from d2m_core.dance.analysis import Analysis
from d2m_core.errors import D2MError
from d2m_core.inversion.adapter import InversionAdapter
from d2m_core.music.prompt import ParsedPrompt

if TYPE_CHECKING:
    import torch

DEFAULT_MODEL = "facebook/musicgen-small"
KNOWN_MODELS = (
    "facebook/musicgen-small",
    "facebook/musicgen-medium",
    "facebook/musicgen-large",
    "facebook/musicgen-melody",
)
#: Window length without encoders, seconds (MusicGen's training clips).
TEXT_WINDOW_S = 30.0
_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_TOKENIZER_FILES = ("tokenizer.json", "spiece.model")


# --- finding models (torch-free) ----------------------------------------------------------------


def _download_hint(model: str) -> str:
    return (
        f"MusicGen model '{model}' is not on this machine: download it once with"
        f" `huggingface-cli download {model}` (needs internet), or pass --model with a folder"
        " holding a MusicGen (config.json, weights, tokenizer)"
    )


def model_availability(model: str, *, cache_dir: str | Path | None = None) -> tuple[bool, str]:
    """Whether ``model`` can be loaded here without any download.

    Parameters
    ----------
    model : str
        ``debug``, a local folder, or a Hugging Face id (looked up in the local cache only).
    cache_dir : str or Path, optional
        Hugging Face hub cache (default: the usual one, ``HF_HUB_CACHE``).

    Returns
    -------
    (bool, str)
        Ready or not, and a one-line reason / how to get it.
    """
    if model == DEBUG_MODEL:
        return True, "tiny random MusicGen (debug)"
    p = Path(model).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            return False, f"{p} has no config.json: point --model at a saved MusicGen folder"
        if not any((p / f).is_file() for f in _WEIGHT_FILES):
            return False, f"{p} has no model weights (model.safetensors or pytorch_model.bin)"
        return True, f"local folder {p}"
    if looks_like_path(model):
        return False, f"model folder {p} not found"
    cached = functools.partial(hub_cached, model, cache_dir=cache_dir)
    if not cached("config.json") or not any(cached(f) for f in _WEIGHT_FILES):
        return False, _download_hint(model)
    if not any(cached(f) for f in _TOKENIZER_FILES):
        return False, f"the tokenizer of '{model}' is missing from the cache; " + _download_hint(
            model
        )
    return True, f"{model} (Hugging Face cache)"


# --- loading ------------------------------------------------------------------------------------


def debug_musicgen(*, seed: int = 0):
    """A tiny random MusicGen and its word-level tokenizer, identical on every call.

    32 kHz mono Encodec (hop 640: 50 Hz, 4 codebooks of 64), a 2-layer T5 of width 32 and a
    2-layer decoder of width 48 (so the text->decoder projection exists, as in the real
    models). Codebooks are random (Encodec initialises them to zero, which would give one code).

    Returns
    -------
    model : MusicgenForConditionalGeneration (eval mode)
    tokenizer : PreTrainedTokenizerFast
    """
    import torch
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )
    from transformers.utils import logging as hf_logging

    from d2m_core.inversion.vocab import BASE_WORDS, word_tokenizer
    from d2m_core.music.genres import GENRES
    from d2m_core.music.prompt import DEFAULT_WORD_BANK

    words = [*BASE_WORDS, *(w for g in GENRES for w in g.split("_")), *GENRES]
    words += [w for ws in DEFAULT_WORD_BANK.values() for w in ws]
    tok = word_tokenizer(words)
    vocab = int(math.ceil(len(tok) / 8) * 8)
    text = T5Config(
        vocab_size=vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=32,
        dropout_rate=0.0, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )  # fmt: skip
    codec = EncodecConfig(
        sampling_rate=32000, audio_channels=1, hidden_size=16, num_filters=4,
        num_residual_layers=0, upsampling_ratios=[8, 5, 4, 4], num_lstm_layers=1,
        codebook_size=64, target_bandwidths=[1.2], use_causal_conv=False, normalize=False,
    )  # fmt: skip
    dec = MusicgenDecoderConfig(
        vocab_size=64, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, ffn_dim=96,
        num_codebooks=codec.num_quantizers, pad_token_id=64, bos_token_id=64,
        max_position_embeddings=2048, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        initializer_factor=0.2,  # large enough weights that the text visibly steers the codes
    )  # fmt: skip
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # special ids == vocab_size is MusicGen's own convention
    try:
        cfg = MusicgenConfig(text_encoder=text, audio_encoder=codec, decoder=dec)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = MusicgenForConditionalGeneration(cfg)
            for layer in model.audio_encoder.quantizer.layers:
                layer.codebook.embed.normal_(0.0, 0.05)
    finally:
        hf_logging.set_verbosity(verbosity)
    gc = model.generation_config
    gc.decoder_start_token_id = gc.pad_token_id = gc.bos_token_id = 64
    gc.do_sample, gc.guidance_scale, gc.top_k, gc.max_length = True, 3.0, 250, 1500
    return model.eval(), tok


@dataclass
class LoadedMusicgen:
    """A MusicGen ready for inference or inversion training.

    Attributes
    ----------
    model : MusicgenForConditionalGeneration or MusicgenMelodyForConditionalGeneration
    tokenizer : transformers tokenizer
    name : str
        What the user passed (id, folder or ``debug``).
    melody : bool
        MusicGen-Melody (text prepended to the decoder input rather than cross-attended).
    """

    model: Any
    tokenizer: Any
    name: str
    melody: bool

    @property
    def sample_rate(self) -> int:
        return int(self.model.config.audio_encoder.sampling_rate)

    @property
    def frame_rate(self) -> float:
        """Code frames per second (50 for the real models)."""
        cfg = self.model.config.audio_encoder
        return cfg.sampling_rate / float(np.prod(cfg.upsampling_ratios))

    @property
    def num_codebooks(self) -> int:
        return int(self.model.decoder.config.num_codebooks)

    @property
    def stereo(self) -> bool:
        return int(self.model.decoder.config.audio_channels) == 2

    @property
    def special(self) -> int:
        """The start / padding token of the delay pattern."""
        gc = self.model.generation_config
        for v in (gc.decoder_start_token_id, self.model.decoder.config.pad_token_id):
            if v is not None:
                return int(v)
        return int(self.model.decoder.config.vocab_size)

    @property
    def delays(self) -> list[int]:
        k = self.num_codebooks
        return [i // 2 for i in range(k)] if self.stereo else list(range(k))


def _load_files(model: str):
    import torch
    from transformers import AutoConfig, AutoTokenizer

    ok, why = model_availability(model)
    if not ok:
        raise D2MError(why)
    ref = str(Path(model).expanduser()) if Path(model).expanduser().is_dir() else model
    try:
        cfg = AutoConfig.from_pretrained(ref, local_files_only=True)
        if cfg.model_type == "musicgen_melody":
            from transformers import MusicgenMelodyForConditionalGeneration as cls
        elif cfg.model_type == "musicgen":
            from transformers import MusicgenForConditionalGeneration as cls
        else:
            raise D2MError(f"{model} is a '{cfg.model_type}' model, not a MusicGen")
        net = cls.from_pretrained(ref, local_files_only=True, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(ref, local_files_only=True)
    except D2MError:
        raise
    except Exception as exc:  # noqa: BLE001 - corrupt or partial downloads surface here
        raise D2MError(f"cannot load MusicGen '{model}' ({type(exc).__name__}: {exc})") from None
    return net.eval(), tok


_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_cached(model: str, device: str, half: bool) -> LoadedMusicgen:
    import torch

    net, tok = debug_musicgen() if model == DEBUG_MODEL else _load_files(model)
    melody = type(net).__name__.startswith("MusicgenMelody")
    net.to(device)
    for p in net.parameters():
        p.requires_grad_(False)
    if half:
        # T5 and Encodec stay float32 (T5 overflows in fp16); the big decoder goes fp16.
        net.decoder.half()
        for name in ("enc_to_dec_proj", "audio_enc_to_dec_proj"):
            if hasattr(net, name):
                getattr(net, name).half()
    del torch
    return LoadedMusicgen(model=net, tokenizer=tok, name=model, melody=melody)


def load_musicgen(model: str, *, device: str = "cpu", half: bool = False) -> LoadedMusicgen:
    """Load (once per process, device and precision) a MusicGen without downloading.

    Parameters
    ----------
    model : str
        Hugging Face id, local folder, or ``debug``.
    device : str
        Torch device.
    half : bool
        fp16 decoder (GPU inference).

    Raises
    ------
    D2MError
        Not on this machine (the message says how to download it), or unreadable.
    """
    with _LOAD_LOCK:
        return _load_cached(str(model), str(device), bool(half))


# --- decoder conditioning, delay pattern, loss, sampling ----------------------------------------


class DecoderCore:
    """The decoder-side calls for both MusicGen variants (cross-attention or prefix).

    Parameters
    ----------
    lm : LoadedMusicgen
    """

    def __init__(self, lm: LoadedMusicgen) -> None:
        self.lm = lm
        self.net = lm.model

    @property
    def dtype(self):
        return next(self.net.decoder.parameters()).dtype

    def condition(self, hidden: torch.Tensor, mask: torch.Tensor) -> dict:
        """Decoder conditioning from the text encoder's ``(B, S, W)`` states and ``(B, S)`` mask."""
        import torch

        h = hidden.to(self.dtype)
        if hasattr(self.net, "enc_to_dec_proj"):
            h = self.net.enc_to_dec_proj(h)
        h = h * mask[..., None].to(h.dtype)  # as MusicGen's forward: padded rows are zero
        if not self.lm.melody:
            return {"encoder_hidden_states": h, "encoder_attention_mask": mask}
        # Melody: a null chroma (one-hot bin 0) repeated to chroma_length, then the text.
        cfg = self.net.config
        chroma = torch.zeros((h.shape[0], 1, cfg.num_chroma), device=h.device, dtype=h.dtype)
        chroma[:, :, 0] = 1
        if hasattr(self.net, "audio_enc_to_dec_proj"):
            chroma = self.net.audio_enc_to_dec_proj(chroma)
        chroma = chroma.repeat(1, cfg.chroma_length, 1)
        return {"encoder_hidden_states": torch.cat([chroma, h], dim=1)}

    def null_condition(self, hidden: torch.Tensor, mask: torch.Tensor) -> dict:
        """The unconditional input of classifier-free guidance (zero text, as MusicGen trains)."""
        import torch

        return self.condition(torch.zeros_like(hidden), torch.zeros_like(mask))

    @staticmethod
    def cat(a: dict, b: dict) -> dict:
        import torch

        return {k: torch.cat([a[k], b[k]], dim=0) for k in a}

    def logits(self, ids: torch.Tensor, cond: dict, *, cache=None, first: bool = True):
        """Decoder logits for delay-pattern ids.

        Parameters
        ----------
        ids : torch.Tensor [shape=(R, K, n)], int64
        cond : dict
            From :meth:`condition` (batch ``R``).
        cache : transformers cache or None
        first : bool
            First call of a cached generation (the melody prefix is fed only then).

        Returns
        -------
        logits : torch.Tensor [shape=(R, K, n, V)]
        cache : the updated cache (None when not caching)
        """
        r, k, n = ids.shape
        kwargs = dict(cond)
        if self.lm.melody and not first:
            kwargs = {}
        out = self.net.decoder(
            input_ids=ids.reshape(r * k, n), cache=cache, use_cache=cache is not None, **kwargs
        )
        lg = out.logits.reshape(r, k, -1, out.logits.shape[-1])[:, :, -n:]
        return lg, out.cache if cache is not None else None


def delay_inputs(
    codes: torch.Tensor, *, special: int, delays: list[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder inputs and labels for training on ``codes``.

    Parameters
    ----------
    codes : torch.Tensor [shape=(B, K, T)], int
    special : int
        Start / padding token.
    delays : list[int]
        Delay of each codebook.

    Returns
    -------
    inputs : torch.Tensor [shape=(B, K, L)], int64
        ``L = T + max(delays)``; position 0 is the start token.
    labels : torch.Tensor [shape=(B, K, L)], int64
        Next-position targets, -100 where the pattern holds no code.
    """
    import torch

    b, k, t = codes.shape
    seq = torch.full((b, k, t + max(delays) + 1), special, dtype=torch.long, device=codes.device)
    for i, d in enumerate(delays):
        seq[:, i, 1 + d : 1 + d + t] = codes[:, i].long()
    labels = seq[:, :, 1:].clone()
    labels[labels == special] = -100
    return seq[:, :, :-1], labels


def codebook_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over codebooks of each codebook's cross-entropy (paper Eq. 3).

    Parameters
    ----------
    logits : torch.Tensor [shape=(B, K, L, V)]
    labels : torch.Tensor [shape=(B, K, L)], -100 = ignored
    """
    import torch

    k = logits.shape[1]
    losses = [
        torch.nn.functional.cross_entropy(
            logits[:, i].reshape(-1, logits.shape[-1]).float(),
            labels[:, i].reshape(-1),
            ignore_index=-100,
        )
        for i in range(k)
    ]
    return torch.stack(losses).mean()


def _sample_top_k(
    logits: torch.Tensor, *, top_k: int, temperature: float, generator: torch.Generator
) -> torch.Tensor:
    """One token per row of ``logits`` ``(R, K, V)`` -> ``(R, K)``."""
    import torch

    lg = logits.float()
    if temperature <= 0:
        return lg.argmax(-1)
    lg = lg / temperature
    if 0 < top_k < lg.shape[-1]:
        vals, idx = lg.topk(top_k, dim=-1)
    else:
        vals, idx = lg, None
    probs = torch.softmax(vals, dim=-1).reshape(-1, vals.shape[-1])
    pick = torch.multinomial(probs, 1, generator=generator).reshape(vals.shape[:-1])
    return pick if idx is None else idx.gather(-1, pick[..., None])[..., 0]


def sample_codes(
    core: DecoderCore,
    *,
    hidden: torch.Tensor,
    mask: torch.Tensor,
    num_frames: int,
    prompt_codes: torch.Tensor | None = None,
    guidance: float = 3.0,
    top_k: int = 250,
    temperature: float = 1.0,
    generator: torch.Generator,
) -> torch.Tensor:
    """Sample codes autoregressively with the delay pattern, CFG and top-k.

    Parameters
    ----------
    core : DecoderCore
    hidden, mask : torch.Tensor [shape=(B, S, W)], [shape=(B, S)]
        Text conditioning (pseudo-words injected).
    num_frames : int
        ``T``, code frames to return (prompt included).
    prompt_codes : torch.Tensor [shape=(B, K, P)], optional
        Codes to continue from (kept as they are at the start of the result).
    guidance : float
        Classifier-free guidance scale; 1 turns it off.
    top_k : int
        Sample among the k most likely codes (0: all).
    temperature : float
    generator : torch.Generator
        Seeded, on the model's device.

    Returns
    -------
    torch.Tensor [shape=(B, K, T)], int64
    """
    import torch

    lm = core.lm
    b, k, special, delays = hidden.shape[0], lm.num_codebooks, lm.special, lm.delays
    p = 0 if prompt_codes is None else int(prompt_codes.shape[-1])
    t_total = int(num_frames)
    if p >= t_total:
        return prompt_codes[..., :t_total].long()
    length = t_total + max(delays) + 1
    dev = hidden.device
    seq = torch.full((b, k, length), special, dtype=torch.long, device=dev)
    free = torch.zeros((k, length), dtype=torch.bool, device=dev)
    for i, d in enumerate(delays):
        free[i, 1 + d + p : 1 + d + t_total] = True
        if p:
            seq[:, i, 1 + d : 1 + d + p] = prompt_codes[:, i].long()
    cond = core.condition(hidden, mask)
    cfg = guidance is not None and float(guidance) != 1.0
    if cfg:
        cond = core.cat(cond, core.null_condition(hidden, mask))
    rows = 2 if cfg else 1

    from transformers import DynamicCache, EncoderDecoderCache

    dcfg = core.net.decoder.config
    cache = EncoderDecoderCache(DynamicCache(config=dcfg), DynamicCache(config=dcfg))
    t0 = 1 + p  # first position with a code to sample (codebook 0 is not delayed)
    logits, cache = core.logits(seq[:, :, :t0].repeat(rows, 1, 1), cond, cache=cache, first=True)
    for t in range(t0, length):
        lg = logits[:, :, -1]
        if cfg:
            c, u = lg.float().split(b)
            lg = u + float(guidance) * (c - u)
        nxt = _sample_top_k(lg, top_k=top_k, temperature=temperature, generator=generator)
        seq[:, :, t] = torch.where(free[:, t], nxt, seq[:, :, t])
        if t + 1 < length:
            step = seq[:, :, t : t + 1].repeat(rows, 1, 1)
            logits, cache = core.logits(step, cond, cache=cache, first=False)
    return torch.stack([seq[:, i, 1 + d : 1 + d + t_total] for i, d in enumerate(delays)], dim=1)


def decode_codes(
    lm: LoadedMusicgen, codes: torch.Tensor, *, chunk_frames: int = 1500
) -> np.ndarray:
    """Audio from codes, in chunks (with 1 s of context each side) to bound memory.

    Parameters
    ----------
    codes : torch.Tensor [shape=(K, T)]

    Returns
    -------
    np.ndarray [shape=(N,) or (N, 2)], float32, ``N = T * hop``
    """
    import torch

    codec = lm.model.audio_encoder
    hop = int(np.prod(codec.config.upsampling_ratios))
    ctx = int(round(lm.frame_rate))
    t = codes.shape[-1]
    parts = []
    with torch.no_grad():
        for s in range(0, t, chunk_frames):
            e = min(t, s + chunk_frames)
            a, z = max(0, s - ctx), min(t, e + ctx)
            c = codes[:, a:z].long()
            chans = [c[::2], c[1::2]] if lm.stereo else [c]
            wav = [codec.decode(ch[None, None], [None]).audio_values[0, 0].float() for ch in chans]
            y = torch.stack(wav, dim=-1)[(s - a) * hop : (e - a) * hop]
            parts.append(y.cpu().numpy())
    out = np.concatenate(parts, axis=0)
    return out[:, 0] if out.shape[1] == 1 else out


# --- training adapter ---------------------------------------------------------------------------


class MusicgenInversionAdapter(InversionAdapter):
    """MusicGen for inversion training: T5 conditioner, Encodec codes, Eq. 3 loss.

    Parameters
    ----------
    model : str
        Id, folder or ``debug``.
    device : str
    """

    backbone = "musicgen"

    def __init__(self, *, model: str, device: str = "cpu") -> None:
        from d2m_core.inversion.injection import InputsEmbedsConditioner

        self.lm = load_musicgen(model, device=str(device))
        self.model_id = str(model)
        self.core = DecoderCore(self.lm)
        self.conditioner = InputsEmbedsConditioner(
            tokenizer=self.lm.tokenizer, text_model=self.lm.model.text_encoder
        )
        self.sample_rate = self.lm.sample_rate
        self.freeze()

    def modules(self):
        return [self.lm.model]

    def target_signature(self) -> str:
        codec = self.lm.model.config.audio_encoder.to_dict()
        blob = json.dumps(
            {"model": self.model_id, "codec": codec, "k": self.lm.num_codebooks},
            sort_keys=True,
            default=str,
        )
        return "musicgen-" + hashlib.sha1(blob.encode()).hexdigest()[:16]

    def encode_targets(self, audio: np.ndarray) -> np.ndarray:
        import torch

        codec = self.lm.model.audio_encoder
        dev = next(codec.parameters()).device
        out = []
        with torch.no_grad():
            for s in range(0, len(audio), 16):
                x = torch.as_tensor(np.asarray(audio[s : s + 16], np.float32), device=dev)
                codes = codec.encode(x[:, None, :]).audio_codes[0]  # (B, Kc, T)
                if self.lm.stereo:  # mono clips: the same codes for both channels
                    codes = codes.repeat_interleave(2, dim=1)
                out.append(codes.to(torch.int16).cpu().numpy())
        codes = np.concatenate(out, axis=0)
        if codes.shape[1] != self.lm.num_codebooks:
            raise D2MError(
                f"{self.model_id}: the codec gives {codes.shape[1]} codebooks but the"
                f" decoder expects {self.lm.num_codebooks}"
            )
        return codes

    def loss(self, *, hidden, mask, targets):
        lm = self.lm
        inputs, labels = delay_inputs(targets.long(), special=lm.special, delays=lm.delays)
        logits, _ = self.core.logits(inputs, self.core.condition(hidden, mask))
        return codebook_loss(logits, labels)


# --- the backbone -------------------------------------------------------------------------------


@register
class MusicgenBackbone(EncodedBackbone):
    """MusicGen driven by the dance through trained rhythm and genre encoders (or text alone).

    Parameters
    ----------
    model : str, optional
        Id, folder or ``debug``; default: the model the encoder checkpoint was trained on.
    encoder : str or Path, optional
        Encoder checkpoint folder (``d2m train --out``). Without one, MusicGen is a plain
        text-to-music model: prompts must not contain ``@`` / ``*`` (``d2m generate
        --zero-shot`` spells them out and aligns the beats afterwards).
    guidance : float
        Classifier-free guidance scale (default 3.0, MusicGen's).
    top_k : int
        Top-k sampling (default 250, MusicGen's).
    device : str, optional
        Torch device (default ``cuda`` when present); fp16 decoder on GPU.
    temperature : float
    window_overlap : float, optional
        Music longer than one window: the share of each window that continues the previous
        one. With encoders a window is one encoder clip (5.12 s) and the default is 0.25
        (1.28 s of context, 3.84 s new): the rhythm embedding describes the whole window, and
        the encoders place beats best early in a clip, so short overlaps follow the dance
        better (in the CPU proof: beat F 0.34 at 0.25 vs 0.29 at 0.5). Without encoders a
        window is :data:`TEXT_WINDOW_S` (MusicGen's 30 s training length) and the default is
        0.4 (12 s of context, as audiocraft extends).
    steps : int, optional
        Diffusion steps: ignored (MusicGen is autoregressive).
    """

    name = "musicgen"
    label = "MusicGen (neural)"
    sample_rate = 32000
    family = "MusicGen"
    default_model = DEFAULT_MODEL
    model_availability = staticmethod(model_availability)

    def __init__(
        self,
        *,
        model: str | None = None,
        encoder: str | Path | None = None,
        guidance: float = 3.0,
        top_k: int = 250,
        device: str | None = None,
        temperature: float = 1.0,
        window_overlap: float | None = None,
        steps: int | None = None,
    ) -> None:
        from d2m_core.inversion.injection import InputsEmbedsConditioner

        self._choose_model(model, encoder, device)
        half = self.device.startswith("cuda")
        self.lm = load_musicgen(self.model_name, device=self.device, half=half)
        self.conditioner = InputsEmbedsConditioner(
            tokenizer=self.lm.tokenizer, text_model=self.lm.model.text_encoder
        )
        self._load_encoders(encoder)
        self.window_s = self.cfg.clip_s if self.cfg else TEXT_WINDOW_S
        if window_overlap is None:
            window_overlap = 0.25 if self.cfg else 0.4
        self.core = DecoderCore(self.lm)
        self.sample_rate = self.lm.sample_rate
        self.guidance = float(guidance if guidance is not None else 3.0)
        self.top_k = int(top_k)
        self.temperature = float(temperature)
        self.window_overlap = float(window_overlap)
        self._lock = threading.Lock()

    def window_plan(self, total_frames: int) -> list[tuple[int, int]]:
        """``(start, prompt)`` code frames of each generation window.

        Each window covers :attr:`window_s` of music from ``start``; its first ``prompt`` frames are
        the previous window's last frames (``window_overlap`` of a clip), the rest are new.
        """
        win = max(2, int(round(self.window_s * self.lm.frame_rate)))
        return window_plan(
            total_frames, window=win, overlap=max(1, int(round(win * self.window_overlap)))
        )

    #: Text conditioning ``(hidden (1, S, W), mask (1, S))`` for a window starting at
    #: ``start_s`` of the dance: T5's states, which the decoder takes as they are.
    conditioning = EncodedBackbone.dance_conditioning

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

        fr = self.lm.frame_rate
        total = max(1, int(math.ceil(float(duration_s) * fr)))
        plan = self.window_plan(total)
        win = int(round(self.window_s * fr))
        feats = self.dance_features(analysis, prompt)  # a bad prompt fails before any sampling
        with self._lock, torch.no_grad():
            gen = torch.Generator(device=self.device).manual_seed(int(seed))
            codes = None
            for i, (start, p) in enumerate(plan):
                if progress:
                    progress(i / (len(plan) + 1), f"window {i + 1}/{len(plan)}")
                hidden, mask = self.conditioning(
                    analysis=analysis, prompt=prompt, genre=genre, start_s=start / fr, feats=feats
                )
                n = min(win, total - start)
                out = sample_codes(
                    self.core,
                    hidden=hidden,
                    mask=mask,
                    num_frames=n,
                    prompt_codes=None if codes is None else codes[:, :, start : start + p],
                    guidance=self.guidance,
                    top_k=self.top_k,
                    temperature=self.temperature,
                    generator=gen,
                )
                codes = out if codes is None else torch.cat([codes, out[:, :, p:]], dim=-1)
            if progress:
                progress(len(plan) / (len(plan) + 1), "decoding audio")
            audio = decode_codes(self.lm, codes[0])
        n_out = int(round(float(duration_s) * self.sample_rate))
        if len(audio) < n_out:
            pad = [(0, n_out - len(audio))] + [(0, 0)] * (audio.ndim - 1)
            audio = np.pad(audio, pad)
        if progress:
            progress(1.0, "done")
        return np.clip(audio[:n_out], -1.0, 1.0).astype(np.float32)
