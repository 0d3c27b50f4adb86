"""Quality checks of an alignment: beat agreement, stretch figures, pitch preservation.

Conventions
-----------
- Times are in seconds; beat lists are 1-D float arrays. Audio passed to the pitch figures is
  mono ``(N,)`` at :data:`~d2m_core.music.beats.ANALYSIS_SR`; :func:`measure_alignment` takes
  the music and output at their own rate and converts.
- Beat agreement is mir_eval's F-measure (±70 ms) of the beats detected in the audio
  (:func:`d2m_core.music.beats.detect_beats`) against the dance's beats, within the span the
  music covers; the *hit rate* is its recall side (share of dance beats with a music beat
  within ±70 ms), blind to extra music beats between dance beats.
- Pitch preservation is measured two ways (:func:`pitch_figures`): the mean cosine distance
  between the chroma of each paired source segment and its output segment
  (``chroma_distance``; tolerance :data:`CHROMA_TOLERANCE`), and the pitch shift in cents
  between fine (20-cent) pitch-class profiles of source and output (``pitch_shift_cents``;
  tolerance :data:`PITCH_TOLERANCE_CENTS`). A one-semitone shift reads ~100 cents and a chroma
  distance ten times the tolerance.
- Stretch ratios are output duration / source duration of each paired beat-to-beat segment
  (see :mod:`d2m_core.sync.timemap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

from d2m_core.music.beats import (
    ANALYSIS_SR,
    BEAT_WINDOW_S,
    beat_f_measure,
    detect_beats,
    to_analysis_audio,
)
from d2m_core.sync.timemap import map_times

CHROMA_TOLERANCE = 0.01
"""Largest mean chroma cosine distance accepted as "pitch kept" (measured on the shared music:
warping reads 0.0005-0.005, a quarter-tone shift 0.02-0.03, a semitone 0.11-0.19)."""

PITCH_TOLERANCE_CENTS = 5.0
"""Largest estimated pitch shift accepted as "pitch kept", cents (about the smallest pitch
change listeners notice; warping reads within +-3, a 0.1-semitone shift 8-10)."""

MIN_SEGMENT_S = 0.1
"""Segments shorter than this (s) are left out of the chroma distance (too few frames)."""

CLAMP_EPS = 1e-6
"""A segment ratio within this of a bound counts as clamped."""


def hit_rate(
    reference_s: np.ndarray, estimated_s: np.ndarray, *, window_s: float = BEAT_WINDOW_S
) -> float:
    """Share of reference beats with an estimated beat within ``window_s`` (0 when empty).

    Parameters
    ----------
    reference_s : np.ndarray [shape=(R,)]
        Reference (dance) beats, seconds.
    estimated_s : np.ndarray [shape=(E,)]
        Estimated (music) beats, seconds.
    window_s : float
        Tolerance, ± seconds.
    """
    ref = np.asarray(reference_s, dtype=np.float64)
    est = np.sort(np.asarray(estimated_s, dtype=np.float64))
    if ref.size == 0 or est.size == 0:
        return 0.0
    near = np.abs(est[None, :] - ref[:, None]).min(axis=1)
    return float(np.mean(near <= window_s))


def pitch_kept(*, chroma_distance: float, pitch_shift_cents: float) -> bool:
    """True when both pitch figures are within their tolerances (False when either is NaN)."""
    return chroma_distance <= CHROMA_TOLERANCE and abs(pitch_shift_cents) <= PITCH_TOLERANCE_CENTS


def stretch_summary(
    *, source_s: np.ndarray, output_s: np.ndarray, target_s: np.ndarray, max_stretch: float
) -> dict:
    """Figures of the fitted segments' stretch ratios and of how far paired beats miss.

    Parameters
    ----------
    source_s : np.ndarray [shape=(P,)], P >= 2
        Paired music beats on the timeline, seconds.
    output_s : np.ndarray [shape=(P,)]
        Their fitted output times, seconds.
    target_s : np.ndarray [shape=(P,)]
        Their dance beats, seconds.
    max_stretch : float
        The ratio bound used.

    Returns
    -------
    dict
        ``min``, ``max``, ``mean``, ``std`` of the ``P - 1`` ratios; ``clamped`` (int: how
        many ratios sit at a bound); ``max_miss_s`` (largest |output - target|, seconds).
    """
    ratios = np.diff(output_s) / np.diff(source_s)
    at_bound = (ratios <= 1 / max_stretch + CLAMP_EPS) | (ratios >= max_stretch - CLAMP_EPS)
    return {
        "min": float(ratios.min()),
        "max": float(ratios.max()),
        "mean": float(ratios.mean()),
        "std": float(ratios.std()),
        "clamped": int(np.sum(at_bound)),
        "max_miss_s": float(np.abs(output_s - target_s).max()),
    }


def segment_chroma_distance(
    source: np.ndarray,
    output: np.ndarray,
    *,
    source_segments_s: np.ndarray,
    output_segments_s: np.ndarray,
) -> float:
    """Mean chroma cosine distance of corresponding segments (see :func:`pitch_figures`).

    Parameters
    ----------
    source, output : np.ndarray [shape=(N,)]
        Mono audio at :data:`~d2m_core.music.beats.ANALYSIS_SR`.
    source_segments_s, output_segments_s : np.ndarray [shape=(S, 2)]
        Corresponding ``(start, end)`` segments, seconds.

    Returns
    -------
    float
        Output-duration-weighted mean of ``1 - cos`` between segment-mean chroma vectors; NaN
        when no segment qualifies.
    """
    hop = 512
    kw = {"sr": ANALYSIS_SR, "hop_length": hop, "n_fft": 4096}
    c_src = librosa.feature.chroma_stft(y=source, tuning=0.0, **kw)
    c_out = librosa.feature.chroma_stft(y=output, tuning=0.0, **kw)
    e_src = librosa.feature.rms(y=source, hop_length=hop)[0]
    e_out = librosa.feature.rms(y=output, hop_length=hop)[0]
    # Near-silent segments have arbitrary chroma: skip them on either side.
    floor_src, floor_out = 0.01 * e_src.max(), 0.01 * e_out.max()
    dists, weights = [], []
    for (s0, s1), (o0, o1) in zip(source_segments_s, output_segments_s, strict=True):
        if min(s1 - s0, o1 - o0) < MIN_SEGMENT_S:
            continue
        a0, a1 = int(s0 * ANALYSIS_SR / hop), int(np.ceil(s1 * ANALYSIS_SR / hop))
        b0, b1 = int(o0 * ANALYSIS_SR / hop), int(np.ceil(o1 * ANALYSIS_SR / hop))
        a0, b0 = max(a0, 0), max(b0, 0)
        if a1 > c_src.shape[1] or b1 > c_out.shape[1] or a1 - a0 < 1 or b1 - b0 < 1:
            continue
        if e_src[a0:a1].mean() < floor_src or e_out[b0:b1].mean() < floor_out:
            continue
        u, v = c_src[:, a0:a1].mean(axis=1), c_out[:, b0:b1].mean(axis=1)
        dists.append(1.0 - float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12)))
        weights.append(o1 - o0)
    return float(np.average(dists, weights=weights)) if dists else float("nan")


def pitch_figures(
    source: np.ndarray,
    output: np.ndarray,
    *,
    source_segments_s: np.ndarray,
    output_segments_s: np.ndarray,
    source_span_s: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Chroma distance and pitch shift of an output against its source (module docstring).

    Parameters
    ----------
    source, output : np.ndarray [shape=(N,)]
        Mono audio at :data:`~d2m_core.music.beats.ANALYSIS_SR`.
    source_segments_s, output_segments_s : np.ndarray [shape=(S, 2)]
        Corresponding ``(start, end)`` segments, seconds.
    source_span_s : tuple of float, optional
        The part of ``source`` the output was made from, for the global pitch estimate (the
        whole source by default).

    Returns
    -------
    chroma_distance : float
        Mean over segments, weighted by output duration, of ``1 - cos(chroma_src,
        chroma_out)`` (segment-mean chroma; segments shorter than :data:`MIN_SEGMENT_S` or
        near silent on either side skipped); NaN when none is left.
    pitch_shift_cents : float
        See :func:`pitch_shift_cents` (on the whole output against ``source_span_s``).
    """
    chroma_distance = segment_chroma_distance(
        source, output, source_segments_s=source_segments_s, output_segments_s=output_segments_s
    )
    if source_span_s is not None:
        i0 = int(max(0.0, source_span_s[0]) * ANALYSIS_SR)
        i1 = int(source_span_s[1] * ANALYSIS_SR)
        if i1 - i0 > ANALYSIS_SR // 2:  # too short a span says little about pitch: keep all
            source = source[i0:i1]
    return chroma_distance, pitch_shift_cents(source, output)


