"""Stage: rhythm and beats -> prompt embeddings: encoder-based textual inversion (paper §3),
the dance's rhythm and genre as two pseudo-words.

The prompt's pseudo-words ``@`` (genre) and ``*`` (rhythm) each map to one token of the
backbone's text tokenizer. Two small encoders turn the dance into one vector each, of the text
encoder's width ``D``; the text encoder's token embeddings at exactly those positions are
replaced by the vectors before its transformer runs (:mod:`.injection`). Only the encoders
train; the backbone stays frozen (:mod:`d2m_core.training`).

Modules
-------
- :mod:`.config`: :class:`EncoderConfig` (torch-free).
- :mod:`.encoders`: the rhythm encoder (``mlp`` / ``attn_pos``
  projectors), the genre encoder, and :class:`InversionEncoders` holding both.
- :mod:`.features`: the rhythm encoder's input from a motion (paper rhythm sequence per clip).
- :mod:`.injection`: pseudo-word tokens and the per-text-encoder conditioners (``inputs_embeds``
  for T5, a forward hook on the input embeddings for CLIP / CLAP).
- :mod:`.adapter`: what the backbone-agnostic training loop needs from a backbone.
- :mod:`.checkpoint`: save / load encoders (safetensors + JSON).
- :mod:`.vocab`: a small word-level tokenizer built offline (tiny models, tests).

``config``, ``features`` and ``checkpoint.read_meta`` are torch-free; the rest imports torch.
"""

from __future__ import annotations

from d2m_core.inversion.config import EncoderConfig

__all__ = ["EncoderConfig", "GenreEncoder", "InversionEncoders", "RhythmEncoder"]


def __getattr__(name: str):
    # The torch modules load on first use, so torch-free callers (the CLI, availability
    # checks, data preparation) can import this package cheaply.
    if name in ("GenreEncoder", "InversionEncoders", "RhythmEncoder"):
        from d2m_core.inversion import encoders

        return getattr(encoders, name)
    raise AttributeError(name)
