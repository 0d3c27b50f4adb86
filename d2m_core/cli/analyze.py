"""``d2m analyze``: find the dancer, compute the visual rhythm, tempo and beats.

Registered in :func:`d2m_core.cli.main.build_parser` by :func:`add_parser`; the analysis itself
is :func:`d2m_core.dance.analysis.analyze`. :func:`add_input_args`, :func:`add_beat_args` and
:func:`beat_overrides_from_args` are shared with ``generate``; the beat corrections themselves are
:func:`d2m_core.dance.overrides.apply_overrides`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from d2m_core.dance.analysis import Analysis, Progress
    from d2m_core.dance.motion import Motion
    from d2m_core.dance.overrides import BeatOverrides


def add_input_args(p: argparse.ArgumentParser) -> None:
    """Add the dance input arguments (a video or a keypoint file, and how to read it)."""
    p.add_argument(
        "input", type=Path, help="a dance video or a keypoint file (.npy .npz .pkl .json)"
    )
    p.add_argument("--key", help="entry of an .npz keypoint archive")
    p.add_argument(
        "--fps", type=float, help="frame rate of a keypoint file that does not store one"
    )
    p.add_argument("--view", type=int, default=0, help="camera view of an AIST++ .pkl (default 0)")


def add_beat_args(p: argparse.ArgumentParser) -> None:
    """Add the corrections of the estimated tempo and beats (``--tempo`` ... ``--taps``)."""
    g = p.add_argument_group(
        "correcting the beats",
        "when the estimated tempo or beats are wrong; --beats and --taps each exclude every"
        " other source, --tempo and --tempo-scale exclude each other; --beat-shift applies last",
    )
    g.add_argument(
        "--tempo", type=float, metavar="BPM", help="re-fit the beats at this tempo (30-300 BPM)"
    )
    g.add_argument(
        "--tempo-scale",
        metavar="FACTOR",
        help="re-fit the beats at the estimated tempo times 2, 0.5, 1.5 or 0.667"
        " (also 1/2, 3/2, 2/3)",
    )
    g.add_argument(
        "--beat-shift",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="move every beat by this many seconds (negative: earlier)",
    )
    g.add_argument(
        "--beats",
        type=Path,
        metavar="FILE",
        help="use these beat times: seconds, one a line (first column; # comments)",
    )
    g.add_argument(
        "--taps",
        metavar="T1,T2,...",
        help="use the even beat grid that follows these taps: at least 4 times in seconds of"
        " the video, comma-separated, once a beat (one missed tap is tolerated); the grid"
        " runs over the whole dance",
    )


def add_progress_args(p: argparse.ArgumentParser) -> None:
    """Add ``--quiet`` (no progress bar during pose estimation)."""
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bar on stderr during pose estimation (there is none when stderr is"
        " not a terminal)",
    )


@contextlib.contextmanager
def pose_progress(args: argparse.Namespace) -> Iterator[Progress | None]:
    """The ``progress`` callback for the analysis: a bar on stderr during pose estimation.

    ``None`` (no bar) with ``--quiet``, when stderr is not a terminal (pipes, logs and tests
    see only the summary) and for keypoint files (no pose to wait for). The bar is erased on
    leaving, also on an error, so ``error: ...`` stays one clean line.
    """
    from d2m_core.io.keypoints import is_keypoint_file
    from d2m_core.io.progress import TerminalBar, is_terminal

    path = Path(args.input)
    if (
        getattr(args, "quiet", False)
        or not is_terminal(sys.stderr)
        or not path.is_file()
        or is_keypoint_file(path)
    ):
        yield None
        return
    with TerminalBar(stream=sys.stderr, label="pose", total_frames=_frame_count(path)) as bar:
        yield bar


def _frame_count(path: Path) -> int | None:
    """Frames in the video, for the bar's frames/s (``None``: the analysis reports the error)."""
    from d2m_core.errors import D2MError
    from d2m_core.io.video import probe_video

    try:
        return probe_video(path).num_frames or None
    except D2MError:
        return None


def beat_overrides_from_args(args: argparse.Namespace) -> BeatOverrides:
    """The beat corrections the user asked for (checked: conflicts, ranges, taps, the file).

    A flag missing from ``args`` (a caller that builds its own namespace, like ``d2m demo``)
    counts as not given.
    """
    from d2m_core.dance.overrides import BeatOverrides, parse_taps, parse_tempo_scale

    scale, taps = getattr(args, "tempo_scale", None), getattr(args, "taps", None)
    return BeatOverrides(
        tempo_bpm=getattr(args, "tempo", None),
        tempo_scale=None if scale is None else parse_tempo_scale(scale),
        beat_shift_s=getattr(args, "beat_shift", 0.0),
        beats_file=getattr(args, "beats", None),
        tap_times_s=None if taps is None else parse_taps(taps),
    )


