"""Beat trackers (librosa, madmom) against human beat annotations: F-measure and time per file.

Usage: .venv/bin/python bench/bench_beat_trackers.py [--shared ../shared/data] [--repeats 3]

For each annotated file in ``audio/`` of the shared data (``x.wav`` + ``x.beats``) and each
tracker of :func:`d2m_core.music.beats.detect_beats`: tempo, number of beats, mir_eval's beat
F-measure (±70 ms) on all beats and with mir_eval's standard trimming (beats before 5 s
ignored; n/a when no annotated beat lies after 5 s), the first call's time (madmom loads its
networks then) and the median of ``--repeats`` later calls (wall and CPU seconds, CPU counting
all threads). Then how far the two trackers agree (F of one against the other) on every shared
music file, annotated or not.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from d2m_core.io.audio import read_audio
from d2m_core.music.beats import BEAT_TRACKERS, beat_f_measure, detect_beats

TRIM_S = 5.0  # mir_eval's standard evaluation ignores beats before this time
MUSIC_SUFFIXES = (".wav", ".ogg", ".flac", ".mp3")


def _timed(y: np.ndarray, sr: int, tracker: str) -> tuple[float, float, float, np.ndarray]:
    """``(wall s, CPU s, tempo, beats)`` of one :func:`detect_beats` call."""
    t0, c0 = time.perf_counter(), time.process_time()
    tempo, beats = detect_beats(y, sr, tracker=tracker)
    return time.perf_counter() - t0, time.process_time() - c0, tempo, beats


def bench_annotated(audio_dir: Path, *, repeats: int) -> None:
    """The F-measure and timing table against the human annotations."""
    print("## beat trackers against human beats (mir_eval F, ±70 ms)\n")
    print(
        "| file | s | annotated beats (after 5 s) | tracker | tempo BPM | beats | F all"
        " | F after 5 s | first call s | wall s | CPU s | x real time |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for ann_path in sorted(audio_dir.glob("*.beats")):
        music = [p for p in audio_dir.glob(ann_path.stem + ".*") if p.suffix in MUSIC_SUFFIXES]
        if not music:
            continue
        y, sr = read_audio(music[0])
        dur = y.shape[0] / sr
        ann = np.loadtxt(ann_path, comments="#", ndmin=2)[:, 0]  # time, beat in bar
        n_late = int(np.sum(ann >= TRIM_S))
        for tracker in BEAT_TRACKERS:
            first, _, tempo, beats = _timed(y, sr, tracker)
            runs = [_timed(y, sr, tracker) for _ in range(repeats)]
            wall = float(np.median([r[0] for r in runs]))
            cpu = float(np.median([r[1] for r in runs]))
            f_all = beat_f_measure(ann, beats)
            f_5 = f"{beat_f_measure(ann, beats, min_time_s=TRIM_S):.3f}" if n_late else "n/a"
            print(
                f"| {music[0].name} | {dur:.1f} | {ann.size} ({n_late}) | {tracker}"
                f" | {tempo:.1f} | {beats.size} | {f_all:.3f} | {f_5} | {first:.2f}"
                f" | {wall:.2f} | {cpu:.2f} | {dur / wall:.0f} |"
            )


def bench_agreement(audio_dir: Path) -> None:
    """F of madmom's beats against librosa's on every shared music file."""
    print("\n## agreement: F of madmom's beats against librosa's (all beats)\n")
    print("| file | librosa BPM | madmom BPM | F |")
    print("|---|---|---|---|")
    for path in sorted(audio_dir.iterdir()):
        if path.suffix.lower() not in MUSIC_SUFFIXES:
            continue
        y, sr = read_audio(path)
        (t_l, b_l), (t_m, b_m) = (detect_beats(y, sr, tracker=t) for t in BEAT_TRACKERS)
        print(f"| {path.name} | {t_l:.1f} | {t_m:.1f} | {beat_f_measure(b_l, b_m):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    ap.add_argument("--shared", type=Path, default=default)
    ap.add_argument("--repeats", type=int, default=3, help="timed calls after the first")
    args = ap.parse_args()
    audio_dir = args.shared / "audio"
    if not audio_dir.is_dir():
        raise SystemExit(f"shared audio not found at {audio_dir}")
    # librosa's tracker compiles with numba on its first call: warm it up off the clock.
    detect_beats(np.zeros(22050, np.float32), 22050)
    bench_annotated(audio_dir, repeats=max(1, args.repeats))
    bench_agreement(audio_dir)


if __name__ == "__main__":
    main()
