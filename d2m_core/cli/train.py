"""``d2m train``: encoder-based textual inversion from the command line.

Registered in :func:`d2m_core.cli.main.build_parser` by :func:`add_parser`. Heavy imports (torch,
transformers, accelerate) happen only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from d2m_core.music.prompt import DEFAULT_PROMPT

_DESCRIPTION = """\
Train the rhythm and genre encoders of encoder-based textual inversion (paper §3) against a
frozen backbone: only the encoders learn. The data folder holds either manifest.csv (columns
motion,audio,genre,split) or the AIST++ layout (keypoints2d/, splits/, wav/). Clips and their
features are cached, checkpoints are resumable, metrics go to OUT/metrics.csv, and the trained
encoders to OUT/encoder (pass that folder to `d2m generate --encoder`).
Many GPUs: accelerate launch --multi_gpu -m d2m_core train ... (same options)."""


#: Per-backbone training defaults: the paper's learning rate, epochs and best projector (§5:
#: MLP for Riffusion, Attn+Pos for MusicGen). The paper keeps AudioLDM's "default
#: hyperparameters" for 50 epochs without numbers; it gets Riffusion's settings here. The
#: default model is each backbone's own (``default_model``).
BACKBONE_DEFAULTS: dict[str, dict] = {
    "musicgen": {"lr": 1e-4, "epochs": 20, "projector": "attn_pos"},
    "audioldm": {"lr": 5e-4, "epochs": 50, "projector": "mlp"},
    "riffusion": {"lr": 5e-4, "epochs": 50, "projector": "mlp"},
}


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to the ``d2m`` parser's subparsers."""
    p = sub.add_parser(
        "train",
        help="train the dance encoders (rhythm + genre) for a neural backbone",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("backbone and data")
    g.add_argument(
        "--backbone",
        default="musicgen",
        choices=tuple(BACKBONE_DEFAULTS),
        help="backbone to train for (default: %(default)s)",
    )
    g.add_argument(
        "--model",
        help="model id (from the local Hugging Face cache), folder, or 'debug' (tiny random"
        " model); default: facebook/musicgen-small, cvssp/audioldm-s-full-v2 or"
        " riffusion/riffusion-model-v1",
    )
    g.add_argument(
        "--download",
        action="store_true",
        help="download the model on first use if it is missing from the Hugging Face cache,"
        " only the files d2m reads (needs internet; default: D2M_DOWNLOAD, else never)",
    )
    g.add_argument("--data", type=Path, required=True, help="data folder (manifest.csv or AIST++)")
    g.add_argument("--out", type=Path, required=True, help="output folder")
    g.add_argument("--layout", choices=("auto", "manifest", "aist"), default="auto")
    g.add_argument("--music-dir", type=Path, help="AIST++: folder of the mXX0.wav music files")
    g.add_argument("--view", type=int, default=0, help="AIST++ camera view (default 0)")
    g.add_argument("--cache", type=Path, help="feature cache folder (default OUT/cache)")
    g.add_argument("--clip-seconds", type=float, default=5.12, help="clip length (default 5.12)")
    g.add_argument(
        "--clip-hop", type=float, help="spacing of training clips, seconds (default: no overlap)"
    )

    g = p.add_argument_group("encoders")
    g.add_argument(
        "--projector",
        choices=("mlp", "attn_pos"),
        help="rhythm projector (default: attn_pos for musicgen, mlp for the diffusion backbones)",
    )
    g.add_argument("--rhythm-input", choices=("peaks", "peaks+envelope"), default="peaks")
    g.add_argument("--hidden", type=int, default=0, help="hidden width (default: text width)")
    g.add_argument("--attn-layers", type=int, default=2)
    g.add_argument("--attn-heads", type=int, default=4)
    g.add_argument("--patch-frames", type=int, default=8)
    g.add_argument("--dropout", type=float, default=0.1)
    g.add_argument(
        "--init-words",
        nargs=2,
        metavar=("RHYTHM", "GENRE"),
        help="words whose embeddings * and @ start from (default: rhythm dance)",
    )

    g = p.add_argument_group("optimisation (defaults: the paper's settings for the backbone)")
    length = g.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, help="epochs (default 20 for musicgen, else 50)")
    length.add_argument("--steps", type=int, help="optimiser steps (instead of --epochs)")
    g.add_argument("--batch-size", type=int, default=8, help="clips per device per pass")
    g.add_argument("--grad-accum", type=int, default=1, help="passes per optimiser step")
    g.add_argument("--lr", type=float, help="learning rate (default 1e-4 for musicgen, else 5e-4)")
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--betas", type=float, nargs=2, default=(0.9, 0.95), metavar=("B1", "B2"))
    g.add_argument("--grad-clip", type=float, default=1.0)
    g.add_argument("--warmup", type=int, default=6000, help="warm-up steps (max 10%% of run)")
    g.add_argument("--mixed-precision", choices=("auto", "no", "fp16", "bf16"), default="auto")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--prompt", default=DEFAULT_PROMPT, help="training prompt (%(default)r)")

    g = p.add_argument_group("run")
    g.add_argument("--val-every", type=int, default=0, help="steps (0: every epoch)")
    g.add_argument("--save-every", type=int, default=0, help="steps (0: every epoch)")
    g.add_argument("--log-every", type=int, default=10, help="steps between metrics rows")
    g.add_argument(
        "--no-resume", dest="resume", action="store_false", help="start over even if OUT has a run"
    )
    g.add_argument("--num-workers", type=int, default=0, help="data-loader workers")
    g.add_argument("--cpu", action="store_true", help="train on the CPU even with a GPU")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)
    return p


