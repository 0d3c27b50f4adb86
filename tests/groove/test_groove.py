"""The weight-free groove generator: API, beat grid, beat-locked tempo, variety, words, levels."""

from __future__ import annotations

import librosa
import mir_eval
import numpy as np
import pytest

from d2m_core.groove import GENRE_LABELS, GENRES, WORD_BANK, apply_words, compose, render_groove
from d2m_core.groove.styles import STYLES
from d2m_core.groove.timeline import build_timeline

SR = 32000


def _energy(duration_s: float, beats: np.ndarray, *, shape: str = "vary"):
    t = np.arange(0.0, duration_s, 1.0 / 60.0)
    if shape == "flat":
        return t, np.ones_like(t)
    slow = 0.5 + 0.5 * np.sin(2 * np.pi * t / 14.0)
    peaks = np.exp(-0.5 * ((t[:, None] - beats[None, :]) / 0.05) ** 2).sum(axis=1)
    return t, slow * (0.3 + peaks)


def _render(genre: str, beats: np.ndarray, duration_s: float, **kw) -> np.ndarray:
    t, e = _energy(duration_s, beats, shape=kw.pop("shape", "vary"))
    return render_groove(beat_times_s=beats, duration_s=duration_s, energy_times_s=t, energy=e,
                         genre=genre, **kw)  # fmt: skip


def _grid(kind: str, duration_s: float) -> tuple[np.ndarray, float]:
    if kind == "ramp":  # 100 -> 120 BPM over the piece
        out, t = [], 0.3
        while t < duration_s:
            out.append(t)
            t += 60.0 / (100.0 + 20.0 * t / duration_s)
        return np.asarray(out), 110.0
    bpm = float(kind)
    return np.arange(0.3, duration_s, 60.0 / bpm), bpm


def _tempo_ok(est: float, bpm: float) -> bool:
    # librosa's tempo comes in lag bins (hop 512 at 22050 Hz): 110 BPM can only read as 107.7
    # or 112.3, so "within 2 BPM" widens to the two bins around the true tempo.
    bins = librosa.tempo_frequencies(400, sr=22050, hop_length=512)[1:]
    above, below = bins[bins >= bpm].min(), bins[bins <= bpm].max()
    return abs(est - bpm) <= max(2.0, above - bpm, bpm - below) + 1e-6


def _beat_scores(y: np.ndarray, beats: np.ndarray, duration_s: float) -> tuple[float, float]:
    mono = librosa.resample(y.mean(axis=1), orig_sr=SR, target_sr=22050)
    _, found = librosa.beat.beat_track(y=mono, sr=22050, units="time")
    f = mir_eval.beat.f_measure(beats[beats < duration_s], found)
    env = librosa.onset.onset_strength(y=mono, sr=22050)
    tempo = float(librosa.feature.tempo(onset_envelope=env, sr=22050, aggregate=np.mean)[0])
    return f, tempo


# -- public API ------------------------------------------------------------------------------


def test_genres_labels_and_word_bank():
    assert GENRES == ("break", "pop", "lock", "middle_hiphop", "la_hiphop", "house", "waack",
                      "krump", "street_jazz", "ballet_jazz")  # fmt: skip
    assert GENRE_LABELS["la_hiphop"] == "LA-style Hip-hop" and set(GENRE_LABELS) == set(GENRES)
    assert set(WORD_BANK) == {"instruments", "moods", "energy", "genres"}
    for cat in ("instruments", "moods", "energy", "genres"):
        assert len(WORD_BANK[cat]) >= 10
    assert {"piano", "guitar", "strings", "synth", "brass", "sax", "organ"} <= set(
        WORD_BANK["instruments"]
    )
    assert {"jazz", "funk", "techno", "rock", "lofi", "latin"} <= set(WORD_BANK["genres"])


def test_every_word_has_an_effect():
    for cat, words in WORD_BANK.items():
        for w in words:
            changed = [g for g in GENRES if apply_words(STYLES[g], [w]) != STYLES[g]]
            assert len(changed) >= 5, f"{cat} word {w!r} changes only {changed}"


def test_unknown_genre_lists_valid_names():
    with pytest.raises(ValueError, match="valid genres: break, pop, lock"):
        _render("polka", np.arange(0, 4, 0.5), 4.0)


def test_bad_arguments():
    beats = np.arange(0, 4, 0.5)
    with pytest.raises(ValueError, match="duration_s"):
        _render("house", beats, 0.0)
    with pytest.raises(ValueError, match="sr must be"):
        _render("house", beats, 3.0, sr=1000)
    with pytest.raises(ValueError, match="downbeat_index"):
        _render("house", beats, 3.0, downbeat_index=99)


@pytest.mark.parametrize("sr,duration", [(32000, 2.0), (44100, 3.37)])
def test_shape_dtype_and_peak(sr, duration):
    y = _render("waack", np.arange(0.1, duration, 0.5), duration, sr=sr)
    assert y.dtype == np.float32 and y.shape == (round(duration * sr), 2)
    assert np.isfinite(y).all() and 0.5 < np.abs(y).max() <= 0.99
    assert not np.array_equal(y[:, 0], y[:, 1])  # really stereo


