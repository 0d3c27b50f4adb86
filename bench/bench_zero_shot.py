"""Zero-shot mode of ``d2m generate`` on the shared dances: beat F-measure before / after the warp.

Usage: .venv/bin/python bench/bench_zero_shot.py [--shared ../shared/data] [--backbone groove]
       [--model ID] [--seed N]

For each shared AIST keypoint sequence and each shared video, runs ``generate_music(...,
zero_shot=True)``: the prompt ``a @ music with * as the rhythm`` with ``@`` / ``*`` spelled out
(genre name, the dance's tempo), music from that plain text, then beat-aligned time-warping onto
the visual beats. Prints the prompt sent, the beat F-measure (mir_eval, +-70 ms, librosa's
tracker on the music vs the visual beats) as generated and after the warp, the share of visual
beats hit, the local stretch range and whether pitch was kept.

With the offline backbone the spelled-out prompt carries only the tempo *number*, so the music
comes at that tempo but not on the dancer's beats: the "before" column is what a text-only
model gives. On a machine with weights, ``--backbone musicgen --model facebook/musicgen-small``
(or audioldm / riffusion) measures the pretrained models the same way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from d2m_core.dance.analysis import analyze, analyze_motion
from d2m_core.io.keypoints import load_keypoints
from d2m_core.music.generate import generate_music
from d2m_core.music.genres import genre_from_aist_name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    ap.add_argument("--backbone", default="groove")
    ap.add_argument("--model", help="neural backbones: model id or folder")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    opts = {"model": args.model} if args.model else {}
    npz = args.shared / "keypoints" / "aist_gendance_coco17_px_30fps.npz"
    keys = [k for k in np.load(npz).files if k.startswith("g") and not k.endswith("__bpm")]
    items = [(k, lambda k=k: analyze_motion(load_keypoints(npz, key=k))) for k in keys]
    items += [
        (v.name, lambda v=v: analyze(v)) for v in sorted((args.shared / "videos").glob("*.mp4"))
    ]
    print(
        "| input | dance BPM | prompt sent | F as generated | F warped | beats hit"
        " | stretch | pitch kept |"
    )
    print("|---|---|---|---|---|---|---|---|")
    after = []
    for name, load in items:
        a = load()
        res = generate_music(
            a, genre=genre_from_aist_name(name), backbone=args.backbone, seed=args.seed,
            backbone_options=opts, zero_shot=True,
        )  # fmt: skip
        z = res.zero_shot
        after.append(z["f_measure_after"])
        print(
            f"| {name} | {a.tempo.bpm:.1f} | {z['prompt_sent']} | {z['f_measure_before']:.3f}"
            f" | **{z['f_measure_after']:.3f}** | {z['hit_rate_before']:.2f} ->"
            f" {z['hit_rate_after']:.2f} | {z['stretch']['min']:.2f}..{z['stretch']['max']:.2f}"
            f" | {'yes' if z['pitch_kept'] else 'no'} |"
        )
    print(f"\nmean beat F-measure after the warp: {np.mean(after):.3f} over {len(after)} dances")


if __name__ == "__main__":
    main()
