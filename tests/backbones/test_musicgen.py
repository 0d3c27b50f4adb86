"""The MusicGen backbone with the tiny random ``debug`` model: loading, loss, sampling, CFG,
long durations, checkpoints, and the ``generate`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from d2m_core.backbones.musicgen import model as mg  # noqa: E402
from d2m_core.backbones.musicgen.backbone import MusicgenBackbone  # noqa: E402
from d2m_core.dance.analysis import analyze_motion  # noqa: E402
from d2m_core.dance.synth import synthetic_dance  # noqa: E402
from d2m_core.errors import D2MError  # noqa: E402
from d2m_core.inversion.checkpoint import save_encoders  # noqa: E402
from d2m_core.inversion.config import EncoderConfig  # noqa: E402
from d2m_core.inversion.encoders import InversionEncoders  # noqa: E402
from d2m_core.music.prompt import parse_prompt  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread


@pytest.fixture(scope="module")
def lm():
    return mg.load_musicgen("debug")


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory, lm):
    """Random (untrained) encoders for the debug model, 1.28 s clips, saved as a checkpoint."""
    torch.manual_seed(0)
    cfg = EncoderConfig(text_width=32, projector="attn_pos", clip_s=1.28, dropout=0.0)
    path = tmp_path_factory.mktemp("enc") / "encoder"
    save_encoders(path, encoders=InversionEncoders(cfg), backbone="musicgen", model="debug")
    return path


@pytest.fixture(scope="module")
def dance():
    return analyze_motion(synthetic_dance(bpm=110, duration_s=4.0, fps=30, seed=3))


def _hidden(lm, prompts):
    enc = lm.tokenizer(prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return lm.model.text_encoder(**enc).last_hidden_state, enc["attention_mask"]


def test_availability_never_downloads(tmp_path):
    avail = mg.model_availability("facebook/musicgen-small", cache_dir=tmp_path)
    ok, why = avail.ok, avail.reason
    assert not ok and "hf download facebook/musicgen-small" in why
    assert avail.missing_model == "facebook/musicgen-small"
    assert avail.download_command == "hf download facebook/musicgen-small"
    assert mg.model_availability("./no/such/folder").missing_model is None
    assert mg.model_availability("debug").ok
    (tmp_path / "empty").mkdir()
    assert "config.json" in mg.model_availability(str(tmp_path / "empty")).reason
    assert "not found" in mg.model_availability("./no/such/folder").reason
    # A model in a (fake) hub cache counts as present.
    snap = tmp_path / "models--facebook--musicgen-small" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    for f in ("config.json", "model.safetensors", "tokenizer.json"):
        (snap / f).write_text("{}")
    (tmp_path / "models--facebook--musicgen-small" / "refs").mkdir()
    (tmp_path / "models--facebook--musicgen-small" / "refs" / "main").write_text("abc")
    assert mg.model_availability("facebook/musicgen-small", cache_dir=tmp_path).ok
    # Without encoders MusicGen is a plain text-to-music model: available when the model is.
    assert MusicgenBackbone.availability(model="debug").ok
    avail = MusicgenBackbone.availability(model="./no/such/folder")
    ok, why = avail.ok, avail.reason
    assert not ok and "not found" in why


def test_without_encoders_plain_text_only(dance):
    bb = MusicgenBackbone(model="debug", device="cpu")
    assert bb.encoders is None and bb.window_s == mg.TEXT_WINDOW_S
    assert bb.window_plan(1500) == [(0, 0)]  # 30 s in one window
    assert bb.window_plan(2000) == [(0, 0), (900, 600)]  # then 12 s of context
    text = parse_prompt("a house music with a 112 BPM beat as the rhythm")
    audio = bb.generate(analysis=dance, prompt=text, genre="house", seed=3, duration_s=1.0)
    assert audio.shape == (32000,) and np.isfinite(audio).all()
    again = bb.generate(analysis=dance, prompt=text, genre="house", seed=3, duration_s=1.0)
    assert np.array_equal(audio, again)
    for pseudo in ("a @ music", "music with * as the rhythm"):
        with pytest.raises(D2MError, match="--zero-shot"):
            bb.generate(
                analysis=dance, prompt=parse_prompt(pseudo), genre="house", seed=0, duration_s=1.0
            )
    # The window overlap is checked as the diffusion backbones check it.
    for bad in (1.0, -0.1):
        with pytest.raises(D2MError, match=r"window overlap must be in \[0, 1\)"):
            MusicgenBackbone(model="debug", device="cpu", window_overlap=bad)


def test_saved_folder_loads_through_the_same_path(tmp_path, lm):
    lm.model.save_pretrained(tmp_path / "m")
    lm.tokenizer.save_pretrained(tmp_path / "m")
    assert mg.model_availability(str(tmp_path / "m")).ok
    again = mg.load_musicgen(str(tmp_path / "m"))
    assert not again.melody and again.num_codebooks == 4 and again.sample_rate == 32000
    sd, sd2 = lm.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(sd[k], sd2[k]) for k in sd)
    assert again.tokenizer("a @ music")["input_ids"] == lm.tokenizer("a @ music")["input_ids"]


def test_delay_pattern_loss_matches_transformers(lm):
    codes = torch.randint(0, 64, (2, 4, 12), generator=torch.Generator().manual_seed(0))
    inputs, labels = mg.delay_inputs(codes, special=lm.special, delays=lm.delays)
    assert inputs.shape == labels.shape == (2, 4, 15)
    assert (inputs[:, :, 0] == lm.special).all()
    for k in range(4):  # codebook k is delayed by k steps
        assert torch.equal(labels[:, k, k : k + 12], codes[:, k])
        assert (labels[:, k, :k] == -100).all() and (labels[:, k, k + 12 :] == -100).all()
    hidden, mask = _hidden(lm, ["a house music", "a music with * as the rhythm"])
    core = mg.DecoderCore(lm)
    with torch.no_grad():
        logits, _ = core.logits(inputs, core.condition(hidden, mask))
        ours = mg.codebook_loss(logits, labels)
        ref = lm.model(
            encoder_outputs=(hidden,),
            attention_mask=mask,
            decoder_input_ids=inputs.reshape(8, 15),
            labels=labels.transpose(1, 2),
        ).loss
    torch.testing.assert_close(ours, ref)


def test_cfg_at_batch_2_seed_and_prompt_continuation(lm):
    core = mg.DecoderCore(lm)
    hidden, mask = _hidden(lm, ["a house music , jazzy", "a krump music"])  # padded batch

    def run(g, seed=0, **kw):
        gen = torch.Generator().manual_seed(seed)
        return core.sample(hidden=hidden, mask=mask, num_frames=24, guidance=g, generator=gen, **kw)

    a, b = run(3.0), run(1.0)
    assert a.shape == (2, 4, 24) and a.min() >= 0 and a.max() < 64
    assert not torch.equal(a, b)  # guidance really changes the logits
    assert torch.equal(a, run(3.0))  # same seed, same codes
    assert not torch.equal(a, run(3.0, seed=1))
    c = run(3.0, prompt_codes=a[:, :, :10])
    assert torch.equal(c[:, :, :10], a[:, :, :10]) and c.shape == (2, 4, 24)


def test_decode_in_chunks_matches_whole(lm):
    codes = torch.randint(0, 64, (4, 40), generator=torch.Generator().manual_seed(1))
    whole = mg.DecoderCore(lm).decode(codes, chunk_frames=1000)
    chunked = mg.DecoderCore(lm).decode(codes, chunk_frames=16)
    assert whole.shape == chunked.shape == (40 * 640,)
    assert np.abs(whole - chunked).max() < 1e-3 * max(1e-6, np.abs(whole).max()) + 1e-5


def test_backbone_long_music_window_by_window(encoder_dir, dance):
    bb = MusicgenBackbone(model="debug", encoder=encoder_dir, device="cpu")
    assert bb.window_plan(64) == [(0, 0)]
    assert bb.window_plan(150) == [(0, 0), (48, 16), (96, 16)]
    seen = []
    audio = bb.generate(
        analysis=dance, prompt=parse_prompt("a @ music with * as the rhythm, jazzy"),
        genre="house", seed=5, duration_s=3.0, progress=lambda f, m: seen.append(m),
    )  # fmt: skip
    assert audio.shape == (96000,) and audio.dtype == np.float32
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
    assert sum("window" in m for m in seen) == 3  # 3 s = 150 frames at 50 Hz, 1.28 s windows
    again = bb.generate(
        analysis=dance, prompt=parse_prompt("a @ music with * as the rhythm, jazzy"),
        genre="house", seed=5, duration_s=3.0,
    )  # fmt: skip
    assert np.array_equal(audio, again)
    with pytest.raises(D2MError, match="genre 'tango'"):
        bb.dance_conditioning(
            analysis=dance, prompt=parse_prompt("a @ music"), genre="tango", start_s=0
        )


def test_checkpoint_round_trip_gives_identical_music(tmp_path, encoder_dir, dance):
    kw = dict(
        analysis=dance, prompt=parse_prompt("a @ music with * as the rhythm"), genre="krump",
        seed=11, duration_s=1.0,
    )  # fmt: skip
    first = MusicgenBackbone(model="debug", encoder=encoder_dir, device="cpu")
    a = first.generate(**kw)
    save_encoders(tmp_path / "copy", encoders=first.encoders, backbone="musicgen", model="debug")
    second = MusicgenBackbone(encoder=tmp_path / "copy", device="cpu")  # model from the ckpt
    assert second.model_name == "debug"
    assert np.array_equal(a, second.generate(**kw))
    # The dance matters: another dance (through `*`) gives other music.
    other = analyze_motion(synthetic_dance(bpm=80, duration_s=4.0, fps=30, seed=9))
    assert not np.array_equal(a, second.generate(**{**kw, "analysis": other}))


def test_width_mismatch_is_a_clear_error(tmp_path):
    cfg = EncoderConfig(text_width=768, projector="mlp")
    save_encoders(
        tmp_path / "big", encoders=InversionEncoders(cfg), backbone="musicgen",
        model="facebook/musicgen-small",
    )  # fmt: skip
    with pytest.raises(D2MError, match="width 768.*debug has width 32"):
        MusicgenBackbone(model="debug", encoder=tmp_path / "big", device="cpu")


def test_generate_command(tmp_path, encoder_dir, capsys):
    from d2m_core.cli.main import main

    kp = synthetic_dance(bpm=100, duration_s=2.5, fps=30, seed=1).keypoints
    np.savez(tmp_path / "d.npz", dance=kp, fps=np.float32(30))
    out, js = tmp_path / "m.wav", tmp_path / "m.json"
    args = ["generate", str(tmp_path / "d.npz"), "--backbone", "musicgen", "--genre", "house"]
    rc = main([*args, "--model", "debug", "--encoder", str(encoder_dir), "-o", str(out),
               "--json", str(js), "--guidance", "2.0"])  # fmt: skip
    assert rc == 0 and out.stat().st_size > 1000
    rep = json.loads(js.read_text())
    assert rep["backbone"] == "musicgen" and rep["sample_rate"] == 32000
    assert abs(rep["music_duration_s"] - 2.5) < 0.05
    capsys.readouterr()
    assert main([*args, "--model", "debug", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--encoder" in err and len(err.strip().splitlines()) == 1


def _greedy_without_cache(core, hidden, mask, num_frames, guidance):
    """Reference sampler: recompute every step from scratch, argmax, same delay layout."""
    lm = core.lm
    b, k, s, delays = hidden.shape[0], lm.num_codebooks, lm.special, lm.delays
    length = num_frames + max(delays) + 1
    seq = torch.full((b, k, length), s, dtype=torch.long)
    cond = core.condition(hidden, mask)
    cond = core.cat(cond, core.null_condition(hidden, mask))
    for t in range(1, length):
        lg, _ = core.logits(seq[:, :, :t].repeat(2, 1, 1), cond)
        c, u = lg[:, :, -1].float().split(b)
        nxt = (u + guidance * (c - u)).argmax(-1)
        for i, d in enumerate(delays):
            if 0 <= t - 1 - d < num_frames:
                seq[:, i, t] = nxt[:, i]
    return torch.stack([seq[:, i, 1 + d : 1 + d + num_frames] for i, d in enumerate(delays)], 1)


def _tiny_melody(lm):
    from transformers import (
        MusicgenMelodyConfig,
        MusicgenMelodyDecoderConfig,
        MusicgenMelodyForConditionalGeneration,
    )

    dec = MusicgenMelodyDecoderConfig(
        vocab_size=64, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, ffn_dim=96,
        num_codebooks=4, pad_token_id=64, bos_token_id=64, dropout=0.0, initializer_factor=0.2,
    )  # fmt: skip
    cfg = MusicgenMelodyConfig(
        text_encoder=lm.model.config.text_encoder, audio_encoder=lm.model.config.audio_encoder,
        decoder=dec, num_chroma=12, chroma_length=10,
    )  # fmt: skip
    torch.manual_seed(0)
    net = MusicgenMelodyForConditionalGeneration(cfg).eval()
    net.generation_config.decoder_start_token_id = 64
    return mg.LoadedMusicgen(model=net, tokenizer=lm.tokenizer, name="melody", melody=True)


@pytest.mark.parametrize("variant", ["musicgen", "melody"])
def test_cached_sampler_and_loss_match_references(lm, variant):
    m = lm if variant == "musicgen" else _tiny_melody(lm)
    core = mg.DecoderCore(m)
    hidden, mask = _hidden(m, ["a house music , jazzy", "a krump music"])
    with torch.no_grad():
        fast = core.sample(
            hidden=hidden, mask=mask, num_frames=6, guidance=3.0, temperature=0,
            generator=torch.Generator(),
        )  # fmt: skip
        slow = _greedy_without_cache(core, hidden, mask, 6, 3.0)
    assert torch.equal(fast, slow)
    if variant == "melody":  # the prefix-conditioned loss agrees with transformers' own
        codes = torch.randint(0, 64, (2, 4, 5), generator=torch.Generator().manual_seed(0))
        inputs, labels = mg.delay_inputs(codes, special=m.special, delays=m.delays)
        enc = m.tokenizer(["a house music , jazzy", "a krump music"], padding=True,
                          return_tensors="pt")  # fmt: skip
        with torch.no_grad():
            logits, _ = core.logits(inputs, core.condition(hidden, mask))
            ref = m.model(
                **enc, decoder_input_ids=inputs.reshape(8, -1), labels=labels.transpose(1, 2)
            ).loss
        torch.testing.assert_close(mg.codebook_loss(logits, labels), ref)
