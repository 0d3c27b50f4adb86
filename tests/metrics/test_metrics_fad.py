"""FAD: the Fréchet distance against closed forms, and VGGish (tiny random weights) end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from d2m_core.metrics.fad import frechet_audio_distance, frechet_distance, gaussian_stats
from d2m_core.metrics.vggish import (
    EXAMPLE_FRAMES,
    NUM_MEL,
    PCA_FILE,
    WEIGHTS_FILE,
    VGGish,
    load_vggish,
    log_mel_examples,
    mel_matrix,
)


def _random_spd(rng, d, rank=None):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d


def test_frechet_distance_diagonal_closed_form():
    # Diagonal covariances commute: tr(sqrt(S1 S2)) = sum sqrt(a_i b_i), so
    # d = |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)
    # Scaled covariances: S2 = c^2 S1 -> tr(S1) (1 - c)^2.
    rng = np.random.default_rng(0)
    s = _random_spd(rng, 16)
    assert frechet_distance(mu1[:1].repeat(16), s, mu1[:1].repeat(16), 9 * s) == pytest.approx(
        np.trace(s) * 4
    )


def test_frechet_distance_matches_scipy_sqrtm_on_full_rank():
    import scipy.linalg

    rng = np.random.default_rng(1)
    s1, s2 = _random_spd(rng, 12), _random_spd(rng, 12)
    mu1, mu2 = rng.normal(size=12), rng.normal(size=12)
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-9)


def test_fad_of_a_set_with_itself_is_zero_even_when_singular():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(10, 128))  # 10 frames in 128 dims: covariance of rank 9
    assert frechet_audio_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    # Exactly singular (a constant dimension, duplicated rows) and near-singular covariances.
    y = np.concatenate([x, x], axis=0)
    y[:, 5] = 3.0
    assert frechet_audio_distance(y, y) == pytest.approx(0.0, abs=1e-8)
    s = _random_spd(rng, 64, rank=3) + 1e-12 * np.eye(64)
    d = frechet_distance(np.zeros(64), s, np.zeros(64), s)
    assert np.isfinite(d) and d == pytest.approx(0.0, abs=1e-6)


def test_fad_of_two_gaussian_sets_equals_the_closed_form():
    rng = np.random.default_rng(3)
    d, n = 4, 200_000
    mu1, mu2 = np.zeros(d), np.array([1.0, -1.0, 0.5, 0.0])
    a, b = np.array([1.0, 2.0, 0.5, 1.0]), np.array([2.0, 2.0, 1.0, 0.25])
    x = mu1 + rng.normal(size=(n, d)) * np.sqrt(a)
    y = mu2 + rng.normal(size=(n, d)) * np.sqrt(b)
    closed = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_audio_distance(x, y) == pytest.approx(closed, abs=0.02)
    mu, sigma = gaussian_stats(x)
    assert mu.shape == (d,) and sigma.shape == (d, d)


def test_fad_validates_inputs():
    with pytest.raises(ValueError, match="at least 2"):
        frechet_audio_distance(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="widths"):
        frechet_audio_distance(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="finite"):
        frechet_audio_distance(np.full((3, 4), np.nan), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def test_log_mel_front_end_shapes_and_mel_bank():
    w = mel_matrix()
    assert w.shape == (257, 64) and w[0].sum() == 0 and w.max() <= 1.0
    assert np.all(w.sum(axis=0) > 0)  # every band gets some bins
    y = np.random.default_rng(0).normal(size=int(5.12 * 44100)).astype(np.float32) * 0.1
    ex = log_mel_examples(y, 44100)
    assert ex.shape == (5, EXAMPLE_FRAMES, NUM_MEL) and ex.dtype == np.float32
    assert log_mel_examples(y, 44100, hop_s=0.48).shape[0] == 9
    assert log_mel_examples(y[:20000], 44100).shape == (0, 96, 64)  # under 0.96 s
    silent = log_mel_examples(np.zeros(32000, np.float32), 16000)
    assert np.allclose(silent, np.log(0.01))


def test_standard_vggish_has_the_released_layout():
    with torch.device("meta"):
        sd = VGGish().state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["features.0.weight"] == (64, 1, 3, 3)
    assert shapes["features.13.weight"] == (512, 512, 3, 3)
    assert shapes["embeddings.0.weight"] == (4096, 512 * 6 * 4)
    assert shapes["embeddings.4.weight"] == (128, 4096)
    assert len(shapes) == 18


def test_tiny_vggish_end_to_end(tiny_vggish_files, vggish_state, tmp_path):
    weights, pca = tiny_vggish_files
    y = np.random.default_rng(0).normal(size=3 * 22050).astype(np.float32) * 0.1
    raw = load_vggish(weights).embed(y, 22050)
    assert raw.shape == (3, 8) and np.all(np.isfinite(raw))
    relu = load_vggish(weights, final_relu=True).embed(y, 22050)
    assert np.allclose(relu, np.maximum(raw, 0))
    q = load_vggish(weights, pca=pca, postprocess=True).embed(y, 22050)
    assert q.min() >= 0 and q.max() <= 255 and np.allclose(q, np.round(q))
    # Same weights as .safetensors, and with a wrapper/prefix, give the same embeddings.
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in vggish_state().items()}, tmp_path / "v.safetensors")
    assert np.allclose(load_vggish(tmp_path / "v.safetensors").embed(y, 22050), raw)
    torch.save(
        {"state_dict": {"model." + k: v for k, v in vggish_state().items()}}, tmp_path / "w.pt"
    )
    assert np.allclose(load_vggish(tmp_path / "w.pt").embed(y, 22050), raw)
    emb = load_vggish(weights)
    assert frechet_audio_distance(emb.embed(y, 22050), emb.embed(y, 22050)) == pytest.approx(
        0, abs=1e-9
    )


def test_vggish_missing_or_wrong_files(vggish_state, tmp_path, monkeypatch):
    monkeypatch.delenv("D2M_VGGISH_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(FileNotFoundError, match=WEIGHTS_FILE):
        load_vggish()
    with pytest.raises(FileNotFoundError, match="not found"):
        load_vggish(tmp_path / "nope.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a VGGish state dict"):
        load_vggish(tmp_path / "bad.pth")
    torch.save(vggish_state(), tmp_path / "w.pth")
    with pytest.raises(FileNotFoundError, match=PCA_FILE):
        load_vggish(tmp_path / "w.pth", postprocess=True)


def test_vggish_found_in_torch_hub_cache(vggish_state, tmp_path, monkeypatch):
    monkeypatch.delenv("D2M_VGGISH_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.save(vggish_state(), ckpt / WEIGHTS_FILE)
    assert load_vggish().source == str(ckpt / WEIGHTS_FILE)
