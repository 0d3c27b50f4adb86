"""Every environment variable d2m reads, one small function each.

Each function reads the environment when it is called (never at import), so a test can
``monkeypatch.setenv`` and a long-running app sees what its process was started with. An empty
value counts as unset. Nothing else in d2m reads ``os.environ``; setting defaults for
third-party libraries' own variables (MediaPipe's log levels) is left to the code that
imports those libraries.

=======================  ============================================================  ========
Variable                 Meaning                                                       Default
=======================  ============================================================  ========
D2M_HOST                 Address the web app listens on                                127.0.0.1
D2M_PORT                 Port of the web app                                           7860
D2M_MAX_UPLOAD_MB        Largest upload the web app takes, MB                          200
D2M_MAX_VIDEO_S          Longest video the web app takes, seconds                      60
D2M_<BACKBONE>_MODEL     The web app's model (hub id or folder) for a neural backbone  its own
D2M_<BACKBONE>_ENCODER   The web app's trained dance encoder for a neural backbone     none
D2M_DEVICE               Torch device for the web app's neural backbones               auto
D2M_DOWNLOAD             1: fetch a missing neural model from the hub on first use     off
D2M_SOUNDFONT            General MIDI ``.sf2`` file for the offline groove backbone    searched
D2M_VGGISH_WEIGHTS       VGGish network weights for ``d2m evaluate`` (FAD)             searched
D2M_VGGISH_PCA           VGGish PCA parameters for ``d2m evaluate``                    searched
D2M_MEDIAPIPE_LOGS       Any value: let MediaPipe's start-up messages through          quiet
=======================  ============================================================  ========
"""

from __future__ import annotations

import os

from d2m_core.errors import D2MError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_UPLOAD_MB",
    "DEFAULT_MAX_VIDEO_S",
    "DEFAULT_PORT",
    "backbone_encoder",
    "backbone_encoder_var",
    "backbone_model",
    "backbone_model_var",
    "device",
    "download",
    "host",
    "max_upload_mb",
    "max_video_s",
    "mediapipe_logs",
    "port",
    "soundfont",
    "vggish_pca",
    "vggish_weights",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_MAX_UPLOAD_MB = 200.0
DEFAULT_MAX_VIDEO_S = 60.0


def _text(name: str) -> str | None:
    return os.environ.get(name) or None


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise D2MError(f"{name}={raw!r} is not a number") from None


def _switch(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise D2MError(f"{name}={raw!r} is not a switch: use 1 or 0")


def _whole_number(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise D2MError(f"{name}={raw!r} is not a whole number") from None


# --------------------------------------------------------------------------------------------
# the web app


def host() -> str:
    """``D2M_HOST``: the address the web app listens on (``0.0.0.0`` in a container).

    Default :data:`DEFAULT_HOST` (this machine only). The app's ``--host`` overrides it.
    """
    return _text("D2M_HOST") or DEFAULT_HOST


def port() -> int:
    """``D2M_PORT``: the web app's port. Default :data:`DEFAULT_PORT`; ``--port`` overrides it.

    Raises
    ------
    D2MError
        The value is not a whole number.
    """
    return _whole_number("D2M_PORT", DEFAULT_PORT)


def max_upload_mb() -> float:
    """``D2M_MAX_UPLOAD_MB``: the largest upload the web app takes, in MB (10^6 bytes).

    Default :data:`DEFAULT_MAX_UPLOAD_MB`; ``--max-upload-mb`` overrides it.

    Raises
    ------
    D2MError
        The value is not a number (whether it is positive is the caller's check).
    """
    return _number("D2M_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)


def max_video_s() -> float:
    """``D2M_MAX_VIDEO_S``: the longest video (or keypoint sequence) the web app takes, seconds.

    Default :data:`DEFAULT_MAX_VIDEO_S`; ``--max-video-s`` overrides it.

    Raises
    ------
    D2MError
        The value is not a number (whether it is positive is the caller's check).
    """
    return _number("D2M_MAX_VIDEO_S", DEFAULT_MAX_VIDEO_S)


# --------------------------------------------------------------------------------------------
# the web app's neural backbones (the command line takes --model / --encoder / --device)


def backbone_model_var(backbone: str) -> str:
    """The name of the variable holding ``backbone``'s model, ``D2M_<BACKBONE>_MODEL``."""
    return f"D2M_{backbone.upper()}_MODEL"


def backbone_encoder_var(backbone: str) -> str:
    """The name of the variable holding ``backbone``'s encoder, ``D2M_<BACKBONE>_ENCODER``."""
    return f"D2M_{backbone.upper()}_ENCODER"


def backbone_model(backbone: str) -> str | None:
    """``D2M_<BACKBONE>_MODEL``: the model the web app gives a neural backbone.

    A Hugging Face id or a local folder, e.g. ``D2M_MUSICGEN_MODEL=/models/musicgen-small``.
    Default None: the backbone's own default model.
    """
    return _text(backbone_model_var(backbone))


def backbone_encoder(backbone: str) -> str | None:
    """``D2M_<BACKBONE>_ENCODER``: a trained dance-encoder checkpoint for a neural backbone.

    E.g. ``D2M_MUSICGEN_ENCODER=/data/enc``. Default None: no encoder, so the web app can only
    run that backbone zero-shot.
    """
    return _text(backbone_encoder_var(backbone))


def device() -> str | None:
    """``D2M_DEVICE``: the torch device of every neural backbone in the web app (``cuda:1``).

    Default None: the backbone's choice (CUDA when present).
    """
    return _text("D2M_DEVICE")


def download() -> bool:
    """``D2M_DOWNLOAD``: ``1`` lets a neural backbone fetch its missing model on first use.

    Only the files the backbone reads are downloaded, once, into the Hugging Face cache (a
    Space without baked-in weights). ``1/true/yes/on`` turn it on, ``0/false/no/off`` off.
    Default False: nothing is ever downloaded; ``d2m generate``, ``d2m train`` and ``app.py``
    take ``--download`` instead.

    Raises
    ------
    D2MError
        Any other value.
    """
    return _switch("D2M_DOWNLOAD")


# --------------------------------------------------------------------------------------------
# files searched for when not given


def soundfont() -> str | None:
    """``D2M_SOUNDFONT``: a General MIDI ``.sf2`` file for the offline groove backbone.

    Used only when that file exists. Default None: FluidR3_GM when installed, else the
    soundfont bundled with ``pretty_midi``.
    """
    return _text("D2M_SOUNDFONT")


def vggish_weights() -> str | None:
    """``D2M_VGGISH_WEIGHTS``: VGGish network weights (path or ``hf://OWNER/REPO/FILE``).

    Read by ``d2m evaluate`` when ``--vggish`` is not given. Default None: torch hub's cache.
    """
    return _text("D2M_VGGISH_WEIGHTS")


def vggish_pca() -> str | None:
    """``D2M_VGGISH_PCA``: VGGish PCA parameters (path or ``hf://OWNER/REPO/FILE``).

    Read by ``d2m evaluate`` when ``--vggish-pca`` is not given and the weights file holds no
    PCA. Default None: torch hub's cache.
    """
    return _text("D2M_VGGISH_PCA")


# --------------------------------------------------------------------------------------------
# diagnostics


def mediapipe_logs() -> bool:
    """``D2M_MEDIAPIPE_LOGS``: any non-empty value lets MediaPipe's start-up messages through.

    Default False: d2m silences the native stderr while MediaPipe builds its graph.
    """
    return _text("D2M_MEDIAPIPE_LOGS") is not None
