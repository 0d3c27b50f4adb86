"""User corrections of a dance's tempo and beats, for when the estimate is wrong.

The automatic estimate (:func:`d2m_core.dance.tempo.visual_tempo`) can land on half or double
time, or put the beats a little early or late. :class:`BeatOverrides` says what the user wants
instead and :func:`apply_overrides` makes the corrected :class:`~d2m_core.dance.analysis.Analysis`
(``d2m analyze/generate --tempo/--tempo-scale/--beat-shift/--beats``; the app reuses it).

Rules
-----
- The beats come from one source: the estimate (``"auto"``), the estimate's novelty re-tracked
  at a tempo given in BPM (``"tempo"``) or as a factor of the estimated tempo
  (``"tempo_scale"``: 2, 1/2, 3/2 or 2/3, the usual octave errors), or a beat file
  (``"file"``: times used as written, tempo = 60 / median inter-beat interval). A beat file
  excludes a tempo, and a tempo excludes a tempo scale.
- A beat shift applies last, to any source: every beat moves by ``beat_shift_s`` seconds
  (negative: earlier); beats that leave ``[0, duration]`` are dropped.
- The final tempo must lie in ``[MIN_BPM, MAX_BPM]`` and at least 2 beats must remain. Beat-file
  times past the dance's end are dropped with a warning (an error if fewer than 2 remain).
- Overrides always start from the automatic estimate: applying them to an analysis that was
  already corrected replaces the earlier correction rather than adding to it.
- ``tempo_confidence`` stays the estimate's: it describes how clear the dance's own pulse is.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from d2m_core.dance.tempo import TempoEstimate, track_beats
from d2m_core.errors import D2MError
from d2m_core.io.beatfile import read_beats_file

if TYPE_CHECKING:
    from d2m_core.dance.analysis import Analysis

MIN_BPM = 30.0  # a slow adagio counted in halves
MAX_BPM = 300.0  # fast footwork counted in eighths
#: Tempo factors a user may give: the octave errors of tempo estimation.
TEMPO_SCALES = (2.0, 0.5, 1.5, 2.0 / 3.0)
_SCALE_NAMES = "2, 0.5 (1/2), 1.5 (3/2) or 0.667 (2/3)"
# Largest relative gap between the requested beat period and the tracked beats' median spacing.
_TEMPO_TOLERANCE = 0.02


def parse_tempo_scale(text: str) -> float:
    """The tempo factor written as a decimal or a fraction (``"2"``, ``"0.667"``, ``"2/3"``).

    Parameters
    ----------
    text : str

    Returns
    -------
    float
        One of :data:`TEMPO_SCALES`, exactly (``"0.667"`` gives 2/3).

    Raises
    ------
    D2MError
        Not a number, or not one of the allowed factors.
    """
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise D2MError(f"--tempo-scale must be {_SCALE_NAMES}, got '{text}'") from None
    return _snap_scale(value)


def _snap_scale(value: float) -> float:
    """The allowed tempo factor within 1% of ``value`` (so 0.667 means 2/3)."""
    for scale in TEMPO_SCALES:
        if math.isfinite(value) and abs(value / scale - 1.0) < 0.01:
            return scale
    raise D2MError(f"--tempo-scale must be {_SCALE_NAMES}, got {value:g}")


def _check_bpm(bpm: float, *, what: str, fix: str = "give a tempo in that range") -> None:
    """Raise unless ``bpm`` is a finite tempo in ``[MIN_BPM, MAX_BPM]``."""
    if not (math.isfinite(bpm) and MIN_BPM <= bpm <= MAX_BPM):
        raise D2MError(f"{what} {bpm:g} BPM is outside {MIN_BPM:g}-{MAX_BPM:g} BPM: {fix}")


def read_user_beats(path: str | Path) -> np.ndarray:
    """Beat times a user gives for a dance, checked (see :mod:`d2m_core.io.beatfile`).

    Parameters
    ----------
    path : str or Path
        A beat file: one time (seconds) a line, ``#`` comments, extra columns ignored.

    Returns
    -------
    np.ndarray [shape=(B,)], seconds
        At least 2 finite, non-negative, strictly increasing times, in the file's order.

    Raises
    ------
    D2MError
        The file is missing or unreadable, or its times break one of the rules above.
    """
    path = Path(path)
    times = read_beats_file(path, sort=False)
    name = path.name
    if len(times) < 2:
        raise D2MError(
            f"{name} holds {len(times)} beat time(s): give at least 2, in seconds, one a line"
        )
    if not np.all(np.isfinite(times)):
        raise D2MError(f"{name}: beat times must be finite numbers of seconds (found nan or inf)")
    if times.min() < 0:
        raise D2MError(
            f"{name}: beat time {times.min():g} s is negative: give seconds from the dance's start"
        )
    steps = np.diff(times)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise D2MError(
            f"{name}: beat times must increase ({times[i + 1]:g} s follows {times[i]:g} s);"
            " sort the file and remove repeated times"
        )
    return times


@dataclass(frozen=True)
class BeatOverrides:
    """What the user wants instead of the estimated tempo and beats (see the module rules).

    Construction checks the combination, the ranges and the beat file's contents (so a bad
    request fails before a long pose estimation); whether the beats fit the dance is checked by
    :func:`apply_overrides`.

    Attributes
    ----------
    tempo_bpm : float or None
        Re-track the beats at this tempo, BPM (``MIN_BPM``-``MAX_BPM``).
    tempo_scale : float or None
        Re-track the beats at the estimated tempo times this factor (one of
        :data:`TEMPO_SCALES`; a value within 1% of one, e.g. 0.667, is taken as it).
    beat_shift_s : float
        Move every beat by this many seconds (negative: earlier), after the rest.
    beats_file : Path or None
        Use the beat times in this file (see :func:`read_user_beats`; a str is made a Path).
    file_beats_s : np.ndarray [shape=(B,)] or None, seconds
        Its times, read and checked at construction (not an argument).

    Raises
    ------
    D2MError
        Conflicting sources, a tempo out of range, an unknown factor, a non-finite shift, or a
        bad beat file.
    """

    tempo_bpm: float | None = None
    tempo_scale: float | None = None
    beat_shift_s: float = 0.0
    beats_file: Path | None = None
    # The beat file's times, read once here so a later change to the file cannot matter.
    file_beats_s: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.beats_file is not None and (
            self.tempo_bpm is not None or self.tempo_scale is not None
        ):
            raise D2MError(
                "--beats gives the beats themselves: drop --tempo/--tempo-scale, or drop --beats"
            )
        if self.tempo_bpm is not None and self.tempo_scale is not None:
            raise D2MError("--tempo and --tempo-scale both set the tempo: give only one of them")
        if self.tempo_bpm is not None:
            _check_bpm(float(self.tempo_bpm), what="--tempo")
            object.__setattr__(self, "tempo_bpm", float(self.tempo_bpm))
        if self.tempo_scale is not None:
            object.__setattr__(self, "tempo_scale", _snap_scale(float(self.tempo_scale)))
        if not math.isfinite(self.beat_shift_s):
            raise D2MError(
                f"--beat-shift must be a finite number of seconds, got {self.beat_shift_s}"
            )
        object.__setattr__(self, "beat_shift_s", float(self.beat_shift_s))
        if self.beats_file is not None:
            path = Path(self.beats_file)
            object.__setattr__(self, "beats_file", path)
            object.__setattr__(self, "file_beats_s", read_user_beats(path))

    @property
    def source(self) -> str:
        """Where the beats come from: ``"auto"``, ``"tempo"``, ``"tempo_scale"`` or ``"file"``."""
        if self.beats_file is not None:
            return "file"
        if self.tempo_bpm is not None:
            return "tempo"
        if self.tempo_scale is not None:
            return "tempo_scale"
        return "auto"

    @property
    def is_identity(self) -> bool:
        """True when nothing is overridden (the estimate stands)."""
        return self.source == "auto" and self.beat_shift_s == 0.0

    def to_dict(self) -> dict:
        """JSON-ready record of the request (``None`` for what was not given)."""
        return {
            "tempo_bpm": self.tempo_bpm,
            "tempo_scale": None if self.tempo_scale is None else round(self.tempo_scale, 4),
            "beat_shift_s": self.beat_shift_s,
            "beats_file": None if self.beats_file is None else str(self.beats_file),
        }


@dataclass(frozen=True)
class BeatCorrection:
    """How an analysis's tempo and beats were corrected (``Analysis.beat_correction``).

    Attributes
    ----------
    overrides : BeatOverrides
        The request.
    auto_tempo : TempoEstimate
        The automatic estimate before it.
    warnings : tuple of str
        What the user should know (e.g. beat-file times past the dance's end were dropped).
    """

    overrides: BeatOverrides
    auto_tempo: TempoEstimate
    warnings: tuple[str, ...] = ()


def _beats_at(*, novelty: np.ndarray, bpm: float, duration_s: float) -> np.ndarray:
    """Beats at ``bpm`` that follow the moves (dynamic programming on the novelty).

    When the tracked beats stray from ``bpm`` (median spacing off by more than
    ``_TEMPO_TOLERANCE``; the moves pull them back to the dance's own pulse, e.g. at 2/3 of
    it) or there is no pulse at all, an even grid at ``bpm`` phased on the novelty is used:
    the user's tempo wins.
    """
    period = 60.0 / bpm
    beats = np.asarray(track_beats(novelty, bpm=bpm), dtype=np.float64)
    if len(beats) >= 2 and abs(np.median(np.diff(beats)) / period - 1.0) <= _TEMPO_TOLERANCE:
        return beats
    return _even_grid(novelty=novelty, period_s=period, duration_s=duration_s)


def _even_grid(*, novelty: np.ndarray, period_s: float, duration_s: float) -> np.ndarray:
    """Evenly spaced beats over ``[0, duration_s]`` at the phase that best meets the novelty.

    Parameters
    ----------
    novelty : np.ndarray [shape=(N,)], evenly sampled over the dance
    period_s : float
        Beat period, seconds.
    duration_s : float
        Length of the dance, seconds.

    Returns
    -------
    np.ndarray [shape=(B,)], seconds
        ``phase + k * period_s``; phase 0 when the novelty is flat (a still dancer).
    """
    # The novelty's rate follows from its length, so no sampling constant is assumed here.
    t_nov = np.arange(len(novelty)) * (duration_s / max(len(novelty), 1))
    phases = np.arange(0.0, period_s, 0.01)
    grid = np.arange(0.0, duration_s + period_s, period_s)
    times = phases[:, None] + grid[None, :]  # (P, B)
    score = np.where(times <= duration_s, np.interp(times, t_nov, novelty), 0.0).sum(axis=1)
    phase = phases[int(np.argmax(score))] if np.any(score > 0) else 0.0
    beats = phase + grid
    return beats[beats <= duration_s + 1e-9]


def _file_beats(overrides: BeatOverrides, *, duration_s: float) -> tuple[np.ndarray, list[str]]:
    """The beat file's times within the dance, and a warning when some lay past its end."""
    assert overrides.file_beats_s is not None and overrides.beats_file is not None
    times = overrides.file_beats_s
    name = overrides.beats_file.name
    inside = times[times <= duration_s + 1e-6]
    warnings = []
    if len(inside) < 2:
        raise D2MError(
            f"{name}: only {len(inside)} of its {len(times)} beat times lie within the dance"
            f" (0-{duration_s:.2f} s): give times in seconds from the dance's start"
        )
    if len(inside) < len(times):
        warnings.append(
            f"{name}: {len(times) - len(inside)} beat time(s) after the dance's end"
            f" ({duration_s:.2f} s) ignored"
        )
    return inside.copy(), warnings


def _shift_beats(beats: np.ndarray, *, shift_s: float, duration_s: float) -> np.ndarray:
    """``beats + shift_s``, keeping those within ``[0, duration_s]``."""
    if len(beats) < 2:
        raise D2MError("no beats were found to shift: give --tempo BPM or --beats FILE as well")
    moved = beats + shift_s
    moved = moved[(moved >= 0.0) & (moved <= duration_s + 1e-6)]
    if len(moved) < 2:
        raise D2MError(
            f"--beat-shift {shift_s:g} s moves the beats out of the dance"
            f" (0-{duration_s:.2f} s): give a smaller shift"
        )
    return moved


def apply_overrides(analysis: Analysis, overrides: BeatOverrides) -> Analysis:
    """The analysis with its tempo and beats corrected as the user asks.

    Parameters
    ----------
    analysis : Analysis
        An analysis from :func:`d2m_core.dance.analysis.analyze` (possibly corrected before:
        the new overrides then replace the old ones, starting again from the estimate).
    overrides : BeatOverrides

    Returns
    -------
    Analysis
        A new analysis: same motion and rhythm; ``tempo`` holds the corrected ``bpm`` and
        ``beats_s`` [shape=(B,), seconds] with the estimate's ``confidence`` and ``novelty``;
        ``beat_correction`` records the request, the estimate and any warnings (``None`` when
        nothing is overridden). The input is not modified.

    Raises
    ------
    D2MError
        The correction cannot be made for this dance (no estimated tempo to scale, a scaled
        tempo out of range, beats outside the dance).
    """
    auto = analysis.beat_correction.auto_tempo if analysis.beat_correction else analysis.tempo
    if overrides.is_identity:
        return dataclasses.replace(analysis, tempo=auto, beat_correction=None)
    duration_s = analysis.motion.duration_s
    warnings: list[str] = []
    source = overrides.source
    if source == "file":
        beats, warnings = _file_beats(overrides, duration_s=duration_s)
        bpm = 60.0 / float(np.median(np.diff(beats)))
        if not MIN_BPM <= bpm <= MAX_BPM:
            raise D2MError(
                f"the beats in {overrides.beats_file.name} are {bpm:.1f} BPM apart, outside"
                f" {MIN_BPM:g}-{MAX_BPM:g} BPM: give beat times in seconds"
            )
    elif source in ("tempo", "tempo_scale"):
        if source == "tempo":
            bpm = float(overrides.tempo_bpm)
        else:
            if auto.bpm <= 0:
                raise D2MError(
                    "no tempo was found in this dance to scale: give --tempo BPM or --beats FILE"
                )
            bpm = auto.bpm * float(overrides.tempo_scale)
            _check_bpm(
                round(bpm, 1),
                what=f"--tempo-scale {overrides.tempo_scale:.3g} x the estimated {auto.bpm:.1f} =",
                fix="give --tempo BPM instead",
            )
        beats = _beats_at(novelty=auto.novelty, bpm=bpm, duration_s=duration_s)
    else:
        bpm, beats = auto.bpm, np.asarray(auto.beats_s, dtype=np.float64)
    if overrides.beat_shift_s != 0.0:
        beats = _shift_beats(beats, shift_s=overrides.beat_shift_s, duration_s=duration_s)
    tempo = TempoEstimate(
        bpm=float(bpm), confidence=auto.confidence, beats_s=beats, novelty=auto.novelty
    )
    correction = BeatCorrection(overrides=overrides, auto_tempo=auto, warnings=tuple(warnings))
    return dataclasses.replace(analysis, tempo=tempo, beat_correction=correction)
