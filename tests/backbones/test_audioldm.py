"""The AudioLDM backbone with the tiny random ``debug`` pipeline: loading, the mel front end,
pseudo-word injection into CLAP, the Eq. 2 training step, guided sampling with continuation,
long music, encoder checkpoints, encoder-less use, and ``d2m train`` / ``d2m generate``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from d2m_core.backbones.audioldm import model as al  # noqa: E402
from d2m_core.backbones.audioldm.backbone import AudioldmBackbone  # noqa: E402
from d2m_core.backbones.audioldm.mel import MelSettings, log_mel  # noqa: E402
from d2m_core.dance.analysis import analyze_motion  # noqa: E402
from d2m_core.dance.synth import synthetic_dance  # noqa: E402
from d2m_core.errors import D2MError  # noqa: E402
from d2m_core.inversion.adapter import get_adapter, inversion_loss  # noqa: E402
from d2m_core.inversion.checkpoint import save_encoders  # noqa: E402
from d2m_core.inversion.config import EncoderConfig  # noqa: E402
from d2m_core.inversion.encoders import InversionEncoders  # noqa: E402
from d2m_core.music.prompt import DEFAULT_PROMPT, parse_prompt  # noqa: E402

SR = 16000


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread


@pytest.fixture(scope="module")
def la():
    return al.load_audioldm("debug")


@pytest.fixture(scope="module")
def adapter():
    return get_adapter("audioldm", model="debug")


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """Random (untrained) encoders for the debug model, 1.28 s clips, saved as a checkpoint."""
    torch.manual_seed(0)
    cfg = EncoderConfig(text_width=32, projector="mlp", clip_s=1.28, dropout=0.0)
    path = tmp_path_factory.mktemp("enc") / "encoder"
    save_encoders(path, encoders=InversionEncoders(cfg), backbone="audioldm", model="debug")
    return path


@pytest.fixture(scope="module")
def bb(encoder_dir):
    return AudioldmBackbone(model="debug", encoder=encoder_dir, device="cpu", steps=3)


@pytest.fixture(scope="module")
def dance():
    return analyze_motion(synthetic_dance(bpm=110, duration_s=4.0, fps=30, seed=3))


def _state(la):
    return {
        f"{i}.{k}": v.clone() for i, m in enumerate(la.modules()) for k, v in m.state_dict().items()
    }


# --- models -------------------------------------------------------------------------------------


def test_availability_never_downloads(tmp_path, encoder_dir):
    avail = al.model_availability("cvssp/audioldm-s-full-v2", cache_dir=tmp_path)
    ok, why = avail.ok, avail.reason
    assert not ok and "hf download cvssp/audioldm-s-full-v2" in why
    assert avail.download_command == "hf download cvssp/audioldm-s-full-v2"
    assert al.model_availability("debug").ok
    assert "not found" in al.model_availability("./no/such/folder").reason
    # Without encoders AudioLDM is a plain text-to-audio model: available when the model is.
    assert AudioldmBackbone.availability(model="debug").ok
    assert AudioldmBackbone.availability(model="debug", encoder=encoder_dir).ok
    avail = AudioldmBackbone.availability(model="./no/such/folder", encoder=encoder_dir)
    ok, why = avail.ok, avail.reason
    assert not ok and "not found" in why
    with pytest.raises(D2MError, match="not found"):
        AudioldmBackbone(model=str(tmp_path / "missing"), device="cpu")
    other = tmp_path / "mg"
    cfg = EncoderConfig(text_width=32, projector="mlp", clip_s=1.28)
    save_encoders(other, encoders=InversionEncoders(cfg), backbone="musicgen", model="debug")
    assert "backbone 'musicgen'" in AudioldmBackbone.availability(encoder=other).reason
    with pytest.raises(D2MError, match="--backbone musicgen"):
        AudioldmBackbone(model="debug", encoder=other, device="cpu")


def test_saved_pipeline_loads_through_the_same_path(tmp_path, la):
    from diffusers import AudioLDMPipeline

    with al._quiet_diffusers():
        pipe = AudioLDMPipeline(
            vae=la.vae, text_encoder=la.text_encoder, tokenizer=la.tokenizer, unet=la.unet,
            scheduler=la.scheduler, vocoder=la.vocoder,
        )  # fmt: skip
    pipe.save_pretrained(tmp_path / "p")
    assert al.model_availability(str(tmp_path / "p")).ok
    again = al.load_audioldm(str(tmp_path / "p"))
    sd, sd2 = _state(la), _state(again)
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    assert again.tokenizer("a @ music")["input_ids"] == la.tokenizer("a @ music")["input_ids"]
    assert type(again.scheduler).__name__ == "DDIMScheduler"
    # AudioLDM 2 (or any other pipeline) is refused with a clear message.
    import shutil

    shutil.copytree(tmp_path / "p", tmp_path / "p2")
    index = json.loads((tmp_path / "p2" / "model_index.json").read_text())
    index["_class_name"] = "AudioLDM2Pipeline"
    (tmp_path / "p2" / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(D2MError, match="AudioLDM 2 is not supported"):
        al.load_audioldm(str(tmp_path / "p2"))


# --- targets ------------------------------------------------------------------------------------


def test_log_mel_is_audioldms_preprocessing():
    import librosa

    mel = MelSettings()
    t = np.arange(81920) / SR
    x = np.stack([0.3 * np.sin(2 * np.pi * 1000 * t), np.random.default_rng(0).normal(size=t.size)])
    ours = log_mel(x, mel=mel, frames=512)
    assert ours.shape == (2, 512, 64) and ours.dtype == np.float32
    # Independent reference: AudioLDM's normalize_wav, librosa's centred STFT magnitude,
    # Slaney mel bands 0..8 kHz, natural log clamped at 1e-5.
    y = x - x.mean(1, keepdims=True)
    y = 0.5 * y / (np.abs(y).max(1, keepdims=True) + 1e-8)
    spec = np.abs(librosa.stft(y, n_fft=1024, hop_length=160, win_length=1024, window="hann",
                               center=True, pad_mode="reflect"))  # fmt: skip
    fb = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=64, fmin=0, fmax=8000)
    ref = np.log(np.maximum(fb @ spec, 1e-5))[..., :512].transpose(0, 2, 1)
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=0)
    # Level-independent (each clip is scaled to a 0.5 peak); the sine lands near 1 kHz.
    np.testing.assert_allclose(log_mel(5 * x, mel=mel, frames=512), ours, atol=1e-3)
    centre = librosa.mel_frequencies(n_mels=64, fmin=0, fmax=8000)[ours[0, 100].argmax()]
    assert 850 < centre < 1150
    # Short audio is zero-padded to the requested frames.
    assert log_mel(x[:, :1000], mel=mel, frames=16).shape == (2, 16, 64)


def test_targets_are_latents_and_the_signature_follows_the_settings(adapter, monkeypatch):
    audio = np.random.default_rng(1).normal(size=(3, int(1.28 * SR))).astype(np.float32)
    targets = adapter.encode_targets(audio)
    assert targets.shape == (3, 4, 32, 16) and targets.dtype == np.float16
    lat = adapter.core.encode_mels(log_mel(audio, mel=adapter.la.mel, frames=128))
    assert np.array_equal(targets, lat.astype(np.float16))
    # The training loader hands them over as they are (no integer cast).
    from d2m_core.training.data import ClipDataset, ClipTable

    table = ClipTable(np.zeros((3, 1, 8), np.float32), np.zeros(3, np.int64), targets, ["a"] * 3)
    item = ClipDataset(table)[1]["targets"]
    assert item.dtype == torch.float16 and torch.equal(item, torch.from_numpy(targets[1]))
    assert adapter.target_frames(int(5.12 * SR)) == 512 and adapter.target_frames(20000) == 128
    sig = adapter.target_signature()
    assert sig == adapter.target_signature() and sig.startswith("audioldm-")
    monkeypatch.setattr(al.LoadedAudioldm, "mel", property(lambda self: MelSettings(fmax=7000.0)))
    assert adapter.target_signature() != sig
    monkeypatch.undo()
    from dataclasses import replace

    from diffusers import AutoencoderKL

    vae = AutoencoderKL(**{**adapter.la.vae.config, "scaling_factor": 0.5})
    monkeypatch.setattr(adapter, "la", replace(adapter.la, vae=vae))
    assert adapter.target_signature() != sig


# --- conditioning -------------------------------------------------------------------------------


def test_injection_replaces_exactly_the_placeholder_rows(adapter, monkeypatch):
    from d2m_core.inversion import injection

    c = adapter.conditioner
    te = adapter.la.text_encoder
    prompts = ["a @ music with * as the rhythm , jazzy piano", "music with * as the rhythm"]
    r, g = torch.randn(2, 32), torch.randn(2, 32)
    seen = []
    real = injection.inject
    monkeypatch.setattr(injection, "inject", lambda *a: seen.append(real(*a)) or seen[-1])
    with torch.no_grad():
        cond, mask = c.encode(prompts, {"*": r, "@": g})
    ids, mask2 = c.tokenize(prompts)
    assert torch.equal(mask, mask2) and mask[1].sum() < mask[0].sum()  # padded batch
    assert cond.shape == (2, 16)
    torch.testing.assert_close(cond.norm(dim=-1), torch.ones(2))  # L2-normalised
    (emb,) = seen
    base = te.get_input_embeddings()(ids)
    star, at = ids == c.token_ids["*"], ids == c.token_ids["@"]
    assert star.sum(1).tolist() == [1, 1] and at.sum(1).tolist() == [1, 0]  # no @ in prompt 2
    assert torch.equal(emb[star], r) and torch.equal(emb[0][at[0]], g[0][None])
    assert torch.equal(emb[~(star | at)], base[~(star | at)])  # every other row untouched
    # A manual forward of the injected embeddings gives the same conditioning.
    pos = te.text_model.embeddings.create_position_ids_from_input_ids(ids, te.config.pad_token_id)
    with torch.no_grad():
        out = te.text_model(inputs_embeds=emb, attention_mask=mask, position_ids=pos)
        ref = torch.nn.functional.normalize(te.text_projection(out.pooler_output), dim=-1)
    torch.testing.assert_close(cond, ref)
    # Without pseudo-words it is AudioLDM's own conditioning (the pipeline's _encode_prompt).
    plain = ["a house music", ""]
    enc = adapter.la.tokenizer(plain, padding=True, return_tensors="pt")
    with torch.no_grad():
        ours, _ = c.encode(plain, {})
        ref = torch.nn.functional.normalize(te(**enc).text_embeds, dim=-1)
    assert torch.equal(ours, ref)


def test_roberta_bpe_pseudo_words_become_single_tokens():
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import RobertaTokenizerFast

    from d2m_core.inversion.injection import pseudo_token_ids

    def roberta():
        bpe = ByteLevelBPETokenizer()
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        text = ["a house music with a jazzy piano as the rhythm @ * ! a b"] * 10
        bpe.train_from_iterator(text, vocab_size=300, min_frequency=1, special_tokens=specials)
        bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
        return RobertaTokenizerFast(
            tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
            pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
        )  # fmt: skip

    tok = roberta()
    n = len(tok)
    ids = pseudo_token_ids(tok)  # `a @` is `a`, `Ġ@` in BPE: the words must absorb the space
    assert len(tok) == n and max(ids.values()) < n  # the bare words' ids: no new rows
    for w, tid in ids.items():
        with_w = tok(f"a {w} music")["input_ids"]
        assert with_w.count(tid) == 1 and len(with_w) == len(tok("a music")["input_ids"]) + 1


# --- training -----------------------------------------------------------------------------------


def test_one_step_changes_only_the_encoders(adapter):
    before = _state(adapter.la)
    cfg = EncoderConfig(text_width=adapter.text_width, clip_s=1.28, dropout=0.0)
    enc = InversionEncoders(cfg)
    adapter.init_encoders(enc)
    start = {k: v.clone() for k, v in enc.state_dict().items()}
    opt = torch.optim.AdamW(enc.parameters(), lr=1e-3)
    r = torch.zeros(3, 1, cfg.rhythm_frames)
    r[:, 0, ::25] = 1
    audio = np.random.default_rng(2).normal(size=(3, int(1.28 * SR))).astype(np.float32)
    targets = torch.from_numpy(adapter.encode_targets(audio).astype(np.int64))  # as the loader
    torch.manual_seed(0)
    loss = inversion_loss(adapter, enc, rhythm=r, genre=torch.tensor([0, 4, 9]), targets=targets)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    for name in ("rhythm", "genre"):  # gradients reach both encoders through the frozen model
        grads = [p.grad for p in getattr(enc, name).parameters()]
        assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is None for p in adapter.frozen_parameters())
    opt.step()
    after = _state(adapter.la)
    assert all(torch.equal(before[k], after[k]) for k in before)  # backbone bit-identical
    assert any(not torch.equal(start[k], v) for k, v in enc.state_dict().items())


# --- sampling -----------------------------------------------------------------------------------


def test_cfg_at_batch_2_seed_and_continuation(la):
    core = al.DiffusionCore(la)
    c = la.make_conditioner()
    with torch.no_grad():
        cond, _ = c.encode(["a house music , jazzy", "a krump music"], {})  # padded batch
        uncond, _ = c.encode([""], {})

    def run(g, seed=0, **kw):
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return core.sample(
                cond=cond, uncond=uncond, frames=16, steps=3, guidance=g, generator=gen, **kw
            )

    a, b = run(2.5), run(1.0)
    assert a.shape == (2, 4, 16, 16) and torch.isfinite(a).all()
    assert not torch.equal(a, b)  # guidance really changes the prediction
    assert torch.equal(a, run(2.5))  # same seed, same latents
    assert not torch.equal(a, run(2.5, seed=1))
    cont = run(2.5, seed=2, known=a[:, :, :6])
    assert torch.equal(cont[:, :, :6], a[:, :, :6]) and torch.isfinite(cont).all()
    wav = core.decode(a)
    assert wav.shape == (2, 16 * 4 * 160) and wav.dtype == np.float32 and np.isfinite(wav).all()
    assert wav.std() > 1e-3  # the debug vocoder is audible


def test_decoding_in_chunks(la):
    x = torch.randn(1, 3, 75, 5)
    for t in (10, 32, 33, 60, 75):  # the cross-fade weights sum to one everywhere
        y = al._crossfaded(
            lambda v: v.repeat_interleave(4, dim=2), x[:, :, :t], axis=2, chunk=32, fade=8, ratio=4
        )
        torch.testing.assert_close(y, x[:, :, :t].repeat_interleave(4, dim=2))
    mel = torch.randn(1, 300, 64) - 4
    with torch.no_grad():  # the vocoder in chunks with context equals one call
        whole = la.vocoder(mel)[:, : 300 * 160]
        parts = al._chunked(la.vocoder, mel, axis=1, chunk=64, ctx=16, ratio=160)
    torch.testing.assert_close(parts, whole, atol=1e-6, rtol=0)
    core = al.DiffusionCore(la, decode_chunk=16, decode_fade=4)
    z = torch.randn(1, 4, 40, 16)
    wav = core.decode(z)
    assert wav.shape == (1, 40 * 4 * 160) and np.isfinite(wav).all()


def test_half_precision_keeps_clap_in_float32():
    # What a GPU gets (fp16 UNet, VAE and vocoder; float32 CLAP), checked on the CPU.
    half = al.load_audioldm("debug", half=True)
    assert half.dtype == torch.float16 and half.text_encoder.dtype == torch.float32
    core, c = al.DiffusionCore(half), half.make_conditioner()
    with torch.no_grad():
        cond, _ = c.encode(["a house music"], {"*": None, "@": None})
        uncond, _ = c.encode([""], {})
        z = core.sample(
            cond=cond, uncond=uncond, frames=16, steps=2, guidance=2.5,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
    assert cond.dtype == z.dtype == torch.float32 and torch.isfinite(z).all()
    assert np.isfinite(core.decode(z)).all()


def test_long_music_window_by_window(bb, dance, monkeypatch):
    assert bb.window == 32 and bb.window_plan(32) == [(0, 0)]
    assert bb.window_plan(75) == [(0, 0), (24, 8), (48, 8)]  # the last one ends at 80
    calls = []
    real = bb.core.sample

    def recording(**kw):
        out = real(**kw)
        calls.append((kw["cond"], kw["known"], out))
        return out

    monkeypatch.setattr(bb.core, "sample", recording)
    seen = []
    kw = dict(analysis=dance, prompt=parse_prompt("a @ music with * as the rhythm, jazzy"),
              genre="house", seed=5, duration_s=3.0)  # fmt: skip
    audio = bb.generate(**kw, progress=lambda f, m: seen.append(m))
    assert audio.shape == (48000,) and audio.dtype == np.float32
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0 and audio.std() > 0
    assert len({m for m in seen if "window" in m}) == 3  # 3 s = 75 latent frames, 1.28 s windows
    assert len(calls) == 3 and calls[0][1] is None
    for (_, _, prev), (_, known, out) in zip(calls, calls[1:], strict=False):
        assert torch.equal(known, prev[:, :, 24:32])  # continues the previous window's end...
        assert torch.equal(out[:, :, :8], known)  # ...and keeps it exactly
    conds = [c for c, _, _ in calls]  # each window has the rhythm of its stretch of the dance
    assert not all(torch.equal(conds[0], x) for x in conds[1:])
    assert np.array_equal(audio, bb.generate(**kw))
    with pytest.raises(D2MError, match="genre 'tango'"):
        bb.dance_conditioning(
            analysis=dance, prompt=parse_prompt("a @ music"), genre="tango", start_s=0
        )


def test_checkpoint_round_trip_gives_identical_music(tmp_path, bb, dance):
    kw = dict(analysis=dance, prompt=parse_prompt(DEFAULT_PROMPT), genre="krump", seed=11,
              duration_s=1.0)  # fmt: skip
    a = bb.generate(**kw)
    assert a.shape == (SR,)
    save_encoders(tmp_path / "copy", encoders=bb.encoders, backbone="audioldm", model="debug")
    second = AudioldmBackbone(encoder=tmp_path / "copy", device="cpu", steps=3)
    assert second.model_name == "debug"  # taken from the checkpoint
    assert np.array_equal(a, second.generate(**kw))
    # The dance matters: another dance (through `*`) gives other music.
    other = analyze_motion(synthetic_dance(bpm=80, duration_s=4.0, fps=30, seed=9))
    assert not np.array_equal(a, second.generate(**{**kw, "analysis": other}))


def test_without_encoders_plain_text_only(dance):
    bb0 = AudioldmBackbone(model="debug", device="cpu", steps=2)
    assert bb0.encoders is None and bb0.window_s == al.TEXT_WINDOW_S and bb0.window == 256
    assert bb0.guidance == 2.5
    text = parse_prompt("a house music with a 112 BPM beat as the rhythm")
    audio = bb0.generate(analysis=dance, prompt=text, genre="house", seed=3, duration_s=1.0)
    assert audio.shape == (SR,) and np.isfinite(audio).all()
    again = bb0.generate(analysis=dance, prompt=text, genre="house", seed=3, duration_s=1.0)
    assert np.array_equal(audio, again)
    for pseudo in ("a @ music", "music with * as the rhythm"):
        with pytest.raises(D2MError, match="--encoder DIR.*--zero-shot"):
            bb0.generate(
                analysis=dance, prompt=parse_prompt(pseudo), genre="house", seed=0, duration_s=1.0
            )
    with pytest.raises(D2MError, match="--steps"):
        AudioldmBackbone(model="debug", device="cpu", steps=0)


# --- the commands -------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Trying to estimate tuning")  # zero-shot sync on noise
def test_train_then_generate_commands(tmp_path, capsys, click_track):
    from d2m_core.cli.main import main

    data = tmp_path / "data"
    data.mkdir()
    rows, arrays = ["motion,audio,genre,split"], {}
    for i, (bpm, genre, split) in enumerate([(100, "house", "train"), (120, "krump", "train"),
                                             (90, "pop", "val")]):  # fmt: skip
        m = synthetic_dance(bpm=bpm, duration_s=3.0, fps=60, seed=i)
        arrays[f"d{i}"] = m.keypoints
        sf.write(data / f"a{i}.wav", click_track(m.meta["beats_s"], 3.0), SR)
        rows.append(f"dances.npz#d{i},a{i}.wav,{genre},{split}")
    np.savez(data / "dances.npz", fps=np.float32(60), **arrays)
    (data / "manifest.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    rc = main(["train", "--backbone", "audioldm", "--model", "debug", "--data", str(data),
               "--out", str(out), "--clip-seconds", "1.28", "--batch-size", "2", "--steps", "2",
               "--quiet", "--projector", "mlp"])  # fmt: skip
    assert rc == 0 and "trained 2 steps" in capsys.readouterr().out
    meta = json.loads((out / "encoder" / "d2m_encoders.json").read_text())
    assert meta["backbone"] == "audioldm" and meta["text_width"] == 32

    kp = synthetic_dance(bpm=100, duration_s=2.5, fps=30, seed=1).keypoints
    np.savez(tmp_path / "d.npz", dance=kp, fps=np.float32(30))
    wav, js = tmp_path / "m.wav", tmp_path / "m.json"
    gen = ["generate", str(tmp_path / "d.npz"), "--backbone", "audioldm", "--genre", "house",
           "--steps", "2"]  # fmt: skip
    rc = main([*gen, "--model", "debug", "--encoder", str(out / "encoder"), "-o", str(wav),
               "--json", str(js), "--guidance", "3.0"])  # fmt: skip
    assert rc == 0 and wav.stat().st_size > 1000
    rep = json.loads(js.read_text())
    assert rep["backbone"] == "audioldm" and rep["sample_rate"] == SR
    assert abs(rep["music_duration_s"] - 2.5) < 0.05
    y, sr = sf.read(wav)
    assert sr == SR and len(y) == int(2.5 * SR)
    capsys.readouterr()
    # Pseudo-words without an encoder, and a missing model: one clear line each.
    assert main([*gen, "--model", "debug", "-o", str(wav)]) == 2
    err = capsys.readouterr().err
    assert "--encoder" in err and "--zero-shot" in err and len(err.strip().splitlines()) == 1
    assert main([*gen, "--model", "debug", "--zero-shot", "-o", str(wav)]) == 0
    assert "zero-shot prompt: 'a house music with a" in capsys.readouterr().out
    assert main([*gen, "--model", str(tmp_path / "nope"), "-o", str(wav)]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and len(err.strip().splitlines()) == 1
