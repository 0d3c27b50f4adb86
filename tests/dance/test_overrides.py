"""User corrections of the tempo and beats: known answers on a procedural dancer, and the checks."""

import dataclasses

import numpy as np
import pytest

from d2m_core.dance.analysis import analyze_motion
from d2m_core.dance.motion import Motion
from d2m_core.dance.overrides import (
    SHIFT_STEP_S,
    BeatOverrides,
    apply_overrides,
    beats_from_taps,
    parse_taps,
    parse_tempo_scale,
    read_user_beats,
    step_overrides,
    tap_overrides,
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
        "tap_times_s": None, "beat_times_s": None,
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


# Tapping along (beats_from_taps, source "taps") and beat times given directly (source "beats").


def _taps(*, bpm=100.0, n=8, start_s=1.3, jitter_s=0.015, seed=0):
    rng = np.random.default_rng(seed)
    return start_s + 60 / bpm * np.arange(n) + rng.uniform(-jitter_s, jitter_s, n)


def _nearest(times, beats):
    """Distance from each of ``times`` to the nearest of ``beats``, seconds."""
    return np.abs(np.asarray(times)[:, None] - np.asarray(beats)[None, :]).min(axis=1)


def test_beats_from_taps_follow_jittered_taps():
    taps = _taps()
    beats, bpm = beats_from_taps(taps, duration_s=DURATION_S)
    assert bpm == pytest.approx(100, rel=0.01)
    assert _nearest(taps, beats).max() < 0.020
    # One even grid over the whole dance, before the first tap and after the last too.
    np.testing.assert_allclose(np.diff(beats), 60 / bpm)
    assert 0 <= beats[0] < 60 / bpm and DURATION_S - 60 / bpm < beats[-1] <= DURATION_S


def test_beats_from_taps_tolerate_a_missed_tap():
    taps = _taps()
    beats, bpm = beats_from_taps(np.delete(taps, 4), duration_s=DURATION_S)
    assert bpm == pytest.approx(100, rel=0.01)
    assert _nearest(taps, beats).max() < 0.020  # the missed one included
    # Taps past the dance's end still set the grid; its beats stop at the end.
    late, _ = beats_from_taps(taps + 8.0, duration_s=DURATION_S)
    assert late[-1] <= DURATION_S and _nearest(taps[taps + 8 <= DURATION_S] + 8, late).max() < 0.02


@pytest.mark.parametrize(
    ("taps", "message"),
    [
        ([1.0, 1.6, 2.2], r"3 tap\(s\): tap along with at least 4 beats"),
        ([], r"0 tap\(s\)"),
        ([1.0, 1.6, 1.4, 2.2], r"tap times must increase \(1.4 s follows 1.6 s\)"),
        ([1.0, 1.6, 1.6, 2.2], "tap times must increase"),
        ([1.0, 1.6, float("nan"), 2.8], "finite"),
        ([1.0, 1.6, 1.65, 2.2, 2.8], "taps too close: 1.6 s and 1.65 s"),
        ([1.0, 1.15, 1.3, 1.45], "the tapped tempo 400 BPM is outside 30-300 BPM"),
        ([1.0, 4.0, 7.0, 10.0], "the tapped tempo 20 BPM is outside"),
        ("1,2,3,4", "must be a list of times in seconds"),
        ([[1.0, 2.0], [3.0, 4.0]], "must be a list of times in seconds"),
    ],
)
def test_bad_taps(taps, message):
    with pytest.raises(D2MError, match=message):
        beats_from_taps(taps, duration_s=DURATION_S)
    with pytest.raises(D2MError, match=message):
        BeatOverrides(tap_times_s=taps)  # refused before any analysis


def test_taps_outside_the_dance():
    with pytest.raises(D2MError, match="the taps give 1 beat"):
        beats_from_taps([0.1, 0.7, 1.3, 1.9], duration_s=0.5)
    with pytest.raises(D2MError, match="positive number of seconds"):
        beats_from_taps([0.1, 0.7, 1.3, 1.9], duration_s=float("nan"))


def test_tap_source_and_shift(analysis):
    taps = _taps()
    o = BeatOverrides(tap_times_s=taps)  # an array in, a tuple of floats stored
    assert o.source == "taps" and not o.is_identity
    assert isinstance(o.tap_times_s, tuple) and o.tap_times_s == tuple(taps.tolist())
    assert hash(o) == hash(BeatOverrides(tap_times_s=list(taps))) and o == BeatOverrides(
        tap_times_s=list(taps)
    )
    grid, bpm = beats_from_taps(taps, duration_s=DURATION_S)
    fixed = apply_overrides(analysis, o)
    np.testing.assert_array_equal(fixed.tempo.beats_s, grid)
    assert fixed.tempo.bpm == bpm and fixed.to_dict()["beats_source"] == "taps"
    assert fixed.to_dict()["beat_overrides"]["tap_times_s"] == taps.tolist()
    shifted = apply_overrides(analysis, BeatOverrides(tap_times_s=taps, beat_shift_s=0.05))
    np.testing.assert_allclose(shifted.tempo.beats_s, grid[grid + 0.05 <= DURATION_S] + 0.05)
    assert parse_taps("1.3, 1.9,2.5 3.1") == (1.3, 1.9, 2.5, 3.1)
    with pytest.raises(D2MError, match="--taps must be tap times in seconds"):
        parse_taps("1.3;1.9")


def test_beat_times_used_as_given(analysis):
    times = [0.4, 1.0, 1.62, 2.2, 2.8, 13.0, 14.0]
    o = BeatOverrides(beat_times_s=np.array(times), beat_shift_s=-0.1)
    assert o.source == "beats" and o.beat_times_s == tuple(times)
    fixed = apply_overrides(analysis, o)
    np.testing.assert_allclose(fixed.tempo.beats_s, np.array(times[:5]) - 0.1)
    assert fixed.tempo.bpm == pytest.approx(60 / np.median(np.diff(times[:5])))
    (warning,) = fixed.beat_correction.warnings
    assert warning == "beat_times_s: 2 beat time(s) after the dance's end (12.00 s) ignored"
    assert fixed.to_dict()["beat_overrides"]["beat_times_s"] == times
    with pytest.raises(D2MError, match="beat_times_s: only 1 of its 3 beat times lie within"):
        apply_overrides(analysis, BeatOverrides(beat_times_s=[1.0, 13.0, 14.0]))
    with pytest.raises(D2MError, match="the beats in beat_times_s are 600.0 BPM apart"):
        apply_overrides(analysis, BeatOverrides(beat_times_s=[0.0, 0.1, 0.2]))


@pytest.mark.parametrize(
    ("times", "message"),
    [
        ([1.5], "beat_times_s holds 1 beat time"),
        ([1.0, 2.0, float("inf")], "finite"),
        ([-0.5, 1.0], "negative"),
        ([1.0, 3.0, 2.0], r"must increase \(2 s follows 3 s\)"),
        (1.5, "must be a list of times in seconds"),
    ],
)
def test_bad_beat_times(times, message):
    with pytest.raises(D2MError, match=message):
        BeatOverrides(beat_times_s=times)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tempo_bpm": 120}, "drop --tempo/--tempo-scale/--beats, or drop --taps"),
        ({"tempo_scale": 2}, "drop --tempo/--tempo-scale/--beats, or drop --taps"),
        ({"beats_file": "b.txt"}, "drop --tempo/--tempo-scale/--beats, or drop --taps"),
    ],
)
def test_taps_exclude_the_other_sources(kwargs, message):
    with pytest.raises(D2MError, match=message):
        BeatOverrides(tap_times_s=_taps(), **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"tempo_bpm": 120}, {"tempo_scale": 2}, {"beats_file": "b.txt"},
     {"tap_times_s": [1.0, 1.6, 2.2, 2.8]}],
)  # fmt: skip
def test_beat_times_exclude_the_other_sources(kwargs):
    with pytest.raises(D2MError, match="beat_times_s gives the beats themselves: drop --tempo"):
        BeatOverrides(beat_times_s=[1.0, 2.0], **kwargs)


