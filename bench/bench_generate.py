"""Offline generation: tempo, beat alignment and speed on the shared dances (issue acceptance).

Usage: .venv/bin/python bench/bench_generate.py [--shared ../shared/data] [--genre NAME] [--seed N]

For each shared AIST keypoint sequence (music BPM known) and each shared video, generates music
with the offline backbone and prints: the dance's visual tempo, the music's tempo as the paper's
TD measures it, |TD| against the stored music BPM, mir_eval beat F-measure of the music's
detected beats (librosa beat_track) against the visual beats, the paper's BCS/BHS at 0.2 s bins
against the visual beats, and generation time per second of music (pose excluded).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from d2m_core.dance.analysis import analyze, analyze_motion
from d2m_core.dance.synth import synthetic_dance
from d2m_core.io.keypoints import load_keypoints
from d2m_core.music.generate import generate_music
from d2m_core.music.genres import genre_from_aist_name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    ap.add_argument("--genre", help="force one genre (default: from the AIST name, else suggested)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    generate_music(analyze_motion(synthetic_dance(duration_s=3)), genre="pop")  # warm-up
    npz = args.shared / "keypoints" / "aist_gendance_coco17_px_30fps.npz"
    rows = []
    keys = [k for k in np.load(npz).files if k.startswith("g") and not k.endswith("__bpm")]
    items = [(k, lambda k=k: analyze_motion(load_keypoints(npz, key=k))) for k in keys]
    items += [
        (v.name, lambda v=v: analyze(v)) for v in sorted((args.shared / "videos").glob("*.mp4"))
    ]
    print(
        "| input | genre | dance BPM | music BPM (TD method) | stored BPM | abs TD | beat F"
        " | BCS | BHS | s per s of music |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, load in items:
        a = load()
        genre = args.genre or genre_from_aist_name(name)
        t0 = time.perf_counter()
        res = generate_music(a, genre=genre, seed=args.seed)
        _ = time.perf_counter() - t0
        stored = a.motion.meta.get("music_bpm")
        td = abs(res.alignment.music_tempo_bpm - stored) if stored else float("nan")
        rows.append((stored, td, res.alignment.beat_f_measure))
        print(
            f"| {name} | {res.genre} | {a.tempo.bpm:.2f} | {res.alignment.music_tempo_bpm:.2f} |"
            f" {stored if stored else '-'} | {td:.2f} | {res.alignment.beat_f_measure:.3f} |"
            f" {res.alignment.bcs:.3f} | {res.alignment.bhs:.3f} |"
            f" {res.seconds_to_generate / res.duration_s:.4f} |"
        )
    tds = [td for s, td, _ in rows if s]
    print(f"\nmean |TD| over the AIST sequences: {np.mean(tds):.2f} BPM (paper's best: 16.06)")
    print(f"min beat F-measure: {min(f for _, _, f in rows):.3f}")


if __name__ == "__main__":
    main()
