"""Every keypoint format reads into the same Motion; every bad file gives a clear D2MError."""

import json
import pickle

import numpy as np
import pytest

from d2m_core.dance.synth import synthetic_dance
from d2m_core.errors import D2MError
from d2m_core.io.keypoints import load_keypoints


@pytest.fixture
def kp3():
    return synthetic_dance(bpm=100, duration_s=3, fps=30, seed=1).keypoints  # (90, 17, 3)


def test_npy_xy_and_xyc(tmp_path, kp3):
    p = tmp_path / "a.npy"
    np.save(p, kp3[:, :, :2])
    m = load_keypoints(p, fps=30)
    assert m.keypoints.shape == (90, 17, 3)
    assert np.allclose(m.keypoints[:, :, :2], kp3[:, :, :2])
    assert np.all(m.keypoints[:, :, 2] == 1.0)
    np.save(p, kp3)
    m = load_keypoints(p, fps=60)
    assert m.fps == 60 and np.allclose(m.keypoints, kp3)


def test_npy_without_fps_asks_for_it(tmp_path, kp3):
    p = tmp_path / "a.npy"
    np.save(p, kp3)
    with pytest.raises(D2MError, match="--fps"):
        load_keypoints(p)


def test_npz_key_fps_size_and_bpm(tmp_path, kp3):
    p = tmp_path / "a.npz"
    np.savez(
        p,
        one=kp3,
        two=kp3[:10],
        fps=np.float32(25),
        image_size_wh=np.array([640, 480]),
        one__bpm=np.float32(100),
    )
    m = load_keypoints(p, key="one")
    assert m.fps == 25 and m.frame_size == (640, 480) and m.num_frames == 90
    assert m.meta["music_bpm"] == 100
    assert m.source.endswith("#one")
    assert load_keypoints(p, key="two", fps=50).fps == 50  # --fps overrides the stored rate
    with pytest.raises(D2MError, match="--key"):
        load_keypoints(p)
    with pytest.raises(D2MError, match="no entry 'three'.*one, two"):
        load_keypoints(p, key="three")


def test_npz_single_array_needs_no_key(tmp_path, kp3):
    p = tmp_path / "a.npz"
    np.savez(p, seq=kp3)
    with pytest.raises(D2MError, match="--fps"):
        load_keypoints(p)
    assert load_keypoints(p, fps=30).num_frames == 90


def test_aistpp_pickle_views_and_nan(tmp_path, kp3):
    views = np.stack([kp3, kp3 + 5.0])
    views[1, 10:12, 3] = np.nan  # AIST++ marks undetected joints with NaN
    p = tmp_path / "gBR_sBM_cAll_d04_mBR0_ch01.pkl"
    with open(p, "wb") as f:
        pickle.dump({"keypoints2d": views, "det_scores": np.ones((2, 90))}, f)
    m = load_keypoints(p, view=1)
    assert m.fps == 60 and m.frame_size == (1920, 1080)
    assert np.isfinite(m.keypoints).all()
    assert np.all(m.keypoints[10:12, 3, 2] == 0) and m.keypoints[9, 3, 2] > 0
    assert np.allclose(m.keypoints[0, :, :2], kp3[0, :, :2] + 5)
    with pytest.raises(D2MError, match="--view 2 is out of range"):
        load_keypoints(p, view=2)


def test_mmpose_json_follows_main_dancer(tmp_path, kp3):
    frames = []
    for t in range(30):
        main = {
            "keypoints": kp3[t, :, :2].tolist(),
            "keypoint_scores": [0.9] * 17,
            "bbox": [[0, 0, 1, 1]],
        }
        small = {"keypoints": (kp3[t, :, :2] * 0.2 + 500).tolist(), "keypoint_scores": [0.8] * 17}
        insts = [small, main] if t % 2 else [main, small]
        frames.append({"frame_id": t, "instances": insts if t != 5 else []})
    p = tmp_path / "res.json"
    p.write_text(json.dumps({"meta_info": {}, "instance_info": frames}))
    m = load_keypoints(p, fps=30)
    assert m.num_frames == 30
    assert m.frames_with_person == 29
    ok = np.arange(30) != 5
    assert np.allclose(m.keypoints[ok, :, :2], kp3[:30][ok, :, :2], atol=1e-3)
    assert np.all(m.keypoints[5, :, 2] == 0)
    # The same frames as a bare list of frame dicts.
    p.write_text(json.dumps(frames))
    assert load_keypoints(p, fps=30).num_frames == 30


def test_plain_json(tmp_path, kp3):
    p = tmp_path / "plain.json"
    p.write_text(json.dumps(kp3.tolist()))
    assert load_keypoints(p, fps=30).num_frames == 90
    p.write_text(json.dumps({"fps": 24, "keypoints": kp3[:, :, :2].tolist()}))
    m = load_keypoints(p)
    assert m.fps == 24 and m.keypoints.shape == (90, 17, 3)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.npy", np.zeros((10, 18, 2)), r"shape \(T, 17, 2\|3\)"),
        ("nan.npy", np.full((10, 17, 2), np.nan), "NaN"),
        ("empty.npy", np.zeros((0, 17, 2)), "zero frames"),
        ("garbage.npz", b"not a zip", "cannot read"),
        ("garbage.npy", b"nonsense", "cannot read"),
        ("garbage.json", b"{not json", "not valid JSON"),
        ("wrong.json", b'{"a": 1}', "neither an mmpose"),
        ("garbage.pkl", b"nonsense", "cannot read"),
    ],
)
def test_bad_files(tmp_path, name, content, message):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        np.save(p, content)
    before = p.read_bytes()
    with pytest.raises(D2MError, match=message):
        load_keypoints(p, fps=30)
    assert p.read_bytes() == before  # inputs are never modified


def test_missing_file(tmp_path):
    with pytest.raises(D2MError, match="file not found"):
        load_keypoints(tmp_path / "nope.npy", fps=30)


def test_pickle_that_is_not_aistpp(tmp_path):
    p = tmp_path / "x.pkl"
    p.write_bytes(pickle.dumps({"poses": [1, 2]}))
    with pytest.raises(D2MError, match="not an AIST\\+\\+ keypoints2d file"):
        load_keypoints(p)


def test_shared_aist_sequences(shared_data):
    p = shared_data / "keypoints" / "aist_gendance_coco17_px_30fps.npz"
    m = load_keypoints(p, key="gHO_sFM_cAll_d19_mHO0_ch01")
    assert m.fps == 30 and m.num_frames == 1047 and m.frame_size == (1920, 1080)
    assert m.meta["music_bpm"] == 110
