"""The paper's alignment protocol over a folder dataset: generate, evaluate, compare with Table 1.

Run from the project root::

    .venv/bin/python bench/bench_protocol.py --data DIR [--split test] [--backbone groove]
        [--backbone musicgen:model=facebook/musicgen-small,encoder=runs/enc,device=cuda]
        [--vggish vggish-10086976.pth] [--clap laion/larger_clap_music] [--out OUT] [--limit N]
    .venv/bin/python bench/bench_protocol.py --make-demo /tmp/d2m_demo   # a synthetic dataset

The dataset is ``DIR/manifest.csv`` with columns ``motion,audio,genre,split`` (paths relative
to DIR; ``motion`` is a dance video or keypoint file, ``file.npz#KEY`` for one entry of an
archive; ``genre`` may be empty: then d2m suggests one). For every row of the split, each
backbone generates music for the dance, as long as the shorter of the dance and its reference
music (5.12 s for the paper's AIST++ clips); the music is written to ``OUT/<backbone>/`` (so
``d2m evaluate`` can be rerun on it) and evaluated against the row's reference music with
:func:`d2m_core.metrics.evaluate.evaluate`. Prints a markdown table with the paper's Table 1
rows above ours (s/clip: the backbone's own generation time here, on this machine), then the
dance-side alignment (music vs visual beats), and writes everything as JSON to OUT.

``--make-demo DIR`` writes a small synthetic dataset in that format: procedural dancers
(:func:`d2m_core.dance.synth.synthetic_dance`) in one ``.npz`` (``#KEY`` rows) with, as
"ground-truth music", a synthesised drum groove on the dancer's true beats. It exercises the
protocol end to end without AIST++; its FAD/CLAP would mean nothing (drums only).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from d2m_core.errors import D2MError  # noqa: E402

PAPER_TABLE1 = [  # method, BCS, BHS, F1, TD, FAD, CLAP, s/clip (GPU)
    ("CMT", 0.3368, 0.1515, 0.2090, 21.74, 16.54, 0.4454, 6.44),
    ("CDCD", 0.4233, 0.2151, 0.2852, 19.25, 16.47, 0.3032, 5.72),
    ("LORIS", 0.3721, 0.3371, 0.3537, 17.80, 13.15, 0.6180, 21.2),
    ("MDM", 0.3798, 0.4185, 0.3982, 22.96, 4.812, 0.5793, 3.71),
    ("Ours (AudioLDM)", 0.4419, 0.3605, 0.3971, 22.73, 8.522, 0.7030, 14.82),
    ("Ours (MusicGen)", 0.4118, 0.3874, 0.3992, 16.06, 6.014, 0.4685, 11.48),
    ("Ours (Riffusion)", 0.4761, 0.4398, 0.4572, 20.34, 3.416, 0.7680, 8.49),
]
CLIP_S = 5.12


def read_manifest(data: Path, split: str | None) -> list[dict]:
    """Rows of ``data/manifest.csv`` (of one split when given), paths resolved."""
    path = data / "manifest.csv"
    if not path.is_file():
        raise D2MError(f"no manifest.csv in {data}")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"motion", "audio", "split"} - set(reader.fieldnames or [])
        if missing:
            raise D2MError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        rows = []
        for i, r in enumerate(reader):
            if split and r["split"].strip() != split:
                continue
            motion, _, key = r["motion"].strip().partition("#")
            rows.append(
                {
                    "index": i,
                    "motion": data / motion,
                    "key": key or None,
                    "audio": data / r["audio"].strip(),
                    "genre": (r.get("genre") or "").strip() or None,
                }
            )
    return rows


def _clip_name(row: dict, taken: set[str]) -> str:
    base = Path(row["audio"]).stem
    name = base if base not in taken else f"{base}_{row['index']}"
    taken.add(name)
    return name


def _parse_backbone(spec: str) -> tuple[str, dict]:
    name, _, opts = spec.partition(":")
    return name.strip(), dict(kv.split("=", 1) for kv in filter(None, opts.split(",")))


def _fmt(v, digits=4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def make_demo(out: Path, *, n: int = 6, seed: int = 0) -> Path:
    """Write a synthetic dataset (see the module docstring) and return its folder."""
    import soundfile as sf

    from d2m_core.dance.synth import synthetic_dance
    from d2m_core.music.genres import GENRES

    out.mkdir(parents=True, exist_ok=True)
    (out / "music").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    sr = 22050
    arrays: dict[str, np.ndarray] = {}
    rows = []
    for i in range(n):
        bpm = float(rng.choice([80, 90, 100, 110, 120, 130]))
        start = float(rng.uniform(0.05, 0.4))
        m = synthetic_dance(bpm=bpm, duration_s=CLIP_S, fps=60.0, seed=seed + i, start_s=start)
        key = f"clip{i:02d}"
        arrays[key] = m.keypoints
        sf.write(out / "music" / f"{key}.wav", _drums(m.meta["beats_s"], bpm, sr), sr)
        split = "test" if i >= n // 3 else "train"
        rows.append((f"dances.npz#{key}", f"music/{key}.wav", GENRES[i % len(GENRES)], split))
    np.savez(out / "dances.npz", fps=np.float32(60.0), **arrays)
    with (out / "manifest.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["motion", "audio", "genre", "split"])
        w.writerows(rows)
    return out


def _drums(beats_s: list[float], bpm: float, sr: int) -> np.ndarray:
    """Kick on every beat, snare on 2 and 4, closed hat on eighths: a plain drum groove."""
    rng = np.random.default_rng(int(bpm))
    y = np.zeros(int(CLIP_S * sr), np.float32)
    t = np.arange(int(0.25 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 * t + 60 * 0.03 * (1 - np.exp(-t / 0.03)))) * np.exp(-t / 0.12)
    snare = rng.normal(size=t.size) * np.exp(-t / 0.05) * 0.5
    hat = np.diff(rng.normal(size=t.size + 1)) * np.exp(-t / 0.01) * 0.15

    def add(at: float, s: np.ndarray) -> None:
        i = int(round(at * sr))
        if i < y.size:
            seg = y[i : i + s.size]
            seg += s[: seg.size]

    period = 60.0 / bpm
    for k, b in enumerate(beats_s):
        add(b, kick * 0.8)
        if k % 2 == 1:
            add(b, snare)
        add(b, hat)
        add(b + period / 2, hat)
    return (0.9 * y / max(1e-9, float(np.abs(y).max()))).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="dataset folder holding manifest.csv")
    ap.add_argument("--make-demo", type=Path, metavar="DIR", help="write a synthetic dataset")
    ap.add_argument("--split", default="test", help="manifest split to run (default test)")
    ap.add_argument("--backbone", action="append", default=[], metavar="NAME[:k=v,...]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, help="only the first N clips")
    ap.add_argument("--bin", type=float, default=0.2, help="BCS/BHS bin, s (default 0.2)")
    ap.add_argument("--vggish", help="VGGish weights file (vggish-10086976.pth)")
    ap.add_argument("--clap", default=None, help="CLAP model folder or HF id (cache only)")
    ap.add_argument("--no-fad", action="store_true")
    ap.add_argument("--no-clap", action="store_true")
    ap.add_argument("--device", default="cpu", help="device for VGGish/CLAP")
    ap.add_argument("--out", type=Path, default=Path("out/protocol"))
    args = ap.parse_args()
    try:
        if args.make_demo:
            d = make_demo(args.make_demo)
            print(f"wrote a synthetic dataset to {d} (manifest.csv); run with --data {d}")
            if not args.data:
                return 0
        if not args.data:
            ap.error("--data DIR is required")
        return run(args)
    except D2MError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    from d2m_core.cli.evaluate import load_models
    from d2m_core.dance.analysis import analyze
    from d2m_core.io.audio import load_audio, write_wav
    from d2m_core.io.files import write_json
    from d2m_core.metrics.evaluate import evaluate
    from d2m_core.music.generate import generate_music

    rows = read_manifest(args.data, args.split)[: args.limit]
    if not rows:
        raise D2MError(f"no rows of split '{args.split}' in {args.data / 'manifest.csv'}")
    backbones = [_parse_backbone(s) for s in (args.backbone or ["groove"])]

    # Dances and reference music once; every backbone reuses them.
    taken: set[str] = set()
    clips = {}
    for r in rows:
        name = _clip_name(r, taken)
        analysis = analyze(r["motion"], key=r["key"])
        ref = load_audio(r["audio"])
        dur = min(analysis.motion.duration_s, len(ref[0]) / ref[1])
        clips[name] = (r, analysis, ref, dur)
    print(f"{len(clips)} clips of split '{args.split}' from {args.data}", file=sys.stderr)

    vggish, clap = load_models(
        vggish=args.vggish, clap=args.clap, no_fad=args.no_fad, no_clap=args.no_clap,
        device=args.device,
    )  # fmt: skip
    results = {}
    for bb, opts in backbones:
        label = bb + (f" ({', '.join(f'{k}={v}' for k, v in opts.items())})" if opts else "")
        out_dir = args.out / bb
        out_dir.mkdir(parents=True, exist_ok=True)
        generated, seconds = {}, []
        try:
            for name, (r, analysis, _, dur) in clips.items():
                res = generate_music(
                    analysis, genre=r["genre"], backbone=bb, seed=args.seed, duration_s=dur,
                    backbone_options=opts,
                )  # fmt: skip
                generated[name] = (res.audio, res.sample_rate)
                seconds.append(res.seconds_to_generate * CLIP_S / dur)
                write_wav(out_dir / f"{name}.wav", res.audio, res.sample_rate)
        except D2MError as exc:
            print(f"skipped backbone {label}: {exc}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        ev = evaluate(
            generated=generated,
            reference={n: c[2] for n, c in clips.items()},
            visual_beats={n: np.asarray(c[1].tempo.beats_s) for n, c in clips.items()},
            visual_tempo_bpm={n: float(c[1].tempo.bpm) for n, c in clips.items()},
            bin_s=args.bin, vggish=vggish, clap=clap,
        )  # fmt: skip
        ev["seconds_per_clip"] = float(np.mean(seconds))
        ev["evaluation_seconds"] = time.perf_counter() - t0
        results[label] = ev

    if not results:
        raise D2MError("no backbone could run")
    print(f"\nAlignment protocol, {len(clips)} clips, bins {args.bin:g} s (paper rows: Table 1,"
          " AIST++ test set, GPU timings)\n")  # fmt: skip
    print("| method | BCS ↑ | BHS ↑ | F1 ↑ | TD ↓ | FAD ↓ | CLAP ↑ | s/clip ↓ |")
    print("|---|---|---|---|---|---|---|---|")
    for m, *v in PAPER_TABLE1:
        print(f"| {m} | {v[0]:.4f} | {v[1]:.4f} | {v[2]:.4f} | {v[3]:.2f} | {v[4]:.3f}"
              f" | {v[5]:.4f} | {v[6]:.2f} |")  # fmt: skip
    for label, ev in results.items():
        s = ev["summary"]
        print(
            f"| d2m {label} (this run) | {_fmt(s.get('bcs'))} | {_fmt(s.get('bhs'))}"
            f" | {_fmt(s.get('f1'))} | {_fmt(s.get('td'), 2)} | {_fmt(s.get('fad'), 3)}"
            f" | {_fmt(s.get('clap'))} | {ev['seconds_per_clip']:.2f} |"
        )
    print("\nMusic against the dances' visual beats (no reference needed)\n")
    print("| method | BCS ↑ | BHS ↑ | F1 ↑ | TD ↓ | beat F ↑ |")
    print("|---|---|---|---|---|---|")
    for label, ev in results.items():
        s = ev["summary"]
        print(
            f"| d2m {label} | {_fmt(s.get('dance_bcs'))} | {_fmt(s.get('dance_bhs'))}"
            f" | {_fmt(s.get('dance_f1'))} | {_fmt(s.get('dance_td'), 2)}"
            f" | {_fmt(s.get('dance_beat_f'))} |"
        )
    first = next(iter(results.values()))
    for k in ("fad", "clap"):
        if k in first["unavailable"]:
            print(f"\n{k.upper()} n/a: {first['unavailable'][k]}")
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "protocol.json", results)
    print(f"\nwrote {args.out / 'protocol.json'} and the generated music under {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
