"""Zero-shot sync: warp any music so that its beats land on a dance's visual beats.

Beat-aligned time-warping (beyond the paper, which generates new music instead): the music's
beats are paired with the dance's beats, a monotonic piecewise-linear *time map* sends each
paired music beat to its dance beat, and a time-varying time-scale modification renders the
music along that map. Tempo changes locally, beat by beat; pitch does not.

:func:`align_to_beats` runs the steps, each in its own module:

1. :mod:`~d2m_core.sync.timemap` pairs the music's beats with the dance's and fits the map;
2. :mod:`~d2m_core.sync.looping` loops music too short for the dance at bar boundaries (then
   the pairing runs again on the looped *timeline*);
3. :mod:`~d2m_core.sync.stretch` renders the music along the map (WSOLA or phase vocoder);
4. :mod:`~d2m_core.sync.checks` measures beat agreement before and after, and pitch.

Conventions
-----------
- Times are in seconds, tempi in BPM. Audio is ``(N,)`` mono or ``(N, C)`` samples-first
  float at any sample rate; the output keeps the input's rate and channels.
- *Source* time runs along the (possibly looped) timeline, not the file; the time map is
  ``(K, 2)`` anchors ``(output_s, source_s)`` (see :mod:`~d2m_core.sync.timemap`).
- With ``loop=False`` the output is silent once the music runs out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from d2m_core.errors import D2MError
from d2m_core.music.beats import detect_beats
from d2m_core.sync.checks import (
    CHROMA_TOLERANCE,
    PITCH_TOLERANCE_CENTS,
    AlignmentFigures,
    measure_alignment,
    pitch_kept,
    stretch_summary,
)
from d2m_core.sync.looping import LoopedMusic, loop_music
from d2m_core.sync.stretch import METHODS, as_2d, fade_edges, time_map_stretch
from d2m_core.sync.timemap import (
    DEFAULT_MAX_STRETCH,
    BeatPairing,
    build_time_map,
    inverse_map_times,
    map_times,
    median_ibi,
    pair_beats,
)

LOOP_MARGIN = 1.1
"""A looped timeline lasts this many times the music the first map plays by the output's end,
plus :data:`LOOP_MARGIN_BEATS` beats (refitting the map on the timeline shifts it a little)."""

LOOP_MARGIN_BEATS = 8
"""Beats of looped timeline beyond :data:`LOOP_MARGIN` times the music needed."""

FADE_IN_S = 0.005
"""Fade-in when the output starts inside the music (no click on a cut note), seconds."""

FADE_OUT_S = 0.05
"""Fade-out at the output's end (at most a quarter of the output), seconds."""


