"""Visual tempo and beats on real dance videos, against the beats of the music danced to.

Usage: .venv/bin/python bench/bench_realdance.py [FOLDER ...] [--cache DIR] [--json OUT]
       [--windows SECONDS] [--pose-fps F] [--generate]

FOLDER holds ``NAME.mp4`` videos with one or more ``NAME.<tracker>.beats`` files (beat times of
the music the dancer danced to, seconds from the file's start, one a line); by default
``../shared/data/realdance``. The pose pass is cached in ``--cache`` (keyed by the video's
content), so re-running after a change to the beat stage costs seconds.

``--pose-fps F``: run the pose model at about F fps on every clip instead of the default rate
(:func:`d2m_core.dance.pose.estimate_pose`'s ``pose_fps``: the frames nearest an even grid at F,
so 30 fps at 20 is two frames of every three; never above a clip's own rate; the keypoints still
come out at the clip's full rate), to see what a lower pose rate costs in beats. Its pose is
cached apart from the default's (``NAME-KEY-poseFfps.npz``).

Per clip and reference tracker: visual tempo against the reference's (the metrical level at
which it matches, of 1, 2, 1/2, 3/2, 2/3), the beat F-measure (±70 ms, nothing trimmed) at the
reference's own level and level-tolerant (double time, or either phase of half time; never
off-beats), the best constant lag and the F-measure it would give, and the analysis's
confidence. A clip is *trusted* when its two references agree (F >= 0.9 between them). Figures
are in :mod:`d2m_core.metrics.visual`. Then windows (``--windows`` s long, half overlapping) of
every clip and of the shared AIST keypoint sequences, for the confidence's ROC AUC on more
samples and for short-window solidity.

``--generate``: music for every clip (offline ``groove`` backbone, default prompt, seed 0, the
clip's length) scored against the music the dancer danced to: beat F (±70 ms, librosa's tracker
on the generated music, against the first reference, at its own level and level-tolerant) and the
paper's BCS / BHS (onsets in 0.2 s bins, of both soundtracks).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from d2m_core.app.pipeline import content_key
from d2m_core.dance.analysis import analyze_motion
from d2m_core.dance.motion import Motion
from d2m_core.errors import D2MError
from d2m_core.io.beatfile import read_beats_file
from d2m_core.metrics import visual
from d2m_core.music.beats import beat_f_measure

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TRUST_F = 0.9


@dataclass
class Clip:
    name: str
    video: Path
    references: dict[str, np.ndarray]
    motion: Motion | None = None
    offset_s: float = 0.0  # video start minus audio start: visual time + offset = file time
    results: dict = field(default_factory=dict)

    @property
    def trusted(self) -> bool:
        refs = list(self.references.values())
        return len(refs) >= 2 and beat_f_measure(refs[0], refs[1]) >= TRUST_F


def find_clips(folders: list[Path]) -> list[Clip]:
    clips = []
    for folder in folders:
        for video in sorted(folder.glob("*.mp4")):
            refs = {
                p.name[len(video.stem) + 1 : -len(".beats")]: read_beats_file(p)
                for p in sorted(folder.glob(f"{video.stem}.*.beats"))
            }
            refs = dict(sorted(refs.items(), key=lambda kv: kv[0] != "madmom"))  # madmom first
            if refs:
                clips.append(Clip(name=video.stem, video=video, references=refs))
    return clips


def cached_motion(video: Path, cache: Path, pose_fps: float | None = None) -> Motion:
    """The video's pose, from the cache when this exact file was seen before (at that rate)."""
    from d2m_core.dance.pose import estimate_pose

    rate = "" if pose_fps is None else f"-pose{pose_fps:g}fps"
    out = cache / f"{video.stem}-{content_key(video)[:16]}{rate}.npz"
    if out.is_file():
        z = np.load(out)
        size = tuple(int(v) for v in z["frame_size"]) if z["frame_size"].size else None
        cuts = [float(t) for t in z["cuts_s"]] if "cuts_s" in z.files else []
        return Motion(keypoints=z["keypoints"], fps=float(z["fps"]), frame_size=size,
                      source=str(video), meta={"cuts_s": cuts})  # fmt: skip
    t0 = time.perf_counter()
    m = estimate_pose(video, pose_fps=pose_fps)
    print(f"  pose of {video.name}: {time.perf_counter() - t0:.1f} s (cached in {cache})")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.npz")
    np.savez(tmp, keypoints=m.keypoints, fps=m.fps, frame_size=np.array(m.frame_size or ()),
             cuts_s=np.array(m.meta.get("cuts_s", ()), dtype=float))  # fmt: skip
    tmp.replace(out)
    return m


