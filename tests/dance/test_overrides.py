"""User corrections of the tempo and beats: known answers on a procedural dancer, and the checks."""

import dataclasses

import numpy as np
import pytest

from d2m_core.dance.analysis import analyze_motion
from d2m_core.dance.motion import Motion
from d2m_core.dance.overrides import (
    BeatOverrides,
    apply_overrides,
    parse_tempo_scale,
    read_user_beats,
)
from d2m_core.dance.synth import synthetic_dance
from d2m_core.errors import D2MError
from d2m_core.io.beatfile import read_beats_file

DURATION_S = 12.0
NEW_KEYS = {"auto_tempo_bpm", "beats_source", "beat_overrides", "beat_warnings", "scene_cuts_s"}


@pytest.fixture(scope="module")
def analysis():
    return analyze_motion(synthetic_dance(bpm=96, duration_s=DURATION_S, fps=30, seed=4))


def _median_spacing(beats: np.ndarray) -> float:
    return float(np.median(np.diff(beats)))


def test_tempo_scale_2_doubles_the_tempo_and_halves_the_spacing(analysis):
    auto = analysis.tempo
    fixed = apply_overrides(analysis, BeatOverrides(tempo_scale=2))
    assert fixed.tempo.bpm == pytest.approx(2 * auto.bpm)
    assert _median_spacing(fixed.tempo.beats_s) == pytest.approx(
        _median_spacing(auto.beats_s) / 2, rel=0.03
    )
    # Double time keeps the dance's beats and adds one between each pair.
    near = np.abs(auto.beats_s[:, None] - fixed.tempo.beats_s[None, :]).min(axis=1)
    assert np.median(near) < 0.05


@pytest.mark.parametrize("bpm", [60.0, 75.0, 130.0, 150.0, 200.0])
def test_tempo_gives_beats_at_that_spacing(analysis, bpm):
    fixed = apply_overrides(analysis, BeatOverrides(tempo_bpm=bpm))
    assert fixed.tempo.bpm == bpm
    assert _median_spacing(fixed.tempo.beats_s) == pytest.approx(60 / bpm, rel=0.03)
    beats = fixed.tempo.beats_s
    assert np.all(np.diff(beats) > 0) and beats[0] >= 0 and beats[-1] <= DURATION_S


@pytest.mark.parametrize(("scale", "factor"), [("0.5", 0.5), ("3/2", 1.5), ("2/3", 2 / 3)])
def test_other_tempo_scales(analysis, scale, factor):
    fixed = apply_overrides(analysis, BeatOverrides(tempo_scale=parse_tempo_scale(scale)))
    assert fixed.tempo.bpm == pytest.approx(analysis.tempo.bpm * factor)
    assert _median_spacing(fixed.tempo.beats_s) == pytest.approx(60 / fixed.tempo.bpm, rel=0.03)


def test_beat_shift_moves_every_beat(analysis):
    auto = analysis.tempo.beats_s
    later = apply_overrides(analysis, BeatOverrides(beat_shift_s=0.05)).tempo
    kept = auto[auto + 0.05 <= DURATION_S]
    np.testing.assert_allclose(later.beats_s, kept + 0.05)
    assert later.bpm == analysis.tempo.bpm
    # Earlier: a beat pushed before the start is dropped.
    shift = -(auto[0] + 0.01)
    earlier = apply_overrides(analysis, BeatOverrides(beat_shift_s=shift)).tempo.beats_s
    np.testing.assert_allclose(earlier, auto[1:] + shift)


def test_beat_shift_applies_after_the_tempo(analysis):
    scaled = apply_overrides(analysis, BeatOverrides(tempo_scale=2)).tempo.beats_s
    both = apply_overrides(analysis, BeatOverrides(tempo_scale=2, beat_shift_s=-0.03)).tempo
    np.testing.assert_allclose(both.beats_s, scaled[scaled - 0.03 >= 0] - 0.03)


