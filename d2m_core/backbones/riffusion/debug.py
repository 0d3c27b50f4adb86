"""The tiny random Riffusion-style pipeline (``--model debug``) that tests and smoke runs use."""

from __future__ import annotations

import math

from d2m_core.backbones.encoded import DEBUG_MODEL, debug_words
from d2m_core.backbones.riffusion.model import LoadedRiffusion


def debug_riffusion(*, seed: int = 0) -> LoadedRiffusion:
    """A tiny random Riffusion-style pipeline, identical on every call.

    UNet: 2 levels (32, 64 channels), cross-attention width 32, native latents 4 x 16 x 16.
    VAE: 3 levels (scale factor 4, the real one has 4 levels and 8), so the native picture is
    64 x 64 and one latent frame is 32 spectrogram columns (0.32 s). CLIP: 2 layers of width 32
    with a word-level tokenizer padded to 77 tokens. Scheduler: PNDM with Stable Diffusion's
    noise schedule (scaled linear betas 0.00085..0.012, 1000 steps).

    Returns
    -------
    LoadedRiffusion
        Everything in eval mode, float32, on the CPU.
    """
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from d2m_core.inversion.vocab import word_tokenizer

    tok = word_tokenizer(debug_words(), model_max_length=77)
    vocab = int(math.ceil(len(tok) / 8) * 8)
    text_cfg = CLIPTextConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, projection_dim=32,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text = CLIPTextModel(text_cfg)
        unet = UNet2DConditionModel(
            sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
            block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
            attention_head_dim=8, norm_num_groups=32,
        )  # fmt: skip
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
            down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
            block_out_channels=(8, 16, 16), norm_num_groups=8, sample_size=64,
            scaling_factor=0.18215,
        )  # fmt: skip
    scheduler = PNDMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
        beta_schedule="scaled_linear", skip_prk_steps=True, set_alpha_to_one=False,
        steps_offset=1,
    )  # fmt: skip
    return LoadedRiffusion(
        vae=vae.eval(), text_encoder=text.eval(), tokenizer=tok, unet=unet.eval(),
        scheduler=scheduler, name=DEBUG_MODEL,
    )  # fmt: skip
