"""The paper's evaluation protocol (§4.2, Table 1) in one call: :func:`evaluate`.

Conventions
-----------
- Clips are named; ``generated[name]`` is paired with ``reference[name]`` (the ground-truth
  music), ``reference_beats[name]`` (beat annotations, seconds) and ``visual_beats[name]``
  (the dance's visual beats, seconds). Audio values are ``(samples, sample_rate)`` with
  samples ``(N,)`` or ``(N, C)``.
- Against reference music, per clip (see :mod:`d2m_core.music.beats`): BCS, BHS on paper
  onsets in ``bin_s`` bins (reference truncated to the generated length); TD in BPM; beat
  F-measure (±70 ms) of the generated music's tracked beats against the annotations when
  given, else against the reference music's tracked beats (both truncated to the generated
  length); CLAP cosine similarity. Per dataset: means of those, F1 = harmonic mean of mean
  BCS and mean BHS (the paper's), and FAD between the pooled VGGish frames of the two sets.
  Only the reference is truncated (as in the paper): compare clips of equal length, since
  generated onsets after the reference's end count as misses.
- Beats for the beat F-measures are tracked by ``beat_tracker`` (librosa's by default, or
  madmom's; see :func:`d2m_core.music.beats.detect_beats`); the paper's onsets (BCS, BHS)
  and tempo (TD) are librosa's whatever the tracker, as its protocol says.
- Against the dance (no reference music needed), per clip: the same BCS / BHS / beat
  F-measure with the visual beats as the reference, and TD between the music's paper tempo
  and the dance's tempo (given, or 60 / median inter-beat interval).
- A metric that cannot run (no weights, too little audio) is ``None`` in the numbers and its
  reason is in ``result["unavailable"]``; the other metrics still run.
- Per-clip ``f1`` is the harmonic mean of that clip's BCS and BHS (a convenience); the
  dataset F1 is computed from the means, as in the paper.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from d2m_core.metrics.fad import frechet_audio_distance
from d2m_core.music.beats import (
    ANALYSIS_SR,
    BEAT_WINDOW_S,
    PAPER_BIN_S,
    bcs_bhs,
    beat_f_measure,
    check_beat_tracker,
    detect_beats,
    harmonic_mean,
    paper_onsets,
    paper_tempo,
    tempo_difference,
    validate_times,
)

Audio = tuple[np.ndarray, int]


@dataclass(frozen=True)
class Unavailable:
    """A metric that cannot run here, and why (shown to the user)."""

    reason: str


REFERENCE_KEYS = ("bcs", "bhs", "f1", "td", "beat_f", "clap")
DANCE_KEYS = ("dance_bcs", "dance_bhs", "dance_f1", "dance_td", "dance_beat_f")


def _duration(a: Audio) -> float:
    y, sr = a
    return len(y) / float(sr)


def _mean(values: list) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def _dance_tempo(beats: np.ndarray) -> float | None:
    if beats.size < 2:
        return None
    ibi = float(np.median(np.diff(beats)))
    return 60.0 / ibi if ibi > 0 else None


def evaluate(
    *,
    generated: Mapping[str, Audio],
    reference: Mapping[str, Audio] | None = None,
    reference_beats: Mapping[str, np.ndarray] | None = None,
    visual_beats: Mapping[str, np.ndarray] | None = None,
    visual_tempo_bpm: Mapping[str, float] | None = None,
    bin_s: float = PAPER_BIN_S,
    vggish: object | Unavailable | None = None,
    clap: object | Unavailable | None = None,
    progress: Callable[[str], None] | None = None,
    beat_tracker: str = "librosa",
) -> dict:
    """Evaluate generated music against reference music and/or the dance's visual beats.

    Parameters
    ----------
    generated : mapping name -> (samples, sr)
        The music under test.
    reference : mapping name -> (samples, sr), optional
        Ground-truth music, same names (every generated name must be present).
    reference_beats : mapping name -> np.ndarray [shape=(B,)], optional
        Beat annotations (seconds) of the reference music, for the beat F-measure. With
        ``reference`` given it may cover only some clips (the rest use the reference's
        tracked beats); without, every clip needs one.
    visual_beats : mapping name -> np.ndarray [shape=(V,)], optional
        The dance's visual beats (seconds), for the dance-side metrics.
    visual_tempo_bpm : mapping name -> float, optional
        The dance's tempo; derived from ``visual_beats`` when absent.
    bin_s : float
        BCS/BHS bin width, seconds (0.2 paper, 1.0 LORIS).
    vggish : object with ``embed(y, sr) -> (n, d)`` or Unavailable, optional
        VGGish embedder for FAD (:func:`d2m_core.metrics.vggish.load_vggish`).
    clap : object with ``embed(y, sr) -> (d,)`` or Unavailable, optional
        CLAP embedder (:func:`d2m_core.metrics.clap.load_clap`).
    progress : callable(str), optional
        Called with each clip's name as it starts.
    beat_tracker : str
        Tracker of the beats scored by the beat F-measures (one of
        :data:`~d2m_core.music.beats.BEAT_TRACKERS`); recorded in ``settings``.

    Returns
    -------
    dict
        ``settings``, ``clips`` (list of per-clip dicts, in name order), ``summary``
        (dataset numbers), ``unavailable`` (metric -> reason).

    Raises
    ------
    ValueError
        No clips, nothing to compare with, names that do not pair, bad audio or beats, an
        unknown beat tracker.
    D2MError
        ``beat_tracker="madmom"`` without madmom installed.
    """
    check_beat_tracker(beat_tracker)
    names = _checked_names(
        generated=generated, reference=reference, reference_beats=reference_beats,
        visual_beats=visual_beats, bin_s=bin_s,
    )  # fmt: skip
    unavailable = _unavailable_before(
        reference=reference, visual_beats=visual_beats, vggish=vggish, clap=clap
    )
    models = _ModelScores(vggish=_runnable(vggish, reference), clap=_runnable(clap, reference))
    clips = []
    for name in names:
        if progress:
            progress(name)
        row = _clip_scores(
            name=name, generated=generated[name], reference=_entry(reference, name),
            annotations=_entry(reference_beats, name), visual_beats=_entry(visual_beats, name),
            visual_tempo_bpm=(visual_tempo_bpm or {}).get(name), bin_s=bin_s, models=models,
            tracker=beat_tracker,
        )  # fmt: skip
        clips.append(row)
    if models.clap is None:  # never ran, or failed on a clip: no CLAP numbers at all
        for c in clips:
            c.pop("clap", None)
    summary = _summary(clips)
    summary.update(models.fad())  # may add FAD's reason to models.failures
    unavailable.update(models.failures)
    settings = {
        "bin_s": float(bin_s),
        "analysis_sr": ANALYSIS_SR,
        "beat_window_s": BEAT_WINDOW_S,
        "beat_tracker": beat_tracker,
        "vggish": getattr(models.vggish, "settings", None),  # None: not used (or failed)
        "clap": getattr(models.clap, "settings", None),
    }
    return {"settings": settings, "clips": clips, "summary": summary, "unavailable": unavailable}


def _entry(mapping: Mapping[str, object] | None, name: str) -> object | None:
    """``mapping[name]``, or ``None`` without a mapping or that name."""
    return None if mapping is None or name not in mapping else mapping[name]


def _checked_names(
    *,
    generated: Mapping[str, Audio],
    reference: Mapping[str, Audio] | None,
    reference_beats: Mapping[str, np.ndarray] | None,
    visual_beats: Mapping[str, np.ndarray] | None,
    bin_s: float,
) -> list[str]:
    """The clip names in order, once the inputs pair up (raises as :func:`evaluate` says)."""
    if not generated:
        raise ValueError("no generated clips to evaluate")
    if not bin_s > 0:
        raise ValueError("bin_s must be positive")
    if reference is None and visual_beats is None and reference_beats is None:
        raise ValueError("nothing to compare with: give reference music, annotations or a dance")
    names = sorted(generated)
    # Annotations may cover only some clips when reference music is given (the others use
    # the reference's detected beats).
    partial_ok = reference is not None
    for label, m in (("reference music", reference),
                     ("beat annotations", None if partial_ok else reference_beats),
                     ("visual beats", visual_beats)):  # fmt: skip
        if m is not None:
            missing = [n for n in names if n not in m]
            if missing:
                raise ValueError(f"no {label} for: {', '.join(missing[:5])}")
    return names


def _runnable(model: object | Unavailable | None, reference: Mapping | None) -> object | None:
    """The embedder if it can run (there is reference music and a loaded model), else None."""
    usable = reference is not None and model is not None and not isinstance(model, Unavailable)
    return model if usable else None


def _unavailable_before(
    *,
    reference: Mapping[str, Audio] | None,
    visual_beats: Mapping[str, np.ndarray] | None,
    vggish: object | Unavailable | None,
    clap: object | Unavailable | None,
) -> dict[str, str]:
    """The metrics that cannot run at all, and why (model failures on a clip come later)."""
    unavailable: dict[str, str] = {}
    if reference is None:
        for k in ("fad", "clap", "bcs", "bhs", "f1", "td"):
            unavailable[k] = "no reference music given"
    if visual_beats is None:
        unavailable["dance"] = "no dance (motion) given"
    if reference is not None:
        for key, model, what in (("fad", vggish, "VGGish"), ("clap", clap, "CLAP")):
            if isinstance(model, Unavailable):
                unavailable[key] = model.reason
            elif model is None:
                unavailable[key] = f"no {what} model given"
    return unavailable


@dataclass
class _ModelScores:
    """The CLAP and VGGish embedders over the clips, one clip at a time.

    A model that fails on a clip is dropped for the rest of the run (set to ``None``) with the
    reason in ``failures``, so that the other metrics still run.
    """

    vggish: object | None
    clap: object | None
    failures: dict[str, str] = field(default_factory=dict)
    vggish_generated: list[np.ndarray] = field(default_factory=list)
    vggish_reference: list[np.ndarray] = field(default_factory=list)

    def add_clip(self, *, name: str, generated: Audio, reference: Audio) -> dict:
        """The clip's CLAP score (``{"clap": ...}`` or ``{}``); its VGGish frames kept for FAD."""
        row = {}
        if self.clap is not None:
            try:
                row["clap"] = _cosine(self.clap.embed(*generated), self.clap.embed(*reference))
            except Exception as exc:  # noqa: BLE001 - a model failure must not stop the rest
                self.failures["clap"] = f"CLAP failed on {name}: {exc}"
                self.clap = None
        if self.vggish is not None:
            try:
                self.vggish_generated.append(np.asarray(self.vggish.embed(*generated)))
                self.vggish_reference.append(np.asarray(self.vggish.embed(*reference)))
            except Exception as exc:  # noqa: BLE001
                self.failures["fad"] = f"VGGish failed on {name}: {exc}"
                self.vggish = None
        return row

    def fad(self) -> dict:
        """``fad`` and ``fad_frames`` of the pooled VGGish frames; ``{}`` when it cannot run."""
        if self.vggish is None:
            return {}
        g_all, r_all = _stack(self.vggish_generated), _stack(self.vggish_reference)
        if g_all.shape[0] < 2 or r_all.shape[0] < 2:
            self.failures["fad"] = (
                f"too little audio for FAD: {g_all.shape[0]} generated and {r_all.shape[0]}"
                " reference VGGish frames (each set needs >= 2, i.e. >= 1.92 s in all)"
            )
            return {}
        return {
            "fad": frechet_audio_distance(g_all, r_all),
            "fad_frames": [int(g_all.shape[0]), int(r_all.shape[0])],
        }