def stream_offset(video: Path) -> float:
    """First video frame's time minus the audio's start, seconds (0 without audio)."""
    import av

    with av.open(str(video)) as c:
        vs = c.streams.video[0]
        v0 = float(vs.start_time * vs.time_base) if vs.start_time is not None else 0.0
        if not c.streams.audio:
            return 0.0
        a = c.streams.audio[0]
        a0 = float(a.start_time * a.time_base) if a.start_time is not None else 0.0
    return v0 - a0


def evaluate_clip(clip: Clip) -> dict:
    t0 = time.perf_counter()
    analysis = analyze_motion(clip.motion)
    seconds = time.perf_counter() - t0
    est = analysis.tempo
    beats = est.beats_s + clip.offset_s
    per_ref = {
        name: visual.evaluate(visual_bpm=est.bpm, visual_beats_s=beats, reference_beats_s=ref)
        for name, ref in clip.references.items()
    }
    tempo_ok = any(r["tempo_level"] is not None for r in per_ref.values())
    return {"bpm": est.bpm, "confidence": est.confidence, "seconds": seconds,
            "duration_s": clip.motion.duration_s, "trusted": clip.trusted, "tempo_ok": tempo_ok,
            "references": per_ref}  # fmt: skip


def fmt_level(r: float | None) -> str:
    if r is None:
        return "x"
    return {1.0: "1", 2.0: "2", 0.5: "1/2", 1.5: "3/2"}.get(r, "2/3")