def test_beats_file_used_verbatim(analysis, tmp_path):
    beats = np.array([0.4, 1.0, 1.62, 2.2, 2.8, 3.41, 4.0])
    path = tmp_path / "dance.beats"
    lines = ["# my beats", ""] + [f"{t}\t{i % 4 + 1}" for i, t in enumerate(beats)]
    path.write_text("\n".join(lines) + "\n")
    fixed = apply_overrides(analysis, BeatOverrides(beats_file=path))
    np.testing.assert_array_equal(fixed.tempo.beats_s, beats)
    assert fixed.tempo.bpm == pytest.approx(60 / np.median(np.diff(beats)))
    d = fixed.to_dict()
    assert d["beats_source"] == "file" and d["beat_overrides"]["beats_file"] == str(path)
    assert d["auto_tempo_bpm"] == round(analysis.tempo.bpm, 2) and d["beat_warnings"] == []
    shifted = apply_overrides(analysis, BeatOverrides(beats_file=path, beat_shift_s=0.1))
    np.testing.assert_allclose(shifted.tempo.beats_s, beats + 0.1)


def test_beats_past_the_end_are_dropped_with_a_warning(analysis, tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("1, 0\n2\n3\n13\n14\n")
    fixed = apply_overrides(analysis, BeatOverrides(beats_file=path))
    np.testing.assert_array_equal(fixed.tempo.beats_s, [1.0, 2.0, 3.0])
    (warning,) = fixed.beat_correction.warnings
    assert "2 beat time(s) after the dance's end" in warning
    assert fixed.to_dict()["beat_warnings"] == [warning]
    path.write_text("1\n13\n14\n")
    with pytest.raises(D2MError, match="only 1 of its 3 beat times lie within the dance"):
        apply_overrides(analysis, BeatOverrides(beats_file=path))


def test_input_untouched_and_overrides_do_not_compound(analysis):
    before = analysis.to_dict()
    beats = analysis.tempo.beats_s.copy()
    once = apply_overrides(analysis, BeatOverrides(tempo_scale=2))
    assert analysis.to_dict() == before and analysis.beat_correction is None
    np.testing.assert_array_equal(analysis.tempo.beats_s, beats)
    # Corrections start from the estimate again: 2 x then 2 x is 2 x, not 4 x.
    twice = apply_overrides(once, BeatOverrides(tempo_scale=2))
    assert twice.tempo.bpm == pytest.approx(once.tempo.bpm)
    assert twice.beat_correction.auto_tempo is analysis.tempo
    restored = apply_overrides(once, BeatOverrides())
    assert restored.to_dict() == before


def test_to_dict_without_overrides_only_adds_the_new_keys(analysis):
    d = analysis.to_dict()
    old = {
        "source", "fps", "num_frames", "duration_s", "frame_size", "frames_with_person",
        "frames_total", "tempo_bpm", "tempo_confidence", "visual_beats_s", "rhythm_peaks_s",
    }  # fmt: skip
    assert set(d) == old | NEW_KEYS
    assert d["auto_tempo_bpm"] == d["tempo_bpm"] and d["beats_source"] == "auto"
    assert d["beat_overrides"] == {
        "tempo_bpm": None, "tempo_scale": None, "beat_shift_s": 0.0, "beats_file": None,
    }  # fmt: skip
    assert d["beat_warnings"] == []


def test_tempo_scale_spellings():
    assert parse_tempo_scale("2") == 2.0 and parse_tempo_scale("1/2") == 0.5
    assert parse_tempo_scale("1.5") == parse_tempo_scale("3/2") == 1.5
    assert parse_tempo_scale("0.667") == parse_tempo_scale("2/3") == 2 / 3
    assert BeatOverrides(tempo_scale=0.667).to_dict()["tempo_scale"] == 0.6667
    for bad in ("3", "1", "abc", "1/0", "nan"):
        with pytest.raises(D2MError, match="--tempo-scale must be 2, 0.5"):
            parse_tempo_scale(bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tempo_bpm": 120, "tempo_scale": 2}, "give only one of them"),
        ({"tempo_bpm": 29}, "outside 30-300 BPM"),
        ({"tempo_bpm": 301}, "outside 30-300 BPM"),
        ({"tempo_bpm": float("nan")}, "outside 30-300 BPM"),
        ({"tempo_scale": 3}, "--tempo-scale must be"),
        ({"beat_shift_s": float("inf")}, "finite number of seconds"),
    ],
)
def test_bad_requests(kwargs, message):
    with pytest.raises(D2MError, match=message):
        BeatOverrides(**kwargs)


