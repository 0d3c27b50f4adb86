"""Proof that encoder-based textual inversion learns rhythm control, on a CPU.

Usage: .venv/bin/python bench/bench_inversion_learns.py [--work DIR] [--quick]
       [--projector mlp|attn_pos] [--rhythm-input peaks|peaks+envelope]

The paper's claim at a scale two CPU cores can run, with the same code as the real thing
(``d2m train`` and the ``musicgen`` backbone, on a small MusicGen-architecture model):

1. **A frozen text-to-music generator that knows rhythm words.** A small MusicGen (T5 text
   encoder 2x64 + decoder 3x128, 2 codebooks at 25 Hz, 16 kHz) is first trained here on
   synthetic drum music described by prompts such as ``a house music with t3p5 as the
   rhythm``: the rhythm word ``tIpJ`` means tempo I (6 tempi, 80-140 BPM) with the first beat
   at J/8 of a beat; the genre word sets the hi-hat pattern between the kicks. The rhythm words'
   embeddings are a fixed smooth function of tempo and phase (nearby rhythms, nearby
   embeddings, as related words in a real text encoder), and pretraining also feeds values
   between the words; past hits are hidden at random so the generator takes the beat from the
   text rather than copying it from the music so far. Its audio codec is an Encodec whose
   weights are set by hand (a matched filter and a one-shot sampler per codebook: kick,
   hi-hat), so codes <-> audio is exact and no codec needs training.
2. **Inversion.** The generator is frozen and saved as a MusicGen folder; rhythm + genre
   encoders are trained on it with ``d2m train`` (prompt ``a @ music with * as the rhythm``,
   the loss of paper Eq. 3) on paired synthetic dances
   (:func:`d2m_core.dance.synth.synthetic_dance`: random tempo, phase and moves, 60 fps) and
   music rendered at each dance's tempo and phase. ``*`` starts from the embedding of the
   rhythm word ``t2p0`` (as textual inversion starts from a related word); the encoders never
   see the dance's own rhythm word: they must find, from the keypoints alone, embeddings that
   make the generator play on the dance's beats.
3. **Test.** For held-out dances (new moves, tempi and phases), music is generated through the
   ``musicgen`` backbone (guidance 3, top-k 250) with ``*``, with ``*`` dropped
   (``a @ music``), and with ``*`` from a shuffled (other) dance, and its beats (librosa's
   tracker) are scored against the dance's visual beats: mir_eval beat F-measure (+-70 ms) and
   the paper's BCS / BHS (0.2 s bins), as ``d2m generate`` reports them. Two reference rows:
   the generator prompted with the dance's true rhythm word (its ceiling) and the paired
   ground-truth music (the beat tracker's ceiling).

Prints the table and writes ``WORK/run-PROJECTOR-INPUT/results.json`` (the generator in
``WORK/generator`` is reused by later runs). ``--quick`` is the shorter run of the slow test.
The encoders see the paper's rhythm sequence plus the acceleration envelope by default
(``--rhythm-input peaks`` for the paper's binary sequence alone, which these synthetic dances
make hard: their peak picking finds ~30 peaks per 5.12 s clip for ~10 beats).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from d2m_core.music.genres import GENRES

SR = 16000
HOP = 640  # 25 code frames per second
FRAME_RATE = SR / HOP
CLIP_S = 5.12
CLIP_FRAMES = int(round(CLIP_S * FRAME_RATE))  # 128
LEVELS = 2  # codebook size: hit or no hit (every code is seen in training, so CFG is sane)
TEMPI = (80.0, 90.0, 100.0, 112.0, 125.0, 140.0)
PHASES = 8
KICK_LEVEL, HAT_LEVEL = 1, 1
KICK_AMP, HAT_AMP = 0.9, 0.2  # amplitude of a hit

#: Hi-hat offsets within a beat (fractions of the period), per genre: what `@` controls.
HAT_PATTERNS: dict[str, tuple[float, ...]] = {
    "break": (0.25, 0.75),
    "pop": (0.5,),
    "lock": (0.25, 0.5),
    "middle_hiphop": (0.75,),
    "la_hiphop": (1 / 3, 2 / 3),
    "house": (0.0, 0.5),
    "waack": (0.25, 0.5, 0.75),
    "krump": (),
    "street_jazz": (2 / 3,),
    "ballet_jazz": (1 / 3,),
}


def rhythm_word(tempo_idx: int, phase_idx: int) -> str:
    return f"t{tempo_idx}p{phase_idx}"


# --- the hand-set codec ---------------------------------------------------------------------


def _templates() -> np.ndarray:
    """Kick and hi-hat one-shots, one code frame (40 ms) each, shape (2, HOP).

    The kick has a broadband click on top of its pitch-dropping body so that onset detectors
    hear the kicks above the (quiet, narrow-band) hi-hats.
    """
    t = np.arange(HOP) / SR
    freq = 50 + 90 * np.exp(-t / 0.01)  # pitch drop 140 -> 50 Hz
    kick = np.sin(2 * np.pi * np.cumsum(freq) / SR) * np.exp(-t / 0.015)
    kick += 0.5 * np.random.default_rng(3).normal(size=HOP) * np.exp(-t / 0.003)
    noise = np.random.default_rng(7).normal(size=HOP * 2)
    spec = np.fft.rfft(noise)
    f = np.fft.rfftfreq(len(noise), 1 / SR)
    spec[(f < 6000) | (f > 7500)] = 0
    hat = np.fft.irfft(spec)[:HOP] * np.exp(-t / 0.003)
    fade = np.ones(HOP)
    fade[-32:] = np.linspace(1, 0, 32)  # no click at the frame end
    kick, hat = kick * fade, hat * fade
    hat -= kick * (hat @ kick) / (kick @ kick)  # exactly orthogonal matched filters
    return np.stack([kick / np.abs(kick).max(), hat / np.abs(hat).max()])


def click_codec():
    """An EncodecModel (16 kHz, 2 codebooks x 2 codes at 25 Hz) with hand-set weights.

    Encoder: ``x + 4`` (kept positive through the ELUs), then one strided convolution per
    codebook that is the matched filter of its one-shot (kick, hi-hat), scaled to give the
    amplitude; the residual quantiser's codebooks are "no hit" / "hit" on orthogonal axes.
    Decoder: the amplitudes, offset positive, drive a transposed convolution whose kernels are
    the one-shots (a third channel cancels the offset). ``encode(decode(codes)) == codes``.
    """
    import torch
    from transformers import EncodecConfig, EncodecModel

    cfg = EncodecConfig(
        sampling_rate=SR, audio_channels=1, hidden_size=4, num_filters=4,
        num_residual_layers=0, upsampling_ratios=[HOP], num_lstm_layers=1,
        codebook_size=LEVELS, target_bandwidths=[0.05], use_causal_conv=False,
        normalize=False, pad_mode="constant",
    )  # fmt: skip
    assert cfg.num_quantizers == 2 and cfg.frame_rate == FRAME_RATE
    m = EncodecModel(cfg).eval()
    w = torch.tensor(_templates(), dtype=torch.float32)
    off, out_off = 4.0, 2.0
    half = HOP // 2

    def set_conv(layer, weight: torch.Tensor, bias: torch.Tensor) -> None:
        conv = layer.conv
        pw = conv.parametrizations.weight
        dims = tuple(range(1, weight.dim()))
        norm = weight.norm(dim=dims, keepdim=True)
        ones = torch.ones_like(weight)
        v = torch.where(norm > 0, weight, ones)  # zero slices: g = 0, any direction
        with torch.no_grad():
            pw.original1.copy_(v)
            pw.original0.copy_(norm)
            conv.bias.copy_(bias)

    enc, dec = m.encoder.layers, m.decoder.layers
    w0 = torch.zeros(4, 1, 7)
    w0[0, 0, 3] = 1.0
    set_conv(enc[0], w0, torch.tensor([off, 0, 0, 0]))
    w2 = torch.zeros(8, 4, 2 * HOP)
    b2 = torch.zeros(8)
    for c in range(2):
        mf = w[c] / (w[c] @ w[c])
        w2[c, 0, half : half + HOP] = mf
        b2[c] = off - off * mf.sum()
    set_conv(enc[2], w2, b2)
    w5 = torch.zeros(4, 8, 7)
    w5[0, 0, 3] = w5[1, 1, 3] = 1.0
    set_conv(enc[5], w5, torch.tensor([-off, -off, 0, 0]))
    d0 = torch.zeros(8, 4, 7)
    d0[0, 0, 3] = d0[1, 1, 3] = 1.0
    set_conv(dec[0], d0, torch.tensor([off, off, off, 0, 0, 0, 0, 0]))
    d3 = torch.zeros(8, 4, 2 * HOP)  # ConvTranspose1d weight: (in, out, k)
    d3[0, 0, half : half + HOP] = w[0]
    d3[1, 0, half : half + HOP] = w[1]
    d3[2, 0, half : half + HOP] = -(w[0] + w[1])
    set_conv(dec[3], d3, torch.tensor([out_off, 0, 0, 0]))
    d5 = torch.zeros(1, 4, 7)
    d5[0, 0, 3] = 1.0
    set_conv(dec[5], d5, torch.tensor([-out_off]))
    with torch.no_grad():
        for lstm in (enc[3].lstm, dec[1].lstm):
            for p in lstm.parameters():
                p.zero_()  # zero LSTM + its skip connection = identity
        levels = torch.arange(LEVELS, dtype=torch.float32) / (LEVELS - 1)
        for i, amp in enumerate((KICK_AMP, HAT_AMP)):
            emb = torch.zeros(LEVELS, 4)
            emb[:, i] = levels * amp
            m.quantizer.layers[i].codebook.embed.copy_(emb)
            m.quantizer.layers[i].codebook.embed_avg.copy_(emb)
    return m


# --- the synthetic music "language" ----------------------------------------------------------


def music_codes(
    *, genre: str, bpm: float, phase_s: float, n_frames: int, rng: np.random.Generator
) -> np.ndarray:
    """Codes (2, n_frames): kicks on the beats from ``phase_s``, the genre's hi-hats between."""
    codes = np.zeros((2, n_frames), np.int64)
    period = 60.0 / bpm
    k = np.arange(-1, int(n_frames / FRAME_RATE / period) + 2)
    beats = phase_s + k * period
    for b in beats:
        f = int(round(b * FRAME_RATE))
        if 0 <= f < n_frames:
            codes[0, f] = KICK_LEVEL
        for off in HAT_PATTERNS[genre]:
            f = int(round((b + off * period) * FRAME_RATE))
            if 0 <= f < n_frames:
                codes[1, f] = HAT_LEVEL
    return codes