def _clip_scores(
    *,
    name: str,
    generated: Audio,
    reference: Audio | None,
    annotations: np.ndarray | None,
    visual_beats: np.ndarray | None,
    visual_tempo_bpm: float | None,
    bin_s: float,
    models: _ModelScores,
    tracker: str,
) -> dict:
    """One clip's row: the generated music's onsets, tempo and beats against each reference."""
    dur = _duration(generated)
    g_on = paper_onsets(*generated)
    g_tempo = paper_tempo(*generated)
    _, g_beats = detect_beats(*generated, tracker=tracker)
    row: dict = {
        "name": name,
        "duration_s": round(dur, 4),
        "generated_tempo_bpm": g_tempo,
        "generated_onsets": int(g_on.size),
        "generated_beats": int(g_beats.size),
    }
    if reference is not None:
        row.update(
            _reference_scores(g_on=g_on, g_tempo=g_tempo, reference=reference, bin_s=bin_s, dur=dur)
        )
    row.update(
        _beat_f_scores(
            name=name, g_beats=g_beats, annotations=annotations, reference=reference, dur=dur,
            tracker=tracker,
        )
    )  # fmt: skip
    if reference is not None:
        row.update(models.add_clip(name=name, generated=generated, reference=reference))
    if visual_beats is not None:
        row.update(
            _dance_scores(
                name=name, g_on=g_on, g_tempo=g_tempo, g_beats=g_beats,
                visual_beats=visual_beats, visual_tempo_bpm=visual_tempo_bpm, bin_s=bin_s,
                dur=dur,
            )
        )  # fmt: skip
    return row


