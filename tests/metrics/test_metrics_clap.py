"""CLAP score with a tiny random ClapModel (the real model takes the same path)."""

from __future__ import annotations

import numpy as np
import pytest

from d2m_core.metrics.clap import clap_score, cosine_similarity, load_clap


def test_cosine_and_clap_score():
    assert cosine_similarity([1, 0], [1, 0]) == 1.0
    assert cosine_similarity([1, 0], [0, 2]) == 0.0
    assert cosine_similarity([1, 1], [-1, -1]) == pytest.approx(-1.0)
    assert cosine_similarity([0, 0], [1, 0]) == 0.0
    assert clap_score(np.eye(3), np.eye(3)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        clap_score(np.eye(3), np.eye(2))


def test_tiny_clap_end_to_end(tiny_clap_dir, clicks):
    clap = load_clap(tiny_clap_dir)
    assert clap.sample_rate == 16000
    y = clicks(np.arange(0.1, 3.0, 0.5), 3.0)  # 22.05 kHz, 3 windows of the 1 s model
    e = clap.embed(y, 22050)
    assert e.shape == (16,) and np.linalg.norm(e) == pytest.approx(1.0)
    assert np.allclose(clap.embed(y, 22050), e)  # deterministic (no random cropping)
    short = clap.embed(y[:11025], 22050)  # 0.5 s: one repeat-padded window
    assert short.shape == (16,)
    noise = np.random.default_rng(0).normal(size=22050).astype(np.float32) * 0.3
    assert cosine_similarity(e, e) == pytest.approx(1.0)
    assert cosine_similarity(e, clap.embed(noise, 22050)) < 1.0
    stereo = np.stack([y, y], axis=1)
    assert np.allclose(clap.embed(stereo, 22050), e, atol=1e-5)


def test_missing_clap_model_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="hf download"):
        load_clap(tmp_path / "no_such_model")
    with pytest.raises(FileNotFoundError, match="some-org/some-clap"):
        load_clap("some-org/some-clap")