@dataclass
class Example:
    prompt: str
    codes: np.ndarray
    null: bool
    bpm: float
    phase_frac: float  # first beat, as a fraction of the beat period


def sample_example(rng: np.random.Generator, n_frames: int = CLIP_FRAMES) -> Example:
    """One pretraining example: 70% full prompt, 10% each without rhythm / genre / anything.

    The phase is continuous: the prompt names the nearest rhythm word, and the word's row is
    given the exact phase's embedding (:func:`rhythm_embedding`), so the generator reads
    rhythm embeddings between the words too.
    """
    g = GENRES[rng.integers(len(GENRES))]
    ti = int(rng.integers(len(TEMPI)))
    bpm, frac = TEMPI[ti], float(rng.random())
    pj = int(round(frac * PHASES)) % PHASES
    u = rng.random()
    if u < 0.1:
        prompt = f"a {g} music"
    elif u < 0.2:
        prompt = f"a music with {rhythm_word(ti, pj)} as the rhythm"
        g = GENRES[rng.integers(len(GENRES))]
    else:
        prompt = f"a {g} music with {rhythm_word(ti, pj)} as the rhythm"
    codes = music_codes(genre=g, bpm=bpm, phase_s=frac * 60 / bpm, n_frames=n_frames, rng=rng)
    return Example(prompt=prompt, codes=codes, null=u > 0.9, bpm=bpm, phase_frac=frac)


