from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from d2m_core.dance.motion import Motion
from d2m_core.dance.pose import (
    MAX_INTERP_GAP_S,
    MIN_POSE_FPS,
    _fill_gaps,
    _frame_keeper,
    _guide_for,
    _main_track,
    _only_around,
    _plan_parts,
    _pose_ratio,
    _pose_step,
    _resample,
    _smooth,
    _stitch,
    estimate_pose,
    estimate_pose_image,
)
from d2m_core.errors import D2MError
from d2m_core.io.video import VideoInfo

# ---------------------------------------------------------------------------------- accuracy


def test_coco_image_accuracy(shared_file):
    img = shared_file("images/coco_000000000785.jpg")
    ann = json.loads(shared_file("images/coco_000000000785_keypoints.json").read_text())
    gt = np.asarray(ann["annotations"][0]["keypoints"], np.float32).reshape(17, 3)
    kp = estimate_pose_image(img)
    assert kp.shape == (17, 3) and kp.dtype == np.float32
    visible = gt[:, 2] > 0
    err = np.linalg.norm(kp[visible, :2] - gt[visible, :2], axis=1)
    print(f"COCO 785: mean error {err.mean():.2f} px over {visible.sum()} joints")
    assert err.mean() <= 10.0
    assert (kp[:, 2] > 0.5).all()  # a clear full-body photo: every joint visible
    # Same result from an RGB array.
    import cv2

    rgb = cv2.cvtColor(cv2.imread(str(img)), cv2.COLOR_BGR2RGB)
    np.testing.assert_allclose(estimate_pose_image(rgb)[:, :2], kp[:, :2], atol=1.0)


@pytest.mark.parametrize(
    ("rel", "size", "fps", "frames"),
    [
        ("videos/unianimate_dance_9s.mp4", (692, 1108), 16.0, 150),
        ("videos/aist_clip_2s_a.mp4", (1920, 1080), 60000 / 1001, 120),
    ],
)
def test_shared_videos(shared_file, rel, size, fps, frames):
    calls: list[tuple[float, str]] = []
    m = estimate_pose(shared_file(rel), progress=lambda f, msg: calls.append((f, msg)))
    assert isinstance(m, Motion)
    assert m.fps == pytest.approx(fps, rel=1e-6)
    assert m.num_frames == frames and m.duration_s == pytest.approx(frames / fps)
    assert m.frame_size == size
    assert m.frames_with_person >= 0.95 * frames
    assert m.meta["frames_total"] == frames
    assert m.meta["frames_missing"] == frames - m.frames_with_person
    kp = m.keypoints
    assert kp.shape == (frames, 17, 3) and kp.dtype == np.float32
    # Body inside the frame, in original pixels; shoulders above hips (upright dancer).
    inside = (kp[..., 0] > -0.1 * size[0]) & (kp[..., 0] < 1.1 * size[0])
    assert inside.mean() > 0.95
    assert (kp[:, 5:7, 1].mean(1) < kp[:, 11:13, 1].mean(1)).mean() > 0.95
    fr = [c[0] for c in calls]
    assert fr[0] == 0.0 and fr[-1] == 1.0 and fr == sorted(fr)


# ---------------------------------------------------------------------------------- failures


def test_no_person_in_solid_video(make_video):
    frames = [np.full((96, 128, 3), (40, 120, 200), np.uint8)] * 8
    path = make_video("blue.mp4", frames, fps=8)
    with pytest.raises(D2MError, match="no person found in blue.mp4") as e:
        estimate_pose(path)
    assert "\n" not in str(e.value)


def test_no_person_in_image(tmp_path):
    with pytest.raises(D2MError, match="no person"):
        estimate_pose_image(np.zeros((120, 160, 3), np.uint8))
    with pytest.raises(D2MError, match="not found"):
        estimate_pose_image(tmp_path / "missing.jpg")
    (tmp_path / "bad.jpg").write_text("nope")
    with pytest.raises(D2MError, match="cannot read"):
        estimate_pose_image(tmp_path / "bad.jpg")


def test_bad_video_is_d2merror(tmp_path):
    (tmp_path / "x.mp4").write_text("not a video")
    with pytest.raises(D2MError):
        estimate_pose(tmp_path / "x.mp4")


# ---------------------------------------------------------------------------------- real dancer,
# synthetic containers (first 3 s of the shared dance video, re-encoded)


