"""Pose throughput on the shared test videos.

Run from the project root: ``.venv/bin/python bench/bench_pose.py [--max-side 640] [--repeat 2]``.
Prints, per video: decode speed (frames/s of :func:`d2m_core.io.video.iter_frames` at the pose
resolution) and end-to-end :func:`d2m_core.dance.pose.estimate_pose` speed (frames/s, best of the
repeats, including probing, tracking and post-processing). Target: >= 20 frames/s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from d2m_core.dance.pose import _import_mediapipe, estimate_pose  # noqa: E402
from d2m_core.io.video import iter_frames, probe_video  # noqa: E402

VIDEOS = ("videos/unianimate_dance_9s.mp4", "videos/aist_clip_2s_a.mp4")
TARGET_FPS = 20.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--max-side", type=int, default=640)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"shared test data not found at {args.data}; pass --data", file=sys.stderr)
        return 2
    _import_mediapipe()  # keep the one-off import (~0.5 s) out of the timings
    print(f"cores: {os.cpu_count()}, max_side: {args.max_side}")
    print(f"{'video':<28} {'size':>10} {'fps':>6} {'frames':>6} {'decode f/s':>11} {'pose f/s':>9}")
    ok = True
    for rel in VIDEOS:
        path = args.data / rel
        if not path.is_file():
            print(f"{rel}: missing, skipped")
            continue
        info = probe_video(path)
        t = time.perf_counter()
        n = sum(1 for _ in iter_frames(path, max_side=args.max_side))
        decode_fps = n / (time.perf_counter() - t)
        best = 0.0
        for _ in range(max(1, args.repeat)):
            t = time.perf_counter()
            m = estimate_pose(path, max_side=args.max_side)
            best = max(best, m.num_frames / (time.perf_counter() - t))
        ok &= best >= TARGET_FPS
        print(
            f"{path.name:<28} {info.width:>4}x{info.height:<5} {info.fps:>6.2f} {n:>6}"
            f" {decode_fps:>11.1f} {best:>9.1f}"
            f"   (person in {m.frames_with_person}/{m.num_frames} frames)"
        )
    print(f"target >= {TARGET_FPS:g} pose frames/s: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
