"""Fixtures for the metric tests: tiny random VGGish and CLAP models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

SR = 22050


def tiny_vggish_state(seed: int = 0, *, emb: int = 8) -> dict[str, torch.Tensor]:
    """A randomly initialised small VGGish state dict in the torchvggish key layout."""
    from d2m_core.metrics.vggish import VGGish

    torch.manual_seed(seed)
    model = VGGish(channels=(4, 4, 8, 8, 8, 8), hidden=(16, 16), embedding_size=emb)
    return model.state_dict()


@pytest.fixture(scope="session")
def tiny_vggish_files(tmp_path_factory) -> tuple[Path, Path]:
    """(weights .pth, PCA .pth) of a tiny random VGGish, torchvggish file layouts."""
    d = tmp_path_factory.mktemp("vggish")
    w, p = d / "vggish-tiny.pth", d / "vggish_pca_tiny.pth"
    torch.save(tiny_vggish_state(), w)
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(1)))
    torch.save({"pca_eigen_vectors": q.numpy(), "pca_means": np.zeros((8, 1), np.float32)}, p)
    return w, p


@pytest.fixture(scope="session")
def tiny_clap_dir(tmp_path_factory) -> Path:
    """A folder with a tiny random transformers ClapModel and its feature extractor (1 s max)."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    audio = dict(
        spec_size=64, num_mel_bins=16, window_size=4, patch_size=2, patch_stride=2,
        hidden_size=32, patch_embeds_hidden_size=16, projection_dim=16, depths=[1, 1],
        num_attention_heads=[2, 2], intermediate_size=32, enable_fusion=False,
    )  # fmt: skip
    text = dict(
        vocab_size=99, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, projection_dim=16, max_position_embeddings=32,
    )  # fmt: skip
    torch.manual_seed(0)
    model = ClapModel(ClapConfig(text_config=text, audio_config=audio, projection_dim=16))
    fe = ClapFeatureExtractor(
        feature_size=16, sampling_rate=16000, hop_length=160, max_length_s=1,
        fft_window_size=256, frequency_max=8000, truncation="rand_trunc", padding="repeatpad",
    )  # fmt: skip
    d = tmp_path_factory.mktemp("clap")
    model.save_pretrained(d)
    fe.save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def vggish_state() -> Callable[..., dict[str, torch.Tensor]]:
    """Factory: ``vggish_state(seed=0, emb=8)`` -> a tiny random VGGish state dict."""
    return tiny_vggish_state
