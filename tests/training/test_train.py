"""Inversion training: only the encoders learn, data layouts, caching, the CLI and resuming."""

from __future__ import annotations

import csv
import json
import pickle

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from d2m_core.cli.main import main  # noqa: E402
from d2m_core.dance.synth import synthetic_dance  # noqa: E402
from d2m_core.errors import D2MError  # noqa: E402
from d2m_core.inversion.adapter import get_adapter, inversion_loss  # noqa: E402
from d2m_core.inversion.config import EncoderConfig  # noqa: E402
from d2m_core.inversion.encoders import InversionEncoders  # noqa: E402
from d2m_core.training.data import clip_starts, find_pairs, prepare_clips  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread


@pytest.fixture(scope="module")
def adapter():
    return get_adapter("musicgen", model="debug")


def test_one_step_changes_only_the_encoders(adapter):
    before = {k: v.clone() for k, v in adapter.lm.model.state_dict().items()}
    cfg = EncoderConfig(text_width=adapter.text_width, clip_s=1.28, dropout=0.0)
    enc = InversionEncoders(cfg)
    adapter.init_encoders(enc)
    start = {k: v.clone() for k, v in enc.state_dict().items()}
    opt = torch.optim.AdamW(enc.parameters(), lr=1e-3)
    r = torch.zeros(3, 1, cfg.rhythm_frames)
    r[:, 0, ::25] = 1
    targets = torch.randint(0, 64, (3, 4, 64))
    loss = inversion_loss(adapter, enc, rhythm=r, genre=torch.tensor([0, 4, 9]), targets=targets)
    loss.backward()
    for name in ("rhythm", "genre"):  # gradients reach both encoders through the frozen model
        grads = [p.grad for p in getattr(enc, name).parameters()]
        assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is None for p in adapter.frozen_parameters())
    opt.step()
    after = adapter.lm.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # backbone bit-identical
    assert any(not torch.equal(start[k], v) for k, v in enc.state_dict().items())


def test_manifest_and_clips(folder_data, adapter, tmp_path):
    pairs = find_pairs(folder_data)
    assert [(p.genre, p.split, p.key) for p in pairs] == [
        ("house", "train", "d0"), ("krump", "train", "d1"), ("pop", "val", "d2"),
        ("lock", "test", "d3"),
    ]  # fmt: skip
    cfg = EncoderConfig(text_width=adapter.text_width, clip_s=1.28)
    calls = []
    real = adapter.encode_targets

    def counting(audio):
        calls.append(len(audio))
        return real(audio)

    adapter.encode_targets = counting
    try:
        tables = prepare_clips(
            pairs, adapter=adapter, cfg=cfg, cache_dir=tmp_path, hop_s=0.64, show_progress=False
        )
        assert len(calls) == 4
        again = prepare_clips(
            pairs, adapter=adapter, cfg=cfg, cache_dir=tmp_path, hop_s=0.64, show_progress=False
        )
        assert len(calls) == 4  # cached: no audio tokenisation the second time
    finally:
        del adapter.encode_targets
    tr = tables["train"]
    assert len(tr) == 2 * 3 and len(tables["val"]) == 2  # train clips overlap (hop 0.64 s)
    assert tr.rhythm.shape == (6, 1, 77) and tr.targets.shape == (6, 4, 64)
    assert tr.genre.tolist() == [5] * 3 + [7] * 3
    assert np.array_equal(again["train"].targets, tr.targets)
    assert tr.rhythm.sum() > 0


def test_data_errors(tmp_path):
    with pytest.raises(D2MError, match="neither manifest.csv"):
        find_pairs(tmp_path)
    (tmp_path / "manifest.csv").write_text("motion,audio,genre,split\nx.npy,y.wav,house,dev\n")
    with pytest.raises(D2MError, match="split must be one of"):
        find_pairs(tmp_path)
    (tmp_path / "manifest.csv").write_text("motion,audio,genre,split\nx.npy,y.wav,house,val\n")
    with pytest.raises(D2MError, match="file not found"):
        find_pairs(tmp_path)
    assert clip_starts(11.0, clip_s=5.12, hop_s=5.12).tolist() == [0.0, 5.12]
    assert clip_starts(5.0, clip_s=5.12, hop_s=5.12).tolist() == []