# Requests from the app: BeatOverrides.from_dict.


@pytest.mark.parametrize(
    "overrides",
    [
        BeatOverrides(),
        BeatOverrides(tempo_bpm=128, beat_shift_s=-0.04),
        BeatOverrides(tempo_scale=2 / 3),
        BeatOverrides(tap_times_s=[1.0, 1.61, 2.2, 2.79], beat_shift_s=0.01),
        BeatOverrides(beat_times_s=[0.5, 1.0, 1.5]),
    ],
)
def test_from_dict_inverts_to_dict(overrides):
    d = overrides.to_dict()
    assert BeatOverrides.from_dict(d) == overrides
    assert BeatOverrides.from_dict({k: v for k, v in d.items() if v is not None}) == overrides


def test_from_dict_defaults_and_refusals(tmp_path):
    assert BeatOverrides.from_dict(None) == BeatOverrides.from_dict({}) == BeatOverrides()
    assert BeatOverrides.from_dict({"beat_shift_s": None}).is_identity
    path = tmp_path / "b.txt"
    path.write_text("1\n2\n")
    with pytest.raises(D2MError, match="a beat file path cannot come from the web page"):
        BeatOverrides.from_dict({"beats_file": str(path)})
    with pytest.raises(D2MError, match="unknown beat_overrides key.s. bpm, shift: give only"):
        BeatOverrides.from_dict({"shift": 0.1, "bpm": 120})
    with pytest.raises(D2MError, match="--tempo 400 BPM is outside"):
        BeatOverrides.from_dict({"tempo_bpm": 400})


