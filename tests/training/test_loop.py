"""The training loop's steps one by one, and its learning-rate schedule."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from d2m_core.inversion.config import EncoderConfig  # noqa: E402
from d2m_core.training import loop  # noqa: E402
from d2m_core.training.loop import TrainConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread


def test_schedule_warms_up_over_a_tenth_of_the_run_then_decays_to_zero(folder_data, tmp_path):
    cfg = TrainConfig(data=folder_data, out=tmp_path / "run", model="debug", clip_s=1.28,
                      projector="mlp", batch_size=2, steps=20, cpu=True)  # fmt: skip
    state = loop.setup(cfg, show_progress=False)
    factors = [state.scheduler.lr_lambdas[0](s) for s in range(21)]
    warm = [0.0, 0.5]  # min(6000, 20 // 10) = 2 warm-up steps, counted from 0 (the library's)
    cosine = [0.5 * (1 + math.cos(math.pi * (s - 2) / 18)) for s in range(2, 21)]
    assert np.allclose(factors, warm + cosine) and factors[-1] == 0.0


def test_encoder_defaults_come_from_the_encoder_config():
    cfg = TrainConfig(data="d", out="o")
    for name in ("projector", "clip_s", "rhythm_input", "hidden", "attn_layers", "attn_heads",
                 "patch_frames", "dropout"):  # fmt: skip
        assert getattr(cfg, name) == getattr(EncoderConfig, name)


def test_steps_one_by_one_then_resume(folder_data, tmp_path):
    from tqdm.auto import tqdm

    cfg = TrainConfig(data=folder_data, out=tmp_path / "run", model="debug", clip_s=1.28,
                      projector="mlp", batch_size=2, grad_accum=2, steps=2, log_every=1,
                      cpu=True)  # fmt: skip
    loop.check_config(cfg)
    state = loop.setup(cfg, show_progress=False)
    enc_cfg = loop._encoder_config(cfg, adapter=state.adapter)
    default = EncoderConfig(text_width=enc_cfg.text_width, embed_scale=enc_cfg.embed_scale)
    assert enc_cfg.to_dict() == {**default.to_dict(), "projector": "mlp", "clip_s": 1.28}
    assert not state.resuming and (state.steps_per_epoch, state.total) == (1, 2)
    loop.resume(state)
    state.encoders.train()
    bar = tqdm(disable=True)
    start = {k: v.clone() for k, v in state.encoders.state_dict().items()}

    # Two train clips per batch, two batches per optimiser step: the first pass only accumulates.
    first, second = list(loop.epoch_batches(state))
    assert not loop.train_step(state, batch=first)
    assert all(torch.equal(start[k], v) for k, v in state.encoders.state_dict().items())
    assert loop.train_step(state, batch=second)
    assert any(not torch.equal(start[k], v) for k, v in state.encoders.state_dict().items())
    assert (state.window.batches, state.window.clips) == (2, 4)
    loop.after_optimizer_step(state, bar=bar)
    assert state.counter.step == 1 and state.window.batches == 0  # logged: a new window
    loop.end_epoch(state)  # validates and saves (val_every = save_every = 0)
    assert (state.counter.epoch, state.val_step, state.save_step) == (1, 1, 1)
    assert state.last_val == state.counter.best_val
    with open(cfg.out / "metrics.csv") as f:
        rows = [(r["step"], r["split"]) for r in csv.DictReader(f)]
    assert rows == [("1", "train"), ("1", "val")]
    saved = {k: v.clone() for k, v in state.encoders.state_dict().items()}
    lr = state.scheduler.get_last_lr()[0]
    assert (cfg.out / "checkpoints" / "state" / "counter.json").is_file()

    again = loop.setup(cfg, show_progress=False)
    assert again.resuming
    loop.resume(again)
    assert (again.counter.step, again.counter.epoch, again.counter.best_val) == (
        1, 1, state.counter.best_val)  # fmt: skip
    assert again.scheduler.get_last_lr()[0] == lr
    assert all(torch.equal(saved[k], v) for k, v in again.encoders.state_dict().items())
    res = loop.finish(again)  # step 1 was neither validated nor saved by this call
    assert res.steps == 1 and res.val_loss == pytest.approx(state.last_val)
    assert res.encoder_dir == cfg.out / "encoder" and np.isnan(res.train_loss)
