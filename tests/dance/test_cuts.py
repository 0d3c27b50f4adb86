"""Scene cuts: found where a shot changes, nowhere else, and no beat lost or doubled across one."""

from pathlib import Path

import numpy as np
import pytest

from d2m_core.dance.analysis import analyze_motion, load_motion
from d2m_core.dance.cuts import (
    bridge_cuts,
    frame_cuts,
    frame_signature,
    keypoint_cuts,
    signature_change,
)
from d2m_core.dance.motion import Motion
from d2m_core.dance.pose import _pose_step
from d2m_core.dance.synth import synthetic_dance
from d2m_core.io.video import iter_frames, probe_video

BPM = 100.0
#: An estimated beat matches a true one within this (the acceptance tolerance for beats).
BEAT_TOL_S = 0.07


def made_cut(*, cut_s: float, fps: float = 30.0, duration_s: float = 8.0) -> tuple:
    """Two procedural dances on one beat grid joined at ``cut_s``, the second as a closer shot.

    Returns the keypoints, the cut frame and the true beats.
    """
    a = synthetic_dance(bpm=BPM, duration_s=duration_s, fps=fps, seed=0)
    b = synthetic_dance(bpm=BPM, duration_s=duration_s, fps=fps, seed=1)
    c = int(round(cut_s * fps))
    kp = a.keypoints.copy()
    # The camera cuts to a closer shot: the dancer 1.7x larger, lower and to the left.
    kp[c:, :, :2] = (b.keypoints[c:, :, :2] - [320.0, 240.0]) * 1.7 + [300.0, 330.0]
    return kp, c, np.asarray(a.meta["beats_s"])


def beats_near_cut(est: np.ndarray, truth: np.ndarray, cut_s: float) -> tuple[list[int], int]:
    """Per true beat within 1 s of the cut, how many estimated beats lie within BEAT_TOL_S;
    and how many estimated beats within 1 s of the cut match no true beat."""
    near = truth[np.abs(truth - cut_s) <= 1.0]
    counts = [int(np.sum(np.abs(est - t) <= BEAT_TOL_S)) for t in near]
    est_near = est[np.abs(est - cut_s) <= 1.0]
    extra = sum(1 for e in est_near if np.min(np.abs(truth - e)) > BEAT_TOL_S)
    return counts, extra


@pytest.mark.parametrize("cut_s", [4.1, 3.85, 4.35])
@pytest.mark.parametrize("fps", [30.0, 24.0])
def test_made_cut_is_found_and_keeps_every_beat(cut_s, fps):
    kp, c, truth = made_cut(cut_s=cut_s, fps=fps)
    cuts = keypoint_cuts(kp, fps=fps)
    assert len(cuts) == 1
    assert abs(cuts[0] * fps - c) <= 1  # the right frame, +-1
    motion = Motion(keypoints=kp, fps=fps, frame_size=(640, 480), meta={"cuts_s": list(cuts)})
    an = analyze_motion(motion)
    assert an.tempo.bpm == pytest.approx(BPM, rel=0.02)
    counts, extra = beats_near_cut(an.tempo.beats_s, truth, c / fps)
    # Every true beat within 1 s of the cut: exactly one estimated beat within 70 ms (none
    # lost, none doubled); and no estimated beat there that matches no true beat.
    assert counts and all(n == 1 for n in counts), counts
    assert extra == 0
    assert an.to_dict()["scene_cuts_s"] == [round(float(cuts[0]), 3)]


def test_an_unbridged_cut_breaks_the_beats():
    """The handling matters: the same made cut, not bridged, puts a hit on the cut."""
    kp, c, truth = made_cut(cut_s=4.1)
    an = analyze_motion(Motion(keypoints=kp, fps=30.0, frame_size=(640, 480)))
    counts, extra = beats_near_cut(an.tempo.beats_s, truth, c / 30.0)
    assert not (all(n == 1 for n in counts) and extra == 0)


def test_novelty_has_no_hit_at_a_bridged_cut():
    kp, c, truth = made_cut(cut_s=4.1)
    motion = Motion(keypoints=kp, fps=30.0, meta={"cuts_s": [c / 30.0]})
    nov = analyze_motion(motion).tempo.novelty
    at_cut = nov[int(c / 30.0 * 100) - 10 : int(c / 30.0 * 100) + 10].max()
    beat_peaks = [nov[int(t * 100) - 5 : int(t * 100) + 5].max() for t in truth if 0.2 < t < 7.8]
    assert at_cut < np.median(beat_peaks)


def test_keypoint_file_with_a_cut(tmp_path: Path):
    kp, c, _ = made_cut(cut_s=4.1)
    path = tmp_path / "cut.npz"
    np.savez(path, keypoints=kp, fps=30.0)
    motion = load_motion(path)
    assert len(motion.meta["cuts_s"]) == 1
    assert abs(motion.meta["cuts_s"][0] * 30.0 - c) <= 1


