"""Regenerate the project's own example files in assets/ (deterministic).

Usage: .venv/bin/python scripts/make_assets.py
"""

from pathlib import Path

import numpy as np

from d2m_core.synth_dance import synthetic_dance

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    m = synthetic_dance(bpm=112, duration_s=10, fps=30, seed=7, start_s=0.25)
    np.savez_compressed(
        ASSETS / "example_dance_112bpm.npz",
        dance=m.keypoints,
        fps=np.float32(m.fps),
        image_size_wh=np.array(m.frame_size, dtype=np.int32),
        dance__bpm=np.float32(112),
    )
    print("wrote", ASSETS / "example_dance_112bpm.npz")


if __name__ == "__main__":
    main()