@pytest.mark.parametrize(
    ("d", "message"),
    [
        ([("tempo_bpm", 120)], "must be a JSON object, got list"),
        ("tempo_bpm=120", "must be a JSON object, got str"),
        ({"tempo_bpm": "120"}, "beat_overrides.tempo_bpm must be a number, got '120'"),
        ({"tempo_scale": True}, "beat_overrides.tempo_scale must be a number"),
        ({"beat_shift_s": [0.1]}, "beat_overrides.beat_shift_s must be a number"),
        ({"tap_times_s": "1,2,3,4"}, "beat_overrides.tap_times_s must be a list of times"),
        ({"tap_times_s": [1, 2, "3", 4]}, "beat_overrides.tap_times_s must be a list of times"),
        ({"beat_times_s": {"a": 1}}, "beat_overrides.beat_times_s must be a list of times"),
        ({"beat_times_s": [1, None]}, "beat_overrides.beat_times_s must be a list of times"),
        ({"tempo_bpm": 120, "tap_times_s": [1, 2, 3, 4]}, "or drop --taps"),
    ],
)
def test_from_dict_wrong_types_are_d2m_errors(d, message):
    with pytest.raises(D2MError, match=message):
        BeatOverrides.from_dict(d)


# The app's buttons: step_overrides and tap_overrides.


def _step(analysis, overrides, *actions):
    for action in actions:
        overrides = step_overrides(overrides, action, analysis=analysis)
    return overrides


def test_tempo_steps_on_the_estimate(analysis):
    auto = analysis.tempo.bpm
    beats0 = analysis.tempo.beats_s
    assert auto == pytest.approx(96, rel=0.02)
    # x3/2 and x2/3 re-track at the new tempo.
    for actions, factor in [(["three_two"], 1.5), (["two_three"], 2 / 3),
                            (["three_two", "two_three"], 1)]:  # fmt: skip
        o = _step(analysis, BeatOverrides(), *actions)
        assert o.source == "tempo" and o.tempo_bpm == pytest.approx(auto * factor)
        beats = apply_overrides(analysis, o).tempo.beats_s
        assert _median_spacing(beats) == pytest.approx(60 / (auto * factor), rel=0.03), actions
    # x2 and x1/2 work on the beats shown: exactly double (the checked beats stay) or half.
    doubled = apply_overrides(analysis, _step(analysis, BeatOverrides(), "double")).tempo
    assert set(np.round(beats0, 6)) <= set(np.round(doubled.beats_s, 6))
    assert len(doubled.beats_s) == 2 * len(beats0) - 1
    assert doubled.bpm == pytest.approx(2 * 60 / np.median(np.diff(beats0)), rel=0.02)
    halved = apply_overrides(analysis, _step(analysis, BeatOverrides(), "half")).tempo
    assert set(np.round(halved.beats_s, 6)) <= set(np.round(beats0, 6))
    assert _median_spacing(halved.beats_s) == pytest.approx(2 * _median_spacing(beats0), rel=0.02)
    back = _step(analysis, BeatOverrides(), "double", "half")
    np.testing.assert_allclose(apply_overrides(analysis, back).tempo.beats_s, beats0, atol=1e-6)
    # Steps compose: 96 -> 192 -> 384 BPM is out of range.
    with pytest.raises(D2MError, match=r"x 2 = 38\d.\d BPM is outside 30-300"):
        _step(analysis, BeatOverrides(), "double", "double")


def test_halving_keeps_the_half_on_the_moves():
    """Every other beat of a grid at twice the dance's tempo: the half on the moves stays."""
    from d2m_core.dance.analysis import analyze_motion
    from d2m_core.dance.synth import synthetic_dance

    a = analyze_motion(synthetic_dance(bpm=96, duration_s=10.0, fps=30, seed=3))
    assert a.tempo.bpm == pytest.approx(96, rel=0.03)
    on_moves = a.tempo.beats_s
    period = float(np.median(np.diff(on_moves)))
    off = on_moves + period / 2  # the user's double-time grid: moves, then off-beats
    grid = np.sort(np.concatenate([on_moves, off[off < a.motion.duration_s]]))
    o = _step(a, BeatOverrides(beat_times_s=grid), "half")
    kept = apply_overrides(a, o).tempo.beats_s
    # Placed beats keep the first beat's half; for the estimate's own double-time grid
    # the stronger half is chosen.
    np.testing.assert_allclose(kept, grid[0::2], atol=1e-5)
    est = _step(a, BeatOverrides(tempo_bpm=2 * a.tempo.bpm), "half")
    est_beats = apply_overrides(a, est).tempo.beats_s
    nearest = np.abs(est_beats[:, None] - on_moves[None, :]).min(axis=1)
    assert np.median(nearest) < 0.1 * period


