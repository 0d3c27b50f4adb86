"""The motion object every input is normalised to.

Conventions
-----------
- Joints follow COCO-17 order (:data:`COCO17_NAMES`).
- ``keypoints[t, j] = (x, y, confidence)``; x, y in pixels of the source frame (origin top-left,
  y down), confidence in [0, 1]. Missing joints have confidence 0 (their x, y are interpolated
  or held so that the array never holds NaN).
- Frames are uniformly spaced at ``fps``; frame ``t`` is at ``t / fps`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from d2m_core.errors import D2MError

COCO17_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

#: Bones of the COCO-17 skeleton, as joint index pairs (for drawing).
COCO17_SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10),
    (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),
)  # fmt: skip

MIN_FPS = 1.0
MAX_FPS = 240.0


@dataclass
class Motion:
    """A dancer's 2D motion.

    Attributes
    ----------
    keypoints : np.ndarray [shape=(T, 17, 3)], float32
        COCO-17 (x, y) in pixels and confidence per frame.
    fps : float
        Frames per second of ``keypoints``.
    frame_size : tuple[int, int] | None
        (width, height) of the source frame in pixels, if known.
    source : str
        Where the motion came from (a path, with ``#key`` / ``#view=N`` where relevant).
    frames_with_person : int
        Number of frames in which the dancer was actually seen (the rest were filled in).
    """

    keypoints: np.ndarray
    fps: float
    frame_size: tuple[int, int] | None = None
    source: str = ""
    frames_with_person: int | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.ndim != 3 or kp.shape[1] != 17 or kp.shape[2] not in (2, 3):
            raise D2MError(
                f"keypoints must have shape (T, 17, 2|3) in COCO-17 order, got {tuple(kp.shape)}"
                f" from {self.source or 'input'}; convert them to COCO-17 first"
            )
        if kp.shape[2] == 2:
            kp = np.concatenate([kp, np.ones(kp.shape[:2] + (1,), np.float32)], axis=2)
        if kp.shape[0] == 0:
            raise D2MError(f"{self.source or 'input'} has zero frames: nothing to analyse")
        if not np.isfinite(kp).all():
            raise D2MError(
                f"keypoints in {self.source or 'input'} contain NaN or infinite values;"
                " mark missing joints with confidence 0 instead"
            )
        fps = float(self.fps)
        if not (MIN_FPS <= fps <= MAX_FPS):
            raise D2MError(
                f"frame rate {fps:g} fps is outside [{MIN_FPS:g}, {MAX_FPS:g}];"
                " pass the right one with --fps"
            )
        self.keypoints = kp
        self.fps = fps
        if self.frames_with_person is None:
            self.frames_with_person = int((kp[:, :, 2] > 0).any(axis=1).sum())

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    @property
    def times_s(self) -> np.ndarray:
        """Frame times in seconds, shape (T,)."""
        return np.arange(self.num_frames) / self.fps
