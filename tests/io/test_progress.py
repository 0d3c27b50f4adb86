"""The ETA from the measured rate, its words, and the terminal bar (fake clock)."""

from __future__ import annotations

import io

import pytest

from d2m_core.io.progress import RateEta, TerminalBar, eta_words, is_terminal


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_constant_rate_gives_the_right_eta():
    clock = FakeClock()
    eta = RateEta(clock=clock)
    eta.update(fraction=0.0)
    clock.now += 0.5  # start-up before any work shows: not counted in the rate
    for k in range(1, 41):  # 1% a tenth of a second: 10 %/s
        clock.now += 0.1
        s = eta.update(fraction=k / 100)
    assert s.rate == pytest.approx(0.1)
    assert s.eta_s == pytest.approx(6.0)  # 60% left at 10 %/s
    assert s.words == "about 6 s left"


def test_no_eta_during_the_warm_up():
    clock = FakeClock()
    eta = RateEta(clock=clock)
    assert eta.update(fraction=0.0).eta_s is None
    clock.now += 0.5
    assert eta.update(fraction=0.2).eta_s is None  # too early: under 1 s
    clock.now += 0.4
    assert eta.update(fraction=0.4).words is None
    # Past 1 s but under 5% of the work (a slow start): still nothing.
    slow = RateEta(clock=clock)
    slow.update(fraction=0.0)
    clock.now += 1.0
    slow.update(fraction=0.01)
    clock.now += 1.0
    assert slow.update(fraction=0.04).eta_s is None
    clock.now += 1.0
    assert slow.update(fraction=0.07).eta_s == pytest.approx(0.93 / (0.07 / 3))


def test_rate_is_measured_after_the_warm_up():
    clock = FakeClock()
    eta = RateEta(clock=clock)
    eta.update(fraction=0.0)
    clock.now += 0.9
    eta.update(fraction=0.02)  # a slow start (model start-up): 2% in 0.9 s
    for k in range(1, 9):  # then 5% a quarter of a second: 20 %/s
        clock.now += 0.25
        s = eta.update(fraction=0.02 + 0.05 * k)
    assert s.rate == pytest.approx(0.2)
    assert s.words == "about 3 s left"  # 0.58 left at 20 %/s: 2.9 s


def test_eta_never_negative_and_none_when_done():
    clock = FakeClock()
    eta = RateEta(clock=clock)
    eta.update(fraction=0.1)
    clock.now += 2.0
    assert eta.update(fraction=1.5).eta_s is None  # clipped to 1: done
    clock.now += 1.0
    s = eta.update(fraction=0.9)
    assert s.eta_s is not None and s.eta_s >= 0.0
    # The clock standing still or work going backwards gives no rate rather than nonsense.
    assert eta.update(fraction=0.05).rate is None


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (-3.0, "almost done"),
        (0.2, "almost done"),
        (0.6, "about 1 s left"),
        (8.2, "about 8 s left"),
        (9.4, "about 9 s left"),
        (9.6, "about 10 s left"),
        (23.0, "about 25 s left"),
        (44.0, "about 45 s left"),
        (58.0, "about 1 min left"),
        (80.0, "about 1 min left"),
        (100.0, "about 2 min left"),
        (250.0, "about 4 min left"),
        (3600.0, "about 60 min left"),
        (4000.0, "over an hour left"),
    ],
)
def test_eta_words_round_as_people_say_it(seconds, words):
    assert eta_words(eta_s=seconds) == words


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_line_shows_percent_frames_per_second_and_eta():
    clock = FakeClock()
    out = FakeTty()
    bar = TerminalBar(stream=out, label="pose", total_frames=600, clock=clock)
    bar(0.0)
    for k in range(1, 5):  # 10% a second of 600 frames: 60 frames/s
        clock.now += 1.0
        bar(k / 10)
    last = out.getvalue().split("\r")[-1].rstrip()
    assert last.startswith("pose  40% [=========>")
    assert last.endswith("] 60 frames/s, about 6 s left")
    assert len(last) <= 80
    bar.close()
    assert out.getvalue().endswith("\r")
    assert out.getvalue().split("\r")[-2].strip() == ""  # the bar's line blanked out


def test_bar_is_erased_on_error():
    out = FakeTty()
    with pytest.raises(RuntimeError), TerminalBar(stream=out, label="pose") as bar:
        bar(0.3, "estimating pose")
        raise RuntimeError("boom")
    assert out.getvalue().startswith("\rpose  30% [")
    assert out.getvalue().endswith("\r")
    assert out.getvalue().split("\r")[-2].strip() == ""


def test_is_terminal():
    assert is_terminal(FakeTty())
    assert not is_terminal(io.StringIO())
    assert not is_terminal(object())  # type: ignore[arg-type]
