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


# Correcting the beats: --tempo, --tempo-scale, --beat-shift, --beats, --taps
# (d2m_core.dance.overrides).


@pytest.fixture(scope="module")
def dance_npy(tmp_path_factory):
    path = tmp_path_factory.mktemp("overrides") / "dance.npy"
    np.save(path, synthetic_dance(bpm=96, duration_s=10, fps=30, seed=5).keypoints)
    return path


def _analyze_json(path, tmp_path, *flags):
    out = tmp_path / "a.json"
    assert main(["analyze", str(path), "--fps", "30", *flags, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_analyze_records_no_override(dance_npy, tmp_path):
    data = _analyze_json(dance_npy, tmp_path)
    assert data["beats_source"] == "auto" and data["auto_tempo_bpm"] == data["tempo_bpm"]
    assert data["beat_overrides"] == {
        "tempo_bpm": None, "tempo_scale": None, "beat_shift_s": 0.0, "beats_file": None,
        "tap_times_s": None, "beat_times_s": None,
    }  # fmt: skip


def test_analyze_tempo_scale_and_shift(dance_npy, tmp_path, capsys):
    auto = _analyze_json(dance_npy, tmp_path)
    data = _analyze_json(dance_npy, tmp_path, "--tempo-scale", "2", "--beat-shift", "0.05")
    assert data["beats_source"] == "tempo_scale" and data["auto_tempo_bpm"] == auto["tempo_bpm"]
    assert data["tempo_bpm"] == pytest.approx(2 * auto["tempo_bpm"], abs=0.02)
    assert data["beat_overrides"] == {
        "tempo_bpm": None, "tempo_scale": 2.0, "beat_shift_s": 0.05, "beats_file": None,
        "tap_times_s": None, "beat_times_s": None,
    }  # fmt: skip
    spacing = np.median(np.diff(data["visual_beats_s"]))
    assert spacing == pytest.approx(np.median(np.diff(auto["visual_beats_s"])) / 2, rel=0.03)
    assert "re-fitted at 2 x the estimated tempo, shifted by +0.05 s" in capsys.readouterr().out


def test_analyze_tempo(dance_npy, tmp_path):
    data = _analyze_json(dance_npy, tmp_path, "--tempo", "140")
    assert data["beats_source"] == "tempo" and data["tempo_bpm"] == 140
    assert np.median(np.diff(data["visual_beats_s"])) == pytest.approx(60 / 140, rel=0.03)


def test_analyze_beats_file(dance_npy, tmp_path, capsys):
    beats = tmp_path / "mine.beats"
    beats.write_text("# beat, position in bar\n0.5 1\n1.1 2\n1.7 3\n2.3 4\n2.9 1\n11.0 2\n")
    data = _analyze_json(dance_npy, tmp_path, "--beats", str(beats), "--beat-shift", "-0.1")
    assert data["beats_source"] == "file" and data["beat_overrides"]["beats_file"] == str(beats)
    assert data["visual_beats_s"] == [0.4, 1.0, 1.6, 2.2, 2.8]
    assert data["tempo_bpm"] == 100.0
    err = capsys.readouterr().err
    assert err == "warning: mine.beats: 1 beat time(s) after the dance's end (10.00 s) ignored\n"
    assert data["beat_warnings"] == [err[len("warning: ") : -1]]


def test_analyze_taps(dance_npy, tmp_path, capsys):
    # The 96 BPM dance tapped along from 1 s, one tap late by 10 ms, then moved 20 ms later.
    taps = "1.0, 1.625,2.26,2.875,3.5"
    data = _analyze_json(dance_npy, tmp_path, "--taps", taps, "--beat-shift", "0.02")
    assert data["beats_source"] == "taps"
    assert data["beat_overrides"]["tap_times_s"] == [1.0, 1.625, 2.26, 2.875, 3.5]
    assert data["beat_overrides"]["beat_times_s"] is None
    assert data["tempo_bpm"] == pytest.approx(96, abs=0.5)
    beats = np.asarray(data["visual_beats_s"])
    np.testing.assert_allclose(np.diff(beats), 60 / data["tempo_bpm"], atol=0.002)
    assert beats[0] < 0.7 and beats[-1] > 9.3  # the whole dance, not just the tapped part
    near = np.abs(np.array([1.0, 1.625, 2.26, 2.875, 3.5])[:, None] + 0.02 - beats).min(axis=1)
    assert near.max() < 0.01
    assert "beats following 5 taps, shifted by +0.02 s" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--taps", "1,1.6,2.2"], "3 tap(s): tap along with at least 4 beats"),
        (["--taps", "1;1.6;2.2;2.8"], "--taps must be tap times in seconds separated by commas"),
        (["--taps", "1,1.6,2.2,2.8", "--tempo", "120"], "drop --tempo/--tempo-scale/--beats"),
        (["--taps", "1,1.6,2.2,2.8", "--beats", "{beats}"], "or drop --taps"),
        (["--taps", "1,1.6,1.65,2.2,2.8"], "taps too close"),
        (["--tempo", "120", "--tempo-scale", "2"], "give only one of them"),
        (["--beats", "{beats}", "--tempo", "120"], "drop --tempo/--tempo-scale"),
        (["--beats", "{beats}", "--tempo-scale", "0.5"], "drop --tempo/--tempo-scale"),
        (["--beats", "{dir}/missing.beats"], "beats file not found"),
        (["--beats", "{one}"], "holds 1 beat time(s): give at least 2"),
        (["--tempo", "400"], "--tempo 400 BPM is outside 30-300 BPM"),
        (["--tempo", "10"], "outside 30-300 BPM"),
        (["--tempo-scale", "3"], "--tempo-scale must be 2, 0.5 (1/2), 1.5 (3/2) or 0.667"),
        (["--beat-shift", "30"], "moves the beats out of the dance"),
    ],
)
@pytest.mark.parametrize("command", ["analyze", "generate"])
def test_bad_beat_corrections_one_line_exit_2(dance_npy, tmp_path, capsys, command, flags, message):
    (tmp_path / "b.beats").write_text("1\n2\n3\n")
    (tmp_path / "one.beats").write_text("1.5  # only one\n")
    names = {"beats": tmp_path / "b.beats", "one": tmp_path / "one.beats", "dir": tmp_path}
    flags = [f.format(**names) for f in flags]
    before = {p: p.read_bytes() for p in (dance_npy, *tmp_path.iterdir())}
    out = ["--json", str(tmp_path / "o.json")]
    if command == "generate":
        out += ["-o", str(tmp_path / "o.wav")]
    assert main([command, str(dance_npy), "--fps", "30", *flags, *out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert {p: p.read_bytes() for p in (dance_npy, *tmp_path.iterdir())} == before  # no output


def test_generate_follows_the_corrected_beats(tmp_path, capsys):
    from d2m_core.music.beats import beat_f_measure

    # A 70 BPM dance whose pose holds read as double time (140 BPM); the user halves it.
    npy = tmp_path / "slow.npy"
    np.save(npy, synthetic_dance(bpm=70, duration_s=12, fps=30, seed=6).keypoints)
    auto = _analyze_json(npy, tmp_path)
    assert auto["tempo_bpm"] == pytest.approx(140, rel=0.03)
    wav, out = tmp_path / "m.wav", tmp_path / "m.json"
    rc = main(
        ["generate", str(npy), "--fps", "30", "--tempo-scale", "0.5", "--genre", "house",
         "-o", str(wav), "--json", str(out)]
    )  # fmt: skip
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["backbone"] == "groove" and data["beats_source"] == "tempo_scale"
    assert data["beat_overrides"]["tempo_scale"] == 0.5
    assert data["auto_tempo_bpm"] == auto["tempo_bpm"]
    assert data["tempo_bpm"] == pytest.approx(0.5 * auto["tempo_bpm"], abs=0.02)
    # The report's beat F scores the music against the corrected (half-time) beats, which it
    # follows: against the estimate's beats it would miss every other one.
    assert data["beat_f_measure"] >= 0.8
    music = np.asarray(data["music_beats_s"])
    assert beat_f_measure(np.asarray(auto["visual_beats_s"]), music) < data["beat_f_measure"]
    assert "re-fitted at 0.5 x the estimated tempo" in capsys.readouterr().out


def test_generate_follows_the_taps(tmp_path, capsys):
    # The 70 BPM dance read as double time (140 BPM): the user taps along on its beats instead.
    npy = tmp_path / "slow.npy"
    np.save(npy, synthetic_dance(bpm=70, duration_s=12, fps=30, seed=6).keypoints)
    taps = [round(k * 60 / 70, 3) for k in range(2, 8)]
    wav, out = tmp_path / "m.wav", tmp_path / "m.json"
    rc = main(
        ["generate", str(npy), "--fps", "30", "--taps", ",".join(map(str, taps)),
         "--genre", "house", "-o", str(wav), "--json", str(out)]
    )  # fmt: skip
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["backbone"] == "groove" and data["beats_source"] == "taps"
    assert data["beat_overrides"]["tap_times_s"] == taps
    assert data["auto_tempo_bpm"] == pytest.approx(140, rel=0.03)
    assert data["tempo_bpm"] == pytest.approx(70, abs=0.1)
    assert data["beat_f_measure"] >= 0.8  # the music follows the tapped grid
    assert "beats following 6 taps" in capsys.readouterr().out
