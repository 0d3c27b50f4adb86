"""Pseudo-word injection, the encoders and their checkpoints (tiny models, CPU)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from d2m_core.errors import D2MError  # noqa: E402
from d2m_core.inversion.checkpoint import load_encoders, read_meta, save_encoders  # noqa: E402
from d2m_core.inversion.config import EncoderConfig  # noqa: E402
from d2m_core.inversion.encoders import InversionEncoders  # noqa: E402
from d2m_core.inversion.features import motion_rhythm, rhythm_input  # noqa: E402
from d2m_core.inversion.injection import (  # noqa: E402
    EmbeddingHookConditioner,
    InputsEmbedsConditioner,
    inject,
    pseudo_token_ids,
)
from d2m_core.inversion.vocab import word_tokenizer  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread


@pytest.fixture(scope="module")
def debug_lm():
    from d2m_core.backbones.musicgen.model import load_musicgen

    return load_musicgen("debug")


def test_pseudo_words_become_single_tokens():
    tok = word_tokenizer(["a", "music", "with", "as", "the", "rhythm"])
    assert tok("@", add_special_tokens=False)["input_ids"] == [tok.unk_token_id]
    ids = pseudo_token_ids(tok)  # neither word is known: both are added
    assert set(ids) == {"@", "*"} and len(set(ids.values())) == 2
    enc = tok("a @ music with * as the rhythm")["input_ids"]
    assert enc.count(ids["@"]) == 1 and enc.count(ids["*"]) == 1
    assert pseudo_token_ids(tok) == ids  # idempotent: known words are not added twice


def test_inject_replaces_exactly_the_placeholder_rows():
    g = torch.Generator().manual_seed(0)
    embeds = torch.randn(3, 6, 4, generator=g)
    ids = torch.tensor([[5, 7, 9, 8, 1, 0], [9, 5, 1, 0, 0, 0], [5, 5, 5, 1, 0, 0]])
    r = torch.randn(3, 4, generator=g, requires_grad=True)
    q = torch.randn(3, 4, generator=g)
    out = inject(embeds, ids, {9: r, 8: q})
    where9, where8 = ids == 9, ids == 8
    assert torch.equal(out[where9], r.detach()[torch.nonzero(where9)[:, 0]])
    assert torch.equal(out[where8], q[torch.nonzero(where8)[:, 0]])
    keep = ~(where9 | where8)
    assert torch.equal(out[keep], embeds[keep])  # bit-identical elsewhere, padding included
    out.sum().backward()
    assert torch.equal(r.grad, torch.tensor([[1.0] * 4, [1.0] * 4, [0.0] * 4]))  # row 2: no `*`


def test_conditioner_batch_padding_and_absent_pseudo_words(debug_lm):
    text = debug_lm.model.text_encoder
    cond = InputsEmbedsConditioner(tokenizer=debug_lm.tokenizer, text_model=text)
    prompts = ["a @ music with * as the rhythm , jazzy piano", "* music", "a music"]
    r = torch.randn(3, cond.width)
    g = torch.randn(3, cond.width)
    seen = {}

    def spy(_module, _args, kwargs):
        seen["embeds"] = kwargs["inputs_embeds"].detach().clone()

    h = text.register_forward_pre_hook(spy, with_kwargs=True)
    try:
        hidden, mask = cond.encode(prompts, {"*": r, "@": g})
    finally:
        h.remove()
    ids, mask2 = cond.tokenize(prompts)
    assert torch.equal(mask, mask2) and hidden.shape[:2] == ids.shape
    assert mask.sum(1).tolist()[0] > mask.sum(1).tolist()[1] > 0  # different lengths, padded
    plain = text.get_input_embeddings()(ids)
    emb = seen["embeds"]
    star, at = ids == cond.token_ids["*"], ids == cond.token_ids["@"]
    assert star.sum(1).tolist() == [1, 1, 0] and at.sum(1).tolist() == [1, 0, 0]
    assert torch.equal(emb[star], r[torch.nonzero(star)[:, 0]])
    assert torch.equal(emb[at], g[torch.nonzero(at)[:, 0]])
    keep = ~(star | at)
    assert torch.equal(emb[keep], plain[keep])
    # A prompt without pseudo-words is plain T5.
    ref = text(input_ids=ids[2:], attention_mask=mask[2:]).last_hidden_state
    torch.testing.assert_close(hidden[2:], ref)
    # The hook-based route (CLIP / CLAP) injects the same rows: same hidden states.
    hook = EmbeddingHookConditioner(tokenizer=debug_lm.tokenizer, text_model=text)
    hidden2, _ = hook.encode(prompts, {"*": r, "@": g})
    torch.testing.assert_close(hidden2, hidden)
    with pytest.raises(ValueError, match="no embedding"):
        cond.encode(prompts, {"@": g})


@pytest.mark.parametrize("projector", ["mlp", "attn_pos"])
@pytest.mark.parametrize("rhythm_input", ["peaks", "peaks+envelope"])
def test_encoder_shapes(projector, rhythm_input):
    cfg = EncoderConfig(text_width=24, projector=projector, rhythm_input=rhythm_input)
    assert cfg.rhythm_frames == 307 and cfg.rhythm_channels == (2 if "env" in rhythm_input else 1)
    enc = InversionEncoders(cfg).eval()
    r = torch.zeros(5, cfg.rhythm_channels, cfg.rhythm_frames)
    r[:, 0, ::30] = 1
    rv, gv = enc(r, torch.arange(5))
    assert rv.shape == gv.shape == (5, 24)
    assert not torch.allclose(gv[0], gv[1])  # genres differ


def test_rhythm_input_marks_the_dance_beats():
    from d2m_core.dance.synth import synthetic_dance

    m = synthetic_dance(bpm=100, duration_s=8, fps=30, seed=1)
    cfg = EncoderConfig(text_width=8, rhythm_input="peaks+envelope")
    x = rhythm_input(motion_rhythm(m, cfg=cfg), cfg=cfg, start_s=1.2)
    assert x.shape == (2, 307) and x.dtype == np.float32
    peaks = np.flatnonzero(x[0]) / 60 + 1.2
    beats = np.asarray(m.meta["beats_s"])
    beats = beats[(beats > 1.3) & (beats < 6.2)]
    assert all(np.min(np.abs(peaks - b)) < 0.1 for b in beats)
    tail = rhythm_input(motion_rhythm(m, cfg=cfg), cfg=cfg, start_s=7.0)
    assert not tail[:, 70:].any()  # past the end of the dance: zeros


def test_checkpoint_round_trip_and_width_check(tmp_path):
    cfg = EncoderConfig(text_width=16, projector="mlp", clip_s=2.56)
    enc = InversionEncoders(cfg).eval()
    save_encoders(tmp_path / "ck", encoders=enc, backbone="musicgen", model="debug", info={"x": 1})
    meta = read_meta(tmp_path / "ck")
    assert meta["text_width"] == 16 and meta["model"] == "debug"
    assert meta["encoder"]["rhythm_params"]["num_bins"] == 10
    assert len(meta["encoder"]["genres"]) == 10
    size = sum(p.stat().st_size for p in (tmp_path / "ck").iterdir())
    assert size < 2_000_000
    loaded, _ = load_encoders(tmp_path / "ck", text_width=16, backbone="musicgen")
    for k, v in enc.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    r = torch.rand(2, 1, cfg.rhythm_frames)
    assert torch.equal(enc(r, torch.tensor([1, 2]))[0], loaded(r, torch.tensor([1, 2]))[0])
    with pytest.raises(D2MError, match="width 16.*has width 768"):
        load_encoders(tmp_path / "ck", text_width=768, model_name="facebook/musicgen-small")
    with pytest.raises(D2MError, match="backbone 'musicgen'"):
        load_encoders(tmp_path / "ck", backbone="riffusion")
    with pytest.raises(D2MError, match="no encoder checkpoint"):
        read_meta(tmp_path / "missing")