def pitch_shift_cents(source: np.ndarray, output: np.ndarray) -> float:
    """Pitch shift of ``output`` relative to ``source``, cents, from fine pitch-class profiles.

    Both signals' time-averaged 60-bin pitch-class profiles (20 cents per bin, STFT of 8192
    points at :data:`~d2m_core.music.beats.ANALYSIS_SR`) are cross-correlated circularly over
    ±6 semitones; the peak, refined by parabolic interpolation, is the shift. Relative by
    construction: no absolute tuning estimate is involved, so detuned or percussive music does
    not bias it.

    Parameters
    ----------
    source, output : np.ndarray [shape=(N,)]
        Mono audio at :data:`~d2m_core.music.beats.ANALYSIS_SR`.

    Returns
    -------
    float
        Cents (positive = output higher); 0 when either profile is flat.
    """
    kw = {"sr": ANALYSIS_SR, "n_fft": 8192, "hop_length": 2048, "n_chroma": 60, "tuning": 0.0}
    profs = []
    for y in (source, output):
        p = librosa.feature.chroma_stft(y=y, **kw).mean(axis=1)
        p = p - p.mean()
        norm = np.linalg.norm(p)
        if norm < 1e-9:
            return 0.0
        profs.append(p / norm)
    shifts = np.arange(-30, 30)
    xc = np.array([profs[0] @ np.roll(profs[1], -s) for s in shifts])
    k = int(np.argmax(xc))
    frac = 0.0
    if 0 < k < xc.size - 1:
        a, b, c = xc[k - 1], xc[k], xc[k + 1]
        den = a - 2 * b + c
        frac = 0.5 * (a - c) / den if den < 0 else 0.0
    return float(20.0 * (shifts[k] + frac))


