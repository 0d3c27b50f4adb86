"""The rhythm encoder's input for a stretch of a dance (numpy only, shared by training and
generation so both see exactly the same features)."""

from __future__ import annotations

import numpy as np

from d2m_core.dance.motion import Motion
from d2m_core.dance.rhythm import RhythmFeatures, resample_rhythm, rhythm_features
from d2m_core.inversion.config import EncoderConfig


def motion_rhythm(motion: Motion, *, cfg: EncoderConfig) -> RhythmFeatures:
    """The paper's rhythm features of a whole motion with the encoders' settings."""
    params = dict(cfg.rhythm_params)
    num_bins = int(params.pop("num_bins", 10))
    return rhythm_features(motion, num_bins=num_bins, **params)


def rhythm_input(features: RhythmFeatures, *, cfg: EncoderConfig, start_s: float) -> np.ndarray:
    """One clip's rhythm-encoder input.

    Parameters
    ----------
    features : RhythmFeatures
        From :func:`motion_rhythm` (any frame rate).
    cfg : EncoderConfig
    start_s : float
        Clip start in the dance, seconds; the clip lasts ``cfg.clip_s`` (frames past the end of
        the dance are zero).

    Returns
    -------
    np.ndarray [shape=(C, L)], float32
        ``C = cfg.rhythm_channels``, ``L = cfg.rhythm_frames``.
    """
    r, env = resample_rhythm(
        features, fps_out=cfg.rhythm_fps, start_s=float(start_s), num_frames=cfg.rhythm_frames
    )
    rows = [r] if cfg.rhythm_channels == 1 else [r, env]
    return np.stack(rows).astype(np.float32)
