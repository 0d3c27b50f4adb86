"""Dance -> music through the backbone interface: alignment, genres, seeds, errors, outputs."""

import json

import numpy as np
import pytest
import soundfile as sf

from d2m_core.backbones import available_backbones, get_backbone
from d2m_core.cli.main import main
from d2m_core.dance.analysis import analyze_motion
from d2m_core.dance.synth import synthetic_dance
from d2m_core.errors import D2MError
from d2m_core.music.generate import generate_music, write_result


@pytest.fixture(scope="module")
def dance():
    return analyze_motion(synthetic_dance(bpm=104, duration_s=12, fps=30, seed=5, start_s=0.4))


def test_offline_backbone_always_available():
    infos = {b.name: b for b in available_backbones()}
    assert infos["groove"].available


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(D2MError, match="unknown backbone 'nope'; valid backbones: .*groove"):
        get_backbone("nope")


def test_music_lands_on_the_dance(dance):
    res = generate_music(dance, genre="house", seed=1)
    assert res.audio.dtype == np.float32 and res.sample_rate == 32000
    assert abs(res.duration_s - dance.motion.duration_s) < 0.01
    assert np.abs(res.audio).max() <= 1.0
    assert res.alignment.beat_f_measure >= 0.8
    assert abs(res.alignment.music_tempo_bpm - dance.tempo.bpm) < 4
    d = res.to_dict()
    assert {"tempo_bpm", "music_tempo_bpm", "visual_beats_s", "music_beats_s",
            "seconds_to_generate"} <= d.keys()  # fmt: skip


def test_genres_and_seeds_differ_same_seed_repeats(dance):
    a = generate_music(dance, genre="house", seed=1).audio
    b = generate_music(dance, genre="ballet_jazz", seed=1).audio
    c = generate_music(dance, genre="house", seed=2).audio
    a2 = generate_music(dance, genre="house", seed=1).audio
    assert np.array_equal(a, a2)

    def spec(x):
        mono = x.mean(axis=1) if x.ndim == 2 else x
        frames = np.lib.stride_tricks.sliding_window_view(mono, 2048)[::1024]
        return np.log1p(np.abs(np.fft.rfft(frames * np.hanning(2048), axis=1)))

    def dist(x, y):
        return float(np.mean(np.abs(spec(x) - spec(y))))

    assert dist(a, b) > 0.05 and dist(a, c) > 0.01


def test_without_star_the_music_ignores_the_dance(dance):
    res = generate_music(dance, prompt="a @ music", genre="house", seed=1)
    assert any("will not follow the dance" in w for w in res.prompt.warnings)
    assert abs(res.alignment.music_tempo_bpm - 124) < 4  # house's typical tempo


def test_suggested_genre_when_none_given(dance):
    res = generate_music(dance, seed=0)
    assert res.genre_suggested and res.genre_scores


def test_bad_genre_and_length(dance):
    with pytest.raises(D2MError, match="valid genres"):
        generate_music(dance, genre="polka")
    with pytest.raises(D2MError, match="outside"):
        generate_music(dance, genre="house", duration_s=10_000)


def test_write_wav_and_refuse_other_suffix(dance, tmp_path):
    res = generate_music(dance, genre="lock", seed=3, duration_s=4)
    out = write_result(res, tmp_path / "m.wav")
    y, sr = sf.read(out)
    assert sr == 32000 and abs(len(y) / sr - 4) < 0.01
    with pytest.raises(D2MError, match=".wav or .mp4"):
        write_result(res, tmp_path / "m.ogg")


def test_cli_generate_keypoints_to_wav(tmp_path):
    from d2m_core.cli.demo import EXAMPLE_KEYPOINTS

    out, js = tmp_path / "o.wav", tmp_path / "o.json"
    rc = main(["generate", str(EXAMPLE_KEYPOINTS), "--genre", "pop", "-o", str(out),
               "--json", str(js)])  # fmt: skip
    assert rc == 0 and out.stat().st_size > 0
    d = json.loads(js.read_text())
    assert d["genre"] == "pop" and d["beat_f_measure"] >= 0.8


def test_cli_generate_bad_suffix_fails_before_work(tmp_path, capsys):
    from d2m_core.cli.demo import EXAMPLE_KEYPOINTS

    assert main(["generate", str(EXAMPLE_KEYPOINTS), "-o", str(tmp_path / "o.mp3")]) == 2
    assert "must end in .wav or .mp4" in capsys.readouterr().err


def test_cli_generate_keypoints_to_skeleton_mp4(tmp_path):
    from d2m_core.cli.demo import EXAMPLE_KEYPOINTS
    from d2m_core.io.video import probe_video

    out = tmp_path / "s.mp4"
    assert main(["generate", str(EXAMPLE_KEYPOINTS), "--genre", "house", "-o", str(out)]) == 0
    info = probe_video(out)
    assert info.codec == "h264" and info.has_audio and abs(info.duration_s - 10.0) < 0.1