@pytest.fixture(scope="module")
def reference(dancer_frames, video_writer, tmp_path_factory) -> tuple[Motion, Path]:
    """Pose of the dancer clip as a plain CFR video (the reference for the variants)."""
    frames, fps = dancer_frames
    path = video_writer(tmp_path_factory.mktemp("ref") / "ref.mp4", frames, fps=fps)
    return estimate_pose(path), path


def _interp_motion(m: Motion, t: np.ndarray) -> np.ndarray:
    """(len(t), 17, 2) positions of ``m`` at times ``t``."""
    out = np.empty((len(t), 17, 2))
    for j in range(17):
        for c in range(2):
            out[:, j, c] = np.interp(t, m.times_s, m.keypoints[:, j, c])
    return out


def test_vfr_resampled_to_uniform_grid(dancer_frames, reference, make_video):
    frames, fps = dancer_frames
    keep = [k for k in range(len(frames)) if k % 3 != 2]  # drop every third frame
    times = [k / fps for k in keep]
    path = make_video("vfr.mp4", [frames[k] for k in keep], fps=fps, times_s=times)
    m = estimate_pose(path)
    duration = times[-1] + 1 / fps
    assert m.fps == pytest.approx(len(keep) / duration, rel=1e-3)
    assert m.num_frames == round(duration * m.fps)
    assert m.frames_with_person == m.num_frames  # VFR spacing is not a missing person
    # Resampled positions follow the dancer as seen in the full-rate reference.
    ref, _ = reference
    err = np.linalg.norm(m.keypoints[:, :, :2] - _interp_motion(ref, m.times_s), axis=2)
    assert np.median(err) < 0.02 * max(m.frame_size)


def test_rotated_video_gives_upright_coordinates(dancer_frames, reference, make_video):
    frames, fps = dancer_frames
    coded = [np.ascontiguousarray(np.rot90(f, -1)) for f in frames[:16]]  # stored sideways
    path = make_video("rot.mp4", coded, fps=fps, rotation=90)  # display: turn back upright
    m = estimate_pose(path)
    ref, _ = reference
    h, w = frames[0].shape[:2]
    assert m.frame_size == (w, h)
    err = np.linalg.norm(m.keypoints[:, :, :2] - ref.keypoints[:16, :, :2], axis=2)
    assert np.median(err) < 0.01 * max(w, h)


def test_parallel_parts_match_one_tracker(reference):
    """Two trackers on the two halves give the one tracker's keypoints, with no step at the
    seam (where their keypoints are cross-faded)."""
    _, path = reference
    one = estimate_pose(path, workers=1)
    two = estimate_pose(path, workers=2)
    assert one.meta["pose_workers"] == 1 and two.meta["pose_workers"] == 2
    assert two.num_frames == one.num_frames and two.frames_with_person == one.frames_with_person
    err = np.linalg.norm(two.keypoints[:, :, :2] - one.keypoints[:, :, :2], axis=2)
    size = max(one.frame_size)
    assert np.median(err) < 0.002 * size  # identical away from the seam
    assert np.median(err, axis=1).max() < 0.02 * size  # and close at it
    # Frame-to-frame motion at the seam is like elsewhere (no jump from one tracker to the next).
    step = np.median(np.linalg.norm(np.diff(two.keypoints[:, :, :2], axis=0), axis=2), axis=1)
    assert step.max() <= 1.5 * np.median(np.linalg.norm(
        np.diff(one.keypoints[:, :, :2], axis=0), axis=2), axis=1).max()  # fmt: skip


def test_high_fps_video_is_analysed_at_a_lower_rate(dancer_frames, reference, make_video):
    """At 48 fps every second frame is analysed (24 fps) and the keypoints interpolated back:
    the output keeps the video's rate and frame count."""
    frames, _ = dancer_frames
    path = make_video("fast.mp4", frames, fps=48)
    m = estimate_pose(path)
    assert m.fps == pytest.approx(48) and m.num_frames == len(frames)
    assert m.meta["pose_fps"] == pytest.approx(24) and m.meta["decoded_frames"] == len(frames) // 2
    assert m.frames_with_person == len(frames)
    ref, _ = reference  # the same frames, every one analysed
    err = np.linalg.norm(m.keypoints[:, :, :2] - ref.keypoints[:, :, :2], axis=2)
    size = max(m.frame_size)
    assert np.median(err[::2]) < 0.01 * size  # analysed frames: as with every frame analysed
    assert np.median(err[1::2]) < 0.02 * size  # the others: interpolated between them