def beat_summary(analysis: Analysis) -> str | None:
    """One line on how the beats were corrected (``None`` when they are the estimate's)."""
    bc = analysis.beat_correction
    if bc is None:
        return None
    o = bc.overrides
    if o.source == "tempo":
        how = f"beats re-fitted at {o.tempo_bpm:g} BPM"
    elif o.source == "tempo_scale":
        how = f"beats re-fitted at {o.tempo_scale:.3g} x the estimated tempo"
    elif o.source == "file":
        how = f"beats from {o.beats_file}"
    elif o.source == "taps":
        how = f"beats following {len(o.tap_times_s)} taps"
    elif o.source == "beats":
        how = f"{len(o.beat_times_s)} beat times as given"
    else:
        how = "estimated beats"
    shift = f", shifted by {o.beat_shift_s:+g} s" if o.beat_shift_s else ""
    return f"{how}{shift} (estimated tempo {bc.auto_tempo.bpm:.1f} BPM)"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``analyze`` subcommand to the ``d2m`` parser's subparsers."""
    p = sub.add_parser(
        "analyze",
        help="find the dancer, compute the visual rhythm, tempo and beats",
        description="Analyse a dance: keypoints, the paper's rhythm features, visual tempo and"
        " beats. Prints a summary; optionally writes JSON, a plot and a skeleton overlay.",
    )
    add_input_args(p)
    add_beat_args(p)
    add_progress_args(p)
    p.add_argument("--json", type=Path, help="write the analysis as JSON here")
    p.add_argument("--plot", type=Path, help="write the rhythm plot (PNG) here")
    p.add_argument(
        "--overlay",
        type=Path,
        help="write a pose check here: .mp4 (skeleton over the video, or alone for keypoint"
        " files) or .png (a grid of frames)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Execute ``d2m analyze`` (see :func:`add_parser` for the arguments)."""
    from d2m_core.dance.analysis import analyze
    from d2m_core.dance.overrides import apply_overrides
    from d2m_core.dance.tempo import pulse_words

    overrides = beat_overrides_from_args(args)  # before the analysis: bad flags fail fast
    with pose_progress(args) as progress:
        analysis = analyze(
            args.input, key=args.key, fps=args.fps, view=args.view, progress=progress
        )
    result = apply_overrides(analysis, overrides)
    summary = result.to_dict()
    for w in summary["beat_warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        from d2m_core.io.files import write_json

        write_json(args.json, summary)
    if args.plot:
        from d2m_core.viz.plot import rhythm_figure, save_figure

        save_figure(rhythm_figure(result), args.plot)
    if args.overlay:
        _write_overlay(input_path=args.input, motion=result.motion, out=args.overlay)
    m = result.motion
    print(
        f"{m.source}: {m.num_frames} frames at {m.fps:.2f} fps ({m.duration_s:.2f} s),"
        f" person in {m.frames_with_person} frames"
    )
    print(
        f"tempo {summary['tempo_bpm']:.1f} BPM"
        f" ({pulse_words(summary['tempo_confidence'], summary['tempo_bpm'])},"
        f" confidence {summary['tempo_confidence']:.2f}),"
        f" {len(summary['visual_beats_s'])} visual beats, {len(summary['rhythm_peaks_s'])} peaks"
    )
    corrected = beat_summary(result)
    if corrected:
        print(corrected)
    for name in ("json", "plot", "overlay"):
        if getattr(args, name):
            print(f"wrote {getattr(args, name)}")
    return 0


def _write_overlay(*, input_path: Path, motion: Motion, out: Path) -> None:
    """The pose check: a video (.mp4) or a grid of frames (.png), over the video if there is one."""
    from d2m_core.io.keypoints import is_keypoint_file
    from d2m_core.viz.overlay import (
        overlay_grid,
        render_overlay,
        render_skeleton_video,
        skeleton_grid,
    )

    as_png = out.suffix.lower() == ".png"
    if is_keypoint_file(input_path):  # no video to draw on: the skeleton alone
        if as_png:
            skeleton_grid(motion, out)
        else:
            render_skeleton_video(motion, out)
    elif as_png:
        overlay_grid(input_path, motion, out)
    else:
        render_overlay(input_path, motion, out)
