"""The Riffusion backbone with the tiny random ``debug`` pipeline: loading, pseudo-word
injection, the training step, guidance, long music without seams, zero-shot use, checkpoints,
and ``d2m train`` / ``d2m generate``."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from d2m_core.backbones.base import GenerationRequest  # noqa: E402
from d2m_core.backbones.riffusion import model as rf  # noqa: E402
from d2m_core.backbones.riffusion import spectrogram as rs  # noqa: E402
from d2m_core.backbones.riffusion.backbone import RiffusionBackbone  # noqa: E402
from d2m_core.backbones.windowed import WindowTask  # noqa: E402
from d2m_core.dance.analysis import analyze_motion  # noqa: E402
from d2m_core.dance.synth import synthetic_dance  # noqa: E402
from d2m_core.errors import D2MError  # noqa: E402
from d2m_core.inversion.checkpoint import save_encoders  # noqa: E402
from d2m_core.inversion.config import EncoderConfig  # noqa: E402
from d2m_core.inversion.encoders import InversionEncoders  # noqa: E402
from d2m_core.music.prompt import parse_prompt  # noqa: E402

PROMPT = "a @ music with * as the rhythm"


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread


@pytest.fixture(scope="module")
def pipe():
    return rf.load_riffusion("debug")


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory, pipe):
    """Random (untrained) encoders for the debug model, 1.28 s clips (4 latent frames)."""
    torch.manual_seed(0)
    cfg = EncoderConfig(text_width=32, projector="mlp", clip_s=1.28, dropout=0.0)
    path = tmp_path_factory.mktemp("enc") / "encoder"
    save_encoders(path, encoders=InversionEncoders(cfg), backbone="riffusion", model="debug")
    return path


@pytest.fixture(scope="module")
def dance():
    return analyze_motion(synthetic_dance(bpm=110, duration_s=4.0, fps=30, seed=3))


def _jump_ratio(y: np.ndarray, points: list[int], half: int = 441) -> float:
    """Largest sample-to-sample step within ``half`` samples of ``points``, over the largest
    step in any other block of ``2 * half`` samples (> 1: a join is the worst place)."""
    d = np.abs(np.diff(y))
    near = np.zeros(len(d), bool)
    for p in points:
        near[max(0, p - half) : p + half] = True
    nb = len(d) // (2 * half)
    blocks = d[: nb * 2 * half].reshape(nb, -1)
    far = ~near[: nb * 2 * half].reshape(nb, -1).any(1)
    return float(d[near].max() / blocks[far].max())


def _log_distance(a: np.ndarray, b: np.ndarray) -> float:
    eps = 1e-3 * max(float(a.max()), float(b.max()))
    return float(np.abs(np.log(a + eps) - np.log(b + eps)).mean())


# --- models -------------------------------------------------------------------------------------


def test_availability_never_downloads(tmp_path, encoder_dir):
    avail = rf.model_availability(rf.DEFAULT_MODEL, cache_dir=tmp_path)
    ok, why = avail.ok, avail.reason
    assert not ok and "hf download riffusion/riffusion-model-v1" in why
    assert rf.model_availability("debug").ok
    (tmp_path / "empty").mkdir()
    assert "model_index.json" in rf.model_availability(str(tmp_path / "empty")).reason
    assert "not found" in rf.model_availability("./no/such/folder").reason
    repo = tmp_path / "models--riffusion--riffusion-model-v1"
    snap = repo / "snapshots" / "abc"
    for f in ("model_index.json", "unet/config.json", "vae/config.json"):
        (snap / f).parent.mkdir(parents=True, exist_ok=True)
        (snap / f).write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc")
    avail = rf.model_availability(rf.DEFAULT_MODEL, cache_dir=tmp_path)
    ok, why = avail.ok, avail.reason
    assert not ok and "partly cached (no text_encoder)" in why
    assert avail.missing_model == rf.DEFAULT_MODEL  # a partial download: fetch it again
    (snap / "text_encoder").mkdir()
    (snap / "text_encoder" / "config.json").write_text("{}")
    assert rf.model_availability(rf.DEFAULT_MODEL, cache_dir=tmp_path).ok
    # Without encoders the backbone is usable (zero-shot); with them their backbone must match.
    assert RiffusionBackbone.availability(model="debug").ok
    assert RiffusionBackbone.availability(encoder=encoder_dir).ok
    other = tmp_path / "mg"
    cfg = EncoderConfig(text_width=32, projector="mlp", clip_s=1.28)
    save_encoders(other, encoders=InversionEncoders(cfg), backbone="musicgen", model="debug")
    avail = RiffusionBackbone.availability(model="debug", encoder=other)
    ok, why = avail.ok, avail.reason
    assert not ok and "'musicgen'" in why


def test_missing_model_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import huggingface_hub.constants

    from d2m_core.cli.main import main

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(D2MError, match="hf download riffusion/riffusion-model-v1"):
        RiffusionBackbone(device="cpu")
    kp = synthetic_dance(bpm=100, duration_s=1.0, fps=30, seed=1).keypoints
    np.savez(tmp_path / "d.npz", dance=kp, fps=np.float32(30))
    rc = main(["generate", str(tmp_path / "d.npz"), "--backbone", "riffusion", "--genre",
               "house", "-o", str(tmp_path / "m.wav")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "riffusion/riffusion-model-v1" in err and "hf download" in err


def test_saved_folder_loads_through_the_same_path(tmp_path, pipe):
    root = tmp_path / "pipe"
    for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        getattr(pipe, name).save_pretrained(root / name)
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    assert rf.model_availability(str(root)).ok
    again = rf.load_riffusion(str(root))
    for name in ("unet", "vae", "text_encoder"):
        sd, sd2 = getattr(pipe, name).state_dict(), getattr(again, name).state_dict()
        assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    assert type(again.scheduler) is type(pipe.scheduler)
    assert again.tokenizer(PROMPT)["input_ids"] == pipe.tokenizer(PROMPT)["input_ids"]
    assert again.image_size == (64, 64) and again.columns_per_latent == 32


# --- conditioning and training ------------------------------------------------------------------


def test_injection_replaces_exactly_the_placeholder_rows(pipe):
    cond = pipe.make_conditioner()
    prompts = [PROMPT, "a music with * as the rhythm , jazzy"]  # the second has no @
    g = torch.Generator().manual_seed(0)
    r_emb, g_emb = torch.randn(2, 32, generator=g), torch.randn(2, 32, generator=g)
    with torch.no_grad():
        hidden, mask = cond.encode(prompts, {"*": r_emb, "@": g_emb})
    ids, _ = cond.tokenize(prompts)
    assert hidden.shape == (2, 77, 32) and ids.shape == (2, 77)
    assert mask.shape == (2, 77) and bool((mask == 1).all())  # SD: the UNet sees all 77 rows
    at = cond.token_ids["@"]
    assert int((ids[0] == at).sum()) == 1 and not (ids[1] == at).any()
    # Reference: the same CLIP forward with the pseudo-words' table rows set to the embeddings.
    table = pipe.text_encoder.get_input_embeddings().weight
    saved = table.detach().clone()
    try:
        for b in range(2):
            with torch.no_grad():
                table[cond.token_ids["*"]] = r_emb[b]
                table[cond.token_ids["@"]] = g_emb[b]
                ref = pipe.text_encoder(input_ids=ids[b : b + 1]).last_hidden_state[0]
            torch.testing.assert_close(hidden[b], ref, rtol=0, atol=1e-6)
    finally:
        with torch.no_grad():
            table.copy_(saved)
    # Only the placeholder rows change: CLIP is causal, so rows before '*' match a plain forward
    # with any other '*' embedding, and the rows from '*' on do not.
    star = int((ids[1] == cond.token_ids["*"]).nonzero()[0, 0])
    with torch.no_grad():
        other, _ = cond.encode(prompts[1:], {"*": torch.zeros(1, 32), "@": g_emb[1:]})
    assert torch.equal(other[0, :star], hidden[1, :star])
    assert not torch.allclose(other[0, star], hidden[1, star])
    # The unconditional input is the empty prompt, padded to 77 like every prompt.
    with torch.no_grad():
        empty, _ = cond.encode([""], {})
        plain = pipe.tokenizer([""], padding="max_length", max_length=77, return_tensors="pt")
        ref = pipe.text_encoder(input_ids=plain["input_ids"]).last_hidden_state
    torch.testing.assert_close(empty, ref, rtol=0, atol=1e-6)
    with pytest.raises(D2MError, match="at most 77"):
        cond.tokenize([" ".join(["music"] * 80)])


def test_one_training_step_changes_only_the_encoders(monkeypatch):
    from diffusers import AutoencoderKL

    from d2m_core.inversion.adapter import get_adapter, inversion_loss

    adapter = get_adapter("riffusion", model="debug")
    assert adapter.sample_rate == 44100 and adapter.text_width == 32
    models = adapter.modules()
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    t = np.arange(int(1.28 * 44100)) / 44100
    audio = np.stack([np.sin(2 * np.pi * 440 * t), np.sign(np.sin(2 * np.pi * 2 * t)) * 0.3])
    targets = adapter.encode_targets(audio.astype(np.float32))
    assert targets.shape == (2, 4, 16, 4) and targets.dtype == np.float16  # 128 columns / 32
    latents = adapter.core.encode_pixels(adapter.core.audio_pixels(audio))
    assert np.array_equal(targets, latents.astype(np.float16))
    sig = adapter.target_signature()
    assert (
        sig.startswith("riffusion-")
        and sig == get_adapter("riffusion", model="debug").target_signature()
    )
    vae = AutoencoderKL.from_config(adapter.pipe.vae.config, scaling_factor=0.5)
    monkeypatch.setattr(adapter, "pipe", dataclasses.replace(adapter.pipe, vae=vae))
    assert adapter.target_signature() != sig  # other VAE settings: other cached targets
    monkeypatch.undo()
    with pytest.raises(D2MError, match="multiples of 0.32 s"):
        adapter.encode_targets(np.zeros((1, 44100), np.float32))

    cfg = EncoderConfig(text_width=adapter.text_width, projector="mlp", clip_s=1.28, dropout=0.0)
    enc = InversionEncoders(cfg)
    adapter.init_encoders(enc)
    start = {k: v.clone() for k, v in enc.state_dict().items()}
    opt = torch.optim.AdamW(enc.parameters(), lr=1e-3)
    r = torch.zeros(2, 1, cfg.rhythm_frames)
    r[:, 0, ::25] = 1
    loss = inversion_loss(
        adapter, enc, rhythm=r, genre=torch.tensor([0, 4]),
        targets=torch.from_numpy(targets),
    )  # fmt: skip
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    for name in ("rhythm", "genre"):  # gradients reach both encoders through the frozen model
        grads = [p.grad for p in getattr(enc, name).parameters()]
        assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is None for p in adapter.frozen_parameters())
    opt.step()
    for m, old in zip(models, before, strict=True):  # backbone bit-identical
        new = m.state_dict()
        assert all(torch.equal(old[k], new[k]) for k in old)
    assert any(not torch.equal(start[k], v) for k, v in enc.state_dict().items())


# --- generation ---------------------------------------------------------------------------------


def test_guidance_at_batch_2_and_continuation():
    seven = RiffusionBackbone(model="debug", device="cpu", steps=4, guidance=7.0)
    one = RiffusionBackbone(model="debug", device="cpu", steps=4, guidance=1.0)
    with torch.no_grad():
        cond, mask = seven.conditioner.encode(["a house music , jazzy", "a krump music"], {})

    def run(bb, seed=0, **kw):
        gen = torch.Generator().manual_seed(seed)
        return bb.sample_window(WindowTask(hidden=cond, mask=mask, frames=8, generator=gen, **kw))

    a, b = run(seven), run(one)
    assert a.shape == (2, 4, 16, 8) and torch.isfinite(a).all() and torch.isfinite(b).all()
    assert not torch.allclose(a, b)  # guidance really changes the prediction at batch 2
    assert torch.equal(a, run(seven)) and not torch.equal(a, run(seven, seed=1))
    c = run(seven, seed=2, known=a[..., 5:])
    assert torch.equal(c[..., :3], a[..., 5:]) and not torch.equal(c[..., 3:], a[..., :5])


def test_long_music_continues_windows_without_seams(encoder_dir, dance):
    bb = RiffusionBackbone(
        model="debug", encoder=encoder_dir, device="cpu", steps=8, window_overlap=0.5
    )
    assert (bb.window, bb.overlap) == (4, 2)  # 1.28 s windows of 0.32 s latent frames
    prompt, dur = parse_prompt(PROMPT), 3.5
    assert bb.total_frames(dur) == 11 and bb.window_plan(11) == [
        (0, 0), (2, 2), (4, 2), (6, 2), (8, 2)
    ]  # fmt: skip
    request = GenerationRequest(
        analysis=dance, prompt=prompt, genre="house", seed=3, duration_s=dur
    )
    plan, windows = bb.sample_windows(request)
    for prev, nxt in zip(
        windows, windows[1:], strict=False
    ):  # the known latents come through unchanged
        assert torch.equal(nxt[..., : bb.overlap], prev[..., -bb.overlap :])
    seen = []
    audio = bb.generate(
        analysis=dance, prompt=prompt, genre="house", seed=3, duration_s=dur,
        progress=lambda f, m: seen.append(m),
    )  # fmt: skip
    assert audio.shape == (round(dur * 44100),) and audio.dtype == np.float32
    assert np.isfinite(audio).all() and abs(float(np.abs(audio).max()) - rf.OUTPUT_PEAK) < 1e-6
    assert np.array_equal(audio, bb.render(windows, num_samples=len(audio), seed=3))
    assert {m for m in seen if m.startswith("window")} == {f"window {i}/5" for i in range(1, 6)}
    # No seam: (1) the decoded windows agree where they overlap, far better than windows
    # sampled independently; (2) no sample step near a cross-fade edge is larger than the
    # largest step anywhere else (measured: 0.51 of it for this seed).
    cpl, ov = bb.pipe.columns_per_latent, bb.overlap * bb.pipe.columns_per_latent
    mels = [bb.core.latents_to_mels(w)[0] for w in windows]
    gen = torch.Generator().manual_seed(3)
    free = []
    for start, _ in plan:
        c, m = bb.dance_conditioning(analysis=dance, prompt=prompt, genre="house",
                            start_s=start * bb.seconds_per_latent)  # fmt: skip
        z = bb.sample_window(WindowTask(hidden=c, mask=m, frames=4, generator=gen))
        free.append(bb.core.latents_to_mels(z)[0])
    ours = max(_log_distance(a[:, -ov:], b[:, :ov]) for a, b in zip(mels, mels[1:], strict=False))
    indep = min(_log_distance(a[:, -ov:], b[:, :ov]) for a, b in zip(free, free[1:], strict=False))
    assert ours < 0.95 * indep
    edges = [p * cpl * rs.HOP_LENGTH for s, k in plan[1:] for p in (s, s + k)]
    assert _jump_ratio(audio, edges) < 1.0


def test_rendering_joins_windows_without_a_seam():
    """Tonal music (where a join would click) cut into windows of different loudness, as the
    backbone's windows are: the one-pass rendering leaves no step at the joins; rendering each
    window on its own and concatenating (the control) leaves steps ~20x the largest elsewhere."""
    sr, dur = 44100, 3.5
    t = np.arange(int(dur * sr)) / sr
    tone = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)).astype(np.float32)
    mel = rs.audio_to_mel(tone, sr)
    win, ov = 128, 64
    starts = list(range(0, mel.shape[1] - ov, win - ov))
    padded = np.zeros((rs.N_MELS, starts[-1] + win), np.float32)
    padded[:, : mel.shape[1]] = mel
    mels = [padded[:, s : s + win] * (1.0 + 0.3 * (k % 2)) for k, s in enumerate(starts)]
    y = rf.render_mels(mels, overlap_columns=ov, num_samples=len(tone), seed=0)
    assert y.shape == tone.shape and abs(float(np.abs(y).max()) - rf.OUTPUT_PEAK) < 1e-6
    edges = [p * rs.HOP_LENGTH for s in starts[1:] for p in (s, s + ov)]
    assert _jump_ratio(y, edges) < 1.5  # measured 1.03: the louder windows' own steps
    naive = np.concatenate(
        [rs.mel_to_audio(m[:, ov if k else 0 :], seed=k) for k, m in enumerate(mels)]
    )[: len(tone)]
    assert _jump_ratio(naive, [(s + ov) * rs.HOP_LENGTH for s in starts[1:]]) > 5


def test_encoder_round_trip_gives_identical_audio(tmp_path, encoder_dir, dance):
    kw = dict(analysis=dance, prompt=parse_prompt(PROMPT), genre="krump", seed=11, duration_s=1.0)
    first = RiffusionBackbone(model="debug", encoder=encoder_dir, device="cpu", steps=6)
    a = first.generate(**kw)
    assert a.shape == (44100,) and np.isfinite(a).all()
    save_encoders(tmp_path / "copy", encoders=first.encoders, backbone="riffusion", model="debug")
    second = RiffusionBackbone(encoder=tmp_path / "copy", device="cpu", steps=6)
    assert second.model_name == "debug"  # the model comes from the checkpoint
    assert np.array_equal(a, second.generate(**kw))
    other = analyze_motion(synthetic_dance(bpm=80, duration_s=4.0, fps=30, seed=9))
    assert not np.array_equal(a, second.generate(**{**kw, "analysis": other}))  # `*` matters
    with pytest.raises(D2MError, match="genre 'tango' is not one the encoders know"):
        second.dance_conditioning(
            analysis=dance, prompt=parse_prompt(PROMPT), genre="tango", start_s=0
        )


def test_zero_shot_without_encoders(dance):
    bb = RiffusionBackbone(model="debug", device="cpu", steps=3)
    assert bb.encoders is None and bb.window == 16  # one 5.12 s tile per window
    audio = bb.generate(
        analysis=dance, prompt=parse_prompt("a house music , funky bass"), genre="house",
        seed=0, duration_s=0.5,
    )  # fmt: skip
    assert audio.shape == (22050,) and np.isfinite(audio).all() and np.abs(audio).max() <= 1
    for text in (PROMPT, "a music with * as the rhythm", "a @ music"):
        with pytest.raises(D2MError, match="pass --encoder DIR or use --zero-shot"):
            bb.generate(analysis=dance, prompt=parse_prompt(text), genre="house", seed=0,
                        duration_s=0.5)  # fmt: skip


# --- the commands -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder_data(tmp_path_factory, click_track):
    """A manifest dataset: 3 synthetic dances (npz entries) with click-track music."""
    root = tmp_path_factory.mktemp("data")
    rows, arrays = ["motion,audio,genre,split"], {}
    for i, (bpm, genre, split) in enumerate([(100, "house", "train"), (120, "Krump", "train"),
                                             (90, "pop", "val")]):  # fmt: skip
        m = synthetic_dance(bpm=bpm, duration_s=2.7, fps=60, seed=i)
        arrays[f"d{i}"] = m.keypoints
        sf.write(root / f"a{i}.wav", click_track(m.meta["beats_s"], 2.7), 16000)
        rows.append(f"dances.npz#d{i},a{i}.wav,{genre},{split}")
    np.savez(root / "dances.npz", fps=np.float32(60), **arrays)
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def test_train_then_generate_commands(folder_data, tmp_path, capsys):
    from d2m_core.cli.main import main
    from d2m_core.inversion.checkpoint import read_meta

    out = tmp_path / "run"
    rc = main(["train", "--backbone", "riffusion", "--model", "debug", "--data", str(folder_data),
               "--out", str(out), "--clip-seconds", "1.28", "--batch-size", "2", "--steps", "2",
               "--log-every", "1", "--quiet", "--projector", "mlp", "--lr", "5e-4"])  # fmt: skip
    assert rc == 0 and "trained 2 steps" in capsys.readouterr().out
    meta = read_meta(out / "encoder")
    assert meta["backbone"] == "riffusion" and meta["model"] == "debug"
    assert meta["text_width"] == 32 and meta["encoder"]["clip_s"] == 1.28
    clips = np.load(next((out / "cache" / "clips").glob("*.npz")))
    assert clips["targets"].dtype == np.float16 and clips["targets"].shape[1:] == (4, 16, 4)

    kp = synthetic_dance(bpm=100, duration_s=2.0, fps=30, seed=1).keypoints
    np.savez(tmp_path / "d.npz", dance=kp, fps=np.float32(30))
    wav, js = tmp_path / "m.wav", tmp_path / "m.json"
    rc = main(["generate", str(tmp_path / "d.npz"), "--backbone", "riffusion", "--model", "debug",
               "--encoder", str(out / "encoder"), "--genre", "house", "--steps", "3",
               "--guidance", "3.0", "-o", str(wav), "--json", str(js)])  # fmt: skip
    assert rc == 0
    y, sr = sf.read(wav)
    assert sr == 44100 and abs(len(y) / sr - 2.0) < 0.05
    rep = json.loads(js.read_text())
    assert rep["backbone"] == "riffusion" and rep["sample_rate"] == 44100