def test_aistpp_layout(tmp_path):
    kp = synthetic_dance(bpm=110, duration_s=3.0, fps=60, seed=2).keypoints
    (tmp_path / "keypoints2d").mkdir()
    (tmp_path / "splits").mkdir()
    (tmp_path / "wav").mkdir()
    names = {"train": "gHO_sFM_cAll_d19_mHO0_ch01", "val": "gKR_sBM_cAll_d28_mKR0_ch02",
             "test": "gWA_sFM_cAll_d25_mWA1_ch03"}  # fmt: skip
    for split, name in names.items():
        with open(tmp_path / "keypoints2d" / f"{name}.pkl", "wb") as f:
            pickle.dump({"keypoints2d": np.stack([kp, kp + 1])}, f)
        music = name.split("_")[4]
        sf.write(tmp_path / "wav" / f"{music}.wav", np.zeros(16000, np.float32), 16000)
        (tmp_path / "splits" / f"crossmodal_{split}.txt").write_text(name + "\nmissing_seq\n")
    (tmp_path / "splits" / "ignore_list.txt").write_text(names["test"] + "\n")
    pairs = find_pairs(tmp_path, view=1)
    assert [(p.split, p.genre, p.audio.name, p.view) for p in pairs] == [
        ("train", "house", "mHO0.wav", 1), ("val", "krump", "mKR0.wav", 1)
    ]  # fmt: skip


def test_train_command_resumes_and_writes_everything(folder_data, tmp_path, capsys):
    from d2m_core.inversion.checkpoint import read_meta

    out = tmp_path / "run"
    base = ["train", "--model", "debug", "--data", str(folder_data), "--out", str(out),
            "--clip-seconds", "1.28", "--batch-size", "2", "--log-every", "1", "--quiet",
            "--projector", "mlp"]  # fmt: skip
    assert main([*base, "--steps", "3"]) == 0
    assert "trained 3 steps" in capsys.readouterr().out
    meta = read_meta(out / "encoder")
    assert meta["model"] == "debug" and meta["encoder"]["projector"] == "mlp"
    assert meta["encoder"]["clip_s"] == 1.28 and meta["text_width"] == 32
    assert (out / "encoder-best").is_dir() and (out / "checkpoints" / "state").is_dir()
    cache_files = sorted((out / "cache" / "clips").iterdir())
    stamps = [p.stat().st_mtime_ns for p in cache_files]
    assert main([*base, "--steps", "5"]) == 0
    assert "resumed" in capsys.readouterr().out
    assert [p.stat().st_mtime_ns for p in cache_files] == stamps  # features came from the cache
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    train_steps = [int(r["step"]) for r in rows if r["split"] == "train"]
    assert train_steps == [1, 2, 3, 4, 5]
    assert any(r["split"] == "val" for r in rows)
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert read_meta(out / "encoder")["training"]["steps"] == 5
    run = json.loads((out / "run.json").read_text())
    assert run["train"]["lr"] == 1e-4 and run["train"]["betas"] == [0.9, 0.95]
    # Changing the encoder settings of a run in the same folder is refused.
    assert main([*base[:-1], "attn_pos", "--steps", "6"]) == 2
    assert "other encoder settings" in capsys.readouterr().err


def test_train_defaults_follow_the_backbone(tmp_path, capsys, monkeypatch):
    from d2m_core.cli import train as tcli
    from d2m_core.training import loop

    seen = {}

    def fake_train(cfg, show_progress=True):
        seen["cfg"] = cfg
        raise D2MError("stop here")

    monkeypatch.setattr(loop, "train", fake_train)
    for backbone, model, lr, epochs, projector in (
        ("musicgen", "facebook/musicgen-small", 1e-4, 20, "attn_pos"),
        ("audioldm", "cvssp/audioldm-s-full-v2", 5e-4, 50, "mlp"),
        ("riffusion", "riffusion/riffusion-model-v1", 5e-4, 50, "mlp"),
    ):
        args = ["train", "--backbone", backbone, "--data", str(tmp_path), "--out", str(tmp_path)]
        assert main(args) == 2 and "stop here" in capsys.readouterr().err
        c = seen["cfg"]
        assert (c.model, c.lr, c.epochs, c.projector) == (model, lr, epochs, projector)
        assert backbone in tcli.BACKBONE_DEFAULTS
    main(["train", "--backbone", "riffusion", "--model", "debug", "--lr", "1e-3", "--steps", "5",
          "--projector", "attn_pos", "--data", str(tmp_path), "--out", str(tmp_path)])  # fmt: skip
    c = seen["cfg"]
    assert (c.model, c.lr, c.epochs, c.steps, c.projector) == ("debug", 1e-3, None, 5, "attn_pos")