def test_video_posed_at_a_fractional_rate(dancer_frames, reference, make_video):
    """``pose_fps`` below the video's rate but above half of it: two frames of every three at
    30 fps -> 20; the keypoints still come out at the video's rate and length."""
    frames, _ = dancer_frames
    path = make_video("thirty.mp4", frames, fps=30)
    m = estimate_pose(path, pose_fps=20)
    assert m.fps == pytest.approx(30) and m.num_frames == len(frames)
    assert m.keypoints.shape == (len(frames), 17, 3)
    assert m.meta["pose_fps"] == pytest.approx(20)
    assert m.meta["decoded_frames"] == 2 * len(frames) // 3
    assert m.frames_with_person == len(frames) and m.meta["smoothing"] == "none"
    ref, _ = reference  # the same frames, every one analysed
    err = np.linalg.norm(m.keypoints[:, :, :2] - ref.keypoints[:, :, :2], axis=2)
    size = max(m.frame_size)
    posed = np.array([k % 3 != 1 for k in range(len(frames))])  # frames 0, 2, 3, 5, 6, ...
    assert np.median(err[posed]) < 0.01 * size
    assert np.median(err[~posed]) < 0.02 * size  # interpolated between their neighbours
    # Asking for more than the video has poses every frame.
    assert estimate_pose(path, pose_fps=100).meta["decoded_frames"] == len(frames)
    with pytest.raises(ValueError, match="positive"):
        estimate_pose(path, pose_fps=0)


def test_pose_ratio_and_kept_frames():
    def kept(fps: float, ratio, n: int = 24) -> list[int]:
        keep = _frame_keeper(fps, ratio)
        return [k for k in range(n) if keep(k / fps)]

    # Default: every step-th frame, as before fractional strides existed.
    for fps in (16, 24, 29.97, 30, 47.9, 48, 50, 59.94, 60, 120, 240):
        step = _pose_step(fps)
        assert _pose_ratio(fps) == Fraction(1, step)
        assert kept(fps, _pose_ratio(fps), 600) == list(range(0, 600, step))
    # A forced rate: the first frame at or after each point of an even grid at that rate;
    # NTSC rates take their round rate's pattern.
    assert _pose_ratio(30, 20) == _pose_ratio(29.97, 20) == Fraction(2, 3)
    assert kept(30, Fraction(2, 3), 9) == [0, 2, 3, 5, 6, 8]
    assert _pose_ratio(60, 20) == _pose_ratio(60000 / 1001, 20) == Fraction(1, 3)
    assert kept(60000 / 1001, Fraction(1, 3), 10) == [0, 3, 6, 9]
    assert _pose_ratio(50, 20) == Fraction(2, 5) and kept(50, Fraction(2, 5), 11) == [
        0,
        3,
        5,
        8,
        10,
    ]
    assert _pose_ratio(24, 20) == Fraction(5, 6)
    assert _pose_ratio(16, 20) == _pose_ratio(30, 30) == 1  # never above the video's rate


def test_pose_step():
    assert MIN_POSE_FPS == 24.0
    assert [_pose_step(f) for f in (16, 24, 30, 47.9, 48, 50, 59.94, 60, 120, 240)] == [
        1, 1, 1, 1, 2, 2, 2, 2, 5, 10,
    ]  # fmt: skip


def test_plan_parts_snaps_to_keyframes():
    def info(duration: float, keyframes: tuple[float, ...]) -> VideoInfo:
        return VideoInfo(width=640, height=360, fps=25.0, duration_s=duration,
                         num_frames=int(duration * 25), rotation=0, has_audio=False,
                         keyframes_s=keyframes)  # fmt: skip

    seam = 4 / 25
    # A keyframe near the middle becomes the boundary; the first part runs into the second.
    assert _plan_parts(info(10.0, (0.0, 4.6, 9.0)), workers=2, step=1) == [
        (0.0, 4.6 + seam), (4.6, None),
    ]  # fmt: skip
    # None near: split in the middle (the second decoder starts from the keyframe before).
    assert _plan_parts(info(10.0, (0.0,)), workers=2, step=2) == [
        (0.0, 5.0 + 2 * seam), (5.0, None),
    ]  # fmt: skip
    assert _plan_parts(info(10.0, (0.0,)), workers=1, step=1) == [(0.0, None)]
    assert len(_plan_parts(info(1.5, (0.0,)), workers=4, step=1)) == 1  # parts >= 1 s
    assert len(_plan_parts(info(60.0, (0.0,)), workers=4, step=1)) == 4


