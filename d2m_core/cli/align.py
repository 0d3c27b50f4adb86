"""``d2m align``: warp existing music onto a dance's beats (zero-shot sync, no model).

Registered in :func:`d2m_core.cli.main.build_parser` by :func:`add_parser`. The dance (a video or a
keypoint file) is analysed with :func:`d2m_core.dance.analysis.analyze`; its visual beats are the
targets of :func:`d2m_core.sync.align.align_to_beats`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from d2m_core.errors import D2MError

_DESCRIPTION = """\
Make existing music follow a dance: the music's beats are found, paired with the dancer's
visual beats, and the music is time-warped beat by beat (pitch unchanged) so each paired beat
lands on a move. Music shorter than the dance is looped at bar boundaries (--no-loop: stop
when it ends). OUT.wav writes the music; OUT.mp4 writes the dance video with the new
soundtrack (or, for a keypoint file, a rendered skeleton). Prints the beat F-measure against
the visual beats before and after, and how well pitch was kept."""


# Mirrors of the defaults in d2m_core.sync.timemap and .stretch, so that building the parser
# imports nothing heavy (tests/sync/test_align.py checks they agree).
DEFAULT_MAX_STRETCH = 1.45
METHODS = ("wsola", "pv")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``align`` subcommand to the ``d2m`` parser's subparsers."""
    p = sub.add_parser(
        "align",
        help="warp existing music so its beats land on the dancer's moves (no model)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("audio", type=Path, help="the music (audio file, or a video's audio track)")
    p.add_argument(
        "motion", type=Path, help="the dance: a video or a keypoint file (.npy .npz .pkl .json)"
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="OUT.wav or OUT.mp4")
    p.add_argument("--json", type=Path, help="write the alignment report as JSON here")
    p.add_argument("--key", help="entry of an .npz keypoint archive")
    p.add_argument("--fps", type=float, help="frame rate of a keypoint file that stores none")
    p.add_argument("--view", type=int, default=0, help="camera view of an AIST++ .pkl (default 0)")
    p.add_argument(
        "--duration", type=float, help="output length in seconds (default: the dance's length)"
    )
    p.add_argument(
        "--max-stretch",
        type=float,
        default=DEFAULT_MAX_STRETCH,
        help="largest local slow-down (and inverse speed-up) of one beat (default %(default)s)",
    )
    p.add_argument(
        "--smoothing",
        type=float,
        default=1.0,
        help="how much tempo changes are smoothed; 0 = follow every visual beat exactly"
        " (default %(default)s)",
    )
    p.add_argument(
        "--no-loop",
        action="store_true",
        help="do not loop music shorter than the dance (silence after it ends)",
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        default="wsola",
        help="time-scale modification: wsola (crisp drums) or pv (phase vocoder, smoother"
        " chords, softer attacks); default %(default)s",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Execute ``d2m align`` (see :func:`add_parser` for the arguments)."""
    from d2m_core.dance.analysis import analyze
    from d2m_core.io.audio import load_audio
    from d2m_core.io.keypoints import is_keypoint_file
    from d2m_core.sync.align import align_to_beats

    suffix = args.output.suffix.lower()
    if suffix not in (".wav", ".mp4"):
        raise D2MError(f"-o must end in .wav or .mp4, got '{args.output.name}'")
    for given in (args.audio, args.motion):
        if args.output.exists() and given.exists() and args.output.resolve() == given.resolve():
            raise D2MError(f"output {args.output} is an input; choose another output path")
    audio, sr = load_audio(args.audio)
    analysis = analyze(args.motion, key=args.key, fps=args.fps, view=args.view)
    duration = args.duration if args.duration is not None else analysis.motion.duration_s
    result = align_to_beats(
        audio,
        sr,
        target_beats_s=analysis.tempo.beats_s,
        duration_s=duration,
        max_stretch=args.max_stretch,
        smoothing=args.smoothing,
        loop=not args.no_loop,
        method=args.method,
    )
    if suffix == ".wav":
        from d2m_core.io.audio import write_wav

        write_wav(args.output, result.audio, result.sr)
    elif not is_keypoint_file(args.motion):
        from d2m_core.io.video import mux_audio

        mux_audio(args.motion, result.audio, result.sr, args.output)
    else:
        from d2m_core.viz.overlay import render_skeleton_video

        render_skeleton_video(analysis.motion, args.output, audio=result.audio, sr=result.sr)
    if args.json:
        from d2m_core.io.files import write_json

        summary = {
            "audio": str(args.audio),
            "motion": str(args.motion),
            "output": str(args.output),
            "dance_tempo_bpm": round(float(analysis.tempo.bpm), 2),
            **result.to_dict(),
        }
        write_json(args.json, summary)
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    st = result.stretch
    print(
        f"dance {analysis.tempo.bpm:.1f} BPM, {result.target_beats_s.size} beats;"
        f" music {result.source_beats_s.size} beats; local stretch"
        f" {st['min']:.2f}..{st['max']:.2f} (mean {st['mean']:.2f})"
    )
    print(
        f"beat F-measure vs visual beats: {result.f_measure_before:.3f} before ->"
        f" {result.f_measure_after:.3f} after (beats hit {result.hit_rate_before:.0%} ->"
        f" {result.hit_rate_after:.0%})"
    )
    kept = "kept" if result.pitch_kept else "CHANGED"
    print(
        f"pitch {kept}: chroma distance {result.chroma_distance:.4f},"
        f" shift {result.pitch_shift_cents:+.0f} cents"
    )
    print(f"wrote {args.output}" + (f" and {args.json}" if args.json else ""))
    return 0
