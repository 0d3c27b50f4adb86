"""d2m_core.settings: every environment variable, read when asked, with its default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from d2m_core import settings
from d2m_core.errors import D2MError

ROOT = Path(__file__).resolve().parents[1]

ALL_VARS = (
    "D2M_HOST",
    "D2M_PORT",
    "D2M_MAX_UPLOAD_MB",
    "D2M_MAX_VIDEO_S",
    "D2M_MUSICGEN_MODEL",
    "D2M_MUSICGEN_ENCODER",
    "D2M_DEVICE",
    "D2M_DOWNLOAD",
    "D2M_SOUNDFONT",
    "D2M_VGGISH_WEIGHTS",
    "D2M_VGGISH_PCA",
    "D2M_MEDIAPIPE_LOGS",
)


@pytest.fixture
def clean_env(monkeypatch):
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_defaults(clean_env):
    assert settings.host() == "127.0.0.1" and settings.port() == 7860
    assert settings.max_upload_mb() == 200.0 and settings.max_video_s() == 60.0
    assert settings.backbone_model("musicgen") is None
    assert settings.backbone_encoder("musicgen") is None
    assert settings.device() is None and settings.soundfont() is None
    assert settings.vggish_weights() is None and settings.vggish_pca() is None
    assert settings.mediapipe_logs() is False
    assert settings.download() is False  # nothing is downloaded unless asked


def test_values_are_read_when_asked(clean_env):
    values = {
        "D2M_HOST": "0.0.0.0",
        "D2M_PORT": "9000",
        "D2M_MAX_UPLOAD_MB": " 12 ",
        "D2M_MAX_VIDEO_S": "7.5",
        "D2M_MUSICGEN_MODEL": "/models/mg",
        "D2M_MUSICGEN_ENCODER": "/data/enc",
        "D2M_DEVICE": "cuda:1",
        "D2M_DOWNLOAD": "1",
        "D2M_SOUNDFONT": "/sf/gm.sf2",
        "D2M_VGGISH_WEIGHTS": "hf://o/r/vggish.pth",
        "D2M_VGGISH_PCA": "/w/pca.pth",
        "D2M_MEDIAPIPE_LOGS": "1",
    }
    for var, value in values.items():
        clean_env.setenv(var, value)
    assert (settings.host(), settings.port()) == ("0.0.0.0", 9000)
    assert (settings.max_upload_mb(), settings.max_video_s()) == (12.0, 7.5)
    assert settings.backbone_model("musicgen") == "/models/mg"
    assert settings.backbone_encoder("musicgen") == "/data/enc"
    assert settings.backbone_model("audioldm") is None  # per backbone
    assert settings.device() == "cuda:1" and settings.soundfont() == "/sf/gm.sf2"
    assert settings.vggish_weights() == "hf://o/r/vggish.pth"
    assert settings.vggish_pca() == "/w/pca.pth"
    assert settings.mediapipe_logs() is True
    assert settings.download() is True


def test_empty_means_unset(clean_env):
    for var in ALL_VARS:
        clean_env.setenv(var, "")
    test_defaults(clean_env)


def test_bad_numbers_name_the_variable(clean_env):
    clean_env.setenv("D2M_MAX_VIDEO_S", "long")
    with pytest.raises(D2MError, match="D2M_MAX_VIDEO_S='long' is not a number"):
        settings.max_video_s()
    clean_env.setenv("D2M_PORT", "80.5")
    with pytest.raises(D2MError, match="D2M_PORT"):
        settings.port()


def test_download_is_a_switch(clean_env):
    for raw, on in (("1", True), (" Yes ", True), ("on", True), ("0", False), ("off", False)):
        clean_env.setenv("D2M_DOWNLOAD", raw)
        assert settings.download() is on, raw
    clean_env.setenv("D2M_DOWNLOAD", "sometimes")
    with pytest.raises(D2MError, match="D2M_DOWNLOAD='sometimes' is not a switch"):
        settings.download()


def test_variable_names():
    assert settings.backbone_model_var("audioldm") == "D2M_AUDIOLDM_MODEL"
    assert settings.backbone_encoder_var("musicgen") == "D2M_MUSICGEN_ENCODER"


def test_only_settings_reads_the_environment():
    """Every d2m variable goes through d2m_core.settings (its docstring lists them all)."""
    reads = re.compile(r"os\.environ(?!\.setdefault)|getenv\(")
    files = [ROOT / "app.py", *sorted((ROOT / "d2m_core").rglob("*.py"))]
    offenders = [
        str(f.relative_to(ROOT))
        for f in files
        if f != ROOT / "d2m_core" / "settings.py" and reads.search(f.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    doc = settings.__doc__ or ""
    for var in ALL_VARS:
        listed = re.sub(r"D2M_MUSICGEN_", "D2M_<BACKBONE>_", var)
        assert listed in doc, var