def _reference_scores(
    *, g_on: np.ndarray, g_tempo: float, reference: Audio, bin_s: float, dur: float
) -> dict:
    """BCS, BHS, F1 and TD against the reference music (truncated to the generated length)."""
    r_on = paper_onsets(*reference)
    r_tempo = paper_tempo(*reference)
    bcs, bhs = bcs_bhs(g_on, r_on, bin_s=bin_s, duration_s=dur)
    return {
        "reference_tempo_bpm": r_tempo,
        "reference_onsets": int(np.sum(r_on < dur)),
        "bcs": bcs,
        "bhs": bhs,
        "f1": harmonic_mean(bcs, bhs),
        "td": tempo_difference(generated_bpm=g_tempo, reference_bpm=r_tempo),
    }


def _beat_f_scores(
    *,
    name: str,
    g_beats: np.ndarray,
    annotations: np.ndarray | None,
    reference: Audio | None,
    dur: float,
    tracker: str,
) -> dict:
    """Beat F-measure against the annotations, else the reference's beats tracked by
    ``tracker`` (``{}`` without either)."""
    if annotations is not None:
        ann = validate_times(annotations, name=f"annotations of {name}")
        return {"beat_f": beat_f_measure(ann[ann < dur], g_beats), "beat_reference": "annotations"}
    if reference is not None:
        _, r_beats = detect_beats(*reference, tracker=tracker)
        return {
            "beat_f": beat_f_measure(r_beats[r_beats < dur], g_beats),
            "beat_reference": "detected",
        }
    return {}


