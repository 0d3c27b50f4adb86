"""``d2m evaluate`` and ``d2m beats``: the paper's evaluation protocol on folders of audio.

Files are paired by name (the file name without its extension): ``gen/x.wav`` with
``ref/x.wav`` (any audio or video container with an audio track) and ``motion/x.mp4`` (a dance
video, a keypoint file, or the JSON written by ``d2m analyze/generate --json``, whose
``visual_beats_s`` is used as is). A reference ``x.beats`` file (one beat per line, time in
seconds first, ``#`` comments) beside ``ref/x.wav`` is used as beat annotations.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from d2m_core.errors import D2MError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus")
CONTAINER_SUFFIXES = (".mp4", ".m4a", ".aac", ".mov", ".mkv", ".webm", ".avi")
MOTION_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".npy", ".npz", ".pkl", ".json")


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Audio of an audio file, or the first audio track of a video container.

    Returns
    -------
    samples : np.ndarray [shape=(N,) or (N, C)], float32
    sr : int
    """
    path = Path(path)
    if path.suffix.lower() not in CONTAINER_SUFFIXES:
        from d2m_core.io.audio import read_audio

        return read_audio(path)
    if not path.is_file():
        raise D2MError(f"file not found: {path}")
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise D2MError(f"{path.name} has no audio track")
            stream = c.streams.audio[0]
            chunks, sr = [], None
            for frame in c.decode(stream):
                a = frame.to_ndarray()  # (C, n) planar or (1, n*C) packed
                if not frame.format.is_planar:
                    a = a.reshape(-1, len(frame.layout.channels)).T
                chunks.append(a.astype(np.float32))
                sr = frame.sample_rate
    except av.FFmpegError as exc:
        raise D2MError(f"cannot read audio from {path.name} ({exc})") from None
    if not chunks:
        raise D2MError(f"{path.name}: its audio track holds no samples")
    y = np.concatenate(chunks, axis=1).T
    if np.issubdtype(y.dtype, np.integer):
        y = y / np.iinfo(y.dtype).max
    return np.ascontiguousarray(y[:, 0] if y.shape[1] == 1 else y, dtype=np.float32), int(sr)


def collect(path: Path, suffixes: tuple[str, ...], what: str) -> dict[str, Path]:
    """``{name: file}`` of a folder's files with these suffixes, or of one file."""
    if not path.exists():
        raise D2MError(f"{what} not found: {path}")
    if path.is_file():
        return {path.stem: path}
    found: dict[str, Path] = {}
    for p in sorted(path.iterdir()):
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."):
            if p.stem in found:
                raise D2MError(f"two {what} files named '{p.stem}' in {path}: keep one")
            found[p.stem] = p
    if not found:
        raise D2MError(f"no {what} files ({' '.join(suffixes)}) in {path}")
    return found


def read_beats_file(path: Path) -> np.ndarray:
    """Beat times (first column, seconds) of an annotation file; ``#`` starts a comment."""
    times = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            try:
                times.append(float(line.replace(",", " ").split()[0]))
            except ValueError:
                raise D2MError(f"{path.name}: not a beat file (line '{line[:40]}')") from None
    return np.sort(np.asarray(times, dtype=np.float64))


def _annotations_for(audio: Path) -> Path | None:
    for cand in (audio.with_suffix(".beats"), audio.with_name(audio.name + ".beats")):
        if cand.is_file():
            return cand
    return None


def _dance_beats(path: Path) -> tuple[np.ndarray, float | None]:
    """Visual beats and tempo of a motion file (analysis JSON, keypoints or video)."""
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise D2MError(f"{path.name} is not valid JSON ({exc})") from None
        if isinstance(data, dict) and "visual_beats_s" in data:
            return np.asarray(data["visual_beats_s"], float), data.get("tempo_bpm")
    from d2m_core.dance.analysis import analyze

    a = analyze(path)
    return np.asarray(a.tempo.beats_s, float), float(a.tempo.bpm)