def test_shift_steps_move_every_beat(analysis):
    doubled = _step(analysis, BeatOverrides(), "double")
    plain = apply_overrides(analysis, doubled).tempo.beats_s
    earlier = _step(analysis, doubled, "earlier", "earlier", "earlier")
    assert earlier.beat_shift_s == -0.03 and earlier.beat_times_s == doubled.beat_times_s
    moved = apply_overrides(analysis, earlier).tempo.beats_s
    np.testing.assert_allclose(moved, plain[plain >= 0.03] - 0.03)
    # Ten steps are 0.1 s on the dot, and a tempo step keeps the shift.
    later = _step(analysis, BeatOverrides(), *["later"] * 10)
    assert later.beat_shift_s == 10 * SHIFT_STEP_S == 0.1 and later.source == "auto"
    assert _step(analysis, later, "half").beat_shift_s == 0.1


def test_reset_gives_the_estimate_back(analysis):
    o = _step(analysis, BeatOverrides(), "double", "later", "three_two")
    assert not o.is_identity
    reset = _step(analysis, o, "reset")
    assert reset == BeatOverrides() and reset.is_identity
    back = apply_overrides(apply_overrides(analysis, o), reset)
    np.testing.assert_array_equal(back.tempo.beats_s, analysis.tempo.beats_s)
    assert back.beat_correction is None


def test_unknown_step_and_still_dancer(analysis):
    with pytest.raises(D2MError, match="unknown beat action 'triple': give one of double, half"):
        step_overrides(BeatOverrides(), "triple", analysis=analysis)
    kp = np.ones((300, 17, 3), np.float32) * 50
    still = analyze_motion(Motion(keypoints=kp, fps=30))
    with pytest.raises(D2MError, match="no tempo was found in this dance to change"):
        step_overrides(BeatOverrides(), "double", analysis=still)


def test_tap_steps_keep_the_tapped_phase(analysis):
    taps = analysis.tempo.beats_s[3:11] + np.random.default_rng(1).uniform(-0.015, 0.015, 8)
    tapped = tap_overrides(taps, overrides=_step(analysis, BeatOverrides(), "double", "later"))
    assert tapped == BeatOverrides(tap_times_s=taps)  # replaces the tempo and the shift
    grid = apply_overrides(analysis, tapped).tempo
    for actions, factor in [
        (["double"], 2), (["half"], 0.5), (["three_two"], 1.5), (["two_three"], 2 / 3),
        (["double", "half"], 1), (["half", "double"], 1),
    ]:  # fmt: skip
        o = _step(analysis, tapped, *actions)
        assert o.source == "beats", actions
        beats = apply_overrides(analysis, o).tempo
        assert beats.bpm == pytest.approx(grid.bpm * factor, rel=1e-4), actions
        # The first tap's beat stays on the grid; at 2 x or 1 x, so does every tap.
        first = _nearest(grid.beats_s, [taps[0]]).argmin()
        assert _nearest([grid.beats_s[first]], beats.beats_s)[0] < 1e-5, actions
        if factor in (1, 2):
            assert _nearest(taps, beats.beats_s).max() < 0.020, actions
        elif factor == 1.5:  # every other tap: 2 beats of the taps are 3 of the new grid
            assert _nearest(taps[::2], beats.beats_s).max() < 0.020, actions
    # x2 adds the midpoints; halving it again gives the tap grid back.
    doubled = apply_overrides(analysis, _step(analysis, tapped, "double")).tempo.beats_s
    np.testing.assert_allclose(doubled[::2], grid.beats_s, atol=1e-6)
    back = apply_overrides(analysis, _step(analysis, tapped, "double", "half")).tempo.beats_s
    np.testing.assert_allclose(back, grid.beats_s, atol=1e-6)
    # The shift is kept through a tempo step and applies last.
    o = _step(analysis, tapped, "earlier", "double")
    assert o.beat_shift_s == -0.01
    shifted = apply_overrides(analysis, o).tempo.beats_s
    np.testing.assert_allclose(shifted, doubled[doubled >= 0.01] - 0.01, atol=1e-6)
