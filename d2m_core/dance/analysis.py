"""Dance analysis: any input (video or keypoint file) -> motion -> rhythm -> tempo and beats."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from d2m_core.dance.cuts import bridge_cuts, keypoint_cuts
from d2m_core.dance.motion import Motion
from d2m_core.dance.overrides import BeatOverrides
from d2m_core.dance.rhythm import RhythmFeatures, rhythm_features
from d2m_core.dance.tempo import TempoEstimate, visual_tempo
from d2m_core.errors import D2MError
from d2m_core.io.keypoints import is_keypoint_file, load_keypoints

if TYPE_CHECKING:
    from d2m_core.dance.overrides import BeatCorrection

Progress = Callable[[float, str], None]


def load_motion(
    path: str | Path,
    *,
    key: str | None = None,
    fps: float | None = None,
    view: int = 0,
    progress: Progress | None = None,
) -> Motion:
    """Read a keypoint file, or find the dancer's keypoints in a video.

    Parameters
    ----------
    path : str or Path
        A video (anything ffmpeg decodes) or a keypoint file (see :mod:`d2m_core.io.keypoints`).
    key, fps, view
        Keypoint-file options (npz entry, frame rate, AIST++ camera).
    progress : callable(fraction, message), optional
        Called during pose estimation.

    Returns
    -------
    Motion
        With ``meta["cuts_s"]``, the scene cuts: from jumps of the whole frame for a video
        (:func:`~d2m_core.dance.pose.estimate_pose`), from jumps of the dancer's position or
        size for a keypoint file that does not list them
        (:func:`~d2m_core.dance.cuts.keypoint_cuts`).
    """
    path = Path(path)
    if not path.exists():
        raise D2MError(f"file not found: {path}")
    if path.is_dir():
        raise D2MError(f"{path} is a folder: give a video or a keypoint file")
    if is_keypoint_file(path):
        motion = load_keypoints(path, key=key, fps=fps, view=view)
        if "cuts_s" not in motion.meta:
            cuts = keypoint_cuts(motion.keypoints, fps=motion.fps)
            motion.meta["cuts_s"] = [round(float(t), 4) for t in cuts]
        return motion
    from d2m_core.dance.pose import estimate_pose  # imported lazily: MediaPipe is slow to import

    return estimate_pose(path, progress=progress)


@dataclass
class Analysis:
    """Everything d2m knows about a dance: its motion, rhythm features and visual tempo.

    ``tempo`` is the estimate, or the user's correction of it
    (:func:`d2m_core.dance.overrides.apply_overrides`), which ``beat_correction`` then records
    with the estimate it replaced.
    """

    motion: Motion
    rhythm: RhythmFeatures
    tempo: TempoEstimate
    beat_correction: BeatCorrection | None = None

    def to_dict(self) -> dict:
        """JSON-ready summary (times in seconds).

        ``tempo_bpm`` and ``visual_beats_s`` are the beats in use; ``auto_tempo_bpm`` is the
        estimate, ``beats_source`` / ``beat_overrides`` / ``beat_warnings`` the correction
        (see :class:`~d2m_core.dance.overrides.BeatOverrides`).
        """
        m = self.motion
        bc = self.beat_correction
        auto = bc.auto_tempo if bc else self.tempo
        overrides = bc.overrides if bc else BeatOverrides()
        return {
            "source": m.source,
            "fps": m.fps,
            "num_frames": m.num_frames,
            "duration_s": round(m.duration_s, 4),
            "frame_size": list(m.frame_size) if m.frame_size else None,
            "frames_with_person": m.frames_with_person,
            "frames_total": int(m.meta.get("frames_total", m.num_frames)),
            "tempo_bpm": round(self.tempo.bpm, 2),
            "tempo_confidence": round(self.tempo.confidence, 3),
            "visual_beats_s": [round(float(t), 3) for t in self.tempo.beats_s],
            "rhythm_peaks_s": [round(float(t), 3) for t in self.rhythm.peak_times_s],
            "auto_tempo_bpm": round(auto.bpm, 2),
            "beats_source": overrides.source,
            "beat_overrides": overrides.to_dict(),
            "beat_warnings": list(bc.warnings) if bc else [],
            "scene_cuts_s": [round(float(t), 3) for t in self.scene_cuts_s],
        }

    @property
    def scene_cuts_s(self) -> list[float]:
        """Scene cuts of the video (first frame of each new shot), seconds; empty if none."""
        return [float(t) for t in self.motion.meta.get("cuts_s", ())]


def analyze_motion(motion: Motion) -> Analysis:
    """Rhythm features and visual tempo of a motion that is already loaded."""
    if motion.num_frames < 3:
        raise D2MError(
            f"{motion.source or 'the input'} has only {motion.num_frames} frame(s):"
            " a dance needs at least a second of motion"
        )
    if not np.any(motion.keypoints[:, :, 2] > 0):
        raise D2MError(f"no person found in {motion.source or 'the input'}")
    cuts = motion.meta.get("cuts_s", ())
    # Rhythm and tempo see the shots joined smoothly: a cut is no move.
    bridged = replace(motion, keypoints=bridge_cuts(motion.keypoints, fps=motion.fps, cuts_s=cuts))
    return Analysis(motion=motion, rhythm=rhythm_features(bridged), tempo=visual_tempo(bridged))


def analyze(
    path: str | Path,
    *,
    key: str | None = None,
    fps: float | None = None,
    view: int = 0,
    progress: Progress | None = None,
) -> Analysis:
    """Analyse a dance video or keypoint file (see :func:`load_motion` for the parameters)."""
    motion = load_motion(path, key=key, fps=fps, view=view, progress=progress)
    return analyze_motion(motion)
