"""Zero-shot sync (d2m_core.sync): constructed cases with known answers, CLI, shared music."""

from __future__ import annotations

import json
from pathlib import Path

import librosa
import numpy as np
import pytest

from d2m_core.errors import D2MError
from d2m_core.sync.align import align_to_beats, target_beats
from d2m_core.sync.checks import (
    CHROMA_TOLERANCE,
    PITCH_TOLERANCE_CENTS,
    pitch_figures,
    stretch_summary,
)
from d2m_core.sync.looping import choose_loop, loop_music, splice_loop, timeline_beats
from d2m_core.sync.stretch import time_map_stretch
from d2m_core.sync.timemap import (
    build_time_map,
    choose_step,
    fit_anchors,
    inverse_map_times,
    map_times,
    pair_beats,
)

SR = 22050
ROOT = Path(__file__).resolve().parents[2]


def clicks(beats_s: np.ndarray, duration_s: float, *, sr: int = SR) -> np.ndarray:
    """Unit impulses at the beats (exact sample positions)."""
    y = np.zeros(int(round(duration_s * sr)), np.float32)
    idx = np.round(np.asarray(beats_s) * sr).astype(int)
    y[idx[idx < y.size]] = 1.0
    return y


def drum_track(beats_s: np.ndarray, duration_s: float, *, sr: int = SR) -> np.ndarray:
    """Short decaying noise bursts on the beats (what a beat tracker sees as drums)."""
    rng = np.random.default_rng(0)
    n = int(0.05 * sr)
    burst = (rng.standard_normal(n) * np.exp(-np.arange(n) / (0.008 * sr))).astype(np.float32)
    y = np.zeros(int(round(duration_s * sr)) + n, np.float32)
    for b in beats_s:
        i = int(round(b * sr))
        if i < y.size - n:
            y[i : i + n] += 0.5 * burst
    return y[: int(round(duration_s * sr))]


