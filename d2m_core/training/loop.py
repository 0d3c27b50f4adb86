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

Structure
---------
:func:`train` is the loop; each step is a function of a :class:`TrainState` (built by
:func:`setup`) so that tests can run them one by one: :func:`resume`, :func:`epoch_batches`,
:func:`train_step` (one forward/backward pass), :func:`after_optimizer_step` (schedule, step
count, and the logging / validation / saving that fall due), :func:`end_epoch`,
:func:`evaluate`, :func:`save_checkpoint` and :func:`finish`.

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
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from d2m_core.errors import D2MError
from d2m_core.inversion.config import EncoderConfig
from d2m_core.music.prompt import DEFAULT_PROMPT, parse_prompt

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from d2m_core.inversion.adapter import InversionAdapter
    from d2m_core.inversion.encoders import InversionEncoders
    from d2m_core.training.data import ClipTable, Pair

METRIC_FIELDS = ("step", "epoch", "split", "loss", "lr", "clips_per_s", "elapsed_s")

#: The full training state for resuming, inside the output folder.
STATE_DIR = Path("checkpoints") / "state"


@dataclass
class TrainConfig:
    """Settings of one training run (the CLI's options).

    The encoder fields (``projector`` to ``dropout``, ``clip_s``) take their defaults from
    :class:`~d2m_core.inversion.config.EncoderConfig`, which they fill in.

    Attributes
    ----------
    data : Path
        Data folder (``manifest.csv`` or the AIST++ layout).
    out : Path
        Output folder (see the module's docstring).
    backbone : str
        Trainable backbone (``musicgen``, ``audioldm``, ``riffusion``).
    model : str
        The backbone's model id, model folder, or ``debug`` (a tiny random model).
    layout : str
        ``auto``, ``manifest`` or ``aist`` (:func:`d2m_core.training.data.find_pairs`).
    music_dir : Path, optional
        AIST++: folder of the ``mXX0.wav`` music files.
    view : int
        AIST++ camera view.
    projector : str
        Rhythm projector, ``mlp`` or ``attn_pos``.
    rhythm_input : str
        ``peaks`` or ``peaks+envelope``.
    hidden : int
        Hidden width of both encoders (0: from the text width).
    attn_layers, attn_heads, patch_frames : int
        Shape of the ``attn_pos`` projector.
    dropout : float
        Dropout inside the encoders while training.
    init_words : (str, str), optional
        Words whose embeddings ``*`` and ``@`` start from (default: the adapter's,
        ``rhythm`` and ``dance``).
    clip_s : float
        Clip length, seconds.
    clip_hop_s : float, optional
        Spacing of training clips (default: ``clip_s``).
    epochs : int, optional
        Run length in epochs (used when ``steps`` is not given).
    steps : int, optional
        Run length in optimiser steps; wins over ``epochs``.
    batch_size : int
        Clips per process per forward pass.
    grad_accum : int
        Forward passes per optimiser step.
    lr : float
        Peak learning rate of AdamW.
    betas : (float, float)
        AdamW's betas.
    weight_decay : float
        AdamW's decoupled weight decay.
    grad_clip : float
        Maximum gradient norm (0: no clipping).
    warmup : int
        Linear warm-up in optimiser steps, capped at a tenth of the run, then cosine decay to 0
        (:func:`transformers.get_cosine_schedule_with_warmup`).
    mixed_precision : str
        ``auto`` (bf16 / fp16 on GPU, none on CPU), ``no``, ``fp16`` or ``bf16``.
    val_every : int
        Optimiser steps between validations; 0 = at the end of every epoch.
    save_every : int
        Optimiser steps between saves; 0 = at the end of every epoch.
    log_every : int
        Optimiser steps between train rows of ``metrics.csv`` (0: every step).
    resume : bool
        Continue from ``out/checkpoints/state`` when present.
    cache : Path, optional
        Feature cache folder (default ``out/cache``).
    seed : int
        Seed of every random number generator (model set-up, dropout, shuffling).
    num_workers : int
        Data-loader worker processes.
    cpu : bool
        Force the CPU even when a GPU is present.
    prompt : str
        The fixed training prompt (must hold both ``@`` and ``*``).
    """

    data: Path
    out: Path
    backbone: str = "musicgen"
    model: str = "facebook/musicgen-small"
    layout: str = "auto"
    music_dir: Path | None = None
    view: int = 0
    projector: str = EncoderConfig.projector
    rhythm_input: str = EncoderConfig.rhythm_input
    hidden: int = EncoderConfig.hidden
    attn_layers: int = EncoderConfig.attn_layers
    attn_heads: int = EncoderConfig.attn_heads
    patch_frames: int = EncoderConfig.patch_frames
    dropout: float = EncoderConfig.dropout
    init_words: tuple[str, str] | None = None
    clip_s: float = EncoderConfig.clip_s
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
        """The settings as JSON values (paths as strings), for ``run.json``."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class TrainResult:
    """What a run did.

    Attributes
    ----------
    steps : int
        Optimiser steps done (counting those before a resume).
    epochs : float
        The same in epochs.
    train_loss : float
        Loss of the last train row of ``metrics.csv`` written by this call (NaN: none).
    val_loss : float, optional
        The final validation loss (None: no val clips).
    best_val_loss : float, optional
        The lowest validation loss of the run.
    encoder_dir : Path
        The folder of the latest encoders.
    seconds : float
        Wall time of this call.
    history : list[dict]
        The ``metrics.csv`` rows written by this call.
    """

    steps: int
    epochs: float
    train_loss: float
    val_loss: float | None
    best_val_loss: float | None
    encoder_dir: Path
    seconds: float
    history: list[dict] = field(default_factory=list)


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


@dataclass
class LogWindow:
    """Train losses and clips since the latest train row of ``metrics.csv``.

    Attributes
    ----------
    loss_sum : float
        Sum of the batch losses.
    batches : int
        Forward passes summed.
    clips : int
        Clips seen, over all processes.
    since : float
        ``time.perf_counter()`` when the window opened.
    """

    loss_sum: float = 0.0
    batches: int = 0
    clips: int = 0
    since: float = field(default_factory=time.perf_counter)


@dataclass
class TrainState:
    """What the steps of one run share: :func:`setup` builds it, every step takes it.

    Attributes
    ----------
    cfg : TrainConfig
        The run's settings.
    out : Path
        The output folder.
    acc : Accelerator
        Device, mixed precision, gradient accumulation and processes.
    adapter : InversionAdapter
        The frozen backbone.
    encoders : InversionEncoders
        The trainable encoders, wrapped by ``acc.prepare``.
    optimizer : torch.optim.Optimizer
        AdamW over the encoders.
    scheduler : torch.optim.lr_scheduler.LambdaLR
        The learning-rate schedule (:func:`transformers.get_cosine_schedule_with_warmup`),
        stepped once per optimiser step.
    train_dl : torch.utils.data.DataLoader
        Shuffled train clips.
    val_dl : torch.utils.data.DataLoader, optional
        Val clips (None when the data have none).
    counter : _Counter
        Step, epoch and best validation loss, saved with the training state.
    steps_per_epoch : int
        Optimiser steps per epoch.
    total : int
        Optimiser steps of the whole run.
    resuming : bool
        Whether the run continues from ``out/checkpoints/state``.
    t_start : float
        ``time.perf_counter()`` at the start of the call, for ``elapsed_s``.
    history : list[dict]
        ``metrics.csv`` rows written by this call (every process keeps them).
    last_val : float, optional
        The latest validation loss of this call.
    val_step, save_step : int
        Steps of the latest validation and save of this call (-1: none yet).
    window : LogWindow
        Train losses since the latest train row.
    """

    cfg: TrainConfig
    out: Path
    acc: Accelerator
    adapter: InversionAdapter
    encoders: InversionEncoders
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    train_dl: torch.utils.data.DataLoader
    val_dl: torch.utils.data.DataLoader | None
    counter: _Counter
    steps_per_epoch: int
    total: int
    resuming: bool
    t_start: float
    history: list[dict] = field(default_factory=list)
    last_val: float | None = None
    val_step: int = -1
    save_step: int = -1
    window: LogWindow = field(default_factory=LogWindow)


def _mixed_precision(choice: str, *, cpu: bool) -> str:
    """Resolve ``auto`` to bf16 / fp16 on a GPU, ``no`` on the CPU."""
    import torch

    if choice != "auto":
        return choice
    if cpu or not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _encoder_config(cfg: TrainConfig, *, adapter: InversionAdapter) -> EncoderConfig:
    """The run's encoder settings plus what the backbone fixes (text width, embedding scale)."""
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