@dataclass
class AlignResult:
    """Music warped onto a dance's beats, with the map used and before/after measurements.

    Attributes
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)], float32
        The warped music at ``sr``, ``duration_s`` long.
    sr : int
        Sample rate, Hz (the input's).
    duration_s : float
        Output length, seconds.
    target_beats_s : np.ndarray [shape=(M,)]
        The dance's beats, seconds.
    source_beats_s : np.ndarray [shape=(B,)]
        The music's beats as detected in the input file, seconds (file time).
    timeline_beats_s : np.ndarray [shape=(B',)]
        The music's beats on the (possibly looped) source timeline, seconds.
    output_beats_s : np.ndarray [shape=(E,)]
        Beats detected in the output, seconds.
    pairs : np.ndarray [shape=(P, 2)], int
        ``(timeline beat index, target beat index)`` of each paired beat.
    time_map : np.ndarray [shape=(K, 2)]
        Anchors ``(output_s, source_s)`` (source = timeline time), see
        :mod:`~d2m_core.sync.timemap`.
    step : tuple of int
        ``(a, b)``: every ``a``-th music beat is paired with every ``b``-th dance beat.
    stretch : dict
        Per-segment stretch ratios: ``min``, ``max``, ``mean``, ``std``, ``clamped`` (how many
        segments hit a bound), ``max_miss_s`` (largest |paired beat - dance beat|).
    f_measure_before : float
        Beat F-measure of the unwarped music (played from its start) against the dance's
        beats, within ``span_before_s``.
    f_measure_after : float
        Beat F-measure of the output against the dance's beats, within ``span_after_s``.
    hit_rate_before, hit_rate_after : float
        Share of the dance's beats (within the span) that have a music beat within ±70 ms:
        the recall side of the F-measure, blind to extra music beats between dance beats.
    span_before_s, span_after_s : float
        Evaluated spans ``[0, span)``: the shorter of music and output for "before"; the part
        of the output that music covers for "after".
    chroma_distance : float
        Mean chroma cosine distance between paired source and output segments (0 = same).
    pitch_shift_cents : float
        Estimated pitch shift of the output relative to the input, cents.
    loop : dict or None
        ``{"start_s", "end_s", "bars", "repeats"}`` (file times of the looped section) when the
        music was looped, else None.
    method : str
        The TSM used (``wsola`` or ``pv``).
    warnings : list of str
        Things a user should know (clamped ratios, short music, weak beats).
    """

    audio: np.ndarray
    sr: int
    duration_s: float
    target_beats_s: np.ndarray
    source_beats_s: np.ndarray
    timeline_beats_s: np.ndarray
    output_beats_s: np.ndarray
    pairs: np.ndarray
    time_map: np.ndarray
    step: tuple[int, int]
    stretch: dict
    f_measure_before: float
    f_measure_after: float
    hit_rate_before: float
    hit_rate_after: float
    span_before_s: float
    span_after_s: float
    chroma_distance: float
    pitch_shift_cents: float
    loop: dict | None
    method: str
    warnings: list[str] = field(default_factory=list)

    @property
    def pitch_kept(self) -> bool:
        """True when both pitch figures are within their tolerances."""
        return pitch_kept(
            chroma_distance=self.chroma_distance, pitch_shift_cents=self.pitch_shift_cents
        )

    def to_dict(self) -> dict:
        """JSON-ready summary (times in seconds, rounded to the millisecond)."""
        return {
            "sr": self.sr,
            "duration_s": round(self.duration_s, 3),
            "method": self.method,
            "f_measure_before": round(self.f_measure_before, 4),
            "f_measure_after": round(self.f_measure_after, 4),
            "hit_rate_before": round(self.hit_rate_before, 4),
            "hit_rate_after": round(self.hit_rate_after, 4),
            "span_before_s": round(self.span_before_s, 3),
            "span_after_s": round(self.span_after_s, 3),
            "chroma_distance": round(self.chroma_distance, 4),
            "chroma_tolerance": CHROMA_TOLERANCE,
            "pitch_shift_cents": round(self.pitch_shift_cents, 2),
            "pitch_tolerance_cents": PITCH_TOLERANCE_CENTS,
            "pitch_kept": self.pitch_kept,
            "step": list(self.step),
            "stretch": {
                k: (int(v) if k == "clamped" else round(float(v), 4))
                for k, v in self.stretch.items()
            },
            "loop": self.loop,
            "target_beats_s": _ms_list(self.target_beats_s),
            "source_beats_s": _ms_list(self.source_beats_s),
            "output_beats_s": _ms_list(self.output_beats_s),
            "pairs": self.pairs.tolist(),
            "time_map": _ms_list(self.time_map),
            "warnings": list(self.warnings),
        }


def _ms_list(x: np.ndarray) -> list:
    """Seconds rounded to the millisecond, as (nested) lists for JSON."""
    return np.round(np.asarray(x, dtype=np.float64), 3).tolist()


# --------------------------------------------------------------------------------------------
# The steps of align_to_beats, in order