def test_degenerate_inputs_still_make_music():
    for beats in (np.array([]), np.array([1.0]), np.array([np.nan, 2.0, 2.0])):
        y = render_groove(beat_times_s=beats, duration_s=3.0, energy_times_s=np.array([]),
                          energy=np.array([]), genre="pop")  # fmt: skip
        assert y.shape == (96000, 2) and np.abs(y).max() > 0.3


# -- the beat grid ---------------------------------------------------------------------------


def test_grid_keeps_beats_fills_gaps_and_covers_the_piece():
    rng = np.random.default_rng(0)
    beats = np.cumsum(np.r_[0.7, np.full(30, 0.5), np.full(30, 0.42)])
    beats += rng.normal(0, 0.008, beats.size)  # visual jitter
    beats = np.delete(beats, [10, 11, 40])  # missing beats
    beats = np.sort(np.r_[beats, beats[20] + 0.06])  # a glitch
    tl = build_timeline(beat_times_s=beats, duration_s=30.0, energy_times_s=np.array([]),
                        energy=np.array([]), downbeat_index=None, default_bpm=100)  # fmt: skip
    near = np.abs(tl.grid[:, None] - beats[None, :]).min(axis=0)
    assert (near < 1e-9).sum() == beats.size - 1  # every beat but the glitch is on the grid
    assert tl.grid[tl.bar0] <= 0.0 and tl.time_of(tl.bar0 + 4 * tl.n_bars) >= 30.0
    ioi = np.diff(tl.grid)
    assert ioi.min() > 0.3 and ioi.max() < 0.62  # gaps filled, extrapolated at the ends


def test_downbeat_given_or_chosen_from_energy():
    beats = np.arange(0.5, 12, 0.5)
    t = np.arange(0, 12, 0.01)
    # Motion peaks on every 4th beat starting with beats[2].
    e = np.exp(-0.5 * ((t[:, None] - beats[2::4][None, :]) / 0.04) ** 2).sum(axis=1)
    for given, want in ((None, beats[2]), (1, beats[1])):
        tl = build_timeline(beat_times_s=beats, duration_s=12.0, energy_times_s=t, energy=e,
                            downbeat_index=given, default_bpm=100)  # fmt: skip
        downbeats = tl.grid[tl.bar0 :: 4]
        assert np.min(np.abs(downbeats - want)) < 1e-9


def test_drum_notes_land_on_the_dance_beats():
    """Onbeat drum hits are written exactly on the visual beats, tempo changes included."""
    beats, _ = _grid("ramp", 20.0)
    t, e = _energy(20.0, beats)
    _, tl, arr = compose(beat_times_s=beats, duration_s=20.0, energy_times_s=t, energy=e,
                         genre="krump")  # fmt: skip
    u = np.array([n[0] for p, ns in arr.notes.items() if arr.specs[p].drum for n in ns])
    onbeat = u[np.isclose(u, np.round(u))]
    times = tl.time_of(onbeat)
    times = times[(times > beats[0] - 0.01) & (times < beats[-1] + 0.01)]
    assert times.size > 60
    assert np.abs(times[:, None] - beats[None, :]).min(axis=1).max() < 0.001


# -- what a beat tracker hears ---------------------------------------------------------------

_FAST_CASES = [  # every genre once, every tempo twice
    ("break", "80"), ("pop", "128"), ("lock", "95"), ("middle_hiphop", "ramp"),
    ("la_hiphop", "110"), ("house", "80"), ("waack", "ramp"), ("krump", "128"),
    ("street_jazz", "95"), ("ballet_jazz", "110"),
]  # fmt: skip


@pytest.mark.parametrize("genre,kind", _FAST_CASES)
def test_librosa_hears_the_dance_tempo(genre, kind):
    beats, bpm = _grid(kind, 20.0)
    f, tempo = _beat_scores(_render(genre, beats, 20.0, seed=3), beats, 20.0)
    assert f >= 0.8, f"{genre} {kind}: beat F {f:.2f}"
    assert _tempo_ok(tempo, bpm), f"{genre} {kind}: tempo {tempo:.1f}"


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["vary", "flat"])
@pytest.mark.parametrize("genre", GENRES)
def test_librosa_hears_the_dance_tempo_full_table(genre, shape):
    for kind in ("80", "95", "110", "128", "ramp"):
        beats, bpm = _grid(kind, 30.0)
        f, tempo = _beat_scores(_render(genre, beats, 30.0, shape=shape), beats, 30.0)
        assert f >= 0.8 and _tempo_ok(tempo, bpm), f"{genre} {kind}: F {f:.2f} T {tempo:.1f}"


# -- variety and determinism -----------------------------------------------------------------


def _chroma(y: np.ndarray) -> np.ndarray:
    c = librosa.feature.chroma_stft(y=y.mean(axis=1), sr=SR, n_fft=4096, hop_length=2048)
    return c / (np.linalg.norm(c, axis=0, keepdims=True) + 1e-9)


