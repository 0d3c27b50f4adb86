"""The rhythm and genre encoders: a dance -> one vector per pseudo-word (paper §3.2-3.3).

Shapes (``B`` batch, ``C`` rhythm channels, ``L`` rhythm frames, ``D`` text width)
----------------------------------------------------------------------------------
- Rhythm input ``(B, C, L)`` float: channel 0 is the paper's binary rhythm sequence ``r`` of one
  clip resampled to ``rhythm_fps`` (307 frames for 5.12 s at 60 fps); with
  ``rhythm_input="peaks+envelope"`` channel 1 is the clip-normalised acceleration envelope.
- Genre input ``(B,)`` int64: index into ``EncoderConfig.genres`` (one-hot inside).
- Outputs ``(B, D)``: the embeddings that replace ``*`` and ``@`` in the text encoder's input.

Each output is ``offset + embed_scale * head(x)``: ``offset`` is a learned vector that starts at
an ordinary word's embedding (``rhythm`` / ``music``, as textual inversion initialises its
pseudo-words) and ``embed_scale`` is the typical size of the text encoder's embeddings, so the
encoders start inside the region of embedding space the frozen text encoder knows.

Projectors
----------
- ``mlp``: LayerNorm(C*L) -> Linear(C*L, H) -> SiLU -> Linear(H, D).
- ``attn_pos``: a learned per-frame position term is added to ``r``; frames are grouped into
  patches of ``patch_frames`` (8 frames = 0.13 s at 60 fps), each patch goes through
  LayerNorm -> Linear -> SiLU -> Linear to width H and gets a learned patch position; a summary
  token attends over the patches through ``attn_layers`` pre-norm transformer blocks and is
  projected to D. The paper's MusicGen results favour this projector. (The authors' release
  projects the whole sequence to one token before its attention blocks; attending over patches
  lets the attention relate beats across the clip, which is what tempo and phase need.)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from d2m_core.inversion.config import EncoderConfig


class _Head(nn.Module):
    """``offset + scale * net(x)``: keeps outputs at the text embeddings' size."""

    def __init__(self, net: nn.Module, last: nn.Linear, *, width: int, scale: float) -> None:
        super().__init__()
        self.net = net
        self.offset = nn.Parameter(torch.zeros(width))
        self.scale = float(scale)
        with torch.no_grad():  # start close to the offset (an existing word's embedding)
            last.weight.mul_(0.1)
            last.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.offset + self.scale * self.net(x)


class MLPProjector(nn.Module):
    """Rhythm ``(B, C, L)`` -> ``(B, D)``: LayerNorm, Linear, SiLU, Linear."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        n_in = cfg.rhythm_channels * cfg.rhythm_frames
        self.net = nn.Sequential(
            nn.Flatten(1),
            nn.LayerNorm(n_in),
            nn.Linear(n_in, cfg.hidden),
            nn.SiLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, cfg.text_width),
        )

    @property
    def last(self) -> nn.Linear:
        return self.net[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AttnPosProjector(nn.Module):
    """Rhythm ``(B, C, L)`` -> ``(B, D)``: position term, patch MLP, attention, summary token."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        c, l_frames, p, h = cfg.rhythm_channels, cfg.rhythm_frames, cfg.patch_frames, cfg.hidden
        self.patch = p
        self.num_patches = int(math.ceil(l_frames / p))
        self.frame_pos = nn.Parameter(torch.zeros(c, l_frames))
        self.embed = nn.Sequential(
            nn.LayerNorm(c * p), nn.Linear(c * p, h), nn.SiLU(), nn.Linear(h, h)
        )
        self.patch_pos = nn.Parameter(torch.randn(self.num_patches + 1, h) * 0.02)
        self.summary = nn.Parameter(torch.randn(1, 1, h) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d_model=h,
            nhead=cfg.attn_heads,
            dim_feedforward=2 * h,
            dropout=cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(
            layer, num_layers=cfg.attn_layers, enable_nested_tensor=False
        )
        self.norm = nn.LayerNorm(h)
        self.last = nn.Linear(h, cfg.text_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, l_frames = x.shape
        x = x + self.frame_pos
        pad = self.num_patches * self.patch - l_frames
        x = nn.functional.pad(x, (0, pad))
        # (B, C, N*P) -> (B, N, C*P): one token per patch of frames.
        x = x.reshape(b, c, self.num_patches, self.patch).permute(0, 2, 1, 3).flatten(2)
        tokens = torch.cat([self.summary.expand(b, -1, -1), self.embed(x)], dim=1)
        tokens = self.blocks(tokens + self.patch_pos)
        return self.last(self.norm(tokens[:, 0]))


class RhythmEncoder(nn.Module):
    """The dance's rhythm sequence -> the embedding of ``*``.

    Input ``(B, C, L)`` float32 (see the module docstring); output ``(B, D)``.
    """

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        proj = MLPProjector(cfg) if cfg.projector == "mlp" else AttnPosProjector(cfg)
        self.head = _Head(proj, proj.last, width=cfg.text_width, scale=cfg.embed_scale)

    def forward(self, rhythm: torch.Tensor) -> torch.Tensor:
        return self.head(rhythm)


class GenreEncoder(nn.Module):
    """Genre index ``(B,)`` -> one-hot, LayerNorm, Linear, SiLU, Linear -> ``(B, D)`` for ``@``."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        g = len(cfg.genres)
        self.num_genres = g
        last = nn.Linear(cfg.hidden, cfg.text_width)
        net = nn.Sequential(nn.LayerNorm(g), nn.Linear(g, cfg.hidden), nn.SiLU(), last)
        self.head = _Head(net, last, width=cfg.text_width, scale=cfg.embed_scale)

    def forward(self, genre: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(genre.long(), self.num_genres).to(self.head.offset.dtype)
        return self.head(onehot)


class InversionEncoders(nn.Module):
    """Both encoders in one module (one optimiser, one DDP wrapper, one checkpoint).

    Parameters
    ----------
    cfg : EncoderConfig
    """

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.rhythm = RhythmEncoder(cfg)
        self.genre = GenreEncoder(cfg)

    def init_offsets(self, *, rhythm: torch.Tensor, genre: torch.Tensor) -> None:
        """Start ``*`` and ``@`` at given word embeddings, each ``(D,)``."""
        with torch.no_grad():
            self.rhythm.head.offset.copy_(rhythm.detach().float())
            self.genre.head.offset.copy_(genre.detach().float())

    def forward(
        self, rhythm: torch.Tensor, genre: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings for ``*`` and ``@``.

        Parameters
        ----------
        rhythm : torch.Tensor [shape=(B, C, L)], float
        genre : torch.Tensor [shape=(B,)], int64

        Returns
        -------
        rhythm_emb, genre_emb : torch.Tensor [shape=(B, D)]
        """
        return self.rhythm(rhythm.float()), self.genre(genre)