@dataclass
class AlignmentFigures:
    """Before/after measurements of one alignment; all NaN and no output beats when not measured.

    The fields are :class:`~d2m_core.sync.align.AlignResult`'s of the same names (see there),
    which :func:`~d2m_core.sync.align.align_to_beats` passes on as keywords.
    """

    f_measure_before: float
    f_measure_after: float
    hit_rate_before: float
    hit_rate_after: float
    chroma_distance: float
    pitch_shift_cents: float
    output_beats_s: np.ndarray

    @classmethod
    def unmeasured(cls) -> AlignmentFigures:
        """Figures of an alignment run without measuring."""
        nan = float("nan")
        return cls(nan, nan, nan, nan, nan, nan, np.zeros(0))


def beat_figures(
    target_s: np.ndarray, beats_s: np.ndarray, *, span_s: float
) -> tuple[float, float]:
    """Beat F-measure and hit rate of ``beats_s`` against ``target_s`` within ``[0, span_s)``.

    Both are 1-D beat arrays in seconds; returns ``(f_measure, hit_rate)``.
    """
    t, b = target_s[target_s < span_s], beats_s[beats_s < span_s]
    return beat_f_measure(t, b), hit_rate(t, b)


def output_pitch_figures(
    timeline: np.ndarray,
    output: np.ndarray,
    sr: int,
    *,
    time_map: np.ndarray,
    duration_s: float,
) -> tuple[float, float]:
    """:func:`pitch_figures` of an output against the timeline it was rendered from.

    The segments are the time map's, kept where they lie inside both the output and the
    timeline; the global pitch estimate uses the timeline's span the output plays.

    Parameters
    ----------
    timeline : np.ndarray [shape=(N,) or (N, C)]
        The (possibly looped) music at ``sr``.
    output : np.ndarray [shape=(M,) or (M, C)]
        The rendered output at ``sr``, ``duration_s`` long.
    sr : int
        Sample rate, Hz.
    time_map : np.ndarray [shape=(K, 2)]
        ``(output_s, source_s)`` anchors used for rendering.
    duration_s : float
        Output length, seconds.

    Returns
    -------
    tuple of float
        ``(chroma_distance, pitch_shift_cents)``.
    """
    tl_s = np.asarray(timeline).shape[0] / sr
    u, src = time_map[:, 0], time_map[:, 1]
    out_seg = np.stack([u[:-1], u[1:]], axis=1)
    src_seg = np.stack([src[:-1], src[1:]], axis=1)
    keep = (out_seg[:, 0] >= 0) & (out_seg[:, 1] <= duration_s) & (src_seg[:, 0] >= 0)
    keep &= src_seg[:, 1] <= tl_s
    s0 = max(0.0, float(map_times(time_map, np.array([0.0]))[0]))
    s1 = min(tl_s, float(map_times(time_map, np.array([duration_s]))[0]))
    return pitch_figures(
        to_analysis_audio(timeline, sr),
        to_analysis_audio(output, sr),
        source_segments_s=src_seg[keep],
        output_segments_s=out_seg[keep],
        source_span_s=(s0, s1),
    )


