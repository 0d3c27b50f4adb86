"""The beat timeline's data and element (what the page's script draws)."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest

from d2m_core.dance.analysis import analyze_motion
from d2m_core.dance.overrides import BeatOverrides, apply_overrides
from d2m_core.dance.synth import synthetic_dance
from d2m_core.viz.timeline import LABELS, MAX_POINTS, timeline_data, timeline_html


@pytest.fixture(scope="module")
def analysis():
    return analyze_motion(synthetic_dance(bpm=96, duration_s=8.0, fps=30, seed=1))


def test_data_holds_the_beats_in_use_and_a_bounded_curve(analysis):
    d = timeline_data(analysis, video="#studio-video")
    assert d["video"] == "#studio-video"
    assert d["duration_s"] == pytest.approx(analysis.motion.duration_s, abs=1e-3)
    assert d["beats_s"] == pytest.approx(list(analysis.tempo.beats_s), abs=1e-3)
    assert d["auto_beats_s"] is None and d["music_beats_s"] is None
    env = np.array(d["envelope"])
    assert 2 <= len(env) <= MAX_POINTS
    assert env.min() >= 0.0 and env.max() == pytest.approx(1.0)
    assert d["labels"] == LABELS
    # Plain words on the main view: no paper symbols.
    assert not any(re.search(r"a\(t\)|\br\b", v) for v in d["labels"].values())
    json.dumps(d)  # JSON-ready


def test_long_curves_keep_their_peaks():
    from d2m_core.viz.timeline import _curve

    env = np.zeros(10_000)
    env[5_003] = 5.0  # one sharp move among stillness
    env[:100] = 1.0
    curve = _curve(env, max_points=500)
    assert len(curve) == 500 and max(curve) == 1.0
    assert curve[250] == 1.0  # the bin holding the sharp move keeps it


def test_corrected_beats_keep_the_automatic_ones_for_comparison(analysis):
    fixed = apply_overrides(analysis, BeatOverrides(beat_shift_s=0.05))
    d = timeline_data(fixed, video="#studio-video", music_beats_s=np.array([0.5, 1.0]))
    assert d["auto_beats_s"] == pytest.approx(list(analysis.tempo.beats_s), abs=1e-3)
    assert d["beats_s"][0] == pytest.approx(d["auto_beats_s"][0] + 0.05, abs=1e-3)
    assert d["music_beats_s"] == [0.5, 1.0]


def test_html_carries_the_data_escaped_with_a_legend(analysis):
    d = timeline_data(analysis, video="#studio-video", music_beats_s=[1.0])
    out = timeline_html(d, title='Beats of "<my> dance"')
    m = re.search(r'data-timeline="([^"]*)"', out)
    assert m and json.loads(html.unescape(m.group(1))) == d
    assert "&lt;my&gt;" in out and "<my>" not in out
    assert LABELS["envelope"] in out and LABELS["music"] in out
    legend = out[out.index('class="d2m-legend"') :]
    assert LABELS["auto"] not in legend  # no correction: no automatic-beats key
