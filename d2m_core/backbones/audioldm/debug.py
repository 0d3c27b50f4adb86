"""The tiny random AudioLDM (``--model debug``) that tests and smoke runs use."""

from __future__ import annotations

import math

from d2m_core.backbones.audioldm.model import LoadedAudioldm
from d2m_core.backbones.encoded import DEBUG_MODEL, debug_words


def _debug_tokenizer():
    from tokenizers import processors

    from d2m_core.inversion.vocab import word_tokenizer

    tok = word_tokenizer(["<s>", *debug_words()])
    # Roberta's layout: <s> first (CLAP pools the first token), </s> last.
    bos, eos = tok.convert_tokens_to_ids("<s>"), tok.eos_token_id
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    tok.bos_token = "<s>"
    return tok


def debug_audioldm(*, seed: int = 0) -> LoadedAudioldm:
    """A tiny random AudioLDM pipeline's components, identical on every call.

    AudioLDM's real mel front end (16 kHz, hop 160, 64 mel bands), a 3-level VAE (downsampling
    4, 4 latent channels, mid-block attention as the real one), a 2-level UNet of width 16/32
    conditioned through ``simple_projection`` class embeddings, a 2-layer CLAP text model of
    width 32 projecting to 16, a HiFi-GAN vocoder upsampling 8*4*5 = 160, AudioLDM's DDIM
    schedule, and a word-level tokenizer with Roberta's ``<s> ... </s>`` layout.

    Returns
    -------
    LoadedAudioldm
        In eval mode, float32, on the CPU.
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import (
        ClapTextConfig,
        ClapTextModelWithProjection,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
    )

    tok = _debug_tokenizer()
    vocab = int(math.ceil(len(tok) / 8) * 8)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text = ClapTextModelWithProjection(
            ClapTextConfig(
                vocab_size=vocab, hidden_size=32, intermediate_size=64, num_attention_heads=4,
                num_hidden_layers=2, projection_dim=16,
                max_position_embeddings=tok.model_max_length + tok.pad_token_id + 2,
                pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0,
            )
        )  # fmt: skip
        vae = AutoencoderKL(
            in_channels=1, out_channels=1, latent_channels=4, block_out_channels=(8, 16, 16),
            down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
            layers_per_block=1, norm_num_groups=8, sample_size=128,
        )  # fmt: skip
        unet = UNet2DConditionModel(
            sample_size=32, in_channels=4, out_channels=4, block_out_channels=(16, 32),
            layers_per_block=1, norm_num_groups=8, attention_head_dim=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=(16, 32),
            class_embed_type="simple_projection", projection_class_embeddings_input_dim=16,
            class_embeddings_concat=True,
        )  # fmt: skip
        vocoder = SpeechT5HifiGan(
            SpeechT5HifiGanConfig(
                model_in_dim=64, sampling_rate=16000, upsample_initial_channel=16,
                upsample_rates=[8, 4, 5], upsample_kernel_sizes=[16, 8, 10],
                resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
                normalize_before=False, initializer_range=0.1,  # audible, not ~1e-7
            )
        )  # fmt: skip
    scheduler = DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.0015, beta_end=0.0195,
        beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1,
    )  # fmt: skip
    return LoadedAudioldm(
        vae=vae.eval(), text_encoder=text.eval(), tokenizer=tok, unet=unet.eval(),
        scheduler=scheduler, vocoder=vocoder.eval(), name=DEBUG_MODEL,
    )  # fmt: skip
