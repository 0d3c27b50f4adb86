"""The command line: analyze on every input kind, JSON contents, and clean failures."""

import json
import subprocess
import sys

import numpy as np
import pytest

from d2m_core.cli.demo import EXAMPLE_KEYPOINTS
from d2m_core.cli.main import main
from d2m_core.dance.synth import synthetic_dance

REQUIRED = {
    "fps", "num_frames", "duration_s", "tempo_bpm", "tempo_confidence",
    "visual_beats_s", "rhythm_peaks_s", "frames_with_person",
}  # fmt: skip


def test_analyze_keypoints_json_and_plot(tmp_path, capsys):
    out, png = tmp_path / "a.json", tmp_path / "a.png"
    assert main(["analyze", str(EXAMPLE_KEYPOINTS), "--json", str(out), "--plot", str(png)]) == 0
    data = json.loads(out.read_text())
    assert REQUIRED <= data.keys()
    assert data["num_frames"] == 300 and data["fps"] == 30
    assert abs(data["tempo_bpm"] - 112) < 2
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "112" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def test_analyze_each_keypoint_format(tmp_path):
    kp = synthetic_dance(bpm=100, duration_s=6, fps=30, seed=2).keypoints
    np.save(tmp_path / "k.npy", kp)
    np.savez(tmp_path / "k.npz", seq=kp, fps=np.float32(30))
    (tmp_path / "k.json").write_text(json.dumps({"fps": 30, "keypoints": kp.tolist()}))
    import pickle

    with open(tmp_path / "k.pkl", "wb") as f:
        pickle.dump({"keypoints2d": np.stack([kp, kp])}, f)
    for name, extra in [
        ("k.npy", ["--fps", "30"]),
        ("k.npz", []),
        ("k.json", []),
        ("k.pkl", ["--view", "1", "--fps", "30"]),
    ]:
        out = tmp_path / f"{name}.out.json"
        assert main(["analyze", str(tmp_path / name), *extra, "--json", str(out)]) == 0, name
        data = json.loads(out.read_text())
        assert abs(data["tempo_bpm"] - 100) < 3, (name, data["tempo_bpm"])


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "missing.mp4", "file not found"),
        (lambda d: d, "is a folder"),
        (lambda d: (d / "x.npz").write_bytes(b"junk") and d / "x.npz", "cannot read"),
    ],
)
def test_errors_are_one_line_exit_2(tmp_path, capsys, setup, message):
    path = setup(tmp_path)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_npz_without_key_lists_keys(tmp_path, capsys):
    kp = synthetic_dance(duration_s=2).keypoints
    np.savez(tmp_path / "two.npz", a=kp, b=kp)
    assert main(["analyze", str(tmp_path / "two.npz"), "--key", "c", "--fps", "30"]) == 2
    assert "valid keys: a, b" in capsys.readouterr().err


def test_module_entry_point_help():
    res = subprocess.run(
        [sys.executable, "-m", "d2m_core", "--help"], capture_output=True, text=True, check=True
    )
    assert "analyze" in res.stdout


def test_parser_lists_every_command_and_imports_nothing_heavy():
    # `d2m --help` stays fast: each command imports its dependencies only when it runs.
    code = (
        "import sys; from d2m_core.cli.main import build_parser;"
        " sub = build_parser()._subparsers._group_actions[0]; print(' '.join(sub.choices));"
        " print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('numpy', 'torch') or m.startswith('d2m_core.metrics')))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    commands, heavy = res.stdout.splitlines()
    assert commands == "analyze generate demo align evaluate beats train"
    assert heavy == "[]"


def test_analyze_shared_keypoints_subprocess(shared_data, tmp_path):
    npz = shared_data / "keypoints" / "aist_gendance_coco17_px_30fps.npz"
    out = tmp_path / "o.json"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "d2m_core",
            "analyze",
            str(npz),
            "--key",
            "gKR_sFM_cAll_d28_mKR0_ch01",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert abs(json.loads(out.read_text())["tempo_bpm"] - 80) <= 3.2


def test_analyze_keypoints_pose_checks(tmp_path):
    from d2m_core.io.video import probe_video

    png, mp4 = tmp_path / "grid.png", tmp_path / "skel.mp4"
    assert main(["analyze", str(EXAMPLE_KEYPOINTS), "--overlay", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["analyze", str(EXAMPLE_KEYPOINTS), "--overlay", str(mp4)]) == 0
    assert abs(probe_video(mp4).duration_s - 10.0) < 0.1


@pytest.mark.parametrize("content", [b"this is not a video", b""])
def test_bad_video_is_one_line_exit_2(tmp_path, capsys, content):
    bad = tmp_path / "dance.mp4"
    bad.write_bytes(content)
    assert main(["analyze", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert bad.read_bytes() == content
