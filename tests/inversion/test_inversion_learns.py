"""Slow: encoder-based inversion learns rhythm control (the quick run of the bench).

Pretrains a small MusicGen to follow rhythm words, trains rhythm + genre encoders on it with
``d2m train``, and checks that music generated for held-out dances lands on their beats clearly
better with ``*`` than with ``*`` dropped or with another dance's rhythm.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_inversion_learns.py"


@pytest.mark.slow
@pytest.mark.proof
def test_inversion_learns_rhythm_control(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_inversion_learns", BENCH)
    bench = importlib.util.module_from_spec(spec)
    # Registered before running so its dataclasses can resolve their own module.
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    res = bench.run(tmp_path, quick=True, log=lambda m: None)
    f = {k: v["beat_f_measure"] for k, v in res["results"].items()}
    print(f"\nbeat F-measure vs held-out visual beats: {f}; paired gains: {res['gain_over']}")
    for cond in ("* dropped", "shuffled dances"):
        gain = res["gain_over"][cond]  # paired over the same held-out dances
        assert gain["mean"] > 0.1 and gain["ci95"][0] > 0, (cond, gain, f)
    assert (tmp_path / "run-mlp-peaks_envelope" / "encoder" / "encoders.safetensors").is_file()