def _check_run_file(cfg: TrainConfig, *, enc_dict: dict, resuming: bool) -> None:
    """Refuse to resume another backbone's, model's or encoder's run; (re)write ``run.json``."""
    out = Path(cfg.out)
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


def check_config(cfg: TrainConfig) -> None:
    """Refuse settings that cannot train, before anything is loaded.

    Raises
    ------
    D2MError
        No run length, a batch size or accumulation below 1, a prompt without ``@`` and ``*``.
    """
    if cfg.steps is None and not cfg.epochs:
        raise D2MError("give the run length with --epochs N or --steps N")
    if cfg.batch_size < 1 or cfg.grad_accum < 1:
        raise D2MError("--batch-size and --grad-accum must be at least 1")
    parsed = parse_prompt(cfg.prompt)
    if not (parsed.has_rhythm and parsed.has_genre):
        # Both encoders must receive gradients on every step (and DDP insists on it).
        raise D2MError(f"the training prompt must contain both @ and *, e.g. '{DEFAULT_PROMPT}'")


def _clip_tables(
    cfg: TrainConfig,
    *,
    acc: Accelerator,
    adapter: InversionAdapter,
    enc_cfg: EncoderConfig,
    pairs: list[Pair],
    show_progress: bool,
) -> dict[str, ClipTable]:
    """The clips of every split, from the feature cache or computed into it."""
    from d2m_core.training.data import prepare_clips

    cache = Path(cfg.cache) if cfg.cache else Path(cfg.out) / "cache"
    with acc.main_process_first():  # the main process fills the cache, the others read it
        tables = prepare_clips(
            pairs,
            adapter=adapter,
            cfg=enc_cfg,
            cache_dir=cache,
            hop_s=cfg.clip_hop_s,
            log=acc.print,
            show_progress=show_progress and acc.is_local_main_process,
        )
    if "train" not in tables:
        raise D2MError(
            f"no training clips of {cfg.clip_s:g} s in {cfg.data}: check the split column"
        )
    return tables


