"""The pose progress bar of ``d2m analyze`` / ``d2m generate``: on a terminal only."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from d2m_core.cli.main import main
from d2m_core.dance import analysis
from d2m_core.dance.synth import synthetic_dance
from d2m_core.errors import D2MError


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def video(make_video):
    return make_video("dance.mp4", [np.full((48, 64, 3), 40 * k, np.uint8) for k in range(6)])


@pytest.fixture
def fake_pose(monkeypatch):
    """Pose estimation replaced: reports its progress, then returns a dance or fails."""
    state = {"fail": False, "calls": []}

    def load_motion(path, *, key=None, fps=None, view=0, progress=None):
        state["calls"].append(progress)
        if progress is not None:
            for f in (0.0, 0.25, 0.5, 0.75, 1.0):
                progress(f, "estimating pose")
        if state["fail"]:
            raise D2MError("no person found in dance.mp4: use a video where one dancer shows")
        return synthetic_dance(bpm=100, duration_s=6, fps=30, seed=2)

    monkeypatch.setattr(analysis, "load_motion", load_motion)
    return state


def test_no_bar_when_stderr_is_not_a_terminal(video, fake_pose, capsys):
    assert main(["analyze", str(video)]) == 0
    captured = capsys.readouterr()
    assert fake_pose["calls"] == [None]  # not even a callback: nothing drawn anywhere
    assert "\r" not in captured.err and "%" not in captured.err
    assert "tempo" in captured.out


def test_bar_on_a_terminal(video, fake_pose, monkeypatch, capsys):
    tty = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["analyze", str(video)]) == 0
    err = tty.getvalue()
    assert "\rpose   0% [" in err and "\rpose 100% [" in err
    assert err.endswith("\r") and err.split("\r")[-2].strip() == ""  # erased when done
    assert "tempo" in capsys.readouterr().out


def test_quiet_turns_the_bar_off(video, fake_pose, monkeypatch):
    tty = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["analyze", str(video), "--quiet"]) == 0
    assert tty.getvalue() == ""
    out = video.parent / "out.wav"
    assert main(["generate", str(video), "-q", "-o", str(out)]) == 0
    assert tty.getvalue() == ""
    assert fake_pose["calls"] == [None, None]


def test_generate_draws_the_bar(video, fake_pose, monkeypatch):
    tty = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["generate", str(video), "-o", str(video.parent / "out.wav")]) == 0
    assert "\rpose 100% [" in tty.getvalue()


def test_error_stays_one_clean_line_after_the_bar(video, fake_pose, monkeypatch):
    fake_pose["fail"] = True
    tty = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["analyze", str(video)]) == 2
    err = tty.getvalue()
    assert "\rpose  50% [" in err
    # After the bar is blanked, the error is a line of its own, starting at column 0.
    assert (
        err.split("\r")[-1] == "error: no person found in dance.mp4: use a video where one"
        " dancer shows\n"
    )
