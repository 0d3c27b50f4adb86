"""Speed of the weight-free groove generator: seconds of compute per second of music.

Run from the project root::

    .venv/bin/python bench/bench_groove.py [--genres house,ballet_jazz] [--lengths 10,60,300]
        [--sr 32000] [--repeat 1]

For each genre and length it renders a piece on a steady 110 BPM grid with a varying motion
energy (so every arrangement level occurs) and prints wall seconds, seconds per second of
music (target <= 0.1 on 2 cores) and the output level. The first render of the process also
pays for loading the soundfont; a short warm-up render runs before timing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from d2m_core.groove import GENRES, render_groove  # noqa: E402


def _inputs(duration_s: float) -> dict:
    beats = np.arange(0.2, duration_s, 60.0 / 110.0)
    t = np.arange(0.0, duration_s, 1.0 / 30.0)
    energy = 0.55 + 0.45 * np.sin(2 * np.pi * t / 23.0) + 0.2 * np.cos(2 * np.pi * t * 110 / 60)
    return {"beat_times_s": beats, "duration_s": duration_s, "energy_times_s": t, "energy": energy}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--genres", default="house,ballet_jazz,krump")
    ap.add_argument("--lengths", default="10,60,300", help="piece lengths in seconds")
    ap.add_argument("--sr", type=int, default=32000)
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per case (median)")
    args = ap.parse_args()
    genres = GENRES if args.genres == "all" else tuple(args.genres.split(","))
    lengths = [float(x) for x in args.lengths.split(",")]

    render_groove(**_inputs(2.0), genre=genres[0], sr=args.sr)  # warm-up: soundfont load
    print(
        f"{'genre':14s} {'length s':>9s} {'wall s':>8s} {'s per s':>8s} {'peak':>6s} "
        f"{'RMS dBFS':>9s}"
    )
    worst = 0.0
    for g in genres:
        for dur in lengths:
            times = []
            for _ in range(max(1, args.repeat)):
                t0 = time.perf_counter()
                y = render_groove(**_inputs(dur), genre=g, seed=1, sr=args.sr)
                times.append(time.perf_counter() - t0)
            wall = float(np.median(times))
            rms = 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)) + 1e-12)
            worst = max(worst, wall / dur)
            print(
                f"{g:14s} {dur:9.0f} {wall:8.2f} {wall / dur:8.4f} {np.abs(y).max():6.3f} "
                f"{rms:9.1f}"
            )
    print(f"worst: {worst:.4f} s of compute per s of music (target <= 0.1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
