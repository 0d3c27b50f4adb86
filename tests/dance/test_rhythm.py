"""The paper's rhythm features (Eqs. 4-7) on constructed motions with known answers."""

import numpy as np

from d2m_core.dance.motion import Motion
from d2m_core.dance.rhythm import (
    CLIP_FRAMES,
    acceleration_envelope,
    directogram,
    pick_peaks,
    resample_rhythm,
    rhythm_features,
)


def _still(t=10):
    kp = np.zeros((t, 17, 3), np.float32)
    kp[:, :, 0] = np.arange(17) * 10.0
    kp[:, :, 1] = 100.0
    kp[:, :, 2] = 1.0
    return kp


def test_directogram_bins_speed_by_direction():
    kp = _still(3)
    kp[1:, 0, 0] += 3.0  # joint 0 moves +x by 3 px (theta = 0 -> bin 0)
    kp[1:, 1, 1] += 4.0  # joint 1 moves +y by 4 px (theta = pi/2 -> bin 2 of 10 bins... 2.5 -> 2)
    kp[1:, 2, 0] -= 2.0  # joint 2 moves -x (theta = pi -> bin 5)
    vq = directogram(kp, num_bins=10)
    assert vq.shape == (2, 17, 10)
    assert vq[0, 0, 0] == 3.0 and vq[0, 0].sum() == 3.0
    assert vq[0, 1, 2] == 4.0 and vq[0, 1].sum() == 4.0
    assert vq[0, 2, 5] == 2.0
    assert vq[1].sum() == 0.0  # no motion between frames 1 and 2


def test_directogram_weights_by_confidence():
    kp = _still(2)
    kp[1, 0, 0] += 10.0
    kp[1, 0, 2] = 0.0  # the joint vanished: its jump is not motion
    assert directogram(kp).sum() == 0.0


def test_envelope_is_positive_acceleration_summed():
    kp = _still(5)
    kp[2:, 0, 0] += 6.0  # joint 0 jumps between frames 1 and 2, then stops
    env = acceleration_envelope(kp)
    # v_Q: [0, 6, 0, 0] in bin 0 -> diff [6, -6, 0] -> positive part [6, 0, 0], centred on frame 1.
    assert env.shape == (5,)
    np.testing.assert_allclose(env, [0, 6, 0, 0, 0])


def test_direction_change_counts_as_acceleration():
    kp = _still(4)
    kp[:, 0, 0] += np.array([0, 2, 4, 4])  # moves +x, +x, then stops
    kp[:, 0, 1] += np.array([0, 0, 0, 2])  # ... and turns to +y at the same speed
    env = acceleration_envelope(kp)
    # Same speed, new direction: the new bin's speed appears -> positive acceleration 2.
    np.testing.assert_allclose(env, [0, 0, 2, 0])


def test_pick_peaks_finds_local_maxima_and_is_rate_independent():
    for fps in (30.0, 60.0):
        t = np.arange(int(4 * fps)) / fps
        env = np.zeros_like(t)
        hits = np.array([0.5, 1.3, 2.0, 3.1])
        for h in hits:
            env += np.exp(-0.5 * ((t - h) / 0.03) ** 2)
        r = pick_peaks(env, fps=fps)
        np.testing.assert_allclose(np.flatnonzero(r) / fps, hits, atol=1.0 / fps)


def test_flat_envelope_has_no_peaks():
    assert pick_peaks(np.zeros(100), fps=30).sum() == 0


def test_resample_to_model_rate_keeps_every_peak():
    fps = 30.0
    kp = _still(int(6 * fps))
    hits = [15, 40, 77, 120]
    for h in hits:
        kp[h:, 0, 0] += 8.0
    feats = rhythm_features(Motion(keypoints=kp, fps=fps))
    r, env = resample_rhythm(feats, fps_out=60.0, start_s=0.0)
    assert r.shape == (CLIP_FRAMES,) and env.shape == (CLIP_FRAMES,)
    assert env.max() == 1.0
    # Each jump at frame h (30 fps) puts a peak near 2h at 60 fps; none inside 5.12 s is lost.
    expected = [2 * (h - 1) for h in hits if 2 * (h - 1) < CLIP_FRAMES]
    np.testing.assert_allclose(np.flatnonzero(r), expected, atol=2)
    # A later window starts its own clock.
    r2, _ = resample_rhythm(feats, start_s=1.0)
    np.testing.assert_allclose(np.flatnonzero(r2), [e - 60 for e in expected if e >= 60], atol=2)