def measure_alignment(
    *,
    timeline: np.ndarray,
    output: np.ndarray,
    sr: int,
    target_s: np.ndarray,
    music_beats_s: np.ndarray,
    time_map: np.ndarray,
    duration_s: float,
    span_before_s: float,
    span_after_s: float,
) -> AlignmentFigures:
    """Beat agreement before and after, and pitch preservation, of one alignment.

    Parameters
    ----------
    timeline : np.ndarray [shape=(N',) or (N', C)]
        The (possibly looped) music the output was rendered from, at ``sr``.
    output : np.ndarray [shape=(M,) or (M, C)]
        The output at ``sr``, ``duration_s`` long.
    sr : int
        Sample rate, Hz.
    target_s : np.ndarray [shape=(T,)]
        The dance's beats, seconds.
    music_beats_s : np.ndarray [shape=(B,)]
        The input music's beats, seconds (file time).
    time_map : np.ndarray [shape=(K, 2)]
        ``(output_s, source_s)`` anchors used for rendering.
    duration_s : float
        Output length, seconds.
    span_before_s, span_after_s : float
        Evaluated spans ``[0, span)`` before (music as is) and after (output), seconds.

    Returns
    -------
    AlignmentFigures
    """
    f_before, hit_before = beat_figures(target_s, music_beats_s, span_s=span_before_s)
    _, out_beats = detect_beats(output, sr)
    f_after, hit_after = beat_figures(target_s, out_beats, span_s=span_after_s)
    chroma_d, cents = output_pitch_figures(
        timeline, output, sr, time_map=time_map, duration_s=duration_s
    )
    return AlignmentFigures(
        f_measure_before=f_before,
        f_measure_after=f_after,
        hit_rate_before=hit_before,
        hit_rate_after=hit_after,
        chroma_distance=chroma_d,
        pitch_shift_cents=cents,
        output_beats_s=out_beats,
    )
