"""MusicGen (transformers): finding and loading the model, and its decoder-side calls.

Models
------
``--model`` is a Hugging Face id (``facebook/musicgen-small``, ``-medium``, ``-large``,
``-melody``, the ``-stereo-*`` variants), a local folder holding one (``config.json``, weights,
tokenizer), or ``debug``: a tiny random MusicGen built from configs (4 codebooks at 50 Hz,
32 kHz, a word-level tokenizer), like audiocraft's debug model, for tests and smoke runs.
Ids load from the local Hugging Face cache only (``local_files_only``), and
:func:`model_availability` says how to download a missing one; d2m fetches it itself only when
asked (``D2M_DOWNLOAD=1`` or ``--download``: :mod:`d2m_core.backbones.download`, the files of
:data:`DOWNLOAD_PATTERNS`).

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
averaged over codebooks (paper Eq. 3). Sampling walks the same layout (:meth:`DecoderCore.sample`).

Generation
----------
Classifier-free guidance is done here, not by ``generate()`` (transformers' MusicGen silently
drops it for ``encoder_outputs``): the batch is doubled with a null condition (zeros, as
MusicGen trains it) and ``logits = uncond + g * (cond - uncond)``, then top-k sampling with a
seeded ``torch.Generator``. Music longer than one clip is made window by window
(:class:`~d2m_core.backbones.musicgen.backbone.MusicgenBackbone`): each window is one encoder
clip long (5.12 s), starts with the last quarter of the previous window's codes as its prompt,
and gets the rhythm embedding of its own stretch of the dance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from d2m_core.backbones.base import Availability
from d2m_core.backbones.encoded import find_model
from d2m_core.backbones.windowed import LoadedModel, load_model, model_ref
from d2m_core.errors import D2MError

if TYPE_CHECKING:
    import torch

    from d2m_core.inversion.injection import InputsEmbedsConditioner

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
#: What a download on first use fetches: configs (model, generation, tokenizer), T5's
#: sentencepiece model and the weights (safetensors, else ``pytorch_model*.bin``); never the
#: audiocraft checkpoints (``state_dict.bin``, ``compression_state_dict.bin``) the hub repos
#: also hold.
DOWNLOAD_PATTERNS = ("*.json", "spiece.model", "model*.safetensors", "pytorch_model*.bin")


# --- finding models (torch-free) ----------------------------------------------------------------


def model_availability(model: str, *, cache_dir: str | Path | None = None) -> Availability:
    """Whether MusicGen ``model`` (``debug``, a local folder, or a Hugging Face id looked up in
    the local cache only) can be loaded here without any download, or will be downloaded on
    first use when allowed (:func:`~d2m_core.backbones.encoded.find_model`; ``cache_dir`` is
    the Hugging Face hub cache)."""
    return find_model(
        str(model),
        family="MusicGen",
        folder="a MusicGen (config.json, weights, tokenizer)",
        check_folder=_folder_gap,
        check_cache=_cache_gap,
        download_patterns=DOWNLOAD_PATTERNS,
        cache_dir=cache_dir,
    )


def _folder_gap(p: Path) -> str | None:
    if not (p / "config.json").is_file():
        return f"{p} has no config.json: point --model at a saved MusicGen folder"
    if not any((p / f).is_file() for f in _WEIGHT_FILES):
        return f"{p} has no model weights (model.safetensors or pytorch_model.bin)"
    return None


def _cache_gap(model: str, cached: Callable[[str], bool]) -> str | None:
    if not cached("config.json") or not any(cached(f) for f in _WEIGHT_FILES):
        return ""
    if not any(cached(f) for f in _TOKENIZER_FILES):
        return f"the tokenizer of '{model}' is missing from the cache; "
    return None


# --- loading ------------------------------------------------------------------------------------


@dataclass
class LoadedMusicgen(
    LoadedModel,
    family="MusicGen",
    availability=model_availability,
    debug_builder="d2m_core.backbones.musicgen.debug:debug_musicgen",
):
    """A MusicGen ready for inference or inversion training (:func:`load_musicgen`).

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

    # -- loading steps (run by load_model)

    @classmethod
    def read(cls, model: str) -> LoadedMusicgen:
        import torch
        from transformers import AutoConfig, AutoTokenizer

        ref = model_ref(model)
        cfg = AutoConfig.from_pretrained(ref, local_files_only=True)
        if cfg.model_type == "musicgen_melody":
            from transformers import MusicgenMelodyForConditionalGeneration as net_class
        elif cfg.model_type == "musicgen":
            from transformers import MusicgenForConditionalGeneration as net_class
        else:
            raise D2MError(f"{model} is a '{cfg.model_type}' model, not a MusicGen")
        net = net_class.from_pretrained(ref, local_files_only=True, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(ref, local_files_only=True)
        melody = type(net).__name__.startswith("MusicgenMelody")
        return cls(model=net.eval(), tokenizer=tok, name=model, melody=melody)

    def modules(self) -> list:
        return [self.model]

    def make_core(self) -> DecoderCore:
        return DecoderCore(self)

    def make_conditioner(self) -> InputsEmbedsConditioner:
        """T5 with ``@`` / ``*`` injected into its input embeddings."""
        from d2m_core.inversion.injection import InputsEmbedsConditioner

        return InputsEmbedsConditioner(tokenizer=self.tokenizer, text_model=self.model.text_encoder)

    def halve(self) -> None:
        # T5 and Encodec stay float32 (T5 overflows in fp16); the big decoder goes fp16.
        self.model.decoder.half()
        for name in ("enc_to_dec_proj", "audio_enc_to_dec_proj"):
            if hasattr(self.model, name):
                getattr(self.model, name).half()


def load_musicgen(model: str, *, device: str = "cpu", half: bool = False) -> LoadedMusicgen:
    """Load (once per process, device and precision) a MusicGen without downloading
    (:func:`~d2m_core.backbones.windowed.load_model`; ``half``: fp16 decoder, for GPU
    inference)."""
    return load_model(LoadedMusicgen, model, device=device, half=half)


# --- decoder conditioning, delay pattern, loss, sampling ----------------------------------------


class DecoderCore:
    """The decoder-side calls for both MusicGen variants (cross-attention or prefix):
    conditioning, logits, sampling (:meth:`sample`) and decoding to audio (:meth:`decode`);
    codes are ``(B, K, T)``, time on axis 2.

    Parameters
    ----------
    lm : LoadedMusicgen
    """

    time_axis = 2

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

    def sample(
        self,
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

        p = 0 if prompt_codes is None else int(prompt_codes.shape[-1])
        t_total = int(num_frames)
        if p >= t_total:
            return prompt_codes[..., :t_total].long()
        seq, free = self._delay_layout(
            prompt_codes, batch=hidden.shape[0], num_frames=t_total, device=hidden.device
        )
        cond = self.condition(hidden, mask)
        use_cfg = guidance is not None and float(guidance) != 1.0
        if use_cfg:
            cond = self.cat(cond, self.null_condition(hidden, mask))
        rows, b = (2 if use_cfg else 1), hidden.shape[0]
        cache = self._new_cache()
        t0 = 1 + p  # first position with a code to sample (codebook 0 is not delayed)
        logits, cache = self.logits(
            seq[:, :, :t0].repeat(rows, 1, 1), cond, cache=cache, first=True
        )
        for t in range(t0, seq.shape[-1]):
            lg = logits[:, :, -1]
            if use_cfg:
                c, u = lg.float().split(b)
                lg = u + float(guidance) * (c - u)
            nxt = _sample_top_k(lg, top_k=top_k, temperature=temperature, generator=generator)
            seq[:, :, t] = torch.where(free[:, t], nxt, seq[:, :, t])
            if t + 1 < seq.shape[-1]:
                step = seq[:, :, t : t + 1].repeat(rows, 1, 1)
                logits, cache = self.logits(step, cond, cache=cache, first=False)
        delays = self.lm.delays
        return torch.stack([seq[:, i, 1 + d : 1 + d + t_total] for i, d in enumerate(delays)], 1)

    def _delay_layout(
        self,
        prompt_codes: torch.Tensor | None,
        *,
        batch: int,
        num_frames: int,
        device: torch.device,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The delay-pattern sequence ``(B, K, T + max(delay) + 1)`` holding the prompt codes
        (the start token elsewhere) and the ``(K, L)`` mask of the positions to sample."""
        import torch

        lm, dev = self.lm, device
        k, delays = lm.num_codebooks, lm.delays
        p = 0 if prompt_codes is None else int(prompt_codes.shape[-1])
        length = num_frames + max(delays) + 1
        seq = torch.full((batch, k, length), lm.special, dtype=torch.long, device=dev)
        free = torch.zeros((k, length), dtype=torch.bool, device=dev)
        for i, d in enumerate(delays):
            free[i, 1 + d + p : 1 + d + num_frames] = True
            if p:
                seq[:, i, 1 + d : 1 + d + p] = prompt_codes[:, i].long()
        return seq, free

    def _new_cache(self):
        """An empty key/value cache for the decoder's self- and cross-attention."""
        from transformers import DynamicCache, EncoderDecoderCache

        dcfg = self.net.decoder.config
        return EncoderDecoderCache(DynamicCache(config=dcfg), DynamicCache(config=dcfg))

    def decode(self, codes: torch.Tensor, *, chunk_frames: int = 1500) -> np.ndarray:
        """Audio from codes, in chunks (with 1 s of context each side) to bound memory.

        Parameters
        ----------
        codes : torch.Tensor [shape=(K, T)]
        chunk_frames : int
            Code frames decoded at once.

        Returns
        -------
        np.ndarray [shape=(N,) or (N, 2)], float32, ``N = T * hop``
        """
        import torch

        lm = self.lm
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
                wav = [
                    codec.decode(x[None, None], [None]).audio_values[0, 0].float() for x in chans
                ]
                y = torch.stack(wav, dim=-1)[(s - a) * hop : (e - a) * hop]
                parts.append(y.cpu().numpy())
        out = np.concatenate(parts, axis=0)
        return out[:, 0] if out.shape[1] == 1 else out


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