def test_stitch_crossfades_seam():
    a_t = [0.0, 0.1, 0.2, 0.3, 0.4]
    b_t = [0.2, 0.3, 0.4, 0.5]
    a = [_pose(100, 100, 50) for _ in a_t]
    b = [_pose(104, 100, 50) for _ in b_t]  # the same dancer, 4 px apart
    b[1] = None  # the later tracker missed one shared frame
    times, raw = _stitch([(a_t, a), (b_t, b)])
    assert times == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    x = [kp[5, 0] + 50 / 3 for kp in raw]  # torso centre x
    np.testing.assert_allclose(x, [100, 100, 101, 100, 103, 104])  # weights 1/4, -, 3/4
    # Another person at the seam: the earlier tracker's dancer is kept there.
    other = [_pose(400, 100, 50) for _ in b_t]
    times, raw = _stitch([(a_t, a), (b_t, other)])
    assert [kp[5, 0] + 50 / 3 for kp in raw[2:5]] == pytest.approx([100] * 3)
    assert raw[5][5, 0] + 50 / 3 == pytest.approx(400)


def test_guide_when_a_part_follows_someone_else():
    a_t, b_t = [0.0, 0.1, 0.2, 0.3], [0.2, 0.3, 0.4]
    a = [_pose(100, 100, 50) for _ in a_t]
    assert _guide_for((a_t, a), (b_t, [_pose(103, 100, 50)] * 3)) is None  # the same dancer
    guide = _guide_for((a_t, a), (b_t, [_pose(400, 100, 50)] * 3))  # someone else
    assert guide is not None and guide[5, 0] == pytest.approx(100 - 50 / 3)
    # The guided frames show only the area around that dancer (here in a half-size frame).
    rgb = np.full((200, 300, 3), 255, np.uint8)
    out = _only_around(rgb, guide, (600, 400))
    assert (
        (out[50, 50] == 255).all() and (out[50, 250] == 128).all() and (out[190, 50] == 128).all()
    )


def test_identity_switch_is_cut_out(dancer_frames, make_video):
    """Frames 20-25 show 'someone else' (the dancer at half size, elsewhere): dropped, and
    the hole (< 0.5 s, even if the tracker needs a frame to find the dancer again) bridged by
    interpolation."""
    frames, fps = dancer_frames
    h, w = frames[0].shape[:2]
    other = []
    for f in frames[20:26]:
        small = f[::2, ::2]
        canvas = np.full_like(f, 128)
        canvas[h - small.shape[0] :, w - small.shape[1] :] = small  # bottom right, half size
        other.append(canvas)
    path = make_video("switch.mp4", frames[:20] + other + frames[26:], fps=fps)
    m = estimate_pose(path)
    assert m.meta["identity_tracks"] >= 2
    assert m.meta["detections_dropped"] >= 5
    assert m.frames_with_person == len(frames) - m.meta["frames_missing"]
    assert m.frames_with_person <= len(frames) - 5
    # The gap holds positions between the dancer's before and after, never the other person.
    hips = m.keypoints[20:26, 11:13, :2].mean(1)
    a, b = m.keypoints[19, 11:13, :2].mean(0), m.keypoints[27, 11:13, :2].mean(0)
    lo, hi = np.minimum(a, b) - 5, np.maximum(a, b) + 5
    assert ((hips >= lo) & (hips <= hi)).all()
    assert (m.keypoints[20:26, :, 2] > 0).all()  # short gap: interpolated, not held at 0
    assert m.meta["frames_interpolated"] >= 5


# ---------------------------------------------------------------------------------- internals


def _pose(cx: float, cy: float, size: float) -> np.ndarray:
    """A (17, 3) pose whose torso is centred at (cx, cy) with torso length ``size``."""
    kp = np.zeros((17, 3), np.float32)
    kp[:, 2] = 1
    kp[:, 0], kp[:, 1] = cx, cy
    kp[5, :2] = cx - size / 3, cy - size / 2
    kp[6, :2] = cx + size / 3, cy - size / 2
    kp[11, :2] = cx - size / 4, cy + size / 2
    kp[12, :2] = cx + size / 4, cy + size / 2
    return kp