def sine(freq: float, duration_s: float, *, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(duration_s * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(y: np.ndarray, sr: int = SR) -> float:
    """Dominant frequency with parabolic interpolation of a Hann-windowed FFT."""
    w = np.hanning(y.size)
    mag = np.abs(np.fft.rfft(y * w, 8 * y.size))
    k = int(np.argmax(mag))
    a, b, c = np.log(mag[k - 1 : k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / (8 * y.size)


def wobble_map(duration_s: float, *, seg_s: float = 0.5) -> np.ndarray:
    """Time map alternating stretch ratios 1.25 and 0.8 every ``seg_s`` of output."""
    out = np.arange(0.0, duration_s + 1.0 + seg_s, seg_s)
    ratios = np.where(np.arange(out.size - 1) % 2 == 0, 1.25, 0.8)
    src = np.concatenate([[0.0], np.cumsum(np.diff(out) / ratios)])
    return np.stack([out, src], axis=1)


# --------------------------------------------------------------------------------------------
# pairing and the time map


def test_choose_step_handles_half_and_double_tempo():
    t = np.arange(0, 20, 0.6)  # 100 BPM dance
    assert choose_step(np.arange(0, 20, 0.55), t) == (1, 1)
    assert choose_step(np.arange(0, 20, 0.3), t) == (2, 1)  # music at 200 BPM
    assert choose_step(np.arange(0, 20, 1.25), t) == (1, 2)  # music at 48 BPM


def test_pair_beats_picks_offset_with_least_stretch():
    # one bar of fast beats, then a steady 100 BPM: the pairing should start where the
    # music's spacing matches the dance's (beat 3), not stretch the fast bar
    src = np.concatenate([[0.0, 0.3, 0.6], 0.9 + 0.6 * np.arange(30)])
    tgt = 0.5 + 0.6 * np.arange(20)
    pairing = pair_beats(src, tgt, smoothing=0.0)
    assert pairing.step == (1, 1)
    assert pairing.pairs[0].tolist() == [3, 0]
    np.testing.assert_allclose(pairing.anchors_s, tgt, atol=1e-6)


def test_fit_anchors_respects_ratio_bounds():
    src = np.arange(10) * 0.5
    tgt = np.arange(10) * 1.0  # would need ratio 2
    u = fit_anchors(src, tgt, max_stretch=1.4, smoothing=0.0)
    r = np.diff(u) / np.diff(src)
    assert np.all(r <= 1.4 + 1e-6) and np.all(r >= 1 / 1.4 - 1e-6)
    # smoothing = 0 and feasible targets: exact
    u = fit_anchors(src, src * 1.2 + 0.1, smoothing=0.0)
    np.testing.assert_allclose(u, src * 1.2 + 0.1, atol=1e-6)


def test_time_map_is_monotonic_and_invertible():
    rng = np.random.default_rng(1)
    src = np.cumsum(rng.uniform(0.4, 0.7, 40))
    tgt = np.cumsum(rng.uniform(0.45, 0.65, 40))
    u = fit_anchors(src, tgt, max_stretch=1.45, smoothing=1.0)
    tm = build_time_map(src, u, duration_s=float(tgt[-1]) + 2)
    assert np.all(np.diff(tm[:, 0]) > 0) and np.all(np.diff(tm[:, 1]) > 0)
    assert tm[0, 0] <= 0 and tm[-1, 0] >= tgt[-1] + 2
    t = np.linspace(-1, tgt[-1] + 3, 500)
    np.testing.assert_allclose(inverse_map_times(tm, map_times(tm, t)), t, atol=1e-9)


# --------------------------------------------------------------------------------------------
# rendering


def test_click_track_100_bpm_lands_on_110_bpm_grid():
    src_beats = 0.25 + 0.6 * np.arange(20)  # 100 BPM
    grid = 0.3 + (60 / 110) * np.arange(18)  # 110 BPM
    music = clicks(src_beats, 12.5)
    res = align_to_beats(
        music, SR, target_beats_s=grid, duration_s=10.0, source_beats_s=src_beats,
        smoothing=0.0, measure=False,
    )  # fmt: skip
    y = np.abs(res.audio)
    assert res.audio.shape == (int(10.0 * SR),)
    for g in grid[grid < 9.9]:
        i0, i1 = int((g - 0.1) * SR), int((g + 0.1) * SR)
        peak = (i0 + int(np.argmax(y[i0:i1]))) / SR
        assert abs(peak - g) <= 0.020, (g, peak)
        assert y[i0:i1].max() > 0.5  # the click survives (not smeared away)
    tm = res.time_map
    assert np.all(np.diff(tm[:, 0]) > 0) and np.all(np.diff(tm[:, 1]) > 0)
    assert res.step == (1, 1)
    assert res.stretch["mean"] == pytest.approx((60 / 110) / 0.6, rel=0.01)


def test_detected_beats_follow_the_grid():
    src_beats = 0.2 + 0.6 * np.arange(25)  # 100 BPM drums
    grid = 0.25 + (60 / 110) * np.arange(25)  # 110 BPM
    music = drum_track(src_beats, 15.0)
    res = align_to_beats(music, SR, target_beats_s=grid, duration_s=13.0)
    assert res.f_measure_before < 0.6
    assert res.f_measure_after >= 0.9
    assert res.hit_rate_after >= 0.9
    assert res.loop is None


@pytest.mark.parametrize("method", ["wsola", "pv"])
def test_steady_sine_keeps_its_pitch(method):
    x = sine(440.0, 6.0)
    y = time_map_stretch(x, SR, time_map=wobble_map(5.0), duration_s=5.0, method=method)
    assert y.shape == (5 * SR,)
    f = peak_frequency(y[SR // 2 : -SR // 2])
    assert abs(1200 * np.log2(f / 440.0)) < 3.0  # cents
    rms_in, rms_out = np.sqrt(np.mean(x**2)), np.sqrt(np.mean(y[SR // 2 : -SR // 2] ** 2))
    assert abs(20 * np.log10(rms_out / rms_in)) < 1.0


@pytest.mark.parametrize("method,bound", [("wsola", 1.05), ("pv", 1.2)])
def test_no_clicks_at_segment_joins(method, bound):
    x = sine(220.0, 6.0) + sine(330.0, 6.0, amp=0.3)
    y = time_map_stretch(x, SR, time_map=wobble_map(5.0, seg_s=0.37), duration_s=5.0, method=method)
    # a click is a sample-to-sample jump far above what the tone itself produces
    assert np.max(np.abs(np.diff(y))) <= bound * np.max(np.abs(np.diff(x)))


def test_stereo_in_stereo_out():
    x = np.stack([sine(440.0, 4.0), sine(660.0, 4.0)], axis=1)
    y = time_map_stretch(x, 44100 // 2, time_map=wobble_map(3.0), duration_s=3.0)
    assert y.shape == (3 * SR, 2)
    assert abs(peak_frequency(y[SR:-SR, 1]) - 660.0) < 2.0


def test_pitch_figures_see_a_semitone_and_not_a_warp():
    x = (sine(440.0, 4.0) + sine(554.37, 4.0, amp=0.3) + sine(659.26, 4.0, amp=0.3)) / 2
    seg = np.array([[0.5, 3.5]])
    d0, c0 = pitch_figures(x, x.copy(), source_segments_s=seg, output_segments_s=seg)
    assert d0 < 1e-6 and abs(c0) < 1
    shifted = librosa.effects.pitch_shift(x, sr=SR, n_steps=1)
    d1, c1 = pitch_figures(x, shifted, source_segments_s=seg, output_segments_s=seg)
    assert d1 > 5 * CHROMA_TOLERANCE
    assert abs(c1 - 100) < PITCH_TOLERANCE_CENTS


# --------------------------------------------------------------------------------------------
# looping and edge cases


def test_short_music_is_looped_at_bar_boundaries_without_clicks():
    beats = 0.25 + 0.5 * np.arange(12)  # 120 BPM, 6.25 s of music
    x = sine(220.0, 6.25) * 0.5 + drum_track(beats, 6.25)
    lm = loop_music(x, SR, beats_s=beats, min_duration_s=20.0)
    assert lm.info is not None
    assert lm.info["bars"] == int(lm.info["bars"]) >= 1
    assert lm.audio.shape[0] >= 20.0 * SR
    # the timeline's beats stay on a 0.5 s grid across the joins
    ibi = np.diff(lm.beats_s)
    np.testing.assert_allclose(ibi, 0.5, atol=1.5 / SR)
    tone = sine(220.0, lm.audio.shape[0] / SR) * 0.5
    lt = loop_music(tone[: int(6.25 * SR)], SR, beats_s=beats, min_duration_s=20.0)
    assert np.max(np.abs(np.diff(lt.audio))) <= 1.05 * np.max(np.abs(np.diff(tone)))


def test_align_loops_to_cover_the_dance_or_stops_when_told():
    src_beats = 0.2 + 0.6 * np.arange(10)
    music = drum_track(src_beats, 6.2)
    grid = 0.3 + 0.55 * np.arange(30)
    res = align_to_beats(music, SR, target_beats_s=grid, duration_s=16.0)
    assert res.loop is not None and res.span_after_s == pytest.approx(16.0)
    assert res.audio.shape == (16 * SR,)
    assert res.f_measure_after >= 0.85
    res = align_to_beats(music, SR, target_beats_s=grid, duration_s=16.0, loop=False, measure=False)
    assert res.loop is None and res.span_after_s < 8.0
    tail = res.audio[int((res.span_after_s + 0.1) * SR) :]
    assert np.max(np.abs(tail)) < 1e-4


def test_user_errors_are_one_line():
    music = drum_track(0.2 + 0.6 * np.arange(10), 6.2)
    with pytest.raises(D2MError, match="at least 2 beats"):
        align_to_beats(music, SR, target_beats_s=np.array([1.0]))
    with pytest.raises(D2MError, match="no samples"):
        align_to_beats(np.zeros(0, np.float32), SR, target_beats_s=np.arange(5.0))
    with pytest.raises(D2MError, match="max_stretch"):
        align_to_beats(music, SR, target_beats_s=np.arange(5.0), max_stretch=1.0)
    with pytest.raises(D2MError, match="method"):
        align_to_beats(music, SR, target_beats_s=np.arange(5.0), method="resample")
    with pytest.raises(D2MError, match="no beat"):
        align_to_beats(np.zeros(SR, np.float32), SR, target_beats_s=np.arange(5.0))


# --------------------------------------------------------------------------------------------
# the named steps of align_to_beats and loop_music


def test_splice_loop_repeats_the_body_and_keeps_the_level():
    x = np.ones((1000, 1), np.float32)
    y = splice_loop(x, start=200, end=600, repeats=2, fade=10)
    assert y.shape == (600 + 2 * 400, 1)
    np.testing.assert_allclose(y, 1.0, atol=1e-6)  # crossfades sum to one
    ramp = np.arange(1000, dtype=np.float32)[:, None]
    y = splice_loop(ramp, start=200, end=600, repeats=2, fade=10)
    assert y[650, 0] == 250 and y[1050, 0] == 250  # each repeat replays the body


def test_timeline_beats_repeat_the_loop_beats():
    beats = 0.5 * np.arange(8)
    tl = timeline_beats(beats, start_s=1.0, end_s=3.0, period_s=2.0, repeats=2, length_s=6.6)
    np.testing.assert_allclose(tl, 0.5 * np.arange(14))


def test_choose_loop_joins_alike_beats_a_whole_bar_apart():
    feats = np.eye(12)
    feats[9] = feats[1]  # beats 1 and 9 sound the same
    beats = 0.5 * np.arange(12)
    s, e = choose_loop(features=feats, beats_s=beats, candidates=np.arange(12), length_s=6.0)
    assert (s, e) == (1, 9)


def test_stretch_summary_counts_segments_at_the_bound():
    src = np.arange(4.0)
    out = np.array([0.0, 1.45, 2.45, 3.45])
    st = stretch_summary(source_s=src, output_s=out, target_s=out + 0.01, max_stretch=1.45)
    assert st["clamped"] == 1 and st["max"] == pytest.approx(1.45)
    assert st["max_miss_s"] == pytest.approx(0.01)


def test_target_beats_keep_two_beats_past_the_output():
    target = target_beats(np.arange(0.0, 10.0, 0.5)[::-1], duration_s=3.0)
    np.testing.assert_allclose(target, np.arange(0.0, 4.01, 0.5))


# --------------------------------------------------------------------------------------------
# command line


def test_cli_defaults_mirror_the_library():
    from d2m_core.cli import align as align_cli
    from d2m_core.sync import stretch, timemap

    assert align_cli.DEFAULT_MAX_STRETCH == timemap.DEFAULT_MAX_STRETCH
    assert align_cli.METHODS == stretch.METHODS


def test_cli_align_writes_wav_and_json(tmp_path):
    import soundfile as sf

    from d2m_core.cli.main import main

    src_beats = 0.2 + 0.6 * np.arange(20)
    wav = tmp_path / "music.wav"
    sf.write(wav, drum_track(src_beats, 12.0) + 0.3 * sine(220.0, 12.0), SR)
    out, js = tmp_path / "out.wav", tmp_path / "out.json"
    npz = ROOT / "assets" / "example_dance_112bpm.npz"
    rc = main(["align", str(wav), str(npz), "--key", "dance", "-o", str(out), "--json", str(js)])
    assert rc == 0
    y, sr = sf.read(out)
    assert sr == SR and abs(y.shape[0] / sr - 10.0) < 0.01  # the dance's length
    report = json.loads(js.read_text())
    for k in ("f_measure_before", "f_measure_after", "chroma_distance", "pitch_shift_cents"):
        assert k in report
    assert report["f_measure_after"] > report["f_measure_before"]
    assert main(["align", str(wav), str(npz), "--key", "dance", "-o", str(tmp_path / "x.mp3")]) == 2


# --------------------------------------------------------------------------------------------
# acceptance on the shared music and dances


KEYPOINTS = "keypoints/aist_gendance_coco17_px_30fps.npz"


@pytest.mark.parametrize(
    "music",
    ["audio/gtzan_country.00000.wav", "audio/librosa_choice_drumbass.ogg"],
)
def test_shared_music_synced_to_house_dance(shared_file, music):
    from d2m_core.dance.analysis import analyze
    from d2m_core.io.audio import read_audio

    dance = analyze(shared_file(KEYPOINTS), key="gHO_sFM_cAll_d19_mHO0_ch01")
    y, sr = read_audio(shared_file(music))
    res = align_to_beats(
        y, sr, target_beats_s=dance.tempo.beats_s, duration_s=dance.motion.duration_s
    )
    assert res.f_measure_before < 0.5
    assert res.f_measure_after >= 0.8
    assert res.pitch_kept, (res.chroma_distance, res.pitch_shift_cents)
    assert res.span_after_s == pytest.approx(dance.motion.duration_s)
