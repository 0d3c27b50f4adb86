"""``d2m generate``: music for a dance (video in -> video with new music out).

Registered in :func:`d2m_core.cli.main.build_parser` by :func:`add_parser`. The dance is analysed
with :func:`d2m_core.dance.analysis.analyze` (its beats corrected by
:func:`d2m_core.dance.overrides.apply_overrides` when asked) and the music made by
:func:`d2m_core.music.generate.generate_music`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from d2m_core.cli.analyze import (
    add_beat_args,
    add_input_args,
    add_progress_args,
    beat_overrides_from_args,
    beat_summary,
    pose_progress,
)
from d2m_core.errors import D2MError

if TYPE_CHECKING:
    from d2m_core.music.generate import GenerationResult


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``generate`` subcommand to the ``d2m`` parser's subparsers."""
    p = sub.add_parser(
        "generate",
        help="generate music for a dance (video in -> video with new music out)",
        description="Generate music whose beats land on the dancer's moves. For a video input,"
        " OUT.mp4 is the video with its audio replaced (H.264 + AAC); for a keypoint input,"
        " OUT.mp4 renders the skeleton. OUT.wav writes the music alone.",
    )
    add_input_args(p)
    add_beat_args(p)
    add_progress_args(p)
    p.add_argument(
        "--prompt",
        default="a @ music with * as the rhythm",
        help="text around @ (genre) and * (rhythm); default: %(default)r",
    )
    p.add_argument(
        "--genre", help="genre for @ (e.g. house, krump); suggested from the motion if omitted"
    )
    p.add_argument("--backbone", default="groove", help="music backbone (default: groove, offline)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--duration", type=float, help="music length in seconds (default: the dance's)")
    p.add_argument(
        "--model",
        help="neural backbones: model id, local folder, or 'debug' (a tiny random model)",
    )
    p.add_argument(
        "--encoder", type=Path, help="neural backbones: trained encoder checkpoint folder"
    )
    p.add_argument(
        "--guidance", type=float, help="classifier-free guidance scale (neural backbones)"
    )
    p.add_argument("--steps", type=int, help="diffusion steps (AudioLDM, Riffusion)")
    p.add_argument("--device", help="torch device for neural backbones (default: cuda if present)")
    p.add_argument(
        "--download",
        action="store_true",
        help="neural backbones: download a model missing from the Hugging Face cache on first"
        " use, only the files d2m reads (needs internet; default: D2M_DOWNLOAD, else never)",
    )
    p.add_argument(
        "--zero-shot",
        action="store_true",
        help="no encoders: write the genre and tempo into the prompt, generate, then warp the"
        " music's beats onto the dance's (beat F-measure before/after in --json)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="OUT.mp4 or OUT.wav")
    p.add_argument("--json", type=Path, help="write the generation report as JSON here")
    p.add_argument(
        "--plot", type=Path, help="write the beat-alignment plot (visual vs music beats) as PNG"
    )
    p.set_defaults(func=run)
    return p


def _backbone_options(args: argparse.Namespace) -> dict:
    """The neural-backbone options the user gave (the offline backbone takes none)."""
    names = ("model", "encoder", "guidance", "steps", "device")
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def run(args: argparse.Namespace) -> int:
    """Execute ``d2m generate`` (see :func:`add_parser` for the arguments)."""
    from d2m_core.dance.analysis import analyze
    from d2m_core.dance.overrides import apply_overrides
    from d2m_core.io.keypoints import is_keypoint_file
    from d2m_core.music.generate import generate_music, write_result

    if args.output.suffix.lower() not in (".wav", ".mp4"):
        raise D2MError(f"-o must end in .wav or .mp4, got '{args.output.name}'")
    if args.download:
        from d2m_core.backbones import download

        download.allow()
    overrides = beat_overrides_from_args(args)  # before the analysis: bad flags fail fast
    with pose_progress(args) as progress:
        analysis = analyze(
            args.input, key=args.key, fps=args.fps, view=args.view, progress=progress
        )
    analysis = apply_overrides(analysis, overrides)
    for w in analysis.beat_correction.warnings if analysis.beat_correction else ():
        print(f"warning: {w}", file=sys.stderr)
    result = generate_music(
        analysis,
        prompt=args.prompt,
        genre=args.genre,
        backbone=args.backbone,
        seed=args.seed,
        duration_s=args.duration,
        backbone_options=_backbone_options(args),
        zero_shot=args.zero_shot,
    )
    for w in result.prompt.warnings:
        print(f"warning: {w}", file=sys.stderr)
    video = None if is_keypoint_file(args.input) else args.input
    write_result(result, args.output, video_path=video)
    summary = result.to_dict()
    if args.json:
        from d2m_core.io.files import write_json

        write_json(args.json, summary)
    if args.plot:
        from d2m_core.music.generate import alignment_plot

        alignment_plot(result, args.plot)
    _print_summary(result=result, summary=summary)
    extra = [str(p) for p in (args.json, args.plot) if p]
    print(f"wrote {args.output}" + (f" and {', '.join(extra)}" if extra else ""))
    return 0


def _print_summary(*, result: GenerationResult, summary: dict) -> None:
    """Tempi, genre and beat agreement of the music, and the zero-shot sync when it ran."""
    how = "suggested" if result.genre_suggested else "chosen"
    print(
        f"dance {summary['tempo_bpm']:.1f} BPM -> {result.backbone} music"
        f" {summary['music_tempo_bpm']:.1f} BPM, genre {result.genre} ({how}),"
        f" {result.duration_s:.1f} s in {result.seconds_to_generate:.2f} s"
    )
    corrected = beat_summary(result.analysis)
    if corrected:
        print(corrected)
    print(
        f"beat F-measure vs visual beats {summary['beat_f_measure']:.3f},"
        f" BCS {summary['bcs_0.2s']:.3f}, BHS {summary['bhs_0.2s']:.3f}"
    )
    zs = result.zero_shot
    if zs is None:
        return
    print(f"zero-shot prompt: {zs['prompt_sent']!r}")
    if not zs["aligned"]:
        print("zero-shot: the prompt has no *, so the music was not aligned to the dance")
        return
    for w in zs["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    print(
        f"zero-shot sync: beat F-measure {zs['f_measure_before']:.3f} as generated ->"
        f" {zs['f_measure_after']:.3f} warped (local stretch"
        f" {zs['stretch']['min']:.2f}..{zs['stretch']['max']:.2f}, pitch kept:"
        f" {'yes' if zs['pitch_kept'] else 'no'})"
    )
