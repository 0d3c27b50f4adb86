"""What the backbone-agnostic training loop needs from a backbone, and the inversion loss.

A backbone joins training by implementing :class:`InversionAdapter` (its text conditioner, how
target audio becomes cached training targets, and its loss given the injected conditioning)
and registering it in :data:`ADAPTERS`. MusicGen's adapter
(:class:`~d2m_core.backbones.musicgen.adapter.MusicgenInversionAdapter`) caches Encodec codes
and returns the codebook cross-entropy (paper Eq. 3); AudioLDM's and Riffusion's
(:mod:`d2m_core.backbones.audioldm.adapter`, :mod:`d2m_core.backbones.riffusion.adapter`) inject
through :class:`~d2m_core.inversion.injection.EmbeddingHookConditioner`, cache VAE latents and
return the noise-prediction loss (paper Eq. 2, :mod:`d2m_core.backbones.diffusion`).

This module imports torch only when used, so backbone modules can subclass the interface
without slowing ``d2m --help``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from d2m_core.errors import D2MError
from d2m_core.music.prompt import DEFAULT_PROMPT, GENRE_TOKEN, RHYTHM_TOKEN

if TYPE_CHECKING:  # torch stays unimported until an adapter is built
    import torch

    from d2m_core.inversion.encoders import InversionEncoders
    from d2m_core.inversion.injection import TextConditioner

#: backbone name -> "module:Class" of its adapter (imported on demand).
ADAPTERS: dict[str, str] = {
    "musicgen": "d2m_core.backbones.musicgen.adapter:MusicgenInversionAdapter",
    "audioldm": "d2m_core.backbones.audioldm.adapter:AudioldmInversionAdapter",
    "riffusion": "d2m_core.backbones.riffusion.adapter:RiffusionInversionAdapter",
}


class InversionAdapter(ABC):
    """A frozen backbone as the training loop sees it.

    Attributes
    ----------
    backbone : str
        Registry name (``musicgen``).
    model_id : str
        The model id, folder or ``debug`` the user gave.
    conditioner : TextConditioner
        Tokenizer + text encoder with pseudo-word injection.
    sample_rate : int
        Rate the targets' audio must have, Hz.
    rhythm_init_word, genre_init_word : str
        Words whose embeddings ``*`` and ``@`` start from.
    """

    backbone: str = ""
    model_id: str = ""
    conditioner: TextConditioner
    sample_rate: int = 32000
    rhythm_init_word: str = "rhythm"
    genre_init_word: str = "dance"

    @property
    def text_width(self) -> int:
        return self.conditioner.width

    @abstractmethod
    def modules(self) -> list[torch.nn.Module]:
        """The frozen networks (moved to the training device, kept in eval mode)."""

    @abstractmethod
    def target_signature(self) -> str:
        """A string that changes whenever :meth:`encode_targets` would give other targets."""

    @abstractmethod
    def encode_targets(self, audio: np.ndarray) -> np.ndarray:
        """Training targets for equal-length clips.

        Parameters
        ----------
        audio : np.ndarray [shape=(B, N)], float32
            Mono clips at :attr:`sample_rate`.

        Returns
        -------
        np.ndarray [shape=(B, ...)]
            One target array per clip (MusicGen: codes ``(K, T)`` int16), cached by the loader.
        """

    @abstractmethod
    def loss(
        self, *, hidden: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """The backbone's training loss (scalar) for conditioning ``hidden`` ``(B, S, W)`` with
        ``mask`` ``(B, S)`` and a batch of cached ``targets``."""

    def frozen_parameters(self) -> Iterator[torch.nn.Parameter]:
        for m in self.modules():
            yield from m.parameters()

    def to(self, device: torch.device | str) -> InversionAdapter:
        for m in self.modules():
            m.to(device)
        return self

    def freeze(self) -> InversionAdapter:
        """No gradients into the backbone, dropout off."""
        for m in self.modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)
        return self

    def init_encoders(self, encoders: InversionEncoders) -> None:
        """Start ``*`` / ``@`` at the embeddings of :attr:`rhythm_init_word` /
        :attr:`genre_init_word`."""
        c = self.conditioner
        encoders.init_offsets(
            rhythm=c.word_embedding(self.rhythm_init_word),
            genre=c.word_embedding(self.genre_init_word),
        )


def inversion_loss(
    adapter: InversionAdapter,
    encoders: torch.nn.Module,
    *,
    rhythm: torch.Tensor,
    genre: torch.Tensor,
    targets: torch.Tensor,
    prompt: str = DEFAULT_PROMPT,
) -> torch.Tensor:
    """One batch's loss: encoders -> injected text conditioning -> the backbone's loss.

    Parameters
    ----------
    adapter : InversionAdapter
    encoders : InversionEncoders (possibly wrapped by DDP)
    rhythm : torch.Tensor [shape=(B, C, L)]
    genre : torch.Tensor [shape=(B,)], int64
    targets : torch.Tensor [shape=(B, ...)]
    prompt : str
        The fixed training prompt (paper: ``a @ music with * as the rhythm``).
    """
    r_emb, g_emb = encoders(rhythm, genre)
    hidden, mask = adapter.conditioner.encode(
        [prompt] * rhythm.shape[0], {RHYTHM_TOKEN: r_emb, GENRE_TOKEN: g_emb}
    )
    return adapter.loss(hidden=hidden, mask=mask, targets=targets)


def get_adapter(backbone: str, *, model: str, device: str | torch.device = "cpu"):
    """The training adapter of ``backbone`` for ``model``.

    Raises
    ------
    D2MError
        A backbone without training support (the message lists those with it).
    """
    spec = ADAPTERS.get(backbone)
    if spec is None:
        raise D2MError(
            f"backbone '{backbone}' cannot be trained; trainable backbones: {', '.join(ADAPTERS)}"
        )
    mod, cls = spec.split(":")
    return getattr(importlib.import_module(mod), cls)(model=model, device=device)
