"""The inversion training loop: frozen backbone, trainable rhythm + genre encoders.

Backbone-agnostic: everything backbone-specific comes from an
:class:`~d2m_core.inversion.adapter.InversionAdapter` (text conditioner, targets, loss).

Runs on Hugging Face Accelerate, so the same code runs on the CPU, one GPU, or many GPUs and
machines under ``accelerate launch -m d2m_core train ...`` (data-parallel; every process holds
its own frozen backbone, only the small encoders are synchronised). On GPUs the backbone's
loss runs under autocast (bf16 where supported, else fp16); the text encoder always runs in
float32.

Defaults are the paper's MusicGen settings (its §4.1): AdamW, lr 1e-4, betas
(0.9, 0.95), weight decay 0.01, gradient clipping at 1.0, linear warm-up over 6000 steps (at most
a tenth of the run) then cosine decay, 20 epochs.

Output folder
-------------
- ``encoder/``: the latest encoders (:mod:`d2m_core.inversion.checkpoint`), written at every
  save; ``encoder-best/``: the lowest validation loss so far.
- ``checkpoints/state/``: the full training state (encoders, optimiser, scheduler, random
  states, step) for ``--resume`` (the default when it exists).
- ``metrics.csv``: ``step,epoch,split,loss,lr,clips_per_s,elapsed_s`` rows (train every
  ``log_every`` steps, val at every validation), easy to plot.
- ``run.json``: the run's settings.
- ``cache/``: clip features (unless ``--cache`` points elsewhere).
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from d2m_core.errors import D2MError
from d2m_core.music.prompt import DEFAULT_PROMPT, parse_prompt

METRIC_FIELDS = ("step", "epoch", "split", "loss", "lr", "clips_per_s", "elapsed_s")


@dataclass
class TrainConfig:
    """Settings of one training run (the CLI's options).

    Attributes
    ----------
    data, out : Path
        Data folder (manifest or AIST++) and output folder.
    backbone, model : str
        Trainable backbone and its model id / folder / ``debug``.
    layout, music_dir, view
        Data layout options (:func:`d2m_core.training.data.find_pairs`).
    projector, rhythm_input, hidden, attn_layers, attn_heads, patch_frames, dropout
        Encoder architecture (:class:`~d2m_core.inversion.config.EncoderConfig`).
    init_words : (str, str), optional
        Words whose embeddings ``*`` and ``@`` start from (default: the adapter's,
        ``rhythm`` and ``dance``).
    clip_s : float
        Clip length, seconds.
    clip_hop_s : float, optional
        Spacing of training clips (default: ``clip_s``).
    epochs, steps : int, optional
        Run length: ``steps`` (optimiser steps) wins when given.
    batch_size : int
        Clips per process per forward pass.
    grad_accum : int
        Forward passes per optimiser step.
    lr, betas, weight_decay, grad_clip, warmup
        Optimiser (warm-up in optimiser steps, capped at a tenth of the run).
    mixed_precision : str
        ``auto`` (bf16 / fp16 on GPU, none on CPU), ``no``, ``fp16`` or ``bf16``.
    val_every, save_every, log_every : int
        In optimiser steps; 0 = at the end of every epoch (log: every step).
    resume : bool
        Continue from ``out/checkpoints/state`` when present.
    cache : Path, optional
        Feature cache folder (default ``out/cache``).
    cpu : bool
        Force the CPU even when a GPU is present.
    prompt : str
        The fixed training prompt.
    """

    data: Path
    out: Path
    backbone: str = "musicgen"
    model: str = "facebook/musicgen-small"
    layout: str = "auto"
    music_dir: Path | None = None
    view: int = 0
    projector: str = "attn_pos"
    rhythm_input: str = "peaks"
    hidden: int = 0
    attn_layers: int = 2
    attn_heads: int = 4
    patch_frames: int = 8
    dropout: float = 0.1
    init_words: tuple[str, str] | None = None
    clip_s: float = 5.12
    clip_hop_s: float | None = None
    epochs: int | None = 20
    steps: int | None = None
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    warmup: int = 6000
    mixed_precision: str = "auto"
    val_every: int = 0
    save_every: int = 0
    log_every: int = 10
    resume: bool = True
    cache: Path | None = None
    seed: int = 0
    num_workers: int = 0
    cpu: bool = False
    prompt: str = DEFAULT_PROMPT

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class TrainResult:
    """What a run did."""

    steps: int
    epochs: float
    train_loss: float
    val_loss: float | None
    best_val_loss: float | None
    encoder_dir: Path
    seconds: float
    history: list[dict] = field(default_factory=list)


def _mixed_precision(choice: str, *, cpu: bool) -> str:
    import torch

    if choice != "auto":
        return choice
    if cpu or not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def lr_lambda(*, warmup: int, total: int):
    """Linear warm-up then cosine decay to zero, as a LambdaLR factor of the step."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return f


class _Counter:
    """Step / epoch bookkeeping saved with the Accelerate state."""

    def __init__(self) -> None:
        self.step = 0
        self.epoch = 0
        self.batches_in_epoch = 0
        self.best_val = float("inf")

    def state_dict(self) -> dict:
        return dict(self.__dict__)

    def load_state_dict(self, d: dict) -> None:
        self.__dict__.update(d)


def _encoder_config(cfg: TrainConfig, adapter):
    from d2m_core.inversion.config import EncoderConfig

    return EncoderConfig(
        text_width=adapter.text_width,
        projector=cfg.projector,
        clip_s=cfg.clip_s,
        rhythm_input=cfg.rhythm_input,
        hidden=cfg.hidden,
        attn_layers=cfg.attn_layers,
        attn_heads=cfg.attn_heads,
        patch_frames=cfg.patch_frames,
        dropout=cfg.dropout,
        embed_scale=adapter.conditioner.embed_scale(),
    )


def _check_run_file(out: Path, cfg: TrainConfig, enc_dict: dict, resuming: bool) -> None:
    run = out / "run.json"
    if resuming and run.is_file():
        old = json.loads(run.read_text())
        for k in ("backbone", "model"):
            if str(old["train"].get(k)) != str(getattr(cfg, k)):
                raise D2MError(
                    f"{out} holds a run with {k}={old['train'].get(k)}; use another --out"
                    " or --no-resume"
                )
        if old.get("encoder") != enc_dict:
            raise D2MError(
                f"{out} holds a run with other encoder settings; use another --out or --no-resume"
            )
    out.mkdir(parents=True, exist_ok=True)
    run.write_text(json.dumps({"train": cfg.to_dict(), "encoder": enc_dict}, indent=2) + "\n")


def train(cfg: TrainConfig, *, show_progress: bool = True) -> TrainResult:
    """Train the encoders; returns a summary (the main process also writes ``cfg.out``).

    Raises
    ------
    D2MError
        Bad data folder, no training clips, a backbone that cannot train, a mismatched resume.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    from d2m_core.inversion.adapter import get_adapter, inversion_loss
    from d2m_core.inversion.checkpoint import save_encoders
    from d2m_core.inversion.encoders import InversionEncoders
    from d2m_core.training.data import ClipDataset, find_pairs, prepare_clips

    if cfg.steps is None and not cfg.epochs:
        raise D2MError("give the run length with --epochs N or --steps N")
    if cfg.batch_size < 1 or cfg.grad_accum < 1:
        raise D2MError("--batch-size and --grad-accum must be at least 1")
    parsed = parse_prompt(cfg.prompt)
    if not (parsed.has_rhythm and parsed.has_genre):
        # Both encoders must receive gradients on every step (and DDP insists on it).
        raise D2MError(f"the training prompt must contain both @ and *, e.g. '{DEFAULT_PROMPT}'")
    t_start = time.perf_counter()
    mp = _mixed_precision(cfg.mixed_precision, cpu=cfg.cpu)
    acc = Accelerator(mixed_precision=mp, gradient_accumulation_steps=cfg.grad_accum, cpu=cfg.cpu)
    set_seed(cfg.seed)
    main = acc.is_main_process
    log = acc.print
    out = Path(cfg.out)
    state_dir = out / "checkpoints" / "state"
    resuming = cfg.resume and (state_dir / "counter.json").is_file()

    pairs = find_pairs(cfg.data, layout=cfg.layout, music_dir=cfg.music_dir, view=cfg.view)
    adapter = get_adapter(cfg.backbone, model=cfg.model, device=acc.device)
    adapter.to(acc.device).freeze()
    enc_cfg = _encoder_config(cfg, adapter)
    if main:
        _check_run_file(out, cfg, enc_cfg.to_dict(), resuming)
    cache = Path(cfg.cache) if cfg.cache else out / "cache"
    with acc.main_process_first():  # the main process fills the cache, the others read it
        tables = prepare_clips(
            pairs,
            adapter=adapter,
            cfg=enc_cfg,
            cache_dir=cache,
            hop_s=cfg.clip_hop_s,
            log=log,
            show_progress=show_progress and acc.is_local_main_process,
        )
    if "train" not in tables:
        raise D2MError(
            f"no training clips of {cfg.clip_s:g} s in {cfg.data}: check the split column"
        )
    log(
        f"clips: {', '.join(f'{s} {len(t)}' for s, t in tables.items())}"
        f" ({cfg.clip_s:g} s); backbone {cfg.backbone} '{cfg.model}', text width"
        f" {enc_cfg.text_width}, projector {enc_cfg.projector}, precision {mp}, device {acc.device}"
    )

    encoders = InversionEncoders(enc_cfg)
    if cfg.init_words:
        adapter.rhythm_init_word, adapter.genre_init_word = cfg.init_words
    adapter.init_encoders(encoders)
    optimizer = torch.optim.AdamW(
        encoders.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    train_dl = torch.utils.data.DataLoader(
        ClipDataset(tables["train"]),
        batch_size=cfg.batch_size,
        shuffle=True,
        num_workers=cfg.num_workers,
        generator=gen,
    )
    val_dl = None
    if "val" in tables:
        val_dl = torch.utils.data.DataLoader(
            ClipDataset(tables["val"]), batch_size=cfg.batch_size, shuffle=False
        )
    encoders, optimizer, train_dl = acc.prepare(encoders, optimizer, train_dl)
    if val_dl is not None:
        val_dl = acc.prepare(val_dl)
    steps_per_epoch = max(1, math.ceil(len(train_dl) / cfg.grad_accum))
    total = int(cfg.steps) if cfg.steps else int(cfg.epochs) * steps_per_epoch
    warmup = min(int(cfg.warmup), total // 10)
    # Stepped by hand once per optimiser step (Accelerate would step it once per process).
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(warmup=warmup, total=total))
    counter = _Counter()
    acc.register_for_checkpointing(scheduler)
    acc.register_for_checkpointing(counter)
    if resuming:
        acc.load_state(str(state_dir))
        log(f"resumed from {state_dir} at step {counter.step} (epoch {counter.epoch})")
    elif main and (out / "metrics.csv").exists():
        (out / "metrics.csv").unlink()

    metrics_path = out / "metrics.csv"
    history: list[dict] = []

    def write_metrics(row: dict) -> None:
        history.append(row)
        if not main:
            return
        new = not metrics_path.exists()
        with open(metrics_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=METRIC_FIELDS)
            if new:
                w.writeheader()
            w.writerow(row)

    def batch_loss(batch: dict) -> torch.Tensor:
        with acc.autocast():
            return inversion_loss(
                adapter,
                encoders,
                rhythm=batch["rhythm"],
                genre=batch["genre"],
                targets=batch["targets"],
                prompt=cfg.prompt,
            )

    def validate() -> float | None:
        if val_dl is None:
            return None
        encoders.eval()
        tot = torch.zeros(2, device=acc.device)
        with torch.no_grad():
            for batch in val_dl:
                n = torch.tensor(batch["genre"].shape[0], device=acc.device)
                tot += torch.stack([batch_loss(batch).float() * n, n.float()])
        encoders.train()
        tot = acc.reduce(tot, reduction="sum")
        return float(tot[0] / tot[1].clamp_min(1))

    def info(val: float | None) -> dict:
        return {
            "steps": counter.step,
            "epochs": round(counter.step / steps_per_epoch, 3),
            "val_loss": val,
            "best_val_loss": None if math.isinf(counter.best_val) else counter.best_val,
            "clip_s": cfg.clip_s,
            "data": str(cfg.data),
            "prompt": cfg.prompt,
        }

    marks = {"val": -1, "save": -1}  # steps of the last validation and save

    def save(val: float | None) -> None:
        marks["save"] = counter.step
        acc.wait_for_everyone()
        tmp = out / "checkpoints" / "state.part"
        if main and tmp.exists():
            shutil.rmtree(tmp)
        acc.wait_for_everyone()
        acc.save_state(str(tmp))
        if main:
            (tmp / "counter.json").write_text(json.dumps(counter.state_dict()))
            old = out / "checkpoints" / "state.old"
            if state_dir.exists():
                state_dir.rename(old)
            tmp.rename(state_dir)
            shutil.rmtree(old, ignore_errors=True)
            unwrapped = acc.unwrap_model(encoders)
            kw = dict(backbone=cfg.backbone, model=cfg.model, prompt=cfg.prompt, info=info(val))
            save_encoders(out / "encoder", encoders=unwrapped, **kw)
            if val is not None and val <= counter.best_val:
                save_encoders(out / "encoder-best", encoders=unwrapped, **kw)
        acc.wait_for_everyone()

    def evaluate_and_maybe_best() -> float | None:
        marks["val"] = counter.step
        val = validate()
        if val is not None:
            counter.best_val = min(counter.best_val, val)
            write_metrics(
                {
                    "step": counter.step,
                    "epoch": round(counter.step / steps_per_epoch, 3),
                    "split": "val",
                    "loss": round(val, 6),
                    "lr": scheduler.get_last_lr()[0],
                    "clips_per_s": "",
                    "elapsed_s": round(time.perf_counter() - t_start, 2),
                }
            )
        return val

    encoders.train()
    bar = tqdm(
        total=total,
        initial=counter.step,
        desc="training",
        unit="step",
        disable=not (show_progress and acc.is_local_main_process),
    )
    last_val: float | None = None
    running, running_n, clips, t_log = 0.0, 0, 0, time.perf_counter()
    done = counter.step >= total
    while not done:
        if hasattr(train_dl, "set_epoch"):
            train_dl.set_epoch(counter.epoch)
        dl = train_dl
        if counter.batches_in_epoch:
            dl = acc.skip_first_batches(train_dl, counter.batches_in_epoch)
        for batch in dl:
            with acc.accumulate(encoders):
                loss = batch_loss(batch)
                acc.backward(loss)
                if acc.sync_gradients and cfg.grad_clip:
                    acc.clip_grad_norm_(encoders.parameters(), cfg.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            counter.batches_in_epoch += 1
            running += float(loss.detach())
            running_n += 1
            clips += batch["genre"].shape[0] * acc.num_processes
            if not acc.sync_gradients:
                continue
            scheduler.step()
            counter.step += 1
            bar.update(1)
            if counter.step % max(1, cfg.log_every) == 0 or counter.step == total:
                mean = acc.reduce(torch.tensor(running / running_n, device=acc.device), "mean")
                now = time.perf_counter()
                write_metrics(
                    {
                        "step": counter.step,
                        "epoch": round(counter.step / steps_per_epoch, 3),
                        "split": "train",
                        "loss": round(float(mean), 6),
                        "lr": scheduler.get_last_lr()[0],
                        "clips_per_s": round(clips / max(now - t_log, 1e-9), 2),
                        "elapsed_s": round(now - t_start, 2),
                    }
                )
                bar.set_postfix(loss=f"{float(mean):.4f}")
                running, running_n, clips, t_log = 0.0, 0, 0, now
            if cfg.val_every and counter.step % cfg.val_every == 0:
                last_val = evaluate_and_maybe_best()
            if cfg.save_every and counter.step % cfg.save_every == 0:
                save(last_val)
            if counter.step >= total:
                done = True
                break
        else:
            counter.epoch += 1
            counter.batches_in_epoch = 0
            if not cfg.val_every:
                last_val = evaluate_and_maybe_best()
            if not cfg.save_every:
                save(last_val)
    bar.close()
    if marks["val"] != counter.step:
        last_val = evaluate_and_maybe_best()
    if marks["save"] != counter.step:
        save(last_val)
    train_rows = [h for h in history if h["split"] == "train"]
    return TrainResult(
        steps=counter.step,
        epochs=counter.step / steps_per_epoch,
        train_loss=float(train_rows[-1]["loss"]) if train_rows else float("nan"),
        val_loss=last_val,
        best_val_loss=None if math.isinf(counter.best_val) else counter.best_val,
        encoder_dir=out / "encoder",
        seconds=time.perf_counter() - t_start,
        history=history,
    )