def test_beats_file_excludes_a_tempo(tmp_path):
    path = tmp_path / "b.txt"
    path.write_text("1\n2\n")
    for kw in ({"tempo_bpm": 100}, {"tempo_scale": 2}):
        with pytest.raises(D2MError, match="drop --tempo/--tempo-scale"):
            BeatOverrides(beats_file=path, **kw)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "beats file not found"),
        ("1.5\n", "holds 1 beat time"),
        ("# nothing\n", "holds 0 beat time"),
        ("1\n2\nnan\n", "finite"),
        ("-0.5\n1\n", "negative"),
        ("1\n3\n2\n", r"must increase \(2 s follows 3 s\)"),
        ("1\n1\n2\n", "must increase"),
        ("time beat\n1 1\n", "not a beat file"),
    ],
)
def test_bad_beat_files(tmp_path, content, message):
    path = tmp_path / "b.beats"
    if content is not None:
        path.write_text(content)
    with pytest.raises(D2MError, match=message):
        BeatOverrides(beats_file=path)
    if content is not None:
        assert path.read_text() == content


def test_beat_file_tempo_out_of_range(analysis, tmp_path):
    path = tmp_path / "frames.txt"
    path.write_text("0\n0.1\n0.2\n")  # 600 BPM: not seconds between beats
    with pytest.raises(D2MError, match="600.0 BPM apart, outside 30-300 BPM"):
        apply_overrides(analysis, BeatOverrides(beats_file=path))


def test_corrections_that_do_not_fit_the_dance(analysis):
    with pytest.raises(D2MError, match="moves the beats out of the dance"):
        apply_overrides(analysis, BeatOverrides(beat_shift_s=DURATION_S))
    # The scaled tempo must stay in range too (an estimate of 180 BPM cannot be doubled).
    fast = dataclasses.replace(analysis, tempo=dataclasses.replace(analysis.tempo, bpm=180.0))
    with pytest.raises(D2MError, match="360 BPM is outside 30-300 BPM: give --tempo BPM instead"):
        apply_overrides(fast, BeatOverrides(tempo_scale=2))


def test_still_dancer_gets_an_even_grid_at_the_given_tempo():
    kp = np.ones((300, 17, 3), np.float32) * 50
    still = analyze_motion(Motion(keypoints=kp, fps=30))
    assert still.tempo.bpm == 0
    fixed = apply_overrides(still, BeatOverrides(tempo_bpm=120))
    np.testing.assert_allclose(np.diff(fixed.tempo.beats_s), 0.5)
    with pytest.raises(D2MError, match="no tempo was found in this dance to scale"):
        apply_overrides(still, BeatOverrides(tempo_scale=2))
    with pytest.raises(D2MError, match="no beats were found to shift"):
        apply_overrides(still, BeatOverrides(beat_shift_s=0.1))


def test_beat_file_reader_orders(tmp_path):
    path = tmp_path / "x.beats"
    path.write_text("# annotations\n2.0 1\n1.0,2\n\n3.0\t3  # last\n")
    np.testing.assert_array_equal(read_beats_file(path), [1.0, 2.0, 3.0])  # annotations: sorted
    np.testing.assert_array_equal(read_beats_file(path, sort=False), [2.0, 1.0, 3.0])
    with pytest.raises(D2MError, match="must increase"):
        read_user_beats(path)