def rhythm_embedding(bpm: float, phase_frac: float, *, width: int) -> np.ndarray:
    """The generator's embedding of "tempo ``bpm``, first beat at ``phase_frac`` of a beat".

    A fixed smooth function (phase on a circle, log-tempo on a line, in a fixed random 4-D
    subspace of the text width): rhythm words that mean nearby rhythms have nearby embeddings,
    as related words do in a real text encoder. The rhythm words' rows hold its values at
    their grid points and stay fixed while the generator trains.
    """
    q, _ = np.linalg.qr(np.random.default_rng(11).normal(size=(width, 4)))
    t = (np.log(bpm) - np.log(105.0)) / np.log(140.0 / 105.0)
    a = 2 * np.pi * phase_frac
    return (6.0 * q @ np.array([np.cos(a), np.sin(a), t, 0.5])).astype(np.float32)


# --- the generator ---------------------------------------------------------------------------


def build_generator(seed: int = 0):
    """A small MusicGen (T5 2x64, decoder 3x128) around the click codec, and its tokenizer."""
    import torch
    from transformers import (
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )
    from transformers.utils import logging as hf_logging

    from d2m_core.inversion.vocab import BASE_WORDS, word_tokenizer

    words = [*BASE_WORDS, *GENRES]
    words += [rhythm_word(i, j) for i in range(len(TEMPI)) for j in range(PHASES)]
    tok = word_tokenizer(words)
    codec = click_codec()
    text = T5Config(
        vocab_size=int(math.ceil(len(tok) / 8) * 8), d_model=64, d_kv=16, d_ff=128,
        num_layers=2, num_heads=4, relative_attention_num_buckets=8,
        relative_attention_max_distance=32, dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0,
    )  # fmt: skip
    dec = MusicgenDecoderConfig(
        vocab_size=LEVELS, hidden_size=128, num_hidden_layers=3, num_attention_heads=4,
        ffn_dim=256, num_codebooks=2, pad_token_id=LEVELS, bos_token_id=LEVELS,
        max_position_embeddings=512, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    )  # fmt: skip
    hf_logging.set_verbosity_error()
    torch.manual_seed(seed)
    cfg = MusicgenConfig(text_encoder=text, audio_encoder=codec.config, decoder=dec)
    model = MusicgenForConditionalGeneration(cfg, audio_encoder=codec)
    table = model.text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        for i, bpm in enumerate(TEMPI):
            for j in range(PHASES):
                row = tok.convert_tokens_to_ids(rhythm_word(i, j))
                emb = rhythm_embedding(bpm, j / PHASES, width=table.shape[1])
                table[row] = torch.from_numpy(emb)
    gc = model.generation_config
    gc.decoder_start_token_id = gc.pad_token_id = gc.bos_token_id = LEVELS
    return model, tok