def _cmd_train(args: argparse.Namespace) -> int:
    from d2m_core.backbones.base import backbone_class
    from d2m_core.training.loop import TrainConfig, train

    if args.download:
        from d2m_core.backbones import download

        download.allow()
    d = BACKBONE_DEFAULTS[args.backbone]
    cfg = TrainConfig(
        data=args.data,
        out=args.out,
        backbone=args.backbone,
        model=args.model or backbone_class(args.backbone).default_model,
        layout=args.layout,
        music_dir=args.music_dir,
        view=args.view,
        projector=args.projector or d["projector"],
        rhythm_input=args.rhythm_input,
        hidden=args.hidden,
        attn_layers=args.attn_layers,
        attn_heads=args.attn_heads,
        patch_frames=args.patch_frames,
        dropout=args.dropout,
        init_words=tuple(args.init_words) if args.init_words else None,
        clip_s=args.clip_seconds,
        clip_hop_s=args.clip_hop,
        epochs=args.epochs if args.epochs is not None else (None if args.steps else d["epochs"]),
        steps=args.steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        lr=args.lr if args.lr is not None else d["lr"],
        betas=tuple(args.betas),
        weight_decay=args.weight_decay,
        grad_clip=args.grad_clip,
        warmup=args.warmup,
        mixed_precision=args.mixed_precision,
        val_every=args.val_every,
        save_every=args.save_every,
        log_every=args.log_every,
        resume=args.resume,
        cache=args.cache,
        seed=args.seed,
        num_workers=args.num_workers,
        cpu=args.cpu,
        prompt=args.prompt,
    )
    res = train(cfg, show_progress=not args.quiet)
    val = f", val loss {res.val_loss:.4f}" if res.val_loss is not None else ""
    print(
        f"trained {res.steps} steps ({res.epochs:.2f} epochs) in {res.seconds:.1f} s:"
        f" train loss {res.train_loss:.4f}{val}"
    )
    print(
        f"wrote {res.encoder_dir} (use: d2m generate ... --backbone {cfg.backbone}"
        f" --encoder {res.encoder_dir}) and {cfg.out / 'metrics.csv'}"
    )
    return 0
