"""Downloading a neural backbone's model on first use: never without the option (no network
call at all), and with it, through a fake hub, exactly once and then loaded from the cache."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

import d2m_core.backbones.download as dl
from d2m_core.backbones.base import backbone_class, backbone_info, get_backbone
from d2m_core.backbones.diffusion import pipeline_patterns
from d2m_core.errors import D2MError

NEURAL = ("musicgen", "audioldm", "riffusion")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class NetworkTouched(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Every way out of the process raises and is recorded: the hub's download functions
    (their cache-only reads, ``local_files_only=True``, still work) and the sockets under them."""
    import huggingface_hub

    touched: list[str] = []

    def refuse(what, real=None):
        def fail(*args, **kwargs):
            if real is not None and kwargs.get("local_files_only"):
                return real(*args, **kwargs)
            touched.append(what)
            raise NetworkTouched(f"network call attempted: {what}")

        return fail

    for name in ("snapshot_download", "hf_hub_download"):
        monkeypatch.setattr(huggingface_hub, name, refuse(name, getattr(huggingface_hub, name)))
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", refuse("model_info"))
    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("socket.getaddrinfo"))
    return touched


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, the option unset, and no app model settings."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("D2M_DOWNLOAD", raising=False)
    for name in NEURAL:
        for var in (f"D2M_{name.upper()}_MODEL", f"D2M_{name.upper()}_ENCODER"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(dl, "_forced", None)  # restored after the test: --download is global
    monkeypatch.setattr(dl, "_PLANS", {})
    return cache


def _loaded_kind(name):
    from d2m_core.backbones.audioldm.model import LoadedAudioldm
    from d2m_core.backbones.musicgen.model import LoadedMusicgen
    from d2m_core.backbones.riffusion.model import LoadedRiffusion

    kinds = {"musicgen": LoadedMusicgen, "audioldm": LoadedAudioldm, "riffusion": LoadedRiffusion}
    return kinds[name]


# --- the option off: nothing leaves the machine --------------------------------------------------


@pytest.mark.parametrize("value", [None, "0", "off"])
def test_off_never_touches_the_network(hub_cache, no_network, monkeypatch, value):
    from d2m_core.backbones.windowed import load_model

    if value is not None:
        monkeypatch.setenv("D2M_DOWNLOAD", value)
    assert not dl.allowed()
    for name in NEURAL:
        for options in ({}, {"model": f"d2m-test/missing-{name}"}):
            avail = backbone_info(name, **options).availability
            assert not avail.ok and "is not on this machine" in avail.reason
            assert "hf download" in avail.reason and avail.missing_model
        with pytest.raises(D2MError, match="is not on this machine"):
            load_model(_loaded_kind(name), f"d2m-test/missing-{name}")
        with pytest.raises(D2MError, match="cannot run here: .* is not on this machine"):
            get_backbone(name, model=f"d2m-test/missing-{name}", device="cpu")
    assert no_network == []


def test_off_the_app_lists_only_the_offline_backbone(hub_cache, no_network):
    pytest.importorskip("gradio")
    from d2m_core.app import page

    assert [name for _, name in page.backbone_choices()] == ["groove"]
    note = page.unavailable_backbones_note()
    assert all("hf download" in note and name in note for name in NEURAL)
    assert no_network == []


def test_on_but_offline_is_a_clear_error(hub_cache, no_network, monkeypatch):
    """HF_HUB_OFFLINE wins over the option: not available, and still no network call."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    dl.allow()
    avail = backbone_info("musicgen").availability
    assert not avail.ok and "HF_HUB_OFFLINE" in avail.reason
    assert no_network == []


# --- the option on: a fake hub -------------------------------------------------------------------


class FakeHub:
    """``huggingface_hub.snapshot_download`` over folders, writing the real cache layout
    (cache-only reads, ``local_files_only=True``, go to the real function)."""

    def __init__(self, cache: Path, real) -> None:
        self.cache = cache
        self.real = real
        self.repos: dict[str, Path] = {}
        self.downloads: list[tuple[str, list[str]]] = []
        self.fail: Exception | None = None

    def files(self, repo_id: str) -> list[str]:
        root = self.repos[repo_id]
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    def snapshot_download(self, repo_id, *, allow_patterns=None, dry_run=False, **kwargs):
        from huggingface_hub.file_download import DryRunFileInfo
        from huggingface_hub.utils import filter_repo_objects

        if kwargs.get("local_files_only"):
            return self.real(repo_id, allow_patterns=allow_patterns, **kwargs)
        if self.fail is not None:
            raise self.fail
        root = self.repos[repo_id]
        names = list(filter_repo_objects(self.files(repo_id), allow_patterns=allow_patterns))
        snap = self.cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / COMMIT
        if dry_run:
            return [
                DryRunFileInfo(
                    commit_hash=COMMIT,
                    file_size=(root / n).stat().st_size,
                    filename=n,
                    local_path=str(snap / n),
                    is_cached=(snap / n).is_file(),
                    will_download=not (snap / n).is_file(),
                )  # fmt: skip
                for n in names
            ]
        self.downloads.append((repo_id, names))
        for n in names:
            (snap / n).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / n, snap / n)
        (snap.parent.parent / "refs").mkdir(exist_ok=True)
        (snap.parent.parent / "refs" / "main").write_text(COMMIT)
        return str(snap)


def _save_musicgen(root: Path) -> list[str]:
    from d2m_core.backbones.musicgen import model as mg

    lm = mg.load_musicgen("debug")
    lm.model.save_pretrained(root)
    lm.tokenizer.save_pretrained(root)
    # What the real repositories hold besides: pickled twins and audiocraft checkpoints.
    for junk in ("pytorch_model.bin", "state_dict.bin", "compression_state_dict.bin"):
        (root / junk).write_bytes(b"not for d2m")
    return ["pytorch_model.bin", "state_dict.bin", "compression_state_dict.bin"]


def _save_audioldm(root: Path) -> list[str]:
    from diffusers import AudioLDMPipeline

    from d2m_core.backbones.audioldm import model as al

    la = al.load_audioldm("debug")
    with al._quiet_diffusers():
        AudioLDMPipeline(
            vae=la.vae, text_encoder=la.text_encoder, tokenizer=la.tokenizer, unet=la.unet,
            scheduler=la.scheduler, vocoder=la.vocoder,
        ).save_pretrained(root)  # fmt: skip
    (root / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"variant")
    (root / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"pickled twin")
    return ["unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.bin"]


def _save_riffusion(root: Path) -> list[str]:
    from d2m_core.backbones.riffusion import model as rf

    pipe = rf.load_riffusion("debug")
    for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        getattr(pipe, name).save_pretrained(root / name)
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (root / "riffusion-model-v1.ckpt").write_bytes(b"single-file checkpoint")
    (root / "safety_checker").mkdir()
    (root / "safety_checker" / "model.safetensors").write_bytes(b"not read")
    return ["riffusion-model-v1.ckpt", "safety_checker/model.safetensors"]


SAVERS = {"musicgen": _save_musicgen, "audioldm": _save_audioldm, "riffusion": _save_riffusion}


@pytest.fixture
def fake_hub(hub_cache, monkeypatch, no_network):
    import huggingface_hub
    from huggingface_hub._snapshot_download import snapshot_download as real

    hub = FakeHub(hub_cache, real)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    return hub


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", NEURAL)
def test_on_downloads_once_then_loads_from_the_cache(fake_hub, tmp_path, no_network, name):
    from d2m_core.backbones.windowed import _load_cached, load_model

    repo = f"d2m-test/tiny-{name}"
    fake_hub.repos[repo] = tmp_path / "repo"
    junk = SAVERS[name](tmp_path / "repo")
    cls = backbone_class(name)

    assert not cls.availability(model=repo).ok  # off: not here
    assert fake_hub.downloads == []
    dl.allow()
    avail = cls.availability(model=repo)
    assert avail.ok and avail.missing_model == repo
    assert "will be downloaded on first use" in avail.reason and " MB)" in avail.reason
    assert fake_hub.downloads == []  # listing only, nothing fetched yet

    loaded = load_model(_loaded_kind(name), repo)
    assert loaded.name == repo and loaded.make_conditioner().width > 0
    [(got_repo, files)] = fake_hub.downloads
    assert got_repo == repo and not set(junk) & set(files)
    assert set(files) == set(dl.select_files(files))

    after = cls.availability(model=repo)
    assert after.ok and after.missing_model is None and "Hugging Face cache" in after.reason
    _load_cached.cache_clear()  # a new process: loads from the cache, no second download
    load_model(_loaded_kind(name), repo)
    assert len(fake_hub.downloads) == 1
    assert no_network == []


def test_failed_download_is_one_clear_line(fake_hub, tmp_path, no_network):
    from d2m_core.backbones.windowed import load_model

    fake_hub.fail = OSError("[Errno 101] Network is unreachable\n(more lines)")
    dl.allow()
    avail = backbone_info("riffusion").availability
    assert avail.ok and avail.reason.endswith("downloaded on first use")  # size unknown
    with pytest.raises(D2MError) as err:
        load_model(_loaded_kind("riffusion"), "riffusion/riffusion-model-v1")
    msg = str(err.value)
    assert "\n" not in msg and "Network is unreachable" in msg
    assert "downloading Riffusion 'riffusion/riffusion-model-v1' from the Hugging Face hub" in msg
    assert "`hf download riffusion/riffusion-model-v1`" in msg
    assert no_network == []


def test_cli_flag_turns_it_on(fake_hub, tmp_path, capsys):
    """``d2m generate --download`` tries the (here failing) download; without it, none."""
    from d2m_core.cli.main import main
    from d2m_core.dance.synth import synthetic_dance

    fake_hub.fail = OSError("no route to host")
    kp = synthetic_dance(bpm=100, duration_s=1.0, fps=30, seed=1).keypoints
    np.savez(tmp_path / "d.npz", dance=kp, fps=np.float32(30))
    argv = ["generate", str(tmp_path / "d.npz"), "--backbone", "musicgen", "--genre", "house",
            "--zero-shot", "--model", "d2m-test/absent", "-o", str(tmp_path / "m.wav")]  # fmt: skip
    assert main(argv) == 2
    assert "is not on this machine" in capsys.readouterr().err
    assert main([*argv, "--download"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no route to host" in err


def _app():
    """app.py as a module (the name tests/app gives it, loaded once)."""
    import importlib.util
    import sys

    if "d2m_app" not in sys.modules:
        root = Path(__file__).resolve().parents[2]
        spec = importlib.util.spec_from_file_location("d2m_app", root / "app.py")
        sys.modules["d2m_app"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["d2m_app"])
    return sys.modules["d2m_app"]


def test_app_flag_lists_the_backbones_it_will_download(fake_hub, monkeypatch):
    """``python app.py --download``: the neural backbones join the menu; the page is built
    without fetching anything (the hub's size listing fails here: no size, no error)."""
    gr = pytest.importorskip("gradio")
    from d2m_core.app import page, pipeline

    app = _app()
    fake_hub.fail = OSError("offline")
    monkeypatch.setattr(pipeline, "_PIPELINE", None)  # restored after the test
    monkeypatch.setattr(gr.Blocks, "launch", lambda demo, **kw: None)
    for flags, menu in (([], ["groove"]), (["--download"], ["groove", *NEURAL])):
        assert app.main(["--no-warmup", *flags]) == 0
        pipeline.get_pipeline().close()
        assert sorted(name for _, name in page.backbone_choices()) == sorted(menu)
    assert "downloaded on first use" in backbone_info("musicgen").reason
    assert fake_hub.downloads == []


def test_flags_parse():
    from d2m_core.cli.main import build_parser

    parser = build_parser()
    gen = parser.parse_args(["generate", "x.mp4", "-o", "y.wav", "--download"])
    train = parser.parse_args(["train", "--data", "d", "--out", "o", "--download"])
    assert gen.download and train.download
    assert not parser.parse_args(["generate", "x.mp4", "-o", "y.wav"]).download


# --- choosing files, ahead of time -----------------------------------------------------------


def test_select_files_takes_one_weight_format_per_folder():
    files = [
        "model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/config.json", "vae/diffusion_pytorch_model.bin", "config.json",
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
    ]  # fmt: skip
    assert dl.select_files(files) == [
        "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        "model.safetensors.index.json", "model_index.json", "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
        "vae/diffusion_pytorch_model.bin",
    ]  # fmt: skip


def test_patterns_name_only_what_the_loaders_read():
    from d2m_core.backbones.audioldm import model as al
    from d2m_core.backbones.musicgen import model as mg
    from d2m_core.backbones.riffusion import model as rf

    assert mg.DOWNLOAD_PATTERNS == ("*.json", "spiece.model", "model*.safetensors",
                                    "pytorch_model*.bin")  # fmt: skip
    riff = pipeline_patterns(rf.COMPONENTS)
    assert "model_index.json" in riff and "tokenizer/*" in riff and "scheduler/*" in riff
    assert "unet/*.safetensors" in riff and not any("safety" in p for p in riff)
    assert "vocoder/*.bin" in pipeline_patterns(al.COMPONENTS)


def test_prefetch_command(fake_hub, tmp_path, capsys):
    """The Dockerfile's command: ids whose name says the backbone, or backbone:id."""
    fake_hub.repos["facebook/musicgen-small"] = tmp_path / "repo"
    _save_musicgen(tmp_path / "repo")
    assert dl.main(["facebook/musicgen-small"]) == 0
    assert dl.main(["facebook/musicgen-small"]) == 0  # baked once
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("musicgen: facebook/musicgen-small downloaded (")
    assert out[1] == "musicgen: facebook/musicgen-small already in the cache"
    assert len(fake_hub.downloads) == 1
    assert dl.main(["someone/model"]) == 1
    assert "write it as musicgen:someone/model" in capsys.readouterr().err
    fake_hub.fail = OSError("Name or service not known")
    assert dl.main(["musicgen:someone/model"]) == 1
    err = capsys.readouterr().err
    assert "failed (OSError: Name or service not known)" in err and len(err.splitlines()) == 1
