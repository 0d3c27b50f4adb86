"""Visual beats against the music's beats: levels, level-tolerant F, lag and ROC AUC by hand."""

from __future__ import annotations

import numpy as np
import pytest

from d2m_core.metrics import visual

BEATS = np.arange(0.5, 10.0, 0.5)  # 120 BPM


def test_reference_tempo_and_levels():
    assert visual.reference_tempo(BEATS) == pytest.approx(120.0)
    assert visual.reference_tempo([1.0]) == 0.0
    assert visual.tempo_level(121.0, 120.0) == 1.0
    assert visual.tempo_level(61.0, 120.0) == 0.5
    assert visual.tempo_level(180.0, 120.0) == 1.5
    assert visual.tempo_level(80.0, 120.0) == pytest.approx(2 / 3)
    assert visual.tempo_level(100.0, 120.0) is None  # 3:4 is not a level
    assert visual.tempo_level(125.0, 120.0, tolerance=0.04) is None  # 4.2% off
    assert visual.tempo_level(0.0, 120.0) is None


def test_level_tolerant_f_accepts_half_and_double_time_but_not_off_beats():
    assert visual.level_f_measure(BEATS, BEATS) == (1.0, "1x")
    half_even = BEATS[1::2]  # every other beat, starting on the second
    f, which = visual.level_f_measure(BEATS, half_even)
    assert f == 1.0 and which == "1/2 (even)"
    f, which = visual.level_f_measure(BEATS, visual.double_time(BEATS))
    assert f == 1.0 and which == "2x"
    off = BEATS + 0.25  # exactly between the beats
    f_off, _ = visual.level_f_measure(BEATS, off)
    # Off-beats only match the double-time reference, and only half of it: F about 2/3.
    assert 0.6 < f_off < 0.7


def test_best_lag_finds_a_constant_offset():
    lag, f = visual.best_lag(BEATS, BEATS - 0.12)
    assert lag == pytest.approx(0.12, abs=0.011) and f == 1.0
    lag, f = visual.best_lag(BEATS, BEATS)
    assert lag == pytest.approx(0.0, abs=0.011) and f == 1.0


def test_roc_auc_by_hand():
    assert visual.roc_auc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert visual.roc_auc([0.1, 0.8, 0.9], [True, True, False]) == 0.0
    assert visual.roc_auc([0.5, 0.5], [True, False]) == 0.5
    assert np.isnan(visual.roc_auc([0.5, 0.4], [True, True]))
    with pytest.raises(ValueError):
        visual.roc_auc([0.5], [True, False])


def test_evaluate_one_clip():
    e = visual.evaluate(visual_bpm=60.0, visual_beats_s=BEATS[0::2] + 0.03,
                        reference_beats_s=BEATS)  # fmt: skip
    assert e["tempo_level"] == 0.5 and not e["tempo_exact"]
    assert e["f_level"] == 1.0 and e["f_level_variant"] == "1/2 (odd)"
    assert e["lag_s"] == pytest.approx(-0.03, abs=0.011) and e["f_lagged"] == 1.0
