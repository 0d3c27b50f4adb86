"""Fixtures of the training tests: a small manifest dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from d2m_core.dance.synth import synthetic_dance


@pytest.fixture(scope="module")
def folder_data(tmp_path_factory, click_track) -> Path:
    """A manifest dataset: 4 synthetic dances (npz entries) with click-track music."""
    root = tmp_path_factory.mktemp("data")
    rows, arrays = ["motion,audio,genre,split"], {}
    specs = [(100, "house", "train"), (120, "Krump", "train"), (90, "pop", "val"),
             (110, "gLO", "test")]  # fmt: skip
    for i, (bpm, genre, split) in enumerate(specs):
        m = synthetic_dance(bpm=bpm, duration_s=3.0, fps=60, seed=i)
        arrays[f"d{i}"] = m.keypoints
        sf.write(root / f"a{i}.wav", click_track(m.meta["beats_s"], 3.0), 16000)
        rows.append(f"dances.npz#d{i},a{i}.wav,{genre},{split}")
    np.savez(root / "dances.npz", fps=np.float32(60), **arrays)
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root
