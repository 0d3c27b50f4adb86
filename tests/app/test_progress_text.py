"""The app's analysis progress text says the time left, from the measured pose rate."""

from __future__ import annotations

from test_app_e2e import load_app  # a sibling test module: pytest puts tests/app on sys.path

from d2m_core.app import pipeline


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeGrProgress:
    """Records what a ``gr.Progress`` would be told."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str | None]] = []

    def __call__(self, progress: float, desc: str | None = None, **kw) -> None:
        self.calls.append((progress, desc))


def test_pose_progress_text_says_the_time_left():
    clock = FakeClock()
    gr_progress = FakeGrProgress()
    report = pipeline.pose_reporter(load_app()._gr_progress(gr_progress), clock=clock)
    report(0.0, "estimating pose")
    for k in range(1, 11):  # 5% every half second: 10 %/s
        clock.now += 0.5
        report(k / 20, "estimating pose")
    first, *_, last = gr_progress.calls
    assert first == (0.05, "finding the dancer's pose")  # no guess before the warm-up
    assert last[0] == 0.05 + 0.8 * 0.5
    assert last[1] == "finding the dancer's pose, about 5 s left"
    # One figure only: the bar shows the share done, so the text carries no percentage.
    assert all("%" not in desc for _, desc in gr_progress.calls)


def test_pose_progress_text_without_time_left_when_done():
    clock = FakeClock()
    calls: list[tuple[float, str]] = []
    report = pipeline.pose_reporter(lambda f, m: calls.append((f, m)), clock=clock)
    report(0.1, "estimating pose")
    clock.now += 2.0
    report(0.5, "estimating pose")
    assert "left" in calls[-1][1]
    clock.now += 2.0
    report(1.0, "pose done")
    assert calls[-1] == (0.05 + 0.8, "finding the dancer's pose")