def _new_encoders(
    cfg: TrainConfig, *, adapter: InversionAdapter, enc_cfg: EncoderConfig
) -> InversionEncoders:
    """Fresh encoders whose pseudo-word embeddings start from the init words'."""
    from d2m_core.inversion.encoders import InversionEncoders

    encoders = InversionEncoders(enc_cfg)
    if cfg.init_words:
        adapter.rhythm_init_word, adapter.genre_init_word = cfg.init_words
    adapter.init_encoders(encoders)
    return encoders


def _data_loaders(
    cfg: TrainConfig, *, tables: dict[str, ClipTable]
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader | None]:
    """Shuffled (seeded) train batches and, when there are val clips, val batches in order."""
    import torch

    from d2m_core.training.data import ClipDataset

    train_dl = torch.utils.data.DataLoader(
        ClipDataset(tables["train"]),
        batch_size=cfg.batch_size,
        shuffle=True,
        num_workers=cfg.num_workers,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    val_dl = None
    if "val" in tables:
        val_dl = torch.utils.data.DataLoader(
            ClipDataset(tables["val"]), batch_size=cfg.batch_size, shuffle=False
        )
    return train_dl, val_dl


def setup(cfg: TrainConfig, *, show_progress: bool = True) -> TrainState:
    """Accelerator, frozen backbone, clips, encoders, optimiser and schedule of a run.

    The order of the random draws (backbone, then encoders) follows ``cfg.seed``. Writes
    ``run.json`` (main process); does not load a saved state yet (:func:`resume`).

    Raises
    ------
    D2MError
        Bad data folder, no training clips, a backbone that cannot train, a mismatched resume.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_cosine_schedule_with_warmup

    from d2m_core.inversion.adapter import get_adapter
    from d2m_core.training.data import find_pairs

    t_start = time.perf_counter()
    precision = _mixed_precision(cfg.mixed_precision, cpu=cfg.cpu)
    acc = Accelerator(
        mixed_precision=precision, gradient_accumulation_steps=cfg.grad_accum, cpu=cfg.cpu
    )
    set_seed(cfg.seed)
    out = Path(cfg.out)
    resuming = cfg.resume and (out / STATE_DIR / "counter.json").is_file()
    pairs = find_pairs(cfg.data, layout=cfg.layout, music_dir=cfg.music_dir, view=cfg.view)
    adapter = get_adapter(cfg.backbone, model=cfg.model, device=acc.device)
    adapter.to(acc.device).freeze()
    enc_cfg = _encoder_config(cfg, adapter=adapter)
    if acc.is_main_process:
        _check_run_file(cfg, enc_dict=enc_cfg.to_dict(), resuming=resuming)
    tables = _clip_tables(
        cfg, acc=acc, adapter=adapter, enc_cfg=enc_cfg, pairs=pairs, show_progress=show_progress
    )
    acc.print(
        f"clips: {', '.join(f'{s} {len(t)}' for s, t in tables.items())}"
        f" ({cfg.clip_s:g} s); backbone {cfg.backbone} '{cfg.model}', text width"
        f" {enc_cfg.text_width}, projector {enc_cfg.projector}, precision {precision},"
        f" device {acc.device}"
    )
    encoders = _new_encoders(cfg, adapter=adapter, enc_cfg=enc_cfg)
    optimizer = torch.optim.AdamW(
        encoders.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
    )
    train_dl, val_dl = _data_loaders(cfg, tables=tables)
    encoders, optimizer, train_dl = acc.prepare(encoders, optimizer, train_dl)
    if val_dl is not None:
        val_dl = acc.prepare(val_dl)
    steps_per_epoch = max(1, math.ceil(len(train_dl) / cfg.grad_accum))
    total = int(cfg.steps) if cfg.steps else int(cfg.epochs) * steps_per_epoch
    warmup = min(int(cfg.warmup), total // 10)
    # Stepped by hand once per optimiser step (Accelerate would step it once per process).
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, num_warmup_steps=warmup, num_training_steps=total
    )
    counter = _Counter()
    acc.register_for_checkpointing(scheduler)
    acc.register_for_checkpointing(counter)
    return TrainState(
        cfg=cfg,
        out=out,
        acc=acc,
        adapter=adapter,
        encoders=encoders,
        optimizer=optimizer,
        scheduler=scheduler,
        train_dl=train_dl,
        val_dl=val_dl,
        counter=counter,
        steps_per_epoch=steps_per_epoch,
        total=total,
        resuming=resuming,
        t_start=t_start,
    )


def resume(state: TrainState) -> None:
    """Load the saved training state when resuming; a fresh run starts a new ``metrics.csv``."""
    state_dir = state.out / STATE_DIR
    if state.resuming:
        state.acc.load_state(str(state_dir))
        c = state.counter
        state.acc.print(f"resumed from {state_dir} at step {c.step} (epoch {c.epoch})")
    elif state.acc.is_main_process and (state.out / "metrics.csv").exists():
        (state.out / "metrics.csv").unlink()


def metrics_row(
    state: TrainState, *, split: str, loss: float, clips_per_s: float | str, now: float
) -> dict:
    """A ``metrics.csv`` row at the current step (``now``: a ``time.perf_counter()``)."""
    step = state.counter.step
    return {
        "step": step,
        "epoch": round(step / state.steps_per_epoch, 3),
        "split": split,
        "loss": round(loss, 6),
        "lr": state.scheduler.get_last_lr()[0],
        "clips_per_s": clips_per_s,
        "elapsed_s": round(now - state.t_start, 2),
    }


def write_metrics(state: TrainState, *, row: dict) -> None:
    """Keep ``row`` in the history; the main process appends it to ``metrics.csv``."""
    state.history.append(row)
    if not state.acc.is_main_process:
        return
    path = state.out / "metrics.csv"
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=METRIC_FIELDS)
        if new:
            w.writeheader()
        w.writerow(row)


def batch_loss(state: TrainState, *, batch: dict) -> torch.Tensor:
    """The backbone's loss for one batch of clips (under autocast on GPUs)."""
    from d2m_core.inversion.adapter import inversion_loss

    with state.acc.autocast():
        return inversion_loss(
            state.adapter,
            state.encoders,
            rhythm=batch["rhythm"],
            genre=batch["genre"],
            targets=batch["targets"],
            prompt=state.cfg.prompt,
        )


def epoch_batches(state: TrainState) -> Iterable[dict]:
    """The current epoch's batches, past those a resumed run already trained on."""
    if hasattr(state.train_dl, "set_epoch"):
        state.train_dl.set_epoch(state.counter.epoch)
    if state.counter.batches_in_epoch:
        return state.acc.skip_first_batches(state.train_dl, state.counter.batches_in_epoch)
    return state.train_dl


def train_step(state: TrainState, *, batch: dict) -> bool:
    """One forward and backward pass; returns whether it completed an optimiser step.

    With ``grad_accum`` > 1 the optimiser only steps on the pass that completes an
    accumulation (Accelerate makes the other ``optimizer.step`` calls no-ops).
    """
    acc, cfg = state.acc, state.cfg
    with acc.accumulate(state.encoders):
        loss = batch_loss(state, batch=batch)
        acc.backward(loss)
        if acc.sync_gradients and cfg.grad_clip:
            acc.clip_grad_norm_(state.encoders.parameters(), cfg.grad_clip)
        state.optimizer.step()
        state.optimizer.zero_grad(set_to_none=True)
    state.counter.batches_in_epoch += 1
    state.window.loss_sum += float(loss.detach())
    state.window.batches += 1
    state.window.clips += batch["genre"].shape[0] * acc.num_processes
    return acc.sync_gradients


def after_optimizer_step(state: TrainState, *, bar: tqdm) -> None:
    """Advance the schedule and the step count, then log, validate and save when due."""
    cfg = state.cfg
    state.scheduler.step()
    state.counter.step += 1
    bar.update(1)
    step = state.counter.step
    if step % max(1, cfg.log_every) == 0 or step == state.total:
        log_train(state, bar=bar)
    if cfg.val_every and step % cfg.val_every == 0:
        evaluate(state)
    if cfg.save_every and step % cfg.save_every == 0:
        save_checkpoint(state)


def log_train(state: TrainState, *, bar: tqdm) -> None:
    """Write the train row (mean loss over processes since the last row), open a new window."""
    import torch

    acc, window = state.acc, state.window
    mean = acc.reduce(torch.tensor(window.loss_sum / window.batches, device=acc.device), "mean")
    now = time.perf_counter()
    clips_per_s = round(window.clips / max(now - window.since, 1e-9), 2)
    row = metrics_row(state, split="train", loss=float(mean), clips_per_s=clips_per_s, now=now)
    write_metrics(state, row=row)
    bar.set_postfix(loss=f"{float(mean):.4f}")
    state.window = LogWindow(since=now)


def end_epoch(state: TrainState) -> None:
    """Count the finished epoch; validate and save there unless set to go by steps."""
    state.counter.epoch += 1
    state.counter.batches_in_epoch = 0
    if not state.cfg.val_every:
        evaluate(state)
    if not state.cfg.save_every:
        save_checkpoint(state)


def validation_loss(state: TrainState) -> float | None:
    """Mean loss over all val clips of all processes (None when there are none)."""
    import torch

    if state.val_dl is None:
        return None
    acc = state.acc
    state.encoders.eval()
    tot = torch.zeros(2, device=acc.device)  # clip-weighted loss sum, clips
    with torch.no_grad():
        for batch in state.val_dl:
            n = torch.tensor(batch["genre"].shape[0], device=acc.device)
            tot += torch.stack([batch_loss(state, batch=batch).float() * n, n.float()])
    state.encoders.train()
    tot = acc.reduce(tot, reduction="sum")
    return float(tot[0] / tot[1].clamp_min(1))


def evaluate(state: TrainState) -> float | None:
    """Validate, track the best loss and write the val row; sets and returns ``last_val``."""
    state.val_step = state.counter.step
    val = validation_loss(state)
    if val is not None:
        state.counter.best_val = min(state.counter.best_val, val)
        row = metrics_row(state, split="val", loss=val, clips_per_s="", now=time.perf_counter())
        write_metrics(state, row=row)
    state.last_val = val
    return val


def encoder_info(state: TrainState) -> dict:
    """The ``training`` entry of the saved encoders' metadata."""
    best = state.counter.best_val
    return {
        "steps": state.counter.step,
        "epochs": round(state.counter.step / state.steps_per_epoch, 3),
        "val_loss": state.last_val,
        "best_val_loss": None if math.isinf(best) else best,
        "clip_s": state.cfg.clip_s,
        "data": str(state.cfg.data),
        "prompt": state.cfg.prompt,
    }


def _save_encoders(state: TrainState) -> None:
    """Write ``encoder/``, and ``encoder-best/`` when the latest validation is the best."""
    from d2m_core.inversion.checkpoint import save_encoders

    cfg = state.cfg
    unwrapped = state.acc.unwrap_model(state.encoders)
    kw = dict(backbone=cfg.backbone, model=cfg.model, prompt=cfg.prompt, info=encoder_info(state))
    save_encoders(state.out / "encoder", encoders=unwrapped, **kw)
    if state.last_val is not None and state.last_val <= state.counter.best_val:
        save_encoders(state.out / "encoder-best", encoders=unwrapped, **kw)


def save_checkpoint(state: TrainState) -> None:
    """Save the full training state and the encoders (``encoder-best/`` too at a new best).

    The state is written beside the old one and swapped in only when complete, so an
    interrupted save leaves the previous state to resume from.
    """
    acc, out = state.acc, state.out
    state.save_step = state.counter.step
    acc.wait_for_everyone()
    tmp = out / "checkpoints" / "state.part"
    if acc.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    acc.wait_for_everyone()
    acc.save_state(str(tmp))
    if acc.is_main_process:
        (tmp / "counter.json").write_text(json.dumps(state.counter.state_dict()))
        old = out / "checkpoints" / "state.old"
        if (out / STATE_DIR).exists():
            (out / STATE_DIR).rename(old)
        tmp.rename(out / STATE_DIR)
        shutil.rmtree(old, ignore_errors=True)
        _save_encoders(state)
    acc.wait_for_everyone()


def finish(state: TrainState) -> TrainResult:
    """Validate and save the final step unless just done, and sum the call up."""
    if state.val_step != state.counter.step:
        evaluate(state)
    if state.save_step != state.counter.step:
        save_checkpoint(state)
    train_rows = [h for h in state.history if h["split"] == "train"]
    best = state.counter.best_val
    return TrainResult(
        steps=state.counter.step,
        epochs=state.counter.step / state.steps_per_epoch,
        train_loss=float(train_rows[-1]["loss"]) if train_rows else float("nan"),
        val_loss=state.last_val,
        best_val_loss=None if math.isinf(best) else best,
        encoder_dir=state.out / "encoder",
        seconds=time.perf_counter() - state.t_start,
        history=state.history,
    )


def train(cfg: TrainConfig, *, show_progress: bool = True) -> TrainResult:
    """Train the encoders; returns a summary (the main process also writes ``cfg.out``).

    Parameters
    ----------
    cfg : TrainConfig
        The run's settings.
    show_progress : bool
        Progress bars (feature caching, training) on the local main process.

    Raises
    ------
    D2MError
        Bad settings or data folder, no training clips, a backbone that cannot train, a
        mismatched resume.
    """
    from tqdm.auto import tqdm

    check_config(cfg)
    state = setup(cfg, show_progress=show_progress)
    resume(state)
    state.encoders.train()
    bar = tqdm(
        total=state.total,
        initial=state.counter.step,
        desc="training",
        unit="step",
        disable=not (show_progress and state.acc.is_local_main_process),
    )
    state.window = LogWindow()  # clips_per_s counts training only, not the set-up
    while state.counter.step < state.total:
        for batch in epoch_batches(state):
            if not train_step(state, batch=batch):
                continue  # gradients still accumulating
            after_optimizer_step(state, bar=bar)
            if state.counter.step >= state.total:
                break
        else:
            end_epoch(state)
    bar.close()
    return finish(state)