def _logspec(y: np.ndarray) -> np.ndarray:
    return np.log1p(np.abs(librosa.stft(y.mean(axis=1), n_fft=2048, hop_length=1024)))


def test_same_seed_identical_other_seed_or_genre_differs():
    beats = np.arange(0.2, 8.0, 0.5)
    a = _render("house", beats, 8.0, seed=1)
    a2 = _render("house", beats, 8.0, seed=1)
    b = _render("house", beats, 8.0, seed=2)
    c = _render("street_jazz", beats, 8.0, seed=1)
    assert np.array_equal(a, a2)
    chroma_seed = float(np.mean(np.abs(_chroma(a) - _chroma(b))))
    chroma_genre = float(np.mean(np.abs(_chroma(a) - _chroma(c))))
    spec_genre = float(np.mean(np.abs(_logspec(a) - _logspec(c))))
    assert chroma_seed > 0.05 and chroma_genre > 0.05 and spec_genre > 0.1


def test_words_change_the_sound_and_unknown_words_do_not():
    beats = np.arange(0.2, 6.0, 0.5)
    base = _render("pop", beats, 6.0, seed=4)
    assert np.array_equal(base, _render("pop", beats, 6.0, seed=4, words=("zzz", "qwerty")))
    for words in (("piano",), ("sad",), ("minimal",), ("jazz",)):
        other = _render("pop", beats, 6.0, seed=4, words=words)
        assert float(np.mean(np.abs(_logspec(base) - _logspec(other)))) > 0.05, words


def test_mood_words_set_the_mode():
    beats = np.arange(0.2, 20.0, 0.5)
    t, e = _energy(20.0, beats)
    kw = dict(beat_times_s=beats, duration_s=20.0, energy_times_s=t, energy=e, genre="house")
    assert compose(**kw, words=("happy",))[2].scale.mode == "ionian"
    assert compose(**kw, words=("sad",))[2].scale.mode == "aeolian"


# -- arrangement follows the motion ----------------------------------------------------------


def test_quiet_motion_thins_the_arrangement():
    beats = np.arange(0.2, 40.0, 0.5)
    t = np.arange(0, 40.0, 0.05)
    e = np.where(t < 20.0, 0.05, 1.0) + 0.01 * np.sin(t)
    _, tl, arr = compose(beat_times_s=beats, duration_s=40.0, energy_times_s=t, energy=e,
                         genre="waack", seed=0)  # fmt: skip
    assert arr.levels[:3].max() == 0 and arr.levels[-4:].min() == 3

    def count(part: str, lo: float, hi: float) -> int:
        u = np.array([n[0] for n in arr.notes.get(part, [])])
        s = tl.time_of(u) if u.size else u
        return int(((s >= lo) & (s < hi)).sum())

    for part in ("cymbals", "perc", "lead"):
        assert count(part, 22, 38) > count(part, 2, 18), part
    assert count("lead", 2, 14) == 0  # the melody enters by 4-bar blocks


# -- sound: key, level, seams ----------------------------------------------------------------


@pytest.mark.parametrize("genre", ["house", "ballet_jazz", "krump", "middle_hiphop"])
def test_harmony_in_key_and_level(genre):
    beats = np.arange(0.25, 16.0, 60 / 100)
    t, e = _energy(16.0, beats)
    style, tl, arr = compose(beat_times_s=beats, duration_s=16.0, energy_times_s=t, energy=e,
                             genre=genre, seed=7)  # fmt: skip
    pcs = arr.scale.pitch_classes()
    pitched = [n[2] for p, ns in arr.notes.items() if not arr.specs[p].drum for n in ns]
    inside = np.mean([k % 12 in pcs for k in pitched])
    assert inside >= 0.97, f"{genre}: {inside:.2%} of notes in {arr.scale}"
    y = _render(genre, beats, 16.0, seed=7)
    rms_db = 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    assert -20.0 <= rms_db <= -12.0 and np.abs(y).max() <= 0.99


def test_long_piece_has_no_seams_or_silent_holes():
    beats = np.arange(0.2, 75.0, 60 / 118)
    y = _render("lock", beats, 75.0, seed=2)
    frame = SR // 4
    rms = np.sqrt((y[: (y.shape[0] // frame) * frame] ** 2).mean(axis=1).reshape(-1, frame).mean(1))
    assert rms[2:-6].min() > 0.02  # music throughout, fade-out only at the very end
    assert abs(float(y[0, 0])) < 1e-3 and np.abs(y[-10:]).max() < 1e-2


def test_concurrent_renders_match_sequential_ones():
    from concurrent.futures import ThreadPoolExecutor

    beats = np.arange(0.2, 4.0, 0.5)
    jobs = [("house", 1), ("krump", 2), ("house", 1), ("ballet_jazz", 3)]
    with ThreadPoolExecutor(4) as ex:
        together = list(ex.map(lambda j: _render(j[0], beats, 4.0, seed=j[1]), jobs))
    for (g, s), y in zip(jobs, together, strict=True):
        assert np.array_equal(y, _render(g, beats, 4.0, seed=s))