def check_music(
    audio: np.ndarray, sr: int, *, max_stretch: float, smoothing: float, method: str
) -> float:
    """Validate the music and the parameters; return the music's length, seconds.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        The music, samples first.
    sr : int
        Its sample rate, Hz.
    max_stretch, smoothing, method
        See :func:`align_to_beats`.

    Raises
    ------
    D2MError
        Empty or non-finite audio, or a bad parameter.
    """
    x, _ = as_2d(audio)
    if x.shape[0] == 0:
        raise D2MError("the music holds no samples")
    if not np.all(np.isfinite(x)):
        raise D2MError("the music holds NaN or infinite samples")
    if int(sr) <= 0:
        raise D2MError(f"sample rate must be positive, got {sr}")
    if not max_stretch > 1.0:
        raise D2MError(f"max_stretch must be above 1, got {max_stretch}")
    if smoothing < 0:
        raise D2MError(f"smoothing must be >= 0, got {smoothing}")
    if method not in METHODS:
        raise D2MError(f"unknown time-scale method '{method}': choose one of {', '.join(METHODS)}")
    return x.shape[0] / sr


def target_beats(target_beats_s: np.ndarray, *, duration_s: float | None) -> np.ndarray:
    """The dance's beats, sorted and unique, shape ``(M,)``, seconds; with ``duration_s``,
    those up to two beats past the output's end (the map's end slope comes from them).

    Raises
    ------
    D2MError
        Fewer than 2 usable beats, or beats that are not finite non-negative seconds.
    """
    try:
        target = np.unique(np.asarray(target_beats_s, dtype=np.float64))
    except (TypeError, ValueError):
        raise D2MError("target beats must be a list of times in seconds") from None
    if target.ndim != 1 or target.size < 2 or not np.all(np.isfinite(target)) or target[0] < 0:
        raise D2MError("the dance needs at least 2 beats (finite, non-negative seconds)")
    if duration_s is not None:
        target = target[target <= duration_s + 2 * median_ibi(target)]
        if target.size < 2:
            raise D2MError("the dance needs at least 2 beats within the output's duration")
    return target


def music_beats(audio: np.ndarray, sr: int, *, source_beats_s: np.ndarray | None) -> np.ndarray:
    """The music's beats, shape ``(B,)``, seconds: ``source_beats_s`` sorted and unique, or
    detected in ``audio`` (at ``sr`` Hz) when None.

    Raises
    ------
    D2MError
        Fewer than 2 beats.
    """
    if source_beats_s is None:
        _, beats = detect_beats(audio, sr)
    else:
        beats = np.unique(np.asarray(source_beats_s, dtype=np.float64))
    if beats.size < 2:
        raise D2MError("no beat found in the music: give music with a steady pulse")
    return beats


def lay_out_and_pair(
    audio: np.ndarray,
    sr: int,
    *,
    beats_s: np.ndarray,
    target_s: np.ndarray,
    duration_s: float | None,
    loop: bool,
    max_stretch: float,
    smoothing: float,
) -> tuple[LoopedMusic, BeatPairing]:
    """Pair the music's beats with the dance's; when the map runs past the music's end before
    ``duration_s`` (and ``loop``), loop the music at bar boundaries and pair again.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        The music at ``sr`` Hz.
    beats_s : np.ndarray [shape=(B,)]
        Its beats, seconds.
    target_s : np.ndarray [shape=(M,)]
        The dance's beats, seconds.
    duration_s : float or None
        Output length, seconds (None: the music's natural length, never looped).
    loop, max_stretch, smoothing
        See :func:`align_to_beats`.

    Returns
    -------
    LoopedMusic
        The timeline (the music itself, ``info`` None, when not looped).
    BeatPairing
        The pairing on that timeline's beats.
    """
    timeline = LoopedMusic(audio=audio, beats_s=beats_s, info=None)
    pairing = pair_beats(beats_s, target_s, max_stretch=max_stretch, smoothing=smoothing)
    if duration_s is None or not loop:
        return timeline, pairing
    tm = build_time_map(beats_s[pairing.pairs[:, 0]], pairing.anchors_s, duration_s=duration_s)
    used_s = float(map_times(tm, np.array([duration_s]))[0])
    if used_s <= np.asarray(audio).shape[0] / sr:
        return timeline, pairing
    need = LOOP_MARGIN * used_s + LOOP_MARGIN_BEATS * median_ibi(beats_s)
    timeline = loop_music(audio, sr, beats_s=beats_s, min_duration_s=need)
    pairing = pair_beats(timeline.beats_s, target_s, max_stretch=max_stretch, smoothing=smoothing)
    return timeline, pairing


