"""bench/bench_protocol.py: the manifest reader, and (slow) the demo dataset end to end."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_protocol", ROOT / "bench/bench_protocol.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_read_manifest(bench, tmp_path):
    (tmp_path / "manifest.csv").write_text(
        "motion,audio,genre,split\n"
        "k.npz#seq1,music/a.wav,house,test\n"
        "v/b.mp4,music/b.wav,,train\n"
        "c.pkl,music/c.wav,,test\n"
    )
    rows = bench.read_manifest(tmp_path, "test")
    assert [r["index"] for r in rows] == [0, 2]
    assert rows[0]["motion"] == tmp_path / "k.npz" and rows[0]["key"] == "seq1"
    assert rows[0]["genre"] == "house" and rows[1]["genre"] is None and rows[1]["key"] is None
    (tmp_path / "manifest.csv").write_text("motion,genre\nx,y\n")
    with pytest.raises(Exception, match="missing column"):
        bench.read_manifest(tmp_path, None)


@pytest.mark.slow
def test_protocol_on_the_demo_dataset(bench, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    argv = ["bench_protocol.py", "--make-demo", str(tmp_path / "ds"), "--data",
            str(tmp_path / "ds"), "--out", str(out), "--limit", "2", "--no-clap"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    assert bench.main() == 0
    text = capsys.readouterr().out
    assert "| Ours (Riffusion) | 0.4761 |" in text and "| d2m groove (this run) |" in text
    res = json.loads((out / "protocol.json").read_text())["groove"]
    assert res["summary"]["clips"] == 2 and res["summary"]["dance_beat_f"] > 0.5
    assert len(list((out / "groove").glob("*.wav"))) == 2
