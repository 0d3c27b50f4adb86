"""Pose throughput on the shared test videos and on phone-shaped real clips.

Run from the project root: ``.venv/bin/python bench/bench_pose.py [--max-side 640] [--repeat 2]``.
Prints, per video (the shared 9 s UniAnimate and 2 s AIST clips, and when present the real
1080x1920 24 fps ``realdance/vmd_input.mp4`` and 540x960 50 fps ``realdance/camp_dance1.mp4``;
missing ones are skipped): decode seconds and frames/s of :func:`d2m_core.io.video.iter_frames`
at the pose resolution, end-to-end :func:`d2m_core.dance.pose.estimate_pose` seconds (best of the
repeats, decoding, probing, tracking and post-processing included), its speed in video frames/s,
and both as a ratio to the video's duration (< 1: faster than playback). Target: >= 20 frames/s
on 2 cores.
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

VIDEOS = (
    "videos/unianimate_dance_9s.mp4",
    "videos/aist_clip_2s_a.mp4",
    "realdance/vmd_input.mp4",
    "realdance/camp_dance1.mp4",
)
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
    print(
        f"{'video':<24} {'size':>10} {'fps':>6} {'frames':>6} {'decode s':>9} {'f/s':>5}"
        f" {'x dur':>6} {'pose s':>7} {'f/s':>5} {'x dur':>6}  pose rate, workers"
    )
    ok = True
    for rel in VIDEOS:
        path = args.data / rel
        if not path.is_file():
            print(f"{rel}: missing, skipped")
            continue
        info = probe_video(path)
        dur = info.duration_s
        t = time.perf_counter()
        n = sum(1 for _ in iter_frames(path, max_side=args.max_side))
        t_dec = time.perf_counter() - t
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            t = time.perf_counter()
            m = estimate_pose(path, max_side=args.max_side)
            best = min(best, time.perf_counter() - t)
        pose_fps = m.num_frames / best
        ok &= pose_fps >= TARGET_FPS
        print(
            f"{path.name:<24} {info.width:>4}x{info.height:<5} {info.fps:>6.2f} {n:>6}"
            f" {t_dec:>9.2f} {n / t_dec:>5.0f} {t_dec / dur:>6.2f}"
            f" {best:>7.2f} {pose_fps:>5.0f} {best / dur:>6.2f}"
            f"  {m.meta['pose_fps']:.0f} fps, {m.meta['pose_workers']}"
            f"   (person in {m.frames_with_person}/{m.num_frames} frames)"
        )
    print(f"target >= {TARGET_FPS:g} pose frames/s: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