def load_models(
    *,
    vggish: str | None = None,
    vggish_pca: str | None = None,
    fad_pca: bool = False,
    clap: str | None = None,
    no_fad: bool = False,
    no_clap: bool = False,
    device: str = "cpu",
) -> tuple[object, object]:
    """The FAD and CLAP embedders, each replaced by an :class:`Unavailable` saying why when it
    cannot be loaded (see :func:`~d2m_core.metrics.vggish.load_vggish`, :func:`load_clap`)."""
    from d2m_core.metrics.clap import DEFAULT_CLAP_MODEL, load_clap
    from d2m_core.metrics.evaluate import Unavailable
    from d2m_core.metrics.vggish import load_vggish

    fad_model: object = Unavailable("switched off (--no-fad)")
    if not no_fad:
        try:
            fad_model = load_vggish(vggish, pca=vggish_pca, postprocess=fad_pca, device=device)
        except (FileNotFoundError, ValueError) as exc:
            fad_model = Unavailable(str(exc))
    clap_model: object = Unavailable("switched off (--no-clap)")
    if not no_clap:
        try:
            clap_model = load_clap(clap or DEFAULT_CLAP_MODEL, device=device)
        except FileNotFoundError as exc:
            clap_model = Unavailable(str(exc))
    return fad_model, clap_model


def run_evaluate(args: argparse.Namespace) -> int:
    from d2m_core.io.files import atomic_path, write_json
    from d2m_core.metrics.evaluate import evaluate, format_tables, to_csv

    if args.reference is None and args.motion is None:
        raise D2MError("give --reference (music) and/or --motion (dances) to compare with")
    if not args.bin > 0:
        raise D2MError("--bin must be a positive number of seconds")
    gen_files = collect(args.generated, AUDIO_SUFFIXES + CONTAINER_SUFFIXES, "generated audio")
    names = set(gen_files)
    ref_files = mot_files = None
    if args.reference is not None:
        ref_files = collect(args.reference, AUDIO_SUFFIXES + CONTAINER_SUFFIXES, "reference")
        if args.generated.is_file() and args.reference.is_file():
            ref_files = {next(iter(gen_files)): args.reference}
        names &= set(ref_files)
    if args.motion is not None:
        mot_files = collect(args.motion, MOTION_SUFFIXES, "motion")
        if args.generated.is_file() and args.motion.is_file():
            mot_files = {next(iter(gen_files)): args.motion}
        names &= set(mot_files)
    unpaired = sorted(set(gen_files) - names)
    if not names:
        raise D2MError(
            "no generated file pairs with a reference/motion file of the same name"
            f" (generated: {', '.join(sorted(gen_files)[:5])})"
        )
    for n in unpaired:
        print(f"warning: {n}: no file of the same name to compare with; skipped", file=sys.stderr)
    names = sorted(names)

    generated = {n: load_audio(gen_files[n]) for n in names}
    reference = {n: load_audio(ref_files[n]) for n in names} if ref_files else None
    ann = None
    if ref_files:
        found = {n: _annotations_for(ref_files[n]) for n in names}
        ann = {n: read_beats_file(p) for n, p in found.items() if p is not None} or None
    visual = tempo = None
    if mot_files:
        visual, tempo = {}, {}
        for n in names:
            print(f"analysing dance {mot_files[n].name}", file=sys.stderr)
            visual[n], tempo[n] = _dance_beats(mot_files[n])
    vggish = clap = None
    if reference is not None:
        vggish, clap = load_models(
            vggish=args.vggish, vggish_pca=args.vggish_pca, fad_pca=args.fad_pca, clap=args.clap,
            no_fad=args.no_fad, no_clap=args.no_clap, device=args.device,
        )  # fmt: skip
    result = evaluate(
        generated=generated, reference=reference, reference_beats=ann, visual_beats=visual,
        visual_tempo_bpm=tempo, bin_s=args.bin, vggish=vggish, clap=clap,
        progress=lambda n: print(f"evaluating {n}", file=sys.stderr),
    )  # fmt: skip
    result["settings"]["files"] = {
        n: {
            "generated": str(gen_files[n]),
            **({"reference": str(ref_files[n])} if ref_files else {}),
            **({"motion": str(mot_files[n])} if mot_files else {}),
        }
        for n in names
    }
    result["settings"]["unpaired"] = unpaired
    print(format_tables(result), end="")
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    if args.csv:
        with atomic_path(args.csv) as tmp:
            tmp.write_text(to_csv(result))
        print(f"wrote {args.csv}")
    return 0


