"""MusicGen for inversion training: the T5 conditioner, Encodec codes as targets, and the
codebook cross-entropy of paper Eq. 3."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from d2m_core.backbones.musicgen.model import LoadedMusicgen, codebook_loss, delay_inputs
from d2m_core.backbones.windowed import ModelAdapter, open_model
from d2m_core.errors import D2MError


class MusicgenInversionAdapter(ModelAdapter):
    """MusicGen for inversion training: T5 conditioner, Encodec codes, Eq. 3 loss."""

    backbone = "musicgen"

    def _load(self, *, device: str) -> None:
        self.lm, self.core, self.conditioner = open_model(
            LoadedMusicgen, self.model_id, device=device
        )
        self.sample_rate = self.lm.sample_rate

    def modules(self):
        return [self.lm.model]

    def target_signature(self) -> str:
        codec = self.lm.model.config.audio_encoder.to_dict()
        blob = json.dumps(
            {"model": self.model_id, "codec": codec, "k": self.lm.num_codebooks},
            sort_keys=True,
            default=str,
        )
        return "musicgen-" + hashlib.sha1(blob.encode()).hexdigest()[:16]

    def encode_targets(self, audio: np.ndarray) -> np.ndarray:
        import torch

        codec = self.lm.model.audio_encoder
        dev = next(codec.parameters()).device
        out = []
        with torch.no_grad():
            for s in range(0, len(audio), 16):
                x = torch.as_tensor(np.asarray(audio[s : s + 16], np.float32), device=dev)
                codes = codec.encode(x[:, None, :]).audio_codes[0]  # (B, Kc, T)
                if self.lm.stereo:  # mono clips: the same codes for both channels
                    codes = codes.repeat_interleave(2, dim=1)
                out.append(codes.to(torch.int16).cpu().numpy())
        codes = np.concatenate(out, axis=0)
        if codes.shape[1] != self.lm.num_codebooks:
            raise D2MError(
                f"{self.model_id}: the codec gives {codes.shape[1]} codebooks but the"
                f" decoder expects {self.lm.num_codebooks}"
            )
        return codes

    def loss(self, *, hidden, mask, targets):
        lm = self.lm
        inputs, labels = delay_inputs(targets.long(), special=lm.special, delays=lm.delays)
        logits, _ = self.core.logits(inputs, self.core.condition(hidden, mask))
        return codebook_loss(logits, labels)


# --- the backbone -------------------------------------------------------------------------------