def _weighted_codebook_loss(logits, labels, *, hit_weight: float):
    """Cross-entropy with hits (non-zero codes) weighted up: they are rare but carry the
    rhythm, and the rhythm word is what the generator must learn to obey."""
    import torch

    v = logits.shape[-1]
    lg, lb = logits.reshape(-1, v).float(), labels.reshape(-1)
    ce = torch.nn.functional.cross_entropy(lg, lb, ignore_index=-100, reduction="none")
    w = torch.where(lb > 0, hit_weight, 1.0) * (lb != -100)
    return (ce * w).sum() / w.sum()


def pretrain_generator(
    model,
    tok,
    *,
    steps: int,
    batch: int = 32,
    seed: int = 0,
    lr: float = 2e-3,
    log=print,
    callback=None,
    context_dropout: float = 0.6,
):
    """Train the generator's T5 and decoder on prompt -> codes (the codec stays fixed).

    Clips are random crops of 0.64-5.12 s: in a long clip the kicks after the first two are
    predictable from the music itself, so only the start needs the rhythm word; short crops
    put the text to work on every step (and cost little).
    """
    import torch

    from d2m_core.backbones.musicgen.model import DecoderCore, LoadedMusicgen, delay_inputs

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    lm = LoadedMusicgen(model=model, tokenizer=tok, name="bench", melody=False)
    core = DecoderCore(lm)
    table = model.text_encoder.get_input_embeddings()
    width = table.embedding_dim
    rhythm_ids = torch.tensor(
        [
            tok.convert_tokens_to_ids(rhythm_word(i, j))
            for i in range(len(TEMPI))
            for j in range(PHASES)
        ]
    )
    keep = torch.ones(table.num_embeddings, 1)
    keep[rhythm_ids] = 0.0
    table.weight.register_hook(lambda g: g * keep)  # rhythm words keep their meaning
    params = [p for n, p in model.named_parameters() if not n.startswith("audio_encoder")]
    for p in model.audio_encoder.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    model.train()
    t0, run = time.perf_counter(), []
    for step in range(1, steps + 1):
        n = int(rng.choice([16, 24, 32, 64, CLIP_FRAMES], p=[0.3, 0.2, 0.2, 0.15, 0.15]))
        exs = [sample_example(rng, n) for _ in range(batch)]
        enc = tok([e.prompt for e in exs], padding=True, return_tensors="pt")
        ids = enc["input_ids"]
        embeds = table(ids)
        where = torch.isin(ids, rhythm_ids)
        exact = torch.from_numpy(
            np.stack([rhythm_embedding(e.bpm, e.phase_frac, width=width) for e in exs])
        )
        embeds = torch.where(where[..., None], exact[:, None, :], embeds)
        hidden = model.text_encoder(inputs_embeds=embeds, attention_mask=enc["attention_mask"])
        hidden = hidden.last_hidden_state
        mask = enc["attention_mask"].clone()
        null = torch.tensor([e.null for e in exs])
        hidden = torch.where(null[:, None, None], torch.zeros_like(hidden), hidden)
        mask[null] = 0  # the unconditional input classifier-free guidance uses
        codes = torch.as_tensor(np.stack([e.codes for e in exs]))
        inputs, labels = delay_inputs(codes, special=LEVELS, delays=[0, 1])
        if context_dropout:
            # Hide past hits at random so the generator learns to take the beat grid from the
            # text rather than copy it from the music so far.
            drop = (torch.rand(inputs.shape) < context_dropout) & (inputs != LEVELS)
            inputs = inputs.masked_fill(drop, 0)
        logits, _ = core.logits(inputs, core.condition(hidden, mask))
        loss = _weighted_codebook_loss(logits, labels, hit_weight=5.0)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        run.append(float(loss.detach()))
        if step % 100 == 0 or step == steps:
            log(f"  generator step {step}/{steps}: loss {np.mean(run[-100:]):.4f}"
                f" ({time.perf_counter() - t0:.0f} s)")  # fmt: skip
        if callback is not None:
            model.eval()
            callback(step)
            model.train()
    model.eval()
    return float(np.mean(run[-100:]))


