"""The encoders' configuration (torch-free: checkpoints and data preparation read it too)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from d2m_core.music.genres import GENRES

PROJECTORS = ("mlp", "attn_pos")
RHYTHM_INPUTS = ("peaks", "peaks+envelope")

#: The paper's rhythm-feature settings (see :func:`d2m_core.dance.rhythm.rhythm_features`).
DEFAULT_RHYTHM_PARAMS: dict[str, float] = {
    "num_bins": 10,
    "peak_window_s": 0.05,
    "mean_window_s": 1 / 30,
    "delta": 0.1,
    "min_gap_s": 1 / 60,
}


@dataclass
class EncoderConfig:
    """Everything that defines the encoders' architecture and their inputs.

    Attributes
    ----------
    text_width : int
        ``D``, the width of the text encoder's token embeddings (768 for t5-base).
    projector : str
        ``"mlp"`` or ``"attn_pos"``.
    clip_s : float
        Clip length, seconds (the paper's 5.12).
    rhythm_fps : float
        Frame rate of the rhythm input (the paper's 60).
    rhythm_input : str
        ``"peaks"`` (the paper's binary r) or ``"peaks+envelope"``.
    hidden : int
        Hidden width ``H`` of both encoders (0: ``max(D, 128)`` rounded up to ``attn_heads``).
    attn_layers, attn_heads, patch_frames : int
        ``attn_pos`` projector shape.
    dropout : float
        Dropout inside the encoders while training.
    genres : tuple[str, ...]
        The genre vocabulary of ``@``, in one-hot order.
    embed_scale : float
        Typical size (element standard deviation) of the text encoder's token embeddings.
    rhythm_params : dict
        Rhythm-feature settings (direction bins, peak picking), as
        :func:`d2m_core.dance.rhythm.rhythm_features` takes them.
    """

    text_width: int
    projector: str = "attn_pos"
    clip_s: float = 5.12
    rhythm_fps: float = 60.0
    rhythm_input: str = "peaks"
    hidden: int = 0
    attn_layers: int = 2
    attn_heads: int = 4
    patch_frames: int = 8
    dropout: float = 0.1
    genres: tuple[str, ...] = GENRES
    embed_scale: float = 1.0
    rhythm_params: dict = field(default_factory=lambda: dict(DEFAULT_RHYTHM_PARAMS))

    def __post_init__(self) -> None:
        if self.projector not in PROJECTORS:
            raise ValueError(f"projector must be one of {PROJECTORS}, got {self.projector!r}")
        if self.rhythm_input not in RHYTHM_INPUTS:
            raise ValueError(f"rhythm_input must be one of {RHYTHM_INPUTS}")
        if self.text_width < 1 or self.clip_s <= 0 or self.rhythm_fps <= 0:
            raise ValueError("text_width, clip_s and rhythm_fps must be positive")
        self.genres = tuple(self.genres)
        if not self.hidden:
            h = max(self.text_width, 128)
            self.hidden = int(math.ceil(h / self.attn_heads) * self.attn_heads)
        if self.projector == "attn_pos" and self.hidden % self.attn_heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of attn_heads")

    @property
    def rhythm_frames(self) -> int:
        """``L``: rhythm frames per clip (307 for 5.12 s at 60 fps)."""
        return int(round(self.clip_s * self.rhythm_fps))

    @property
    def rhythm_channels(self) -> int:
        """``C``: 1 for ``peaks``, 2 for ``peaks+envelope``."""
        return 2 if self.rhythm_input == "peaks+envelope" else 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["genres"] = list(self.genres)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> EncoderConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})