def natural_duration(timeline: LoopedMusic, sr: int, *, pairing: BeatPairing) -> float:
    """Output length, seconds, that plays the whole timeline: the last paired beat's output
    time plus the rest of the timeline at the mean ratio of the last 4 segments.

    ``timeline`` (at ``sr`` Hz) is the music ``pairing`` was made on.
    """
    src, out = timeline.beats_s[pairing.pairs[:, 0]], pairing.anchors_s
    timeline_s = np.asarray(timeline.audio).shape[0] / sr
    r_end = float(np.mean(np.diff(out)[-4:] / np.diff(src)[-4:]))
    return float(out[-1] + (timeline_s - src[-1]) * r_end)


def alignment_warnings(
    *,
    music_s: float,
    loop_info: dict | None,
    stretch: dict,
    max_stretch: float,
    pairing: BeatPairing,
    n_targets: int,
) -> list[str]:
    """What a user should know: the music was looped, ratios hit a bound, dance beats went
    unpaired (``music_s``: the music's length, s; ``stretch``: :func:`stretch_summary`'s)."""
    warnings: list[str] = []
    if loop_info is not None:
        warnings.append(
            f"the music ({music_s:.1f} s) is shorter than the dance: looped"
            f" {loop_info['bars']:g} bars from {loop_info['start_s']:.2f} s"
        )
    clamped = stretch["clamped"]
    if clamped:
        warnings.append(
            f"{clamped} of {len(pairing.pairs) - 1} beat segments needed more than the allowed"
            f" stretch ({1 / max_stretch:.2f}..{max_stretch:.2f}); those beats miss by up to"
            f" {1000 * stretch['max_miss_s']:.0f} ms"
        )
    # with step (a, 2) only every other dance beat is meant to get a music beat
    unpaired = n_targets - len(pairing.pairs) if pairing.step[1] == 1 else 0
    if unpaired > 0:
        warnings.append(f"{unpaired} dance beats past the end of the music are not paired")
    return warnings


def render(
    timeline: np.ndarray, sr: int, *, time_map: np.ndarray, duration_s: float, method: str
) -> tuple[np.ndarray, float]:
    """The output (:func:`~d2m_core.sync.stretch.time_map_stretch`, edges faded) and the span
    ``[0, span)`` of it the timeline covers, seconds.

    ``timeline`` is ``(N,)`` or ``(N, C)`` at ``sr`` Hz; the output is float32, the same
    layout, ``round(duration_s * sr)`` samples.
    """
    tl_s = np.asarray(timeline).shape[0] / sr
    y = time_map_stretch(timeline, sr, time_map=time_map, duration_s=duration_s, method=method)
    # music covers output times whose source time is inside the timeline
    out_end = float(inverse_map_times(time_map, np.array([tl_s]))[0])
    out_start = float(inverse_map_times(time_map, np.array([0.0]))[0])
    span = float(np.clip(out_end, 0.0, duration_s))
    # fade in only when the output starts mid-music (silence before the music needs none)
    fade_in_s = FADE_IN_S if out_start <= 0 else 0.0
    y = fade_edges(y, sr, fade_in_s=fade_in_s, fade_out_s=min(FADE_OUT_S, duration_s / 4))
    return y, span


