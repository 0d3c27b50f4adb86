"""Riffusion spectrogram pictures (backbones/riffusion/spectrogram.py): parameters, shapes,
round trips."""

from __future__ import annotations

import io

import librosa
import numpy as np
import pytest
from PIL import Image

from d2m_core.backbones.riffusion import spectrogram as rs
from d2m_core.errors import D2MError

SR = rs.SAMPLE_RATE
CLIP = int(round(rs.TILE_SECONDS * SR))  # 225792 samples = 512 columns


def tone(freq: float, seconds: float, *, sr: int = SR, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(y: np.ndarray, sr: int = SR) -> float:
    mag = np.abs(np.fft.rfft(y * np.hanning(y.size), 4 * y.size))
    k = int(np.argmax(mag))
    a, b, c = np.log(mag[k - 1 : k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / (4 * y.size)


def test_published_parameters():
    assert (rs.SAMPLE_RATE, rs.N_FFT, rs.WIN_LENGTH, rs.HOP_LENGTH) == (44100, 17640, 4410, 441)
    assert rs.N_MELS == 512 and (rs.F_MIN, rs.F_MAX) == (0.0, 10000.0)
    assert rs.POWER_FOR_IMAGE == 0.25 and rs.GRIFFIN_LIM_ITERS >= 32
    assert rs.TILE_SECONDS == pytest.approx(5.12)


def htk_centres() -> np.ndarray:
    """Band edges/centres: 514 points equally spaced on the HTK mel scale, 0..10 kHz."""
    mel_max = 2595 * np.log10(1 + 10000 / 700)
    return 700 * (10 ** (np.linspace(0, mel_max, 514) / 2595) - 1)


def test_filterbank_is_htk_unnormalised_0_to_10k():
    fb = rs.mel_filterbank()
    assert fb.shape == (512, 8821)
    freqs = np.arange(8821) * SR / rs.N_FFT  # 2.5 Hz bins
    assert np.all(fb[:, freqs > 10000] == 0)
    # independent triangles: rising from point i to i+1, falling to i+2, peak 1 (norm=None)
    pts = htk_centres()
    for i in (0, 1, 100, 300, 511):
        lo, c, hi = pts[i], pts[i + 1], pts[i + 2]
        want = np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0, None)
        np.testing.assert_allclose(fb[i], want, atol=1e-5)
    # unnormalised triangles tile the band: adjacent ones sum to 1 between the outer centres
    inner = (freqs > pts[1]) & (freqs < pts[-2])
    np.testing.assert_allclose(fb[:, inner].sum(axis=0), 1.0, atol=1e-5)


def test_audio_to_image_shape_range_orientation():
    y = tone(150.0, rs.TILE_SECONDS)
    y[: SR // 2] = 0.0  # first half second silent
    im = rs.audio_to_image(y, SR)
    assert im.size == (512, 512) and im.mode == "RGB"
    a = np.asarray(im)
    assert a.dtype == np.uint8 and np.all(a[..., 0] == a[..., 1]) and np.all(a[..., 1] == a[..., 2])
    grey = a[..., 0]
    assert grey.min() == 0  # the loudest cell is black (inverted)
    assert np.all(grey[:, 10:40] == 255)  # silence is white
    row = int(np.argmin(grey[:, 300]))
    band = int(np.argmin(np.abs(htk_centres()[1:-1] - 150.0)))
    assert abs(row - (511 - band)) <= 1  # low frequencies at the bottom
    assert rs.image_max_value(im) == pytest.approx(float(rs.audio_to_mel(y, SR).max()), rel=1e-6)


def test_image_and_mel_invert_each_other_up_to_quantisation():
    rng = np.random.default_rng(0)
    mel = rng.uniform(0.0, 1.0, (512, 64)).astype(np.float32) ** 4 * 1e6
    im = rs.mel_to_image(mel)
    back = rs.image_to_mel(im, max_value=rs.image_max_value(im))
    loud = mel > 0.05 * mel.max()
    rel = np.abs(back[loud] - mel[loud]) / mel[loud]
    assert rel.max() < 0.12  # one grey level at 5 % of max; 1.6 % per level near the top
    # numpy pictures (grey or RGB) are read the same way
    np.testing.assert_array_equal(rs.image_to_mel(np.asarray(im)[..., 0]), rs.image_to_mel(im))


def test_exif_max_value_survives_png():
    im = rs.audio_to_image(tone(440.0, 1.0), SR)
    buf = io.BytesIO()
    im.save(buf, format="PNG", exif=im.info["exif"])
    again = Image.open(io.BytesIO(buf.getvalue()))
    assert rs.image_max_value(again) == pytest.approx(rs.image_max_value(im))


def test_round_trip_tone_keeps_frequency_length_and_level():
    y = tone(1000.0, rs.TILE_SECONDS)
    im = rs.audio_to_image(y, SR)
    out, sr = rs.image_to_audio(im, n_iter=16)
    assert sr == SR and out.shape == (CLIP,) and out.dtype == np.float32
    mid = out[SR:-SR]
    assert abs(peak_frequency(mid) - 1000.0) < 3.0
    level = 20 * np.log10(np.sqrt(np.mean(mid**2)) / np.sqrt(np.mean(y[SR:-SR] ** 2)))
    assert abs(level) < 1.5
    # without the stored level, the result is peak-normalised
    bare = Image.fromarray(np.asarray(im))
    out2, _ = rs.image_to_audio(bare, n_iter=4)
    assert np.max(np.abs(out2)) == pytest.approx(0.9, abs=1e-3)


def test_other_rates_and_stereo_are_accepted():
    y = np.stack([tone(500.0, 2.0, sr=22050), tone(500.0, 2.0, sr=22050)], axis=1)
    mel = rs.audio_to_mel(y, 22050)
    assert mel.shape == (512, 200)


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(D2MError, match="512 pixels high"):
        rs.image_to_mel(np.zeros((256, 256), np.uint8))
    with pytest.raises(D2MError, match="no samples"):
        rs.audio_to_image(np.zeros(0, np.float32), SR)
    with pytest.raises(D2MError, match="overlap"):
        rs.tile_starts(1000, overlap=512)


def test_tiles_cover_long_audio_and_stitch_without_seams():
    seconds = 12.0
    y = tone(330.0, seconds) + tone(660.0, seconds, amp=0.1)
    tiles = rs.audio_to_tiles(y, SR, overlap=32)
    starts = rs.tile_starts(int(seconds * 100), overlap=32)
    assert len(tiles) == len(starts) == 3 and starts[1] == 480
    assert all(t.size == (512, 512) for t in tiles)
    out, sr = rs.tiles_to_audio(tiles, overlap=32, length=y.size, n_iter=16, init="advance")
    assert out.shape == y.shape
    # a steady tone has a steady envelope: no dip or bump at the joins (columns 480, 960)
    rms = librosa.feature.rms(y=out, frame_length=2048, hop_length=441)[0]
    body = rms[60:-60]
    assert 20 * np.log10(body.max() / body.min()) < 1.5


def test_long_reconstruction_is_phase_continuous_across_chunks():
    # several Griffin-Lim chunks from random phases: a steady tone's envelope stays flat
    # across the joins (a seam shows as a dip of several dB where phases disagree)
    y = tone(440.0, 2.5)
    mag = rs.mel_to_magnitude(rs.audio_to_mel(y, SR))
    out = rs.magnitude_to_audio(mag, n_iter=32, chunk_frames=100, overlap_frames=24) / 32768
    rms = librosa.feature.rms(y=out, frame_length=2048, hop_length=441)[0][60:-60]
    assert 20 * np.log10(rms.max() / rms.min()) < 1.0


def test_shared_music_round_trip_keeps_beats_and_envelope(shared_file):
    from d2m_core.io.audio import read_audio
    from d2m_core.music.beats import beat_f_measure, detect_beats

    y, sr = read_audio(shared_file("audio/librosa_choice_drumbass.ogg"))
    y = y[: int(10.24 * sr)]
    tiles = rs.audio_to_tiles(y, sr)
    out, osr = rs.tiles_to_audio(tiles)
    _, b0 = detect_beats(y, sr)
    _, b1 = detect_beats(out, osr)
    assert beat_f_measure(b0, b1) >= 0.9
    a = librosa.resample(y, orig_sr=sr, target_sr=22050)
    b = librosa.resample(out, orig_sr=osr, target_sr=22050)[: a.size]
    kw = {"sr": 22050, "n_mels": 128, "fmax": 10000}
    ma, mb = librosa.feature.melspectrogram(y=a, **kw), librosa.feature.melspectrogram(y=b, **kw)
    da = np.maximum(librosa.power_to_db(ma, ref=ma.max()), -80)
    db = np.maximum(librosa.power_to_db(mb, ref=ma.max()), -80)
    assert float(np.mean(np.abs(da - db))) < 3.0
