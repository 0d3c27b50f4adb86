"""Analysis speed and visual-tempo accuracy by clip length.

Usage: .venv/bin/python bench/bench_analysis.py [--shared ../shared/data]

Prints, for the shared AIST keypoint sequences (music BPM known): the tempo of the whole
sequence, analysis time, and the share of windows of 3, 5, 10 and 20 s whose tempo is within 4%
of the music's; and for the shared videos: pose + analysis time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from d2m_core.dance.analysis import analyze, analyze_motion
from d2m_core.dance.motion import Motion
from d2m_core.io.keypoints import load_keypoints


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    ap.add_argument("--shared", type=Path, default=default)
    args = ap.parse_args()
    npz = args.shared / "keypoints" / "aist_gendance_coco17_px_30fps.npz"
    # Warm up numba (librosa's beat tracker compiles on first use).
    analyze_motion(Motion(keypoints=np.random.default_rng(0).random((90, 17, 3)), fps=30))
    keys = [k for k in np.load(npz).files if k.startswith("g") and not k.endswith("__bpm")]
    print(
        "| sequence | music BPM | tempo (full) | s to analyse"
        " | within 4%: 3 s | 5 s | 10 s | 20 s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for key in keys:
        m = load_keypoints(npz, key=key)
        ref = m.meta["music_bpm"]
        t0 = time.perf_counter()
        full = analyze_motion(m)
        dt = time.perf_counter() - t0
        shares = []
        for length in (3, 5, 10, 20):
            hits = []
            n = int(length * m.fps)
            for start in range(0, m.num_frames - n + 1, int(m.fps)):
                sub = Motion(keypoints=m.keypoints[start : start + n], fps=m.fps)
                hits.append(abs(analyze_motion(sub).tempo.bpm / ref - 1) <= 0.04)
            shares.append(f"{np.mean(hits):.2f} ({len(hits)})")
        print(f"| {key} | {ref:g} | {full.tempo.bpm:.2f} | {dt:.3f} | " + " | ".join(shares) + " |")
    for video in sorted((args.shared / "videos").glob("*.mp4")):
        t0 = time.perf_counter()
        res = analyze(video)
        dt = time.perf_counter() - t0
        m = res.motion
        print(
            f"{video.name}: {m.num_frames} frames, analysis incl. pose {dt:.2f} s"
            f" ({m.num_frames / dt:.1f} frames/s), tempo {res.tempo.bpm:.1f} BPM"
            f" (conf {res.tempo.confidence:.2f})"
        )


if __name__ == "__main__":
    main()