@pytest.mark.parametrize("name", ["unianimate_dance_9s.mp4", "aist_clip_2s_a.mp4"])
def test_cli_generate_video_soundtrack(shared_data, tmp_path, name):
    import av

    from d2m_core.io.video import probe_video

    src = shared_data / "videos" / name
    out, js = tmp_path / "out.mp4", tmp_path / "out.json"
    assert main(["generate", str(src), "-o", str(out), "--json", str(js)]) == 0
    with av.open(str(out)) as c:
        codecs = {s.type: s.codec_context.name for s in c.streams}
    assert codecs == {"video": "h264", "audio": "aac"}
    assert abs(probe_video(out).duration_s - probe_video(src).duration_s) < 0.1
    d = json.loads(js.read_text())
    print(f"{name}: dance {d['tempo_bpm']} BPM, music {d['music_tempo_bpm']} BPM,"
          f" F {d['beat_f_measure']}, BCS {d['bcs_0.2s']}, BHS {d['bhs_0.2s']}")  # fmt: skip
    if d["duration_s"] >= 5:
        assert d["beat_f_measure"] >= 0.8
    else:
        # On a 2 s clip librosa's tracker counts slow music at double time (its prior sits at
        # 120 BPM) and cannot place a beat at the clip's very end, so F says little; every beat
        # it does find must sit on the dance's grid (at its own or double time).
        from d2m_core.metrics.visual import double_time

        grid = double_time(np.asarray(d["visual_beats_s"]))
        music = np.asarray(d["music_beats_s"])
        assert len(music) >= 2 and all(np.min(np.abs(grid - b)) <= 0.07 for b in music)


def test_cli_generate_alignment_plot(tmp_path):
    from d2m_core.cli.demo import EXAMPLE_KEYPOINTS

    png = tmp_path / "align.png"
    rc = main(["generate", str(EXAMPLE_KEYPOINTS), "--genre", "lock", "-o", str(tmp_path / "o.wav"),
               "--plot", str(png)])  # fmt: skip
    assert rc == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_zero_shot_spells_out_and_aligns(dance):
    # The offline backbone with * spelled out renders at the genre's typical tempo (124 BPM
    # for house) instead of following the dance; zero-shot mode warps it onto the dance.
    res = generate_music(dance, genre="house", seed=0, zero_shot=True)
    zs = res.zero_shot
    bpm = f"{dance.tempo.bpm:.0f} BPM"
    assert zs["prompt_sent"] == f"a house music with a beat at {bpm} as the rhythm"
    assert res.backbone_prompt == zs["prompt_sent"] and res.prompt.has_rhythm
    assert zs["aligned"] and zs["pitch_kept"]
    assert zs["f_measure_after"] >= 0.8 > zs["f_measure_before"] + 0.2, zs
    assert res.alignment.beat_f_measure == pytest.approx(zs["f_measure_after"], abs=0.1)
    assert res.audio.shape[0] == round(dance.motion.duration_s * res.sample_rate)
    assert res.to_dict()["zero_shot"]["f_measure_after"] == zs["f_measure_after"]


def test_zero_shot_without_star_does_not_align(dance):
    res = generate_music(dance, prompt="a @ music, calm", genre="house", zero_shot=True)
    assert res.zero_shot == {"prompt_sent": "a house music, calm", "aligned": False}


def test_zero_shot_refuses_an_encoder(dance, tmp_path):
    with pytest.raises(D2MError, match="--zero-shot uses no encoders"):
        generate_music(
            dance, backbone="musicgen", zero_shot=True,
            backbone_options={"model": "debug", "encoder": tmp_path},
        )  # fmt: skip


def test_cli_zero_shot_musicgen_debug(tmp_path, capsys):
    pytest.importorskip("torch")
    kp = tmp_path / "dance.npz"
    m = synthetic_dance(bpm=110, duration_s=4.0, seed=2)
    np.savez(kp, dance=m.keypoints, fps=m.fps)
    out, js = tmp_path / "m.wav", tmp_path / "m.json"
    args = ["generate", str(kp), "--backbone", "musicgen", "--model", "debug", "--genre", "krump"]
    assert main([*args, "-o", str(out)]) == 2  # @ and * need encoders...
    assert "--zero-shot" in capsys.readouterr().err
    assert main([*args, "--zero-shot", "-o", str(out), "--json", str(js)]) == 0  # ...or this
    rep = json.loads(js.read_text())
    sent = rep["zero_shot"]["prompt_sent"]
    assert sent == f"a krump music with a beat at {rep['tempo_bpm']:.0f} BPM as the rhythm"
    assert {"f_measure_before", "f_measure_after", "pitch_kept"} <= set(rep["zero_shot"])
    assert sf.info(out).duration == pytest.approx(4.0, abs=0.01)
    assert "zero-shot sync: beat F-measure" in capsys.readouterr().out
