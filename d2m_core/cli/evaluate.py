"""``d2m evaluate``: the paper's evaluation protocol on folders of audio.

Registered in :func:`d2m_core.cli.main.build_parser` by :func:`add_parser`; the metrics are
:func:`d2m_core.metrics.evaluate.evaluate`, imported only when the command runs.
:func:`annotations_for` here also serves ``d2m beats``; beat files are read by
:func:`d2m_core.io.beatfile.read_beats_file`, music files and video soundtracks by
:func:`d2m_core.io.audio.load_audio`.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from d2m_core.cli.beats import add_tracker_argument
from d2m_core.errors import D2MError

if TYPE_CHECKING:
    import numpy as np

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus")
MOTION_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".npy", ".npz", ".pkl", ".json")

# Mirror of d2m_core.metrics.clap.DEFAULT_CLAP_MODEL, so that building the parser imports no
# metric module (tests/metrics/test_metrics_evaluate.py checks they agree).
DEFAULT_CLAP_MODEL = "laion/larger_clap_music"


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


def annotations_for(audio: Path) -> Path | None:
    """The beat annotation file beside an audio file (``x.beats`` or ``x.wav.beats``), if any."""
    for cand in (audio.with_suffix(".beats"), audio.with_name(audio.name + ".beats")):
        if cand.is_file():
            return cand
    return None


def _dance_beats(path: Path) -> tuple[np.ndarray, float | None]:
    """Visual beats and tempo of a motion file (analysis JSON, keypoints or video)."""
    import numpy as np

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
    from d2m_core.metrics.clap import load_clap
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


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subcommand to the ``d2m`` parser's subparsers."""
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
    add_tracker_argument(p, used_for="for the beat F-measures (BCS/BHS use librosa's onsets)")
    p.add_argument("--json", type=Path, help="write all numbers as JSON here")
    p.add_argument("--csv", type=Path, help="write per-clip rows and the mean as CSV here")
    p.set_defaults(func=run)
    return p


@dataclass(frozen=True)
class _Pairs:
    """The clips to evaluate: names found in every given source, and each source's files."""

    names: list[str]
    generated: dict[str, Path]
    reference: dict[str, Path] | None
    motion: dict[str, Path] | None
    unpaired: list[str]  # generated names with no partner, skipped

    def files(self) -> dict[str, dict[str, str]]:
        """``{name: {"generated": ..., "reference": ..., "motion": ...}}`` for the report."""
        sources = {"reference": self.reference, "motion": self.motion}
        return {
            n: {
                "generated": str(self.generated[n]),
                **{k: str(files[n]) for k, files in sources.items() if files},
            }
            for n in self.names
        }


def _partners(
    path: Path, *, generated: Path, suffixes: tuple[str, ...], what: str
) -> dict[str, Path]:
    """``{name: file}`` to pair with the generated files; one file with one file, whatever
    their names."""
    found = collect(path, suffixes, what)
    if generated.is_file() and path.is_file():
        return {generated.stem: path}
    return found


def _pair_files(*, generated: Path, reference: Path | None, motion: Path | None) -> _Pairs:
    """Pair the generated files with reference music and/or dances by name (see the module)."""
    from d2m_core.io.audio import CONTAINER_SUFFIXES

    music = AUDIO_SUFFIXES + CONTAINER_SUFFIXES  # containers: their soundtrack is read
    gen_files = collect(generated, music, "generated audio")
    names = set(gen_files)
    ref_files = mot_files = None
    if reference is not None:
        ref_files = _partners(reference, generated=generated, suffixes=music, what="reference")
        names &= set(ref_files)
    if motion is not None:
        mot_files = _partners(motion, generated=generated, suffixes=MOTION_SUFFIXES, what="motion")
        names &= set(mot_files)
    if not names:
        raise D2MError(
            "no generated file pairs with a reference/motion file of the same name"
            f" (generated: {', '.join(sorted(gen_files)[:5])})"
        )
    return _Pairs(
        names=sorted(names), generated=gen_files, reference=ref_files, motion=mot_files,
        unpaired=sorted(set(gen_files) - names),
    )  # fmt: skip


def _reference_annotations(pairs: _Pairs) -> dict[str, np.ndarray] | None:
    """Beat annotations of the clips whose reference music has a ``.beats`` file beside it."""
    from d2m_core.io.beatfile import read_beats_file

    if not pairs.reference:
        return None
    found = {n: annotations_for(pairs.reference[n]) for n in pairs.names}
    return {n: read_beats_file(p) for n, p in found.items() if p is not None} or None


def _visual_beats(
    pairs: _Pairs,
) -> tuple[dict[str, np.ndarray] | None, dict[str, float | None] | None]:
    """Visual beats and tempo of each clip's dance (``None, None`` without dances)."""
    if not pairs.motion:
        return None, None
    visual, tempo = {}, {}
    for n in pairs.names:
        print(f"analysing dance {pairs.motion[n].name}", file=sys.stderr)
        visual[n], tempo[n] = _dance_beats(pairs.motion[n])
    return visual, tempo


def _write_reports(result: dict, *, json_path: Path | None, csv_path: Path | None) -> None:
    """The JSON (every number) and CSV (per-clip rows and the mean) reports, when asked for."""
    from d2m_core.io.files import atomic_path, write_json
    from d2m_core.metrics.evaluate import to_csv

    if json_path:
        write_json(json_path, result)
        print(f"wrote {json_path}")
    if csv_path:
        with atomic_path(csv_path) as tmp:
            tmp.write_text(to_csv(result))
        print(f"wrote {csv_path}")


def run(args: argparse.Namespace) -> int:
    """Execute ``d2m evaluate`` (see :func:`add_parser` for the arguments)."""
    from d2m_core.io.audio import load_audio
    from d2m_core.metrics.evaluate import evaluate, format_tables
    from d2m_core.music.beats import check_beat_tracker

    if args.reference is None and args.motion is None:
        raise D2MError("give --reference (music) and/or --motion (dances) to compare with")
    if not args.bin > 0:
        raise D2MError("--bin must be a positive number of seconds")
    check_beat_tracker(args.tracker)  # before the long reads: madmom may be missing
    pairs = _pair_files(generated=args.generated, reference=args.reference, motion=args.motion)
    for n in pairs.unpaired:
        print(f"warning: {n}: no file of the same name to compare with; skipped", file=sys.stderr)
    generated = {n: load_audio(pairs.generated[n]) for n in pairs.names}
    reference = None
    if pairs.reference:
        reference = {n: load_audio(pairs.reference[n]) for n in pairs.names}
    annotations = _reference_annotations(pairs)
    visual, tempo = _visual_beats(pairs)
    vggish = clap = None
    if reference is not None:
        vggish, clap = load_models(
            vggish=args.vggish, vggish_pca=args.vggish_pca, fad_pca=args.fad_pca, clap=args.clap,
            no_fad=args.no_fad, no_clap=args.no_clap, device=args.device,
        )  # fmt: skip
    result = evaluate(
        generated=generated, reference=reference, reference_beats=annotations,
        visual_beats=visual, visual_tempo_bpm=tempo, bin_s=args.bin, vggish=vggish, clap=clap,
        progress=lambda n: print(f"evaluating {n}", file=sys.stderr), beat_tracker=args.tracker,
    )  # fmt: skip
    result["settings"]["files"] = pairs.files()
    result["settings"]["unpaired"] = pairs.unpaired
    print(format_tables(result), end="")
    _write_reports(result, json_path=args.json, csv_path=args.csv)
    return 0
