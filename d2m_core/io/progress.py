"""Progress with an estimate of the time left, for the command line's bar and the app's text.

:class:`RateEta` turns ``(fraction done, time)`` samples into a rate and an ETA; :func:`eta_words`
says the ETA the way a person would ("about 8 s left"); :class:`TerminalBar` draws a one-line
bar on a terminal. Pure and clock-injectable, so the maths is tested with a fake clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

Clock = Callable[[], float]


@dataclass(frozen=True)
class EtaSample:
    """What :meth:`RateEta.update` knows after one sample.

    Attributes
    ----------
    fraction : float
        Share of the work done, in [0, 1].
    elapsed_s : float
        Seconds since the first sample.
    rate : float or None
        Share of the work done per second, measured after the start-up; ``None`` until known.
    eta_s : float or None
        Seconds left at that rate (never negative); ``None`` during the warm-up and when done.
    """

    fraction: float
    elapsed_s: float
    rate: float | None
    eta_s: float | None

    @property
    def words(self) -> str | None:
        """The ETA in words ("about 8 s left"), or ``None`` when there is none yet."""
        return None if self.eta_s is None else eta_words(eta_s=self.eta_s)


class RateEta:
    """Estimated time left from the measured rate of a task that reports fractions done.

    The rate is the average since the end of a short warm-up (the last sample in the first
    ``warmup_s`` seconds): the start-up (opening the video, starting the model, its first
    slow frames) does not slow the estimate, and an average over the rest of the run rather
    than the last step keeps it steady. No ETA before ``warmup_fraction`` of the work is done,
    nor before the rate is measured over ``min_span_s`` seconds.

    Parameters
    ----------
    clock : callable() -> float
        Seconds, monotonic (default :func:`time.monotonic`); tests pass a fake one.
    warmup_s : float
        No ETA before this many seconds since the first sample.
    warmup_fraction : float
        No ETA before this share of the work is done.
    min_span_s : float
        No rate measured over less time than this (one step's rate is noise).
    """

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        warmup_s: float = 1.0,
        warmup_fraction: float = 0.05,
        min_span_s: float = 0.5,
    ) -> None:
        self._clock = clock
        self.warmup_s = float(warmup_s)
        self.warmup_fraction = float(warmup_fraction)
        self.min_span_s = float(min_span_s)
        self._start: float | None = None
        self._anchor: tuple[float, float] | None = None  # (time, fraction) the rate starts from

    def update(self, *, fraction: float) -> EtaSample:
        """Record that ``fraction`` of the work is done now; returns the rate and ETA.

        Parameters
        ----------
        fraction : float
            Share done; clipped to [0, 1].

        Returns
        -------
        EtaSample
        """
        now = self._clock()
        f = min(max(float(fraction), 0.0), 1.0)
        if self._start is None:
            self._start = now
        elapsed = now - self._start
        if self._anchor is None or elapsed < self.warmup_s:
            self._anchor = (now, f)  # follows the warm-up, then stays
        t0, f0 = self._anchor
        rate = None
        if now - t0 >= self.min_span_s and f > f0:
            rate = (f - f0) / (now - t0)
        eta = None
        if rate is not None and self.warmup_fraction <= f < 1.0:
            eta = max(0.0, (1.0 - f) / rate)
        return EtaSample(fraction=f, elapsed_s=elapsed, rate=rate, eta_s=eta)


def eta_words(*, eta_s: float) -> str:
    """Time left, rounded as a person would say it.

    Under 10 s to the second, under a minute to 5 s, then to the minute; "almost done" under
    half a second, "over an hour left" beyond.

    Parameters
    ----------
    eta_s : float
        Seconds left (negative counts as 0).

    Returns
    -------
    str
        E.g. "about 8 s left", "about 25 s left", "about 1 min left", "about 4 min left".
    """
    s = max(0.0, float(eta_s))
    if s < 0.5:
        return "almost done"
    if s < 9.5:
        return f"about {math.floor(s + 0.5)} s left"
    fives = 5 * math.floor(s / 5 + 0.5)
    if fives < 60:
        return f"about {fives} s left"
    minutes = max(1, math.floor(s / 60 + 0.5))
    if minutes > 60:
        return "over an hour left"
    return f"about {minutes} min left"


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal: a bar is read there, elsewhere it is noise."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class TerminalBar:
    """A one-line progress bar redrawn in place with ``\\r``, erased when closed.

    ``label  42% [=========>            ] 57 frames/s, about 8 s left``; the frames/s part
    only when the total is known. Erased on :meth:`close` (also on errors, as a context
    manager), so what follows, an ``error: ...`` line included, starts on a clean line.

    Parameters
    ----------
    stream : TextIO
        Where to draw (the command line's stderr).
    label : str
        Word before the percentage.
    total_frames : int or None
        Frames of the whole task, for the frames/s figure.
    clock : callable() -> float
        Passed to :class:`RateEta`.
    width : int
        Cells of the bar itself.
    """

    def __init__(
        self,
        *,
        stream: TextIO,
        label: str,
        total_frames: int | None = None,
        clock: Clock = time.monotonic,
        width: int = 24,
    ) -> None:
        self.stream = stream
        self.label = label
        self.total_frames = total_frames
        self.width = int(width)
        self.eta = RateEta(clock=clock)
        self._shown = 0  # length of the line on screen, to blank it out

    def line(self, sample: EtaSample) -> str:
        """The bar's text for one sample (no ``\\r``)."""
        filled = int(sample.fraction * self.width)
        head = ">" if filled < self.width else ""
        bar = ("=" * filled + head).ljust(self.width)
        parts = [f"{self.label} {100 * sample.fraction:3.0f}% [{bar}]"]
        extra = []
        if self.total_frames and sample.rate is not None:
            extra.append(f"{sample.rate * self.total_frames:.0f} frames/s")
        if sample.words is not None:
            extra.append(sample.words)
        if extra:
            parts.append(", ".join(extra))
        return " ".join(parts)

    def __call__(self, fraction: float, message: str = "") -> None:
        """The ``progress(fraction, message)`` callback: redraw the bar."""
        text = self.line(self.eta.update(fraction=fraction))
        pad = " " * max(0, self._shown - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._shown = len(text)

    def close(self) -> None:
        """Blank the bar's line and return the cursor to its start."""
        if self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
            self._shown = 0

    def __enter__(self) -> TerminalBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