def first_kick_accuracy(model, tok, *, n: int = 24, seed: int = 1) -> float:
    """Share of prompts whose greedy music puts its first kick within a frame of the rhythm
    word's phase and its second one period later (the generator obeys the word)."""
    import torch

    from d2m_core.backbones.musicgen.model import DecoderCore, LoadedMusicgen

    core = DecoderCore(LoadedMusicgen(model=model, tokenizer=tok, name="bench", melody=False))
    rng = np.random.default_rng(seed)
    ok = 0
    for _ in range(n):
        ti, pj = int(rng.integers(len(TEMPI))), int(rng.integers(PHASES))
        g = GENRES[rng.integers(len(GENRES))]
        period = 60 / TEMPI[ti] * FRAME_RATE
        enc = tok([f"a {g} music with {rhythm_word(ti, pj)} as the rhythm"], return_tensors="pt")
        with torch.no_grad():
            h = model.text_encoder(**enc).last_hidden_state
            c = core.sample(
                hidden=h, mask=enc["attention_mask"], num_frames=48, guidance=3.0,
                top_k=1, generator=torch.Generator().manual_seed(0),
            )  # fmt: skip
        kicks = np.flatnonzero(c[0, 0].numpy())
        want = np.array([pj / PHASES * period, (pj / PHASES + 1) * period])
        ok += len(kicks) >= 2 and bool(np.all(np.abs(kicks[:2] - want) <= 1.01))
    return ok / n


# --- paired dance / music data ------------------------------------------------------------------


def decode_audio(codec, codes: np.ndarray) -> np.ndarray:
    """Audio (N,) float32 at SR from codes (2, T)."""
    import torch

    with torch.no_grad():
        y = codec.decode(torch.as_tensor(codes)[None, None], [None]).audio_values
    return y[0, 0].numpy().astype(np.float32)


@dataclass
class DanceSpec:
    name: str
    bpm: float
    phase_s: float
    genre: str
    seed: int
    duration_s: float