def print_clip_table(clips: list[Clip]) -> None:
    names = list(clips[0].references)
    head = ["clip", "s", "trusted", "visual BPM", "conf"]
    for n in names:
        head += [f"{n} BPM", "level", f"F vs {n}", "F level-tol.", "lag s", "F lagged"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for c in clips:
        r = c.results
        row = [c.name, f"{r['duration_s']:.1f}", "yes" if r["trusted"] else "no",
               f"{r['bpm']:.1f}", f"{r['confidence']:.2f}"]  # fmt: skip
        for n in names:
            e = r["references"].get(n)
            if e is None:
                row += ["-"] * 6
                continue
            row += [f"{e['reference_bpm']:.1f}", fmt_level(e["tempo_level"]), f"{e['f']:.2f}",
                    f"{e['f_level']:.2f} ({e['f_level_variant']})", f"{e['lag_s']:+.2f}",
                    f"{e['f_lagged']:.2f}"]  # fmt: skip
        print("| " + " | ".join(row) + " |")


def print_summary(clips: list[Clip]) -> dict:
    n = len(clips)
    first = next(iter(clips[0].references))
    tempo_ok = [c.results["tempo_ok"] for c in clips]
    trusted = [c for c in clips if c.results["trusted"]]
    exact_trusted = [any(e["tempo_exact"] for e in c.results["references"].values())
                     for c in trusted]  # fmt: skip
    f_first = [c.results["references"][first]["f_level"] for c in clips]
    conf = [c.results["confidence"] for c in clips]
    summary = {
        "clips": n,
        "tempo_ok": int(sum(tempo_ok)),
        "trusted": len(trusted),
        "trusted_tempo_exact": int(sum(exact_trusted)),
        f"median_f_level_vs_{first}": float(np.median(f_first)),
        "trusted_f_level": {c.name: c.results["references"][first]["f_level"] for c in trusted},
        "confidence_auc_tempo_ok": visual.roc_auc(conf, tempo_ok),
        "seconds_beat_stage": float(sum(c.results["seconds"] for c in clips)),
    }
    print(
        f"\ntempo right at an accepted level: {summary['tempo_ok']}/{n}; exact level on trusted"
        f" clips: {summary['trusted_tempo_exact']}/{len(trusted)}; level-tolerant F vs {first}:"
        f" median {summary[f'median_f_level_vs_{first}']:.2f}, trusted "
        + ", ".join(f"{k} {v:.2f}" for k, v in summary["trusted_f_level"].items())
        + f"; confidence ROC AUC (tempo right): {summary['confidence_auc_tempo_ok']:.2f};"
        f" beat stage {summary['seconds_beat_stage']:.2f} s for all clips"
    )
    return summary


def window_starts(duration_s: float, window_s: float) -> list[float]:
    if duration_s < window_s:
        return []
    return list(np.arange(0.0, duration_s - window_s + 1e-9, window_s / 2))


def window_rows(clips: list[Clip], window_s: float) -> list[dict]:
    """Tempo right / confidence of half-overlapping windows of every clip."""
    rows = []
    for c in clips:
        m = c.motion
        for s0 in window_starts(m.duration_s, window_s):
            a, b = int(round(s0 * m.fps)), int(round((s0 + window_s) * m.fps))
            sub = Motion(keypoints=m.keypoints[a:b], fps=m.fps, frame_size=m.frame_size)
            try:
                est = analyze_motion(sub).tempo
            except D2MError:  # the main dancer is not in this window: no tempo, no confidence
                rows.append({"clip": c.name, "start_s": s0, "bpm": float("nan"),
                             "confidence": 0.0, "tempo_ok": False})  # fmt: skip
                continue
            t0, t1 = s0 + c.offset_s, s0 + window_s + c.offset_s
            ok = False
            for ref in c.references.values():
                inside = ref[(ref >= t0) & (ref <= t1)]
                if len(inside) >= 3:
                    ok |= visual.tempo_level(est.bpm, visual.reference_tempo(inside)) is not None
            rows.append({"clip": c.name, "start_s": s0, "bpm": est.bpm,
                         "confidence": est.confidence, "tempo_ok": ok})  # fmt: skip
    return rows


def aist_window_rows(shared: Path, window_s: float) -> list[dict]:
    from d2m_core.io.keypoints import load_keypoints

    npz = shared / "keypoints" / "aist_gendance_coco17_px_30fps.npz"
    if not npz.is_file():
        return []
    rows = []
    keys = [k for k in np.load(npz).files if k.startswith("g") and not k.endswith("__bpm")]
    for key in keys:
        m = load_keypoints(npz, key=key)
        ref = float(m.meta["music_bpm"])
        for s0 in window_starts(m.duration_s, window_s):
            a, b = int(round(s0 * m.fps)), int(round((s0 + window_s) * m.fps))
            est = analyze_motion(Motion(keypoints=m.keypoints[a:b], fps=m.fps)).tempo
            ok = visual.tempo_level(est.bpm, ref) is not None
            rows.append({"clip": key, "start_s": s0, "bpm": est.bpm,
                         "confidence": est.confidence, "tempo_ok": ok})  # fmt: skip
    return rows


def print_windows(rows: list[dict], what: str, window_s: float) -> float:
    if not rows:
        return float("nan")
    ok = [r["tempo_ok"] for r in rows]
    auc = visual.roc_auc([r["confidence"] for r in rows], ok)
    print(f"{what}: {len(rows)} windows of {window_s:g} s, tempo right in {sum(ok)}"
          f" ({np.mean(ok):.2f}); confidence ROC AUC {auc:.2f}")  # fmt: skip
    return auc


def generation_row(clip: Clip) -> dict:
    """The generated music of one clip against the original soundtrack (module docstring)."""
    from d2m_core.dance.analysis import analyze_motion
    from d2m_core.io.audio import load_audio
    from d2m_core.music.beats import bcs_bhs, detect_beats, paper_onsets
    from d2m_core.music.generate import generate_music

    result = generate_music(analyze_motion(clip.motion), seed=0)
    y, sr = result.audio, result.sample_rate
    _, beats = detect_beats(y, sr)
    beats = beats + clip.offset_s  # generated music starts with the first frame
    ref = next(iter(clip.references.values()))
    original, osr = load_audio(clip.video)
    gen_on = paper_onsets(y, sr) + clip.offset_s
    end = clip.offset_s + len(y) / sr
    ref_on = paper_onsets(original, osr)
    ref_on = ref_on[(ref_on >= clip.offset_s) & (ref_on < end)]
    bcs, bhs = bcs_bhs(gen_on, ref_on)
    f_level, variant = visual.level_f_measure(ref, beats)
    return {"f": beat_f_measure(ref, beats), "f_level": f_level, "f_level_variant": variant,
            "bcs": bcs, "bhs": bhs, "music_bpm": visual.reference_tempo(beats),
            "reference_bpm": visual.reference_tempo(ref)}  # fmt: skip


def print_generation(clips: list[Clip]) -> dict:
    rows = {c.name: generation_row(c) for c in clips}
    ref = next(iter(clips[0].references))
    print(f"\n| clip | music BPM | {ref} BPM | beat F | F level-tol. | BCS 0.2 s | BHS 0.2 s |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['music_bpm']:.1f} | {r['reference_bpm']:.1f} | {r['f']:.2f} |"
              f" {r['f_level']:.2f} | {r['bcs']:.2f} | {r['bhs']:.2f} |")  # fmt: skip
    keys = ("f", "f_level", "bcs", "bhs")
    med = {k: float(np.median([r[k] for r in rows.values()])) for k in keys}
    print("| median | | | " + " | ".join(f"{med[k]:.2f}" for k in keys)
          + " |")  # fmt: skip
    return {"clips": rows, "median": med}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", type=Path, default=[SHARED / "realdance"])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "d2m" / "bench-pose")
    ap.add_argument("--json", type=Path, help="write every figure here")
    ap.add_argument("--windows", type=float, default=8.0, help="window length, s (0: none)")
    ap.add_argument(
        "--pose-fps",
        type=float,
        help="run pose at about this rate on every clip (default: pose.py's own rate)",
    )
    ap.add_argument(
        "--generate",
        action="store_true",
        help="also score offline music made for each clip against its soundtrack",
    )
    args = ap.parse_args()
    clips = find_clips(args.folders)
    if not clips:
        raise SystemExit(f"no NAME.mp4 with NAME.*.beats in {', '.join(map(str, args.folders))}")
    analyze_motion(Motion(keypoints=np.random.default_rng(0).random((90, 17, 3)), fps=30))
    for c in clips:
        c.motion = cached_motion(c.video, args.cache, args.pose_fps)
        c.offset_s = stream_offset(c.video)
        c.results = evaluate_clip(c)
    print_clip_table(clips)
    summary = print_summary(clips)
    out = {"summary": summary, "clips": {c.name: c.results for c in clips}}
    if args.windows > 0:
        rows = window_rows(clips, args.windows)
        aist = aist_window_rows(SHARED, args.windows)
        out["windows"] = {"real": rows, "aist": aist,
                          "auc_real": print_windows(rows, "real clips", args.windows),
                          "auc_aist": print_windows(aist, "AIST sequences", args.windows),
                          "auc_all": print_windows(rows + aist, "all", args.windows)}  # fmt: skip
    if args.generate:
        out["generation"] = print_generation(clips)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=float))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
