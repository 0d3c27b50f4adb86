"""Speed per pipeline stage, and seconds per 5.12 s clip (the paper's Table 1 last column).

Run from the project root::

    .venv/bin/python bench/bench_stages.py [--video V.mp4 ...] [--repeat 3] [--no-generation]
        [--backbone groove] [--backbone musicgen:model=debug] [--backbone musicgen:device=cuda]

Video stages, per dance video (``--video``, repeatable; default: the shared 9.4 s UniAnimate and
2 s AIST clips and, when present, the real phone-shaped clips ``realdance/vmd_input.mp4``,
1080x1920 24 fps, and ``realdance/camp_dance1.mp4``, 540x960 50 fps; missing ones are skipped),
in seconds and as a ratio to the video's duration (issue 14's target: decode + pose + rhythm
<= 0.5x on 2 cores):

- decode: every frame decoded at the pose resolution (:func:`d2m_core.io.video.iter_frames`);
- pose: :func:`d2m_core.dance.pose.estimate_pose` minus decode (it decodes too);
- rhythm: rhythm features + visual tempo and beats (:func:`d2m_core.dance.analysis.analyze_motion`);

then, on the first video, per backbone (skipped with ``--no-generation``):

- generation: the backbone's own time for 5.12 s of music (median of ``--repeat`` runs after one
  warm-up; the paper's "s/clip", measured on a GPU there);
- measure: beat/tempo analysis of the generated music (:func:`generate_music` runs it);
- mux: the video with the new 5.12 s soundtrack written as MP4
  (:func:`d2m_core.io.video.mux_audio`).

Per backbone it prints seconds per stage, the s/clip column, and end to end seconds per 5.12 s
of video (video stages scaled to 5.12 s + generation + measure + mux). Without ``--backbone``,
every registered backbone that reports itself available with default options runs; the others
are listed with the reason.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from d2m_core.backbones import available_backbones  # noqa: E402
from d2m_core.backbones.base import backbone_names  # noqa: E402
from d2m_core.dance.analysis import analyze_motion  # noqa: E402
from d2m_core.errors import D2MError  # noqa: E402
from d2m_core.music.generate import generate_music  # noqa: E402

CLIP_S = 5.12
DATA = ROOT.parent / "shared" / "data"
DEFAULT_VIDEOS = (
    DATA / "videos" / "unianimate_dance_9s.mp4",
    DATA / "videos" / "aist_clip_2s_a.mp4",
    DATA / "realdance" / "vmd_input.mp4",
    DATA / "realdance" / "camp_dance1.mp4",
)
PAPER_S_PER_CLIP = {  # Table 1, GPU
    "CMT": 6.44, "CDCD": 5.72, "LORIS": 21.2, "MDM": 3.71,
    "Ours (AudioLDM)": 14.82, "Ours (MusicGen)": 11.48, "Ours (Riffusion)": 8.49,
}  # fmt: skip


def _parse_backbone(spec: str) -> tuple[str, dict]:
    name, _, opts = spec.partition(":")
    options: dict = {}
    for kv in filter(None, opts.split(",")):
        k, _, v = kv.partition("=")
        options[k.strip()] = v.strip()
    return name.strip(), options


def _time(fn, *args, **kw) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--video", type=Path, action="append", default=[],
        help="dance video (repeatable); default: the shared and real-dance clips listed above",
    )  # fmt: skip
    ap.add_argument("--no-generation", action="store_true", help="video stages only")
    ap.add_argument("--repeat", type=int, default=3, help="timed generations per backbone")
    ap.add_argument(
        "--backbone", action="append", default=[], metavar="NAME[:k=v,...]",
        help="backbone and its options (repeatable); default: every available one",
    )  # fmt: skip
    args = ap.parse_args()
    videos = args.video or [v for v in DEFAULT_VIDEOS if v.is_file()]
    missing = [v for v in videos if not v.is_file()]
    if missing or not videos:
        print(f"video not found: {missing or DEFAULT_VIDEOS}; pass --video", file=sys.stderr)
        return 2

    from d2m_core.dance.pose import _import_mediapipe, estimate_pose
    from d2m_core.io.video import iter_frames, mux_audio, probe_video

    _import_mediapipe()  # the one-off import is not a per-video cost
    print(f"cores: {os.cpu_count()}")
    print("| video | size | fps | s | decode s | pose s | pose+decode s | rhythm s"
          " | decode+pose+rhythm s | x duration |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    first = None
    for video in videos:
        info = probe_video(video)
        t_dec, n = _time(lambda v=video: sum(1 for _ in iter_frames(v, max_side=640)))
        t_pose_total, motion = _time(estimate_pose, video)
        analyze_motion(motion)  # warm numba (librosa) once
        t_rhythm, analysis = _time(analyze_motion, motion)
        dur = motion.duration_s
        total = t_pose_total + t_rhythm
        print(
            f"| {video.name} | {info.width}x{info.height} | {info.fps:.2f} | {dur:.2f}"
            f" | {t_dec:.2f} | {t_pose_total - t_dec:.2f} | {t_pose_total:.2f} | {t_rhythm:.3f}"
            f" | {total:.2f} | {total / dur:.2f} |"
        )
        if first is None:
            first = (video, t_dec, t_pose_total, t_rhythm, analysis, dur)
    if args.no_generation:
        return 0
    video, t_dec, t_pose_total, t_rhythm, analysis, dur = first
    scale = CLIP_S / dur
    print(f"\nbackbones on {video.name}:")

    if args.backbone:
        runs = [_parse_backbone(s) for s in args.backbone]
    else:
        runs = []
        for b in available_backbones():
            if b.available:
                runs.append((b.name, {}))
            else:
                print(f"skipped backbone {b.name}: {b.reason}")
    unknown = [r[0] for r in runs if r[0] not in backbone_names()]
    if unknown:
        print(f"unknown backbone(s) {unknown}; registered: {backbone_names()}", file=sys.stderr)
        return 2

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, opts in runs:
            gen_kw = dict(backbone=name, duration_s=CLIP_S, backbone_options=opts, genre="pop")
            try:
                generate_music(analysis, **gen_kw)  # warm-up: model load, caches
            except D2MError as exc:
                print(f"skipped backbone {name} {opts}: {exc}")
                continue
            gens, measures = [], []
            for seed in range(args.repeat):
                t_all, res = _time(generate_music, analysis, seed=seed, **gen_kw)
                gens.append(res.seconds_to_generate)
                measures.append(t_all - res.seconds_to_generate)
            out = Path(tmp) / f"{name}.mp4"
            t_mux, _ = _time(mux_audio, video, res.audio, res.sample_rate, out)
            gen, meas = statistics.median(gens), statistics.median(measures)
            video_part = (t_pose_total + t_rhythm) * scale
            label = name + (f" ({', '.join(f'{k}={v}' for k, v in opts.items())})" if opts else "")
            rows.append((label, gen, meas, t_mux, video_part + gen + meas + t_mux))

    print()
    print("| backbone | generation s/clip | measure s | mux s | end to end s per 5.12 s clip |")
    print("|---|---|---|---|---|")
    for label, gen, meas, mux, e2e in rows:
        print(f"| {label} | {gen:.3f} | {meas:.3f} | {mux:.3f} | {e2e:.2f} |")
    print()
    pose_only = (t_pose_total - t_dec) * scale
    print(
        f"per 5.12 s of video: decode {t_dec * scale:.2f} s, pose {pose_only:.2f} s,"
        f" rhythm {t_rhythm * scale:.3f} s (CPU, {os.cpu_count()} cores)"
    )
    print("paper, Table 1 s/clip (GPU): "
          + ", ".join(f"{k} {v:g}" for k, v in PAPER_S_PER_CLIP.items()))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