def dance_specs(n: int, *, seed: int, duration_s: float, prefix: str) -> list[DanceSpec]:
    """Random dances: a tempo the generator knows, any phase, any genre, new moves."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        bpm = float(TEMPI[rng.integers(len(TEMPI))])
        out.append(
            DanceSpec(
                name=f"{prefix}{i:03d}",
                bpm=bpm,
                phase_s=float(rng.random() * 60 / bpm),
                genre=GENRES[rng.integers(len(GENRES))],
                seed=int(seed * 1000 + i),
                duration_s=duration_s,
            )
        )
    return out


def make_motion(spec: DanceSpec):
    from d2m_core.dance.synth import synthetic_dance

    return synthetic_dance(
        bpm=spec.bpm, duration_s=spec.duration_s, fps=60.0, seed=spec.seed, start_s=spec.phase_s
    )


def write_dataset(root: Path, splits: dict[str, list[DanceSpec]], codec) -> Path:
    """A folder dataset (manifest.csv, one npz of dances, one wav per dance)."""
    import soundfile as sf

    root.mkdir(parents=True, exist_ok=True)
    rows, arrays = ["motion,audio,genre,split"], {}
    for split, specs in splits.items():
        for s in specs:
            arrays[s.name] = make_motion(s).keypoints
            n = int(round(s.duration_s * FRAME_RATE))
            codes = music_codes(
                genre=s.genre, bpm=s.bpm, phase_s=s.phase_s, n_frames=n,
                rng=np.random.default_rng(s.seed),
            )  # fmt: skip
            sf.write(root / f"{s.name}.wav", decode_audio(codec, codes), SR)
            rows.append(f"dances.npz#{s.name},{s.name}.wav,{s.genre},{split}")
    np.savez(root / "dances.npz", fps=np.float32(60.0), **arrays)
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


# --- evaluation ---------------------------------------------------------------------------------


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows])) if rows else float("nan")


def evaluate(
    *, gen_dir: Path, encoder_dir: Path, specs: list[DanceSpec], seed: int = 0, log=print
) -> dict:
    """Generate for held-out dances with ``*``, with ``*`` dropped and with shuffled dances.

    Returns per-condition means of the beat F-measure (mir_eval, +-70 ms, librosa beats vs the
    dance's visual beats) and the paper's BCS / BHS, plus the same for the generator prompted
    with the true rhythm word (its ceiling) and for the paired ground-truth music.
    """
    import torch

    from d2m_core.backbones.musicgen.backbone import MusicgenBackbone
    from d2m_core.dance.analysis import analyze_motion
    from d2m_core.music.generate import measure_alignment
    from d2m_core.music.prompt import DEFAULT_PROMPT, parse_prompt

    bb = MusicgenBackbone(model=str(gen_dir), encoder=encoder_dir, device="cpu")
    analyses = [analyze_motion(make_motion(s)) for s in specs]
    n = len(specs)
    shuffled = [(i + 1 + (i * 7) % (n - 1)) % n for i in range(n)]  # another dance each
    conditions = {
        "with *": (DEFAULT_PROMPT, list(range(n))),
        "* dropped": ("a @ music", list(range(n))),
        "shuffled dances": (DEFAULT_PROMPT, shuffled),
    }
    results: dict[str, list[dict]] = {k: [] for k in (*conditions, "rhythm word", "ground truth")}
    t0 = time.perf_counter()
    for i, (spec, an) in enumerate(zip(specs, analyses, strict=True)):
        beats = an.tempo.beats_s
        for cond, (prompt, idx) in conditions.items():
            audio = bb.generate(
                analysis=analyses[idx[i]], prompt=parse_prompt(prompt), genre=spec.genre,
                seed=seed + i, duration_s=spec.duration_s,
            )  # fmt: skip
            a = measure_alignment(audio, SR, beats)
            results[cond].append({"f": a.beat_f_measure, "bcs": a.bcs, "bhs": a.bhs})
        # The generator's ceiling: the rhythm word of the dance's tempo and nearest phase.
        ti = TEMPI.index(spec.bpm)
        pj = int(round(spec.phase_s / (60 / spec.bpm) * PHASES)) % PHASES
        text = f"a {spec.genre} music with {rhythm_word(ti, pj)} as the rhythm"
        enc = bb.lm.tokenizer([text], return_tensors="pt")
        with torch.no_grad():
            h = bb.lm.model.text_encoder(**enc).last_hidden_state
            codes = bb.core.sample(
                hidden=h, mask=enc["attention_mask"],
                num_frames=int(round(spec.duration_s * FRAME_RATE)), guidance=3.0, top_k=250,
                generator=torch.Generator().manual_seed(seed + i),
            )  # fmt: skip
        a = measure_alignment(bb.core.decode(codes[0]), SR, beats)
        results["rhythm word"].append({"f": a.beat_f_measure, "bcs": a.bcs, "bhs": a.bhs})
        codes = music_codes(
            genre=spec.genre, bpm=spec.bpm, phase_s=spec.phase_s,
            n_frames=int(round(spec.duration_s * FRAME_RATE)), rng=np.random.default_rng(0),
        )  # fmt: skip
        a = measure_alignment(decode_audio(bb.lm.model.audio_encoder, codes), SR, beats)
        results["ground truth"].append({"f": a.beat_f_measure, "bcs": a.bcs, "bhs": a.bhs})
        if (i + 1) % 5 == 0 or i + 1 == n:
            log(f"  evaluated {i + 1}/{n} dances ({time.perf_counter() - t0:.0f} s)")
    summary = {}
    for cond, rows in results.items():
        bcs, bhs = _mean(rows, "bcs"), _mean(rows, "bhs")
        summary[cond] = {
            "beat_f_measure": round(_mean(rows, "f"), 4),
            "beat_f_measure_sd": round(float(np.std([r["f"] for r in rows])), 4),
            "bcs": round(bcs, 4),
            "bhs": round(bhs, 4),
            "f1_bcs_bhs": round(2 * bcs * bhs / max(bcs + bhs, 1e-9), 4),
            "n": len(rows),
            "per_dance_f": [round(r["f"], 4) for r in rows],
        }
    return summary


def evaluate_long(
    *, gen_dir: Path, encoder_dir: Path, specs: list[DanceSpec], seed: int = 0
) -> dict:
    """Music longer than one clip (window-by-window continuation) with and without ``*``."""
    from d2m_core.backbones.musicgen.backbone import MusicgenBackbone
    from d2m_core.dance.analysis import analyze_motion
    from d2m_core.music.generate import measure_alignment
    from d2m_core.music.prompt import DEFAULT_PROMPT, parse_prompt

    bb = MusicgenBackbone(model=str(gen_dir), encoder=encoder_dir, device="cpu")
    out: dict[str, list[float]] = {"with *": [], "* dropped": []}
    for i, spec in enumerate(specs):
        an = analyze_motion(make_motion(spec))
        for cond, prompt in (("with *", DEFAULT_PROMPT), ("* dropped", "a @ music")):
            audio = bb.generate(
                analysis=an, prompt=parse_prompt(prompt), genre=spec.genre, seed=seed + i,
                duration_s=spec.duration_s,
            )  # fmt: skip
            out[cond].append(measure_alignment(audio, SR, an.tempo.beats_s).beat_f_measure)
    return {
        "duration_s": specs[0].duration_s,
        "windows": len(bb.window_plan(int(round(specs[0].duration_s * FRAME_RATE)))),
        **{k: {"beat_f_measure": round(float(np.mean(v)), 4), "n": len(v)} for k, v in out.items()},
        "gain": paired_gain(out["with *"], out["* dropped"], seed=seed),
    }


def paired_gain(a: list[float], b: list[float], *, seed: int = 0) -> dict:
    """Mean of ``a - b`` over the same dances, with a 95% bootstrap interval."""
    d = np.asarray(a) - np.asarray(b)
    rng = np.random.default_rng(seed)
    boots = rng.choice(d, size=(10000, len(d))).mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"mean": round(float(d.mean()), 4), "ci95": [round(float(lo), 4), round(float(hi), 4)]}


# --- the whole experiment -------------------------------------------------------------------


SETTINGS = {
    #          generator steps, train dances, inversion steps, test dances
    "full": dict(gen_steps=3000, n_train=160, n_val=12, inv_steps=2000, n_test=40, n_long=12),
    "quick": dict(gen_steps=2500, n_train=160, n_val=6, inv_steps=2000, n_test=40, n_long=0),
}


def run(
    work: Path,
    *,
    quick: bool = False,
    projector: str = "mlp",
    rhythm_input: str = "peaks+envelope",
    lr: float = 2e-3,
    seed: int = 0,
    log=print,
):
    """Run all three stages in ``work`` (the generator is reused when there); returns the
    results dict (also written to the run folder's ``results.json``)."""
    import torch

    from d2m_core.cli.main import main as d2m

    torch.set_num_threads(1)  # tiny ops: one thread is faster, and much faster on a busy CPU
    st = SETTINGS["quick" if quick else "full"]
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    gen_dir = work / "generator"
    if not (gen_dir / "config.json").is_file():
        log(f"1/3 pretraining the generator to follow rhythm words ({st['gen_steps']} steps)")
        model, tok = build_generator(seed=seed)
        pretrain_generator(model, tok, steps=st["gen_steps"], seed=seed, log=log)
        acc = first_kick_accuracy(model, tok)
        log(f"  generator obeys rhythm words: first two kicks right in {acc:.0%} of prompts")
        model.save_pretrained(gen_dir)
        tok.save_pretrained(gen_dir)
        (gen_dir / "d2m_bench.json").write_text(json.dumps({"first_kick_accuracy": acc}))
    acc = json.loads((gen_dir / "d2m_bench.json").read_text())["first_kick_accuracy"]
    t_gen = time.perf_counter() - t0

    log("2/3 inversion: training rhythm + genre encoders on the frozen generator")
    from d2m_core.backbones.musicgen.model import load_musicgen

    codec = load_musicgen(str(gen_dir)).model.audio_encoder
    data = write_dataset(
        work / "data",
        {
            # 20 s dances cut every 0.64 s: ~24 clips each, at many phases of the beat.
            "train": dance_specs(st["n_train"], seed=seed + 1, duration_s=20.0, prefix="tr"),
            "val": dance_specs(st["n_val"], seed=seed + 2, duration_s=CLIP_S, prefix="va"),
        },
        codec,
    )
    run_dir = work / f"run-{projector}-{rhythm_input.replace('+', '_')}"
    rc = d2m([
        "train", "--backbone", "musicgen", "--model", str(gen_dir), "--data", str(data),
        "--out", str(run_dir), "--projector", projector, "--steps", str(st["inv_steps"]),
        "--batch-size", "16", "--lr", str(lr), "--warmup", "50", "--dropout", "0.0",
        "--clip-hop", "0.64", "--rhythm-input", rhythm_input, "--init-words", "t2p0", "music",
        "--val-every", "100", "--log-every", "50", "--seed", str(seed), "--no-resume", "--quiet",
    ])  # fmt: skip
    if rc:
        raise SystemExit("d2m train failed")
    t_inv = time.perf_counter() - t0 - t_gen

    log("3/3 generating for held-out dances")
    test = dance_specs(st["n_test"], seed=seed + 3, duration_s=CLIP_S, prefix="te")
    summary = evaluate(gen_dir=gen_dir, encoder_dir=run_dir / "encoder", specs=test, seed=seed)
    long = None
    if st["n_long"]:
        log("  ... and music longer than one clip (window by window)")
        long = evaluate_long(
            gen_dir=gen_dir,
            encoder_dir=run_dir / "encoder",
            specs=dance_specs(st["n_long"], seed=seed + 4, duration_s=15.0, prefix="lo"),
            seed=seed,
        )
    results = {
        "settings": {
            **st,
            "projector": projector,
            "rhythm_input": rhythm_input,
            "quick": quick,
            "seed": seed,
        },
        "generator_first_kick_accuracy": acc,
        "results": summary,
        "long_music": long,
        "gain_over": {
            cond: paired_gain(
                summary["with *"]["per_dance_f"], summary[cond]["per_dance_f"], seed=seed
            )
            for cond in ("* dropped", "shuffled dances")
        },
        "seconds": {
            "generator": round(t_gen, 1),
            "inversion": round(t_inv, 1),
            "total": round(time.perf_counter() - t0, 1),
        },
    }
    (run_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/d2m_bench_inversion"))
    ap.add_argument("--quick", action="store_true", help="the shorter run of the slow test")
    ap.add_argument("--projector", choices=("mlp", "attn_pos"), default="mlp")
    ap.add_argument("--rhythm-input", choices=("peaks", "peaks+envelope"), default="peaks+envelope")
    ap.add_argument("--lr", type=float, default=2e-3, help="encoder learning rate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    res = run(
        args.work,
        quick=args.quick,
        projector=args.projector,
        rhythm_input=args.rhythm_input,
        lr=args.lr,
        seed=args.seed,
    )
    print()
    print("| condition | beat F-measure (+-70 ms) | BCS | BHS | F1(BCS, BHS) | dances |")
    print("|---|---|---|---|---|---|")
    for cond, r in res["results"].items():
        print(
            f"| {cond} | {r['beat_f_measure']:.3f} +- {r['beat_f_measure_sd']:.3f} | {r['bcs']:.3f}"
            f" | {r['bhs']:.3f} | {r['f1_bcs_bhs']:.3f} | {r['n']} |"
        )
    for cond, g in res["gain_over"].items():
        print(
            f"with * minus {cond}: {g['mean']:+.3f} (95% bootstrap interval"
            f" {g['ci95'][0]:+.3f} .. {g['ci95'][1]:+.3f})"
        )
    if res["long_music"]:
        lm = res["long_music"]
        print(
            f"{lm['duration_s']:g} s music ({lm['windows']} windows): beat F-measure"
            f" {lm['with *']['beat_f_measure']:.3f} with *, {lm['* dropped']['beat_f_measure']:.3f}"
            f" with * dropped ({lm['with *']['n']} dances; gain {lm['gain']['mean']:+.3f},"
            f" 95% interval {lm['gain']['ci95'][0]:+.3f} .. {lm['gain']['ci95'][1]:+.3f})"
        )
    print(f"\nseconds: {res['seconds']}; results in {args.work}/run-*/results.json")


if __name__ == "__main__":
    main()