def add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``evaluate`` on the main parser's subcommands."""
    from d2m_core.metrics.clap import DEFAULT_CLAP_MODEL

    p = sub.add_parser(
        "evaluate",
        help="the paper's metrics (BCS, BHS, F1, TD, FAD, CLAP, beat F) on folders of music",
        description="Evaluate generated music against reference music (paper §4.2, Table 1)"
        " and/or the dances' visual beats. Files pair by name. FAD and CLAP need model weights;"
        " when absent they are reported as n/a with the reason and the rest still runs.",
    )
    p.add_argument("--generated", type=Path, required=True, help="generated audio: folder or file")
    p.add_argument("--reference", type=Path, help="reference (ground-truth) music: folder or file")
    p.add_argument(
        "--motion", type=Path, help="dances (videos, keypoint files or analysis JSON): folder/file"
    )
    p.add_argument("--bin", type=float, default=0.2, help="BCS/BHS bin, s (0.2 paper; 1 LORIS)")
    p.add_argument("--vggish", help="VGGish weights (vggish-10086976.pth, .safetensors, hf://...)")
    p.add_argument("--vggish-pca", help="VGGish PCA parameters (vggish_pca_params-970ea276.pth)")
    p.add_argument(
        "--fad-pca",
        action="store_true",
        help="FAD on PCA-postprocessed 8-bit embeddings (default: raw embeddings, as Google's FAD)",
    )
    p.add_argument(
        "--clap",
        default=DEFAULT_CLAP_MODEL,
        help="CLAP model folder or HF id (default %(default)s)",
    )
    p.add_argument("--no-fad", action="store_true", help="skip FAD")
    p.add_argument("--no-clap", action="store_true", help="skip the CLAP score")
    p.add_argument("--device", default="cpu", help="torch device for VGGish/CLAP (default cpu)")
    p.add_argument("--json", type=Path, help="write all numbers as JSON here")
    p.add_argument("--csv", type=Path, help="write per-clip rows and the mean as CSV here")
    p.set_defaults(func=run_evaluate)


def run_beats(args: argparse.Namespace) -> int:
    from d2m_core.io.files import write_json
    from d2m_core.music.beats import beat_f_measure, detect_beats, paper_onsets, paper_tempo

    y, sr = load_audio(args.audio)
    dur = len(y) / sr
    tempo, beats = detect_beats(y, sr)
    onsets = paper_onsets(y, sr)
    ptempo = paper_tempo(y, sr)
    out = {
        "file": str(args.audio),
        "duration_s": round(dur, 4),
        "tempo_bpm": round(tempo, 2),
        "paper_tempo_bpm": round(ptempo, 2),
        "beats_s": [round(float(t), 4) for t in beats],
        "paper_onsets_s": [round(float(t), 4) for t in onsets],
    }
    print(
        f"{args.audio.name}: {dur:.2f} s, tempo {tempo:.1f} BPM (beat tracker),"
        f" {ptempo:.1f} BPM (paper's TD estimate), {len(beats)} beats, {len(onsets)} onsets"
    )
    print("beats (s): " + " ".join(f"{t:.3f}" for t in beats))
    ann_path = args.annotations or (None if args.no_annotations else _annotations_for(args.audio))
    if ann_path is not None:
        ann = read_beats_file(Path(ann_path))
        f_all = beat_f_measure(ann, beats)
        # mir_eval's standard evaluation ignores beats in the first 5 s: n/a for short clips.
        f_5 = beat_f_measure(ann, beats, min_time_s=5.0) if np.any(ann >= 5.0) else None
        out.update(
            annotations=str(ann_path),
            beat_f_measure=round(f_all, 4),
            beat_f_measure_after_5s=None if f_5 is None else round(f_5, 4),
        )
        trimmed = "n/a (no annotated beat after 5 s)" if f_5 is None else f"{f_5:.3f}"
        print(
            f"beat F-measure vs {Path(ann_path).name} ({len(ann)} beats, ±70 ms):"
            f" {f_all:.3f} on all beats; after 5 s (mir_eval's standard trimming): {trimmed}"
        )
    if args.json:
        write_json(args.json, out)
        print(f"wrote {args.json}")
    return 0


def add_beats_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``beats`` on the main parser's subcommands."""
    p = sub.add_parser(
        "beats",
        help="detect the beats and tempo of a music file",
        description="Beats (librosa's beat tracker) and tempo of music; with annotations (a"
        " .beats file beside the audio, or --annotations) also mir_eval's beat F-measure.",
    )
    p.add_argument("audio", type=Path, help="audio file (or a video with an audio track)")
    p.add_argument("--annotations", type=Path, help="beat annotation file (seconds, 1st column)")
    p.add_argument(
        "--no-annotations", action="store_true", help="ignore a .beats file beside the audio"
    )
    p.add_argument("--json", type=Path, help="write beats, onsets and tempi as JSON here")
    p.set_defaults(func=run_beats)