@pytest.mark.parametrize("seed", range(4))
def test_no_cut_in_a_continuous_dance(seed):
    m = synthetic_dance(bpm=80.0 + 25 * seed, duration_s=12.0, fps=30.0, seed=seed)
    assert len(keypoint_cuts(m.keypoints, fps=m.fps)) == 0


def test_bridge_is_a_no_op_without_cuts_and_continuous_with_one():
    kp, c, _ = made_cut(cut_s=4.1)
    assert bridge_cuts(kp, fps=30.0, cuts_s=[]) is kp
    out = bridge_cuts(kp, fps=30.0, cuts_s=[c / 30.0])
    step = np.linalg.norm(np.diff(out[:, :, :2], axis=0), axis=2).max(axis=1)
    raw = np.linalg.norm(np.diff(kp[:, :, :2], axis=0), axis=2).max(axis=1)
    assert raw[c - 1] > 5 * np.median(raw)  # the made cut is a jump ...
    assert step[c - 3 : c + 2].max() < 3 * np.median(step)  # ... bridged
    np.testing.assert_array_equal(out[: c - 2], kp[: c - 2])  # the first shot untouched


def _scene(k: int, n: int, *, seed: int, w: int = 160, h: int = 96) -> list[np.ndarray]:
    """``n`` frames of a textured background with a square moving across it."""
    rng = np.random.default_rng(seed)
    bg = np.kron(rng.integers(0, 256, (h // 8, w // 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    frames = []
    for i in range(n):
        f = bg.copy()
        x = (4 * (k + i)) % (w - 20)
        f[30:50, x : x + 20] = 255
        frames.append(f)
    return frames


def _video_cuts(path: Path) -> np.ndarray:
    """Cuts found in a video as the pose pass finds them (same frames, size and signatures)."""
    info = probe_video(path)
    step = _pose_step(info.fps)
    times, changes, prev = [], [], None
    for t, rgb in iter_frames(
        path, max_side=640, keep=lambda t: int(round(t * info.fps)) % step == 0
    ):
        sig = frame_signature(rgb)
        changes.append(0.0 if prev is None else signature_change(prev, sig))
        times.append(t)
        prev = sig
    return frame_cuts(times, changes)


def test_rendered_cut_is_found_at_its_frame(make_video):
    frames = _scene(0, 37, seed=1) + _scene(37, 35, seed=2)
    cuts = _video_cuts(make_video("cut.mp4", frames, fps=30))
    assert len(cuts) == 1
    assert abs(cuts[0] * 30 - 37) <= 1


def test_no_cut_in_a_rendered_fade_and_motion(make_video):
    frames = [
        (f * (0.4 + 0.6 * i / 60)).astype(np.uint8) for i, f in enumerate(_scene(0, 60, seed=3))
    ]
    assert len(_video_cuts(make_video("fade.mp4", frames, fps=30))) == 0


@pytest.mark.parametrize("name", ["aist_clip_2s_a.mp4", "unianimate_dance_9s.mp4"])
def test_no_false_cut_in_shared_videos(shared_file, name):
    assert len(_video_cuts(shared_file(f"videos/{name}"))) == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    ["camp_dance1", "demo_dancer", "formulator", "g_mjj_dance2", "pzsp_ballet",
     "pzsp_dance_video", "vmd_input"],
)  # fmt: skip
def test_no_false_cut_in_real_dance_videos(shared_file, name):
    assert len(_video_cuts(shared_file(f"realdance/{name}.mp4"))) == 0


def test_pose_follows_the_dancer_across_a_cut(dancer_frames, make_video):
    """A cut to a smaller shot of the dancer (elsewhere in the frame): found, and both shots
    keep the dancer (each shot looks for its own main dancer)."""
    from d2m_core.dance.pose import estimate_pose

    frames, fps = dancer_frames
    h, w = frames[0].shape[:2]
    c = len(frames) // 2
    second = []
    for f in frames[c:]:
        small = f[::2, ::2]
        canvas = np.full_like(f, 128)
        canvas[h - small.shape[0] :, w - small.shape[1] :] = small
        second.append(canvas)
    m = estimate_pose(make_video("shots.mp4", frames[:c] + second, fps=fps))
    assert len(m.meta["cuts_s"]) == 1
    assert abs(m.meta["cuts_s"][0] * fps - c) <= 1
    assert m.meta["frames_missing"] <= 3
    hips = m.keypoints[:, 11:13, :2].mean(1)
    assert (hips[c + 2 :, 0] > w * 0.5).all()  # the second shot's dancer, bottom right