def test_main_track_keeps_dominant_dancer():
    t = np.arange(60) / 30
    raw = [_pose(300 + 2 * i, 400, 150) for i in range(60)]
    for i in range(25, 35):  # another, smaller person far to the left
        raw[i] = _pose(60, 380, 80)
    raw[40] = None  # a missed detection
    keep, n_tracks = _main_track(t, raw, min_size=5)
    assert n_tracks == 2
    expect = np.ones(60, bool)
    expect[25:35] = False
    expect[40] = False
    np.testing.assert_array_equal(keep, expect)


def test_main_track_follows_fast_but_plausible_motion():
    t = np.arange(30) / 15  # 15 fps, dancer crosses the frame quickly
    raw = [_pose(100 + 25 * i, 400 + 5 * np.sin(i), 160) for i in range(30)]
    keep, n_tracks = _main_track(t, raw, min_size=5)
    assert n_tracks == 1 and keep.all()


def test_fill_gaps_short_and_long():
    fps = 10.0
    t = np.arange(30) / fps
    kp = np.zeros((30, 17, 3), np.float32)
    kp[:, :, 0] = np.arange(30)[:, None] * 10
    kp[:, :, 2] = 1
    valid = np.ones(30, bool)
    valid[[0, 1]] = False  # leading
    valid[5:9] = False  # 0.4 s: interpolate
    valid[15:22] = False  # 0.7 s: hold
    out, tracked = _fill_gaps(t, np.where(valid[:, None, None], kp, 0), valid, fps)
    np.testing.assert_allclose(out[:2, 0], [[20, 0, 0]] * 2)  # held first seen pose, conf 0
    np.testing.assert_allclose(out[5:9, 0, 0], [50, 60, 70, 80])
    assert (out[5:9, :, 2] == 1).all() and tracked[5:9].all()
    np.testing.assert_allclose(out[15:22, 0, 0], 140)
    assert (out[15:22, :, 2] == 0).all() and not tracked[15:22].any()
    assert MAX_INTERP_GAP_S == 0.5


def test_resample_vfr_to_grid():
    times = np.array([0.0, 0.1, 0.3, 0.4])
    vals = np.array([0.0, 1.0, 3.0, 4.0])[:, None]
    grid = np.arange(5) * 0.1
    out, nearest = _resample(times, vals, grid)
    np.testing.assert_allclose(out[:, 0], [0, 1, 2, 3, 4])
    assert nearest[0] == 0 and nearest[3] == 2 and nearest[4] == 3


def test_smoothing_is_light_and_zero_phase():
    fps = 60.0
    t = np.arange(240) / fps
    x = np.where(t < 2.0, 0.0, 300 * (t - 2.0))  # a sharp start of motion at 2 s
    kp = np.zeros((240, 17, 3), np.float32)
    kp[:, :, 0] = x[:, None]
    noisy = kp.copy()
    noisy[:, :, :2] += np.random.default_rng(0).normal(0, 1.0, (240, 17, 2))
    out, name = _smooth(noisy, np.ones(240, bool), fps)
    assert name.startswith("savgol")
    assert np.abs(out - kp)[..., :2].std() < np.abs(noisy - kp)[..., :2].std()  # less jitter
    # The acceleration peak stays at the corner (zero phase: no lag).
    acc = np.abs(np.diff(out[:, 0, 0], 2))
    assert abs(int(np.argmax(acc)) + 1 - 120) <= 2
    # Low frame rates are left alone (every frame carries motion, not noise).
    same, name = _smooth(noisy, np.ones(240, bool), 30.0)
    assert name == "none" and same is noisy


def test_prefetch_passes_items_and_errors():
    from d2m_core.dance.pose import _prefetch

    def gen():
        yield from range(3)
        raise D2MError("broken at the end")

    got = []
    with pytest.raises(D2MError, match="broken"):
        for x in _prefetch(gen(), size=1):
            got.append(x)
    assert got == [0, 1, 2]

    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    it = _prefetch(endless(), size=2)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()  # consumer stops early: the worker must stop and close the source
    assert closed == [True]