# --------------------------------------------------------------------------------------------
# The whole alignment


def align_to_beats(
    audio: np.ndarray,
    sr: int,
    *,
    target_beats_s: np.ndarray,
    duration_s: float | None = None,
    max_stretch: float = DEFAULT_MAX_STRETCH,
    smoothing: float = 1.0,
    loop: bool = True,
    method: str = "wsola",
    source_beats_s: np.ndarray | None = None,
    measure: bool = True,
) -> AlignResult:
    """Warp music so that its beats land on target (dance) beats; pitch unchanged.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        The music, samples first, float.
    sr : int
        Its sample rate, Hz.
    target_beats_s : np.ndarray [shape=(M,)], M >= 2
        The dance's beats (e.g. ``analyze(...).tempo.beats_s``), seconds.
    duration_s : float, optional
        Output length, seconds. Default: the whole music, warped (no loop).
    max_stretch : float
        Bound on every segment's stretch ratio and its inverse (> 1; 1.45 by default).
    smoothing : float
        Weight of the beat-to-beat ratio-change penalty (0 = follow the dance's beats exactly).
    loop : bool
        Loop the music at bar boundaries when it is too short for ``duration_s``.
    method : {"wsola", "pv"}
        Time-scale modification (:func:`~d2m_core.sync.stretch.time_map_stretch`).
    source_beats_s : np.ndarray [shape=(B,)], optional
        The music's beats, seconds; detected with librosa's tracker when absent.
    measure : bool
        Compute the before/after beat F-measures and pitch figures (a few seconds of
        analysis); when False they are NaN.

    Returns
    -------
    AlignResult

    Raises
    ------
    D2MError
        Empty or non-finite audio, fewer than 2 target beats or music beats, a bad parameter.
    """
    music_s = check_music(audio, sr, max_stretch=max_stretch, smoothing=smoothing, method=method)
    target = target_beats(target_beats_s, duration_s=duration_s)
    beats = music_beats(audio, sr, source_beats_s=source_beats_s)
    if duration_s is not None and not duration_s > 0:
        raise D2MError(f"duration must be positive, got {duration_s}")
    timeline, pairing = lay_out_and_pair(
        audio, sr, beats_s=beats, target_s=target, duration_s=duration_s, loop=loop,
        max_stretch=max_stretch, smoothing=smoothing,
    )  # fmt: skip
    if duration_s is None:
        duration_s = natural_duration(timeline, sr, pairing=pairing)
    src_p, out_p = timeline.beats_s[pairing.pairs[:, 0]], pairing.anchors_s
    tm = build_time_map(src_p, out_p, duration_s=duration_s)
    paired_target = target[pairing.pairs[:, 1]]
    stretch = stretch_summary(
        source_s=src_p, output_s=out_p, target_s=paired_target, max_stretch=max_stretch
    )
    y, span_after = render(timeline.audio, sr, time_map=tm, duration_s=duration_s, method=method)
    span_before = min(music_s, duration_s)
    figures = AlignmentFigures.unmeasured()
    if measure:
        figures = measure_alignment(
            timeline=timeline.audio, output=y, sr=sr, target_s=target, music_beats_s=beats,
            time_map=tm, duration_s=duration_s, span_before_s=span_before,
            span_after_s=span_after,
        )  # fmt: skip
    return AlignResult(
        audio=y, sr=int(sr), duration_s=float(duration_s), target_beats_s=target,
        source_beats_s=beats, timeline_beats_s=timeline.beats_s, pairs=pairing.pairs,
        time_map=tm, step=pairing.step, stretch=stretch, span_before_s=float(span_before),
        span_after_s=span_after, loop=timeline.info, method=method,
        warnings=alignment_warnings(
            music_s=music_s, loop_info=timeline.info, stretch=stretch, max_stretch=max_stretch,
            pairing=pairing, n_targets=target.size,
        ),
        **vars(figures),
    )  # fmt: skip
