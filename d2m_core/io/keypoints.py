"""Read keypoint files into a :class:`~d2m_core.dance.motion.Motion`.

Supported formats (all COCO-17 joint order, x, y in pixels):

- ``.npy``: an array ``(T, 17, 2|3)``; the frame rate comes from ``fps``.
- ``.npz``: the array named ``key`` (or the only 3-D array); a scalar ``fps`` entry is used when
  present, else ``fps``; ``image_size_wh`` gives the frame size when present.
- ``.pkl``: AIST++ ``keypoints2d`` files (a dict with ``keypoints2d`` of shape
  ``(views, T, 17, 3)``), 60 fps; ``view`` picks the camera.
- ``.json``: an mmpose result file (``{"instance_info": [{"frame_id", "instances": [...]}]}`` or
  a list of such frame dicts) or a plain list of frames ``[[[x, y(, c)] * 17] * T]``, optionally
  wrapped as ``{"fps": F, "keypoints": [...]}``.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np

from d2m_core.dance.motion import Motion
from d2m_core.errors import D2MError

KEYPOINT_SUFFIXES = (".npy", ".npz", ".pkl", ".json")
AISTPP_FPS = 60.0


def is_keypoint_file(path: str | Path) -> bool:
    """True if ``path`` has a keypoint-file suffix (``.npy .npz .pkl .json``)."""
    return Path(path).suffix.lower() in KEYPOINT_SUFFIXES


def _need_fps(fps: float | None, path: Path) -> float:
    if fps is None:
        raise D2MError(f"{path.name} does not store its frame rate: pass it with --fps (e.g. 30)")
    return float(fps)


def _load_npz(path: Path, key: str | None, fps: float | None) -> Motion:
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise D2MError(f"cannot read {path.name} as an .npz archive ({exc})") from None
    with data:
        arrays3d = [k for k in data.files if data[k].ndim == 3]
        if key is None:
            if len(arrays3d) != 1:
                raise D2MError(
                    f"{path.name} holds several sequences; pick one with --key NAME"
                    f" (keys: {', '.join(arrays3d) or 'none with 3 dimensions'})"
                )
            key = arrays3d[0]
        if key not in data.files:
            raise D2MError(
                f"{path.name} has no entry '{key}'; valid keys: {', '.join(arrays3d) or 'none'}"
            )
        kp = data[key]
        file_fps = float(data["fps"]) if "fps" in data.files and data["fps"].size == 1 else None
        size = None
        if "image_size_wh" in data.files and data["image_size_wh"].size == 2:
            w, h = (int(v) for v in data["image_size_wh"])
            size = (w, h)
        meta: dict = {}
        bpm_key = f"{key}__bpm"
        if bpm_key in data.files:
            meta["music_bpm"] = float(data[bpm_key])
    use_fps = fps if fps is not None else file_fps
    return Motion(
        keypoints=kp,
        fps=_need_fps(use_fps, path),
        frame_size=size,
        source=f"{path}#{key}",
        meta=meta,
    )


def _load_aistpp_pkl(path: Path, view: int) -> Motion:
    # Pickle can run code: only AIST++ annotation files should be passed here.
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not our format"
        raise D2MError(f"cannot read {path.name} as an AIST++ keypoints2d pickle ({exc})") from None
    if not isinstance(obj, dict) or "keypoints2d" not in obj:
        raise D2MError(f"{path.name} is not an AIST++ keypoints2d file (no 'keypoints2d' entry)")
    kp = np.asarray(obj["keypoints2d"], dtype=np.float32)
    if kp.ndim != 4:
        raise D2MError(
            f"{path.name}: 'keypoints2d' should be (views, T, 17, 3), got {tuple(kp.shape)}"
        )
    if not 0 <= view < kp.shape[0]:
        raise D2MError(f"{path.name} has views 0..{kp.shape[0] - 1}; --view {view} is out of range")
    seq = kp[view]
    # AIST++ marks undetected frames with NaN: keep them as confidence 0, position held.
    seq = _fill_missing(seq)
    return Motion(
        keypoints=seq, fps=AISTPP_FPS, frame_size=(1920, 1080), source=f"{path}#view={view}"
    )


def _fill_missing(seq: np.ndarray) -> np.ndarray:
    """Replace NaN joints by the nearest valid position with confidence 0, shape kept."""
    seq = np.array(seq, dtype=np.float32)
    if seq.shape[-1] == 2:
        seq = np.concatenate([seq, np.ones(seq.shape[:-1] + (1,), np.float32)], axis=-1)
    bad = ~np.isfinite(seq).all(axis=-1)
    if not bad.any():
        return seq
    if bad.all():
        raise D2MError("every keypoint in the file is NaN: there is no dancer to analyse")
    t = np.arange(seq.shape[0])
    for j in range(seq.shape[1]):
        ok = ~bad[:, j]
        if not ok.any():
            seq[:, j, :2] = np.nanmean(seq[~bad.all(axis=1)][:, :, :2], axis=(0, 1))
        else:
            for c in range(2):
                seq[:, j, c] = np.interp(t, t[ok], seq[ok, j, c])
        seq[bad[:, j], j, 2] = 0.0
    return seq


def _instance_xyc(inst: dict) -> np.ndarray | None:
    kps = inst.get("keypoints")
    if kps is None:
        return None
    arr = np.asarray(kps, dtype=np.float32)
    if arr.ndim == 1:  # COCO-style flat [x, y, v, x, y, v, ...]
        arr = arr.reshape(-1, 3)
    if arr.shape[0] != 17:
        return None
    if arr.shape[1] == 2:
        scores = inst.get("keypoint_scores")
        conf = np.asarray(scores, np.float32)[:, None] if scores is not None else np.ones((17, 1))
        arr = np.concatenate([arr, conf.astype(np.float32)], axis=1)
    return arr[:, :3]


def _mmpose_frames(obj: object) -> list | None:
    if isinstance(obj, dict) and isinstance(obj.get("instance_info"), list):
        return obj["instance_info"]
    if isinstance(obj, list) and obj and isinstance(obj[0], dict) and "instances" in obj[0]:
        return obj
    return None


def _main_dancer(frames: list, path: Path) -> np.ndarray:
    """Follow one dancer through mmpose per-frame instances: the biggest at first, then nearest."""
    frames = sorted(frames, key=lambda fr: fr.get("frame_id", 0))
    out = np.zeros((len(frames), 17, 3), np.float32)
    prev_center = None
    for t, fr in enumerate(frames):
        cands = [a for a in (_instance_xyc(i) for i in fr.get("instances") or []) if a is not None]
        if not cands:
            continue
        if prev_center is None:
            extent = [np.ptp(a[:, :2], axis=0).prod() for a in cands]
            best = cands[int(np.argmax(extent))]
        else:
            dist = [np.linalg.norm(a[:, :2].mean(0) - prev_center) for a in cands]
            best = cands[int(np.argmin(dist))]
        out[t] = best
        prev_center = best[:, :2].mean(0)
    if not (out[:, :, 2] > 0).any():
        raise D2MError(f"{path.name} lists no person with 17 COCO keypoints in any frame")
    seen = (out[:, :, 2] > 0).any(axis=1)
    # Frames without any instance: hold neighbours' positions, confidence stays 0.
    if not seen.all():
        t = np.arange(len(out))
        for j in range(17):
            for c in range(2):
                out[:, j, c] = np.interp(t, t[seen], out[seen, j, c])
    return out


def _load_json(path: Path, fps: float | None) -> Motion:
    try:
        obj = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise D2MError(f"{path.name} is not valid JSON ({exc})") from None
    frames = _mmpose_frames(obj)
    if frames is not None:
        kp = _main_dancer(frames, path)
        return Motion(keypoints=kp, fps=_need_fps(fps, path), source=str(path))
    file_fps = None
    size = None
    if isinstance(obj, dict):
        file_fps = obj.get("fps")
        if "frame_size" in obj:
            size = tuple(int(v) for v in obj["frame_size"])
        obj = obj.get("keypoints")
    try:
        kp = np.asarray(obj, dtype=np.float32)
    except (TypeError, ValueError):
        kp = None
    if kp is None or kp.ndim != 3:
        raise D2MError(
            f"{path.name} is neither an mmpose result file nor a list of frames of 17 [x, y(, c)]"
        )
    use_fps = fps if fps is not None else file_fps
    return Motion(
        keypoints=kp,
        fps=_need_fps(use_fps, path),
        frame_size=size,  # type: ignore[arg-type]
        source=str(path),
    )


def load_keypoints(
    path: str | Path, *, key: str | None = None, fps: float | None = None, view: int = 0
) -> Motion:
    """Read a keypoint file into a :class:`Motion`.

    Parameters
    ----------
    path : str or Path
        A ``.npy``, ``.npz``, ``.pkl`` (AIST++) or ``.json`` (mmpose or plain) file.
    key : str, optional
        Entry of an ``.npz`` archive.
    fps : float, optional
        Frame rate, for files that do not store one (overrides a stored one when given).
    view : int
        Camera view of an AIST++ file.

    Returns
    -------
    Motion
        keypoints ``(T, 17, 3)``; NaN joints in the file become confidence 0.

    Raises
    ------
    D2MError
        Missing or unreadable file, wrong shape, NaN, missing key or frame rate.
    """
    path = Path(path)
    if not path.is_file():
        raise D2MError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            kp = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise D2MError(f"cannot read {path.name} as a .npy array ({exc})") from None
        return Motion(keypoints=kp, fps=_need_fps(fps, path), source=str(path))
    if suffix == ".npz":
        return _load_npz(path, key, fps)
    if suffix == ".pkl":
        motion = _load_aistpp_pkl(path, view)
        if fps is not None:
            motion.fps = float(fps)
        return motion
    if suffix == ".json":
        return _load_json(path, fps)
    raise D2MError(
        f"{path.name}: unknown keypoint format;"
        f" use one of {', '.join(KEYPOINT_SUFFIXES)} or a video"
    )
