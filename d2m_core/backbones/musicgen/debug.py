"""The tiny random MusicGen (``--model debug``) that tests and smoke runs use."""

from __future__ import annotations

import math

from d2m_core.backbones.encoded import DEBUG_MODEL, debug_words
from d2m_core.backbones.musicgen.model import LoadedMusicgen


def debug_musicgen(*, seed: int = 0) -> LoadedMusicgen:
    """A tiny random MusicGen and its word-level tokenizer, identical on every call.

    32 kHz mono Encodec (hop 640: 50 Hz, 4 codebooks of 64), a 2-layer T5 of width 32 and a
    2-layer decoder of width 48 (so the text->decoder projection exists, as in the real
    models). Codebooks are random (Encodec initialises them to zero, which would give one code).

    Returns
    -------
    LoadedMusicgen
        In eval mode, float32, on the CPU.
    """
    import torch
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )
    from transformers.utils import logging as hf_logging

    from d2m_core.inversion.vocab import word_tokenizer

    tok = word_tokenizer(debug_words())
    vocab = int(math.ceil(len(tok) / 8) * 8)
    text = T5Config(
        vocab_size=vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=32,
        dropout_rate=0.0, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )  # fmt: skip
    codec = EncodecConfig(
        sampling_rate=32000, audio_channels=1, hidden_size=16, num_filters=4,
        num_residual_layers=0, upsampling_ratios=[8, 5, 4, 4], num_lstm_layers=1,
        codebook_size=64, target_bandwidths=[1.2], use_causal_conv=False, normalize=False,
    )  # fmt: skip
    dec = MusicgenDecoderConfig(
        vocab_size=64, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, ffn_dim=96,
        num_codebooks=codec.num_quantizers, pad_token_id=64, bos_token_id=64,
        max_position_embeddings=2048, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        initializer_factor=0.2,  # large enough weights that the text visibly steers the codes
    )  # fmt: skip
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # special ids == vocab_size is MusicGen's own convention
    try:
        cfg = MusicgenConfig(text_encoder=text, audio_encoder=codec, decoder=dec)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = MusicgenForConditionalGeneration(cfg)
            for layer in model.audio_encoder.quantizer.layers:
                layer.codebook.embed.normal_(0.0, 0.05)
    finally:
        hf_logging.set_verbosity(verbosity)
    gc = model.generation_config
    gc.decoder_start_token_id = gc.pad_token_id = gc.bos_token_id = 64
    gc.do_sample, gc.guidance_scale, gc.top_k, gc.max_length = True, 3.0, 250, 1500
    return LoadedMusicgen(model=model.eval(), tokenizer=tok, name=DEBUG_MODEL, melody=False)