def _dance_scores(
    *,
    name: str,
    g_on: np.ndarray,
    g_tempo: float,
    g_beats: np.ndarray,
    visual_beats: np.ndarray,
    visual_tempo_bpm: float | None,
    bin_s: float,
    dur: float,
) -> dict:
    """BCS, BHS, F1, TD and beat F-measure against the dance's visual beats."""
    vb = validate_times(visual_beats, name=f"visual beats of {name}")
    vb = vb[vb < dur]
    d_tempo = float(visual_tempo_bpm) if visual_tempo_bpm else _dance_tempo(vb)
    dbcs, dbhs = bcs_bhs(g_on, vb, bin_s=bin_s, duration_s=dur)
    return {
        "dance_tempo_bpm": d_tempo,
        "visual_beats": int(vb.size),
        "dance_bcs": dbcs,
        "dance_bhs": dbhs,
        "dance_f1": harmonic_mean(dbcs, dbhs),
        "dance_td": None if d_tempo is None else abs(g_tempo - d_tempo),
        "dance_beat_f": beat_f_measure(vb, g_beats),
    }


def _summary(clips: list[dict]) -> dict:
    """Dataset numbers: the means of the per-clip metrics, and F1 from the mean BCS and BHS."""
    summary: dict = {"clips": len(clips)}
    for k in ("bcs", "bhs", "td", "beat_f", "clap", *DANCE_KEYS):
        if any(k in c for c in clips):
            summary[k] = _mean([c.get(k) for c in clips])
    if "bcs" in summary:
        summary["f1"] = harmonic_mean(summary["bcs"], summary["bhs"])
    if "dance_bcs" in summary:
        summary["dance_f1"] = harmonic_mean(summary["dance_bcs"], summary["dance_bhs"])
    return summary


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    from d2m_core.metrics.clap import cosine_similarity

    return cosine_similarity(a, b)


def _stack(embs: list[np.ndarray]) -> np.ndarray:
    embs = [e for e in embs if e.size]
    return np.concatenate(embs) if embs else np.zeros((0, 1))


# -- presentation -------------------------------------------------------------------------------


def _n_clips(summary: dict) -> str:
    n = summary["clips"]
    return f"{n} clip" if n == 1 else f"{n} clips"


