"""User corrections of a dance's tempo and beats, for when the estimate is wrong.

The automatic estimate (:func:`d2m_core.dance.tempo.visual_tempo`) can land on half or double
time, or put the beats a little early or late. :class:`BeatOverrides` says what the user wants
instead and :func:`apply_overrides` makes the corrected :class:`~d2m_core.dance.analysis.Analysis`
(``d2m analyze/generate --tempo/--tempo-scale/--beat-shift/--beats/--taps``). The app's hand
correction uses the same objects: :meth:`BeatOverrides.from_dict` reads what the page sends,
:func:`step_overrides` makes its buttons' steps and :func:`tap_overrides` its tapping, so every
grid the app shows is one the CLI can produce (``--taps``, or ``--beats`` with the times of
``beat_times_s`` in a file).

Rules
-----
- The beats come from one source: the estimate (``"auto"``), the estimate's novelty re-tracked
  at a tempo given in BPM (``"tempo"``) or as a factor of the estimated tempo
  (``"tempo_scale"``: 2, 1/2, 3/2 or 2/3, the usual octave errors), a beat file (``"file"``:
  times used as written, tempo = 60 / median inter-beat interval), taps (``"taps"``: the even
  grid through at least 4 tap times, see :func:`beats_from_taps`) or beat times given directly
  (``"beats"``: as a beat file's, without the file). Taps, beat times and a beat file each
  exclude every other source, and a tempo excludes a tempo scale.
- A beat shift applies last, to any source: every beat moves by ``beat_shift_s`` seconds
  (negative: earlier); beats that leave ``[0, duration]`` are dropped.
- The final tempo must lie in ``[MIN_BPM, MAX_BPM]`` and at least 2 beats must remain. Beat-file
  and given beat times past the dance's end are dropped with a warning (an error if fewer than 2
  remain).
- Overrides always start from the automatic estimate: applying them to an analysis that was
  already corrected replaces the earlier correction rather than adding to it. (The app's steps
  do compose: :func:`step_overrides` turns "double what I see now" into a new absolute request.)
- ``tempo_confidence`` stays the estimate's: it describes how clear the dance's own pulse is.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
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
#: Fewest taps that give a tempo: 3 gaps, so one sloppy or missed tap cannot set it alone.
MIN_TAPS = 4
#: How far the app's "earlier" / "later" buttons move the beats, seconds.
SHIFT_STEP_S = 0.010
# The app's tempo buttons: factor, and how the factor reads in a message.
_TEMPO_STEPS = {"double": (2.0, "2"), "half": (0.5, "1/2"), "three_two": (1.5, "3/2"),
                "two_three": (2.0 / 3.0, "2/3")}  # fmt: skip
_SHIFT_STEPS = {"earlier": -SHIFT_STEP_S, "later": SHIFT_STEP_S}
#: The actions :func:`step_overrides` takes.
STEP_ACTIONS = (*_TEMPO_STEPS, *_SHIFT_STEPS, "reset")
# Keys of a request from the app (BeatOverrides.from_dict); ``beats_file`` only as None.
_DICT_KEYS = ("tempo_bpm", "tempo_scale", "beat_shift_s", "tap_times_s", "beat_times_s")
# What the explicit beat times are called in messages: the JSON key the app and records use.
_BEAT_TIMES = "beat_times_s"
# Sources whose beats the user placed: the app's tempo steps keep their phase (no re-tracking).
_PLACED_SOURCES = ("taps", "beats", "file")


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


def parse_taps(text: str) -> tuple[float, ...]:
    """Tap times written on the command line: seconds separated by commas (``"0.5,1.1,1.7"``).

    Parameters
    ----------
    text : str

    Returns
    -------
    tuple of float, seconds
        The times as written (checked by :class:`BeatOverrides`, not here).

    Raises
    ------
    D2MError
        A piece is not a number.
    """
    try:
        return tuple(float(piece) for piece in text.replace(",", " ").split())
    except ValueError:
        raise D2MError(
            f"--taps must be tap times in seconds separated by commas"
            f" (e.g. --taps 0.5,1.1,1.7,2.3), got '{text}'"
        ) from None


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


def _times_array(value: object, *, what: str) -> np.ndarray:
    """``value`` (a list, tuple or array of seconds) as a float64 vector, or a D2MError."""
    try:
        times = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        times = None
    if times is None or times.ndim != 1:
        raise D2MError(f"{what} must be a list of times in seconds, got {value!r:.60}")
    return times


def _check_beat_times(times: np.ndarray, *, name: str, give: str) -> np.ndarray:
    """The rules every user-given beat list follows (a beat file's or ``beat_times_s``).

    Parameters
    ----------
    times : np.ndarray [shape=(B,)], seconds
        In the order the user gave them.
    name : str
        What the times are called in messages (the file's name, or ``"beat_times_s"``).
    give : str
        How to give them, for the too-few message (e.g. ``"in seconds, one a line"``).

    Returns
    -------
    np.ndarray [shape=(B,)], seconds
        ``times``, unchanged.

    Raises
    ------
    D2MError
        Fewer than 2 times, or a time that is not finite, negative or not after the one before.
    """
    if len(times) < 2:
        raise D2MError(f"{name} holds {len(times)} beat time(s): give at least 2, {give}")
    _check_finite(times, what=f"{name}: beat times")
    if times.min() < 0:
        raise D2MError(
            f"{name}: beat time {times.min():g} s is negative: give seconds from the dance's start"
        )
    fix = "; sort them and remove repeated times"
    _check_increasing(times, what=f"{name}: beat times", fix=fix)
    return times


def _check_finite(times: np.ndarray, *, what: str) -> None:
    if not np.all(np.isfinite(times)):
        raise D2MError(f"{what} must be finite numbers of seconds (found nan or inf)")


def _check_increasing(times: np.ndarray, *, what: str, fix: str) -> None:
    """Raise, naming the first pair out of order, unless ``times`` strictly increase."""
    steps = np.diff(times)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise D2MError(f"{what} must increase ({times[i + 1]:g} s follows {times[i]:g} s){fix}")


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
    return _check_beat_times(times, name=path.name, give="in seconds, one a line")


def _fit_taps(taps_s: object) -> tuple[float, float]:
    """Beat period and the first tap's beat time of the line through the taps, seconds.

    Each tap's beat index counts the median gaps since the first tap (rounded), so a missed
    tap leaves a gap of 2 and does not halve the tempo; a least-squares line through
    (index, time) then averages out the jitter of every tap at once.
    """
    taps = _times_array(taps_s, what="tap times")
    if len(taps) < MIN_TAPS:
        raise D2MError(f"{len(taps)} tap(s): tap along with at least {MIN_TAPS} beats, once a beat")
    _check_finite(taps, what="tap times")
    _check_increasing(taps, what="tap times", fix=": give them in the order they were tapped")
    gaps = np.diff(taps)
    median = float(np.median(gaps))
    steps = np.rint(gaps / median)
    if np.any(steps == 0):
        i = int(np.argmax(steps == 0))
        raise D2MError(
            f"taps too close: {taps[i]:g} s and {taps[i + 1]:g} s are {gaps[i]:.3f} s apart, the"
            f" taps' usual gap is {median:.3f} s; tap once a beat (remove the double tap)"
        )
    index = np.concatenate([[0.0], np.cumsum(steps)])
    k = index - index.mean()
    period = float(np.dot(k, taps - taps.mean()) / np.dot(k, k))
    first = float(taps.mean() - period * index.mean())
    # Checked on 0.1 BPM: taps exactly 0.2 s apart are 300 BPM, not 300.0000001.
    _check_bpm(round(60.0 / period, 1), what="the tapped tempo", fix="tap once a beat, evenly")
    return period, first


def beats_from_taps(taps_s: object, *, duration_s: float) -> tuple[np.ndarray, float]:
    """The even beat grid that follows a user's taps, over the whole dance.

    Parameters
    ----------
    taps_s : array-like [shape=(T,)], seconds
        Tap times in video time, increasing, at least :data:`MIN_TAPS`; one missed tap (a gap of
        two beats) is tolerated.
    duration_s : float
        Length of the dance, seconds.

    Returns
    -------
    beats : np.ndarray [shape=(B,)], seconds
        ``first + k * period`` for every integer ``k`` that lands in ``[0, duration_s]``, so
        beats before the first tap and after the last follow the taps too; ``period`` is the
        slope and ``first`` the first tap's point of a least-squares line through the taps
        against their beat index (indices from the gaps rounded to the median gap).
    bpm : float
        ``60 / period``.

    Raises
    ------
    D2MError
        Fewer than 4 taps, a tap that is not finite or not after the one before, taps too close
        (a gap that rounds to no beat), a tempo outside ``[MIN_BPM, MAX_BPM]``, or fewer than 2
        beats within the dance.
    """
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise D2MError(
            f"the dance's duration must be a positive number of seconds, got {duration_s}"
        )
    period, first = _fit_taps(taps_s)
    k = np.arange(math.ceil(-first / period) - 1, math.floor((duration_s - first) / period) + 2)
    beats = first + period * k
    beats = beats[(beats >= 0.0) & (beats <= duration_s + 1e-9)]
    if len(beats) < 2:
        raise D2MError(
            f"the taps give {len(beats)} beat(s) within the dance (0-{duration_s:.2f} s):"
            " tap along while the dance plays"
        )
    return beats, 60.0 / period


def _real(d: Mapping, key: str) -> float | None:
    """``d[key]`` as a float (``None`` when missing or null), or a D2MError naming the key."""
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise D2MError(f"beat_overrides.{key} must be a number, got {value!r:.60}")
    return float(value)


def _reals(d: Mapping, key: str) -> tuple[float, ...] | None:
    """``d[key]`` as a tuple of floats (``None`` when missing or null), or a D2MError."""
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, list | tuple | np.ndarray) or any(
        isinstance(v, bool) or not isinstance(v, numbers.Real) for v in value
    ):
        raise D2MError(
            f"beat_overrides.{key} must be a list of times in seconds, got {value!r:.60}"
        )
    return tuple(float(v) for v in value)


@dataclass(frozen=True)
class BeatOverrides:
    """What the user wants instead of the estimated tempo and beats (see the module rules).

    Construction checks the combination, the ranges, the taps, the beat times and the beat
    file's contents (so a bad request fails before a long pose estimation); whether the beats
    fit the dance is checked by :func:`apply_overrides`. Equal requests compare equal and hash
    alike (times are stored as tuples).

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
    tap_times_s : tuple of float or None, seconds
        Use the grid that follows these taps (see :func:`beats_from_taps`; a list or array is
        made a tuple).
    beat_times_s : tuple of float or None, seconds
        Use these beat times as given (the rules of a beat file; a list or array is made a
        tuple).
    file_beats_s : np.ndarray [shape=(B,)] or None, seconds
        The beat file's times, read and checked at construction (not an argument).

    Raises
    ------
    D2MError
        Conflicting sources, a tempo out of range, an unknown factor, a non-finite shift, bad
        taps or beat times, or a bad beat file.
    """

    tempo_bpm: float | None = None
    tempo_scale: float | None = None
    beat_shift_s: float = 0.0
    beats_file: Path | None = None
    tap_times_s: tuple[float, ...] | None = None
    beat_times_s: tuple[float, ...] | None = None
    # The beat file's times, read once here so a later change to the file cannot matter.
    file_beats_s: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tempo_given = self.tempo_bpm is not None or self.tempo_scale is not None
        if self.beat_times_s is not None and (
            tempo_given or self.beats_file is not None or self.tap_times_s is not None
        ):
            raise D2MError(
                f"{_BEAT_TIMES} gives the beats themselves: drop --tempo/--tempo-scale/--beats/"
                f"--taps (tempo_bpm, tempo_scale, beats_file, tap_times_s), or drop {_BEAT_TIMES}"
            )
        if self.tap_times_s is not None and (tempo_given or self.beats_file is not None):
            raise D2MError(
                "--taps gives the beats themselves: drop --tempo/--tempo-scale/--beats,"
                " or drop --taps"
            )
        if self.beats_file is not None and tempo_given:
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
        if self.tap_times_s is not None:
            taps = _times_array(self.tap_times_s, what="--taps")
            _fit_taps(taps)  # count, order and tempo now; only the fit to the dance waits
            object.__setattr__(self, "tap_times_s", tuple(float(t) for t in taps))
        if self.beat_times_s is not None:
            times = _times_array(self.beat_times_s, what=_BEAT_TIMES)
            _check_beat_times(times, name=_BEAT_TIMES, give="in seconds")
            object.__setattr__(self, "beat_times_s", tuple(float(t) for t in times))

    @classmethod
    def from_dict(cls, d: Mapping[str, object] | None) -> BeatOverrides:
        """The request the app's page sends (the inverse of :meth:`to_dict`).

        Parameters
        ----------
        d : dict or None
            Any of ``tempo_bpm``, ``tempo_scale``, ``beat_shift_s`` (numbers), ``tap_times_s``
            and ``beat_times_s`` (lists of seconds); a missing or ``None`` value is not given.
            ``beats_file`` may only be ``None`` (a page cannot name a file on the server).
            ``None`` or ``{}`` is no correction.

        Returns
        -------
        BeatOverrides

        Raises
        ------
        D2MError
            Not a dict, an unknown key, a beat file, a value of the wrong type, or a request
            the constructor refuses.
        """
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise D2MError(f"beat_overrides must be a JSON object, got {type(d).__name__}")
        if d.get("beats_file") is not None:
            raise D2MError(
                "a beat file path cannot come from the web page: send its times as beat_times_s"
            )
        unknown = sorted(str(k) for k in d if k not in (*_DICT_KEYS, "beats_file"))
        if unknown:
            raise D2MError(
                f"unknown beat_overrides key(s) {', '.join(unknown)}: give only"
                f" {', '.join(_DICT_KEYS)}"
            )
        shift = _real(d, "beat_shift_s")
        return cls(
            tempo_bpm=_real(d, "tempo_bpm"), tempo_scale=_real(d, "tempo_scale"),
            beat_shift_s=0.0 if shift is None else shift,
            tap_times_s=_reals(d, "tap_times_s"), beat_times_s=_reals(d, "beat_times_s"),
        )  # fmt: skip

    @property
    def source(self) -> str:
        """Where the beats come from: ``"auto"``, ``"tempo"``, ``"tempo_scale"``, ``"file"``,
        ``"taps"`` or ``"beats"``."""
        if self.beat_times_s is not None:
            return "beats"
        if self.tap_times_s is not None:
            return "taps"
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
            "tap_times_s": None if self.tap_times_s is None else list(self.tap_times_s),
            "beat_times_s": None if self.beat_times_s is None else list(self.beat_times_s),
        }


def tap_overrides(taps_s: object, *, overrides: BeatOverrides) -> BeatOverrides:
    """The correction after the user tapped along: the grid that follows the taps.

    Parameters
    ----------
    taps_s : array-like [shape=(T,)], seconds
        Tap times in video time (see :func:`beats_from_taps`).
    overrides : BeatOverrides
        The correction in place before. It is replaced whole, shift included: the taps say
        where the beats are, so an earlier tempo or shift no longer applies.

    Returns
    -------
    BeatOverrides
        Source ``"taps"``, no shift.

    Raises
    ------
    D2MError
        Bad taps (see :func:`beats_from_taps`).
    """
    del overrides  # replaced whole (a parameter so the app's calls read like step_overrides)
    return BeatOverrides(tap_times_s=taps_s)


def step_overrides(overrides: BeatOverrides, action: str, *, analysis: Analysis) -> BeatOverrides:
    """The correction after one press of the app's beat buttons.

    Parameters
    ----------
    overrides : BeatOverrides
        The correction in place (``BeatOverrides()`` for none).
    action : str
        One of :data:`STEP_ACTIONS`: ``"double"``, ``"half"``, ``"three_two"`` (tempo x 3/2),
        ``"two_three"`` (x 2/3), ``"earlier"`` / ``"later"`` (every beat by -/+
        :data:`SHIFT_STEP_S`), ``"reset"`` (back to the estimate).
    analysis : Analysis
        The dance the beats belong to (corrected or not: the current beats are
        ``apply_overrides(analysis, overrides)``).

    Returns
    -------
    BeatOverrides
        A new request, absolute (steps compose: double, then double again, is 4 x the tempo
        the user first saw):

        - x 2 and x 1/2 work on the beats shown, so the ones the user checked stay where they
          are and the tempo is exactly doubled or halved: the beats become ``beat_times_s``
          (x 2: midpoints added; x 1/2: every other beat, keeping the one nearest the first
          tap, or, for beats the user did not place, the half that lands on more motion).
          x 2 then x 1/2 gives the same beats back.
        - x 3/2 and x 2/3 re-track at the current tempo x the factor (source ``"tempo"``),
          except on beats the user placed (taps, beat times, a beat file), whose phase they
          keep: an even grid at the new period through the beat nearest the first tap (or
          the first beat). x 3/2 then x 2/3 gives the tempo back, but its phase only when the
          beat it passes through was tapped (the 3/2 grid alone cannot say which were): tap
          again to be sure.
        - The shift is kept.
        - shift steps add to ``beat_shift_s`` (rounded to 1 ms, so ten steps make 0.1 s).

    Raises
    ------
    D2MError
        An unknown action, no tempo to change (a still dancer), or a new tempo outside
        ``[MIN_BPM, MAX_BPM]``.
    """
    if action not in STEP_ACTIONS:
        raise D2MError(f"unknown beat action '{action}': give one of {', '.join(STEP_ACTIONS)}")
    if action == "reset":
        return BeatOverrides()
    if action in _SHIFT_STEPS:
        shift = round(overrides.beat_shift_s + _SHIFT_STEPS[action], 3)
        return dataclasses.replace(overrides, beat_shift_s=shift)
    factor, factor_text = _TEMPO_STEPS[action]
    # The unshifted beats: the shift is kept as it is and applies after the new beats.
    current = apply_overrides(analysis, dataclasses.replace(overrides, beat_shift_s=0.0)).tempo
    if current.bpm <= 0:
        raise D2MError("no tempo was found in this dance to change: tap along with the beat")
    bpm = current.bpm * factor
    _check_bpm(
        round(bpm, 1),
        what=f"the tempo {current.bpm:.1f} BPM x {factor_text} =",
        fix="go the other way, tap along, or reset",
    )
    bpm = min(max(bpm, MIN_BPM), MAX_BPM)  # what passed the check on 0.1 BPM, kept in range
    placed = overrides.source in _PLACED_SOURCES
    if not placed and action not in ("double", "half"):
        return BeatOverrides(tempo_bpm=bpm, beat_shift_s=overrides.beat_shift_s)
    beats = np.asarray(current.beats_s, dtype=np.float64)
    if len(beats) < 2:
        raise D2MError("too few beats to change the tempo of: tap along with the beat")
    if overrides.source == "taps":
        anchor_s = float(overrides.tap_times_s[0])  # type: ignore[index]
    elif placed or action == "double":
        anchor_s = float(beats[0])
    else:  # halving beats the user never placed: keep the half that lands on the moves
        anchor_s = float(beats[_stronger_half(beats, novelty=current.novelty,
                                              duration_s=analysis.motion.duration_s)])  # fmt: skip
    kept = _rescale_beats(
        beats, factor=factor, period_s=60.0 / bpm, anchor_s=anchor_s,
        duration_s=analysis.motion.duration_s,
    )  # fmt: skip
    # Microseconds: far below what anyone hears, and the JSON record stays short.
    return BeatOverrides(beat_times_s=np.round(kept, 6), beat_shift_s=overrides.beat_shift_s)


def _stronger_half(beats: np.ndarray, *, novelty: np.ndarray, duration_s: float) -> int:
    """0 or 1: which half of the beats (even or odd ones) meets more of the dance's novelty."""
    nov = np.asarray(novelty, dtype=np.float64)
    if nov.size == 0 or not np.any(nov > 0):
        return 0
    t_nov = np.arange(nov.size) * (duration_s / nov.size)
    at_beats = np.interp(beats, t_nov, nov)
    return int(at_beats[1::2].sum() > at_beats[0::2].sum())


def _rescale_beats(
    beats: np.ndarray, *, factor: float, period_s: float, anchor_s: float, duration_s: float
) -> np.ndarray:
    """Beats the user placed, at ``factor`` x their tempo, keeping the beat nearest ``anchor_s``.

    Parameters
    ----------
    beats : np.ndarray [shape=(B,)], seconds
        Increasing, within ``[0, duration_s]``.
    factor : float
        2, 1/2, 3/2 or 2/3.
    period_s : float
        The new beat period (for 3/2 and 2/3), seconds.
    anchor_s : float
        The time whose nearest beat stays (the first tap).
    duration_s : float
        Length of the dance, seconds.

    Returns
    -------
    np.ndarray [shape=(B',)], seconds
        x 2: the beats and their midpoints (none before the first beat, so halving again gives
        the same beats back); x 1/2: every other beat; otherwise an even grid at ``period_s``
        over ``[0, duration_s]`` through the anchor's beat.
    """
    keep = int(np.argmin(np.abs(beats - anchor_s)))
    if factor == 2.0:
        return np.sort(np.concatenate([beats, (beats[:-1] + beats[1:]) / 2]))
    if factor == 0.5:
        return beats[keep % 2 :: 2]
    start = beats[keep] - period_s * math.floor(beats[keep] / period_s)
    grid = start + period_s * np.arange(math.floor((duration_s - start) / period_s) + 2)
    # Rounding may put the first beat a hair below 0 (it is 0) or one past the end (dropped).
    return np.maximum(grid[(grid >= -1e-9) & (grid <= duration_s + 1e-9)], 0.0)


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


def _beats_within(
    times: np.ndarray, *, name: str, duration_s: float
) -> tuple[np.ndarray, list[str]]:
    """User-given beat times within the dance, and a warning when some lay past its end.

    Parameters
    ----------
    times : np.ndarray [shape=(B,)], seconds
        Checked by :func:`_check_beat_times`.
    name : str
        What they are called in messages (the beat file's name, or ``"beat_times_s"``).
    duration_s : float
        Length of the dance, seconds.
    """
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
        tempo out of range, taps or beats outside the dance).
    """
    auto = analysis.beat_correction.auto_tempo if analysis.beat_correction else analysis.tempo
    if overrides.is_identity:
        return dataclasses.replace(analysis, tempo=auto, beat_correction=None)
    duration_s = analysis.motion.duration_s
    warnings: list[str] = []
    source = overrides.source
    if source in ("file", "beats"):
        if source == "file":
            times, name = overrides.file_beats_s, overrides.beats_file.name
        else:
            times, name = np.asarray(overrides.beat_times_s, dtype=np.float64), _BEAT_TIMES
        beats, warnings = _beats_within(times, name=name, duration_s=duration_s)
        bpm = 60.0 / float(np.median(np.diff(beats)))
        if not MIN_BPM <= round(bpm, 1) <= MAX_BPM:  # on 0.1 BPM, as the other sources
            raise D2MError(
                f"the beats in {name} are {bpm:.1f} BPM apart, outside"
                f" {MIN_BPM:g}-{MAX_BPM:g} BPM: give beat times in seconds"
            )
    elif source == "taps":
        beats, bpm = beats_from_taps(overrides.tap_times_s, duration_s=duration_s)
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
