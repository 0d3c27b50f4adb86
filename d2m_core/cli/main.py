"""The ``d2m`` command line (also ``python -m d2m_core``).

Every stage the app reaches is reachable here; the app only wires these same library calls.
User errors print one line (``error: ...``) and exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from d2m_core.errors import D2MError


def _add_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "input", type=Path, help="a dance video or a keypoint file (.npy .npz .pkl .json)"
    )
    p.add_argument("--key", help="entry of an .npz keypoint archive")
    p.add_argument(
        "--fps", type=float, help="frame rate of a keypoint file that does not store one"
    )
    p.add_argument("--view", type=int, default=0, help="camera view of an AIST++ .pkl (default 0)")


def _cmd_analyze(args: argparse.Namespace) -> int:
    from d2m_core.dance.analysis import analyze

    result = analyze(args.input, key=args.key, fps=args.fps, view=args.view)
    summary = result.to_dict()
    if args.json:
        from d2m_core.io.files import write_json

        write_json(args.json, summary)
    if args.plot:
        from d2m_core.viz.plot import rhythm_figure, save_figure

        save_figure(rhythm_figure(result), args.plot)
    if args.overlay:
        from d2m_core.io.keypoints import is_keypoint_file
        from d2m_core.viz.overlay import (
            overlay_grid,
            render_overlay,
            render_skeleton_video,
            skeleton_grid,
        )

        as_png = args.overlay.suffix.lower() == ".png"
        if is_keypoint_file(args.input):  # no video to draw on: the skeleton alone
            if as_png:
                skeleton_grid(result.motion, args.overlay)
            else:
                render_skeleton_video(result.motion, args.overlay)
        elif as_png:
            overlay_grid(args.input, result.motion, args.overlay)
        else:
            render_overlay(args.input, result.motion, args.overlay)
    m = result.motion
    print(
        f"{m.source}: {m.num_frames} frames at {m.fps:.2f} fps ({m.duration_s:.2f} s),"
        f" person in {m.frames_with_person} frames"
    )
    print(
        f"tempo {summary['tempo_bpm']:.1f} BPM (confidence {summary['tempo_confidence']:.2f}),"
        f" {len(summary['visual_beats_s'])} visual beats, {len(summary['rhythm_peaks_s'])} peaks"
    )
    for name in ("json", "plot", "overlay"):
        if getattr(args, name):
            print(f"wrote {getattr(args, name)}")
    return 0


def _backbone_options(args: argparse.Namespace) -> dict:
    """The neural-backbone options the user gave (the offline backbone takes none)."""
    names = ("model", "encoder", "guidance", "steps", "device")
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _cmd_generate(args: argparse.Namespace) -> int:
    from d2m_core.dance.analysis import analyze
    from d2m_core.io.keypoints import is_keypoint_file
    from d2m_core.music.generate import generate_music, write_result

    if args.output.suffix.lower() not in (".wav", ".mp4"):
        raise D2MError(f"-o must end in .wav or .mp4, got '{args.output.name}'")
    analysis = analyze(args.input, key=args.key, fps=args.fps, view=args.view)
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
    how = "suggested" if result.genre_suggested else "chosen"
    print(
        f"dance {summary['tempo_bpm']:.1f} BPM -> {result.backbone} music"
        f" {summary['music_tempo_bpm']:.1f} BPM, genre {result.genre} ({how}),"
        f" {result.duration_s:.1f} s in {result.seconds_to_generate:.2f} s"
    )
    print(
        f"beat F-measure vs visual beats {summary['beat_f_measure']:.3f},"
        f" BCS {summary['bcs_0.2s']:.3f}, BHS {summary['bhs_0.2s']:.3f}"
    )
    zs = result.zero_shot
    if zs is not None:
        print(f"zero-shot prompt: {zs['prompt_sent']!r}")
        if zs["aligned"]:
            for w in zs["warnings"]:
                print(f"warning: {w}", file=sys.stderr)
            print(
                f"zero-shot sync: beat F-measure {zs['f_measure_before']:.3f} as generated ->"
                f" {zs['f_measure_after']:.3f} warped (local stretch"
                f" {zs['stretch']['min']:.2f}..{zs['stretch']['max']:.2f}, pitch kept:"
                f" {'yes' if zs['pitch_kept'] else 'no'})"
            )
        else:
            print("zero-shot: the prompt has no *, so the music was not aligned to the dance")
    extra = [str(p) for p in (args.json, args.plot) if p]
    print(f"wrote {args.output}" + (f" and {', '.join(extra)}" if extra else ""))
    return 0


ASSETS = Path(__file__).resolve().parents[2] / "assets"
EXAMPLE_KEYPOINTS = ASSETS / "example_dance_112bpm.npz"


def _cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ns = argparse.Namespace(
        input=EXAMPLE_KEYPOINTS,
        key="dance",
        fps=None,
        view=0,
        json=out / "example_analysis.json",
        plot=out / "example_rhythm.png",
        overlay=None,
    )
    return _cmd_analyze(ns)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="d2m", description="d2m: music for dance videos (visual rhythm -> synced music)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "analyze",
        help="find the dancer, compute the visual rhythm, tempo and beats",
        description="Analyse a dance: keypoints, the paper's rhythm features, visual tempo and"
        " beats. Prints a summary; optionally writes JSON, a plot and a skeleton overlay.",
    )
    _add_input_args(p)
    p.add_argument("--json", type=Path, help="write the analysis as JSON here")
    p.add_argument("--plot", type=Path, help="write the rhythm plot (PNG) here")
    p.add_argument(
        "--overlay",
        type=Path,
        help="write a pose check here: .mp4 (skeleton over the video, or alone for keypoint"
        " files) or .png (a grid of frames)",
    )
    p.set_defaults(func=_cmd_analyze)

    p = sub.add_parser(
        "generate",
        help="generate music for a dance (video in -> video with new music out)",
        description="Generate music whose beats land on the dancer's moves. For a video input,"
        " OUT.mp4 is the video with its audio replaced (H.264 + AAC); for a keypoint input,"
        " OUT.mp4 renders the skeleton. OUT.wav writes the music alone.",
    )
    _add_input_args(p)
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
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("demo", help="analyse the bundled example dance (offline)")
    p.add_argument("--out", default="out", help="output folder (default ./out)")
    p.set_defaults(func=_cmd_demo)

    # -- extra commands: each line below registers a subcommand defined in its own module --
    from d2m_core.cli import align as align_cli
    from d2m_core.cli import evaluate as metrics_cli
    from d2m_core.cli import train as training_cli

    align_cli.add_parser(sub)
    metrics_cli.add_evaluate_parser(sub)
    metrics_cli.add_beats_parser(sub)
    training_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except D2MError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return D2MError.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