def _fmt(v: object, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def format_tables(result: dict) -> str:
    """Markdown tables shaped like the paper's Table 1 (per clip and dataset), plus the dance-side
    table when visual beats were given, and footnotes for unavailable metrics."""
    clips, s, na = result["clips"], result["summary"], result["unavailable"]
    out: list[str] = []
    bin_s = result["settings"]["bin_s"]
    beat_f = f"beat F ±70 ms, {result['settings'].get('beat_tracker', 'librosa')} beats"
    if any("bcs" in c or "beat_f" in c for c in clips):
        out.append(f"Against the reference music (bins {bin_s:g} s; {beat_f})\n")
        out.append("| clip | BCS ↑ | BHS ↑ | F1 ↑ | TD (BPM) ↓ | FAD ↓ | CLAP ↑ | beat F ↑ |")
        out.append("|---|---|---|---|---|---|---|---|")
        for c in clips:
            cells = [c.get("bcs"), c.get("bhs"), c.get("f1"), c.get("td")]
            cells = [_fmt(x) for x in cells[:3]] + [_fmt(cells[3], 2)]
            fad = "–" if "fad" in s else "n/a"
            out.append(
                f"| {c['name']} | " + " | ".join(cells)
                + f" | {fad} | {_fmt(c.get('clap'))} | {_fmt(c.get('beat_f'))} |"
            )  # fmt: skip
        out.append(
            f"| **mean** ({_n_clips(s)}) | {_fmt(s.get('bcs'))} | {_fmt(s.get('bhs'))}"
            f" | {_fmt(s.get('f1'))} | {_fmt(s.get('td'), 2)} | {_fmt(s.get('fad'), 3)}"
            f" | {_fmt(s.get('clap'))} | {_fmt(s.get('beat_f'))} |"
        )
        out.append("")
    if any("dance_bcs" in c for c in clips):
        out.append(f"Music against the dance's visual beats (bins {bin_s:g} s; {beat_f})\n")
        out.append(
            "| clip | dance BPM | music BPM | TD (BPM) ↓ | BCS ↑ | BHS ↑ | F1 ↑ | beat F ↑ |"
        )
        out.append("|---|---|---|---|---|---|---|---|")
        for c in clips:
            out.append(
                f"| {c['name']} | {_fmt(c.get('dance_tempo_bpm'), 1)}"
                f" | {_fmt(c['generated_tempo_bpm'], 1)} | {_fmt(c.get('dance_td'), 2)}"
                f" | {_fmt(c['dance_bcs'])} | {_fmt(c['dance_bhs'])} | {_fmt(c['dance_f1'])}"
                f" | {_fmt(c['dance_beat_f'])} |"
            )
        out.append(
            f"| **mean** ({_n_clips(s)}) | | | {_fmt(s.get('dance_td'), 2)}"
            f" | {_fmt(s.get('dance_bcs'))} | {_fmt(s.get('dance_bhs'))}"
            f" | {_fmt(s.get('dance_f1'))} | {_fmt(s.get('dance_beat_f'))} |"
        )
        out.append("")
    if "bcs" in na:
        out.append(f"columns against reference music (BCS BHS F1 TD FAD CLAP) n/a: {na['bcs']}")
    else:
        for k in ("fad", "clap"):
            if k in na:
                out.append(f"{k.upper()} n/a: {na[k]}")
    annotated = [c["name"] for c in clips if c.get("beat_reference") == "annotations"]
    if annotated:
        out.append(f"beat F against human beat annotations for: {', '.join(annotated)}")
    return "\n".join(out).rstrip() + "\n"


CSV_COLUMNS = (
    "name", "duration_s", "bcs", "bhs", "f1", "td", "fad", "clap", "beat_f", "beat_reference",
    "generated_tempo_bpm", "reference_tempo_bpm", "generated_onsets", "reference_onsets",
    "generated_beats", "dance_tempo_bpm", "visual_beats", "dance_bcs", "dance_bhs", "dance_f1",
    "dance_td", "dance_beat_f",
)  # fmt: skip


def to_csv(result: dict) -> str:
    """Per-clip rows plus a ``MEAN`` row (dataset numbers: F1 from means, FAD), as CSV text."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for c in result["clips"]:
        w.writerow({k: ("" if c.get(k) is None else c.get(k)) for k in CSV_COLUMNS})
    s = result["summary"]
    w.writerow({"name": "MEAN", **{k: ("" if s.get(k) is None else s.get(k))
                                   for k in CSV_COLUMNS if k in s}})  # fmt: skip
    return buf.getvalue()
