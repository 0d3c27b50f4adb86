"""Encoder checkpoints: a folder with ``encoders.safetensors`` and ``d2m_encoders.json``.

The JSON records what the weights need to be used correctly: the backbone and model id they
were trained against, the text width, the projector and every rhythm-feature setting, the clip
length, the genre list and the training prompt, plus a summary of the training run. Loading
checks the text width against the backbone's (a checkpoint trained for t5-base's 768 cannot
drive a 1024-wide encoder) and says which model to use instead.

Only the encoders are stored (a few MB), never the backbone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from d2m_core.errors import D2MError
from d2m_core.inversion.config import EncoderConfig
from d2m_core.io.files import atomic_path
from d2m_core.music.prompt import DEFAULT_PROMPT

if TYPE_CHECKING:
    from d2m_core.inversion.encoders import InversionEncoders

FORMAT = "d2m-inversion-encoders"
VERSION = 1
WEIGHTS_NAME = "encoders.safetensors"
META_NAME = "d2m_encoders.json"


def is_checkpoint(path: str | Path) -> bool:
    p = Path(path)
    return (p / META_NAME).is_file() and (p / WEIGHTS_NAME).is_file()


def read_meta(path: str | Path) -> dict:
    """The checkpoint's JSON (torch-free), validated.

    Raises
    ------
    D2MError
        Not a checkpoint folder, or an unreadable / foreign JSON.
    """
    p = Path(path)
    if not is_checkpoint(p):
        raise D2MError(
            f"no encoder checkpoint at {p} (expected {META_NAME} and {WEIGHTS_NAME}):"
            " train one with `d2m train --out DIR` and pass that DIR"
        )
    try:
        meta = json.loads((p / META_NAME).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise D2MError(f"cannot read {p / META_NAME} ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise D2MError(f"{p / META_NAME} is not a d2m encoder checkpoint")
    if int(meta.get("version", 0)) > VERSION:
        raise D2MError(f"{p} was written by a newer d2m (format {meta['version']}): update d2m")
    return meta


def save_encoders(
    path: str | Path,
    *,
    encoders: InversionEncoders,
    backbone: str,
    model: str,
    prompt: str = DEFAULT_PROMPT,
    info: dict | None = None,
) -> Path:
    """Write the encoders' weights and config to folder ``path`` (created if needed).

    Parameters
    ----------
    encoders : InversionEncoders
        Unwrapped (not DDP) module.
    backbone, model : str
        Backbone name and the model id or path the encoders were trained against.
    prompt : str
        Training prompt.
    info : dict, optional
        Training summary (steps, epochs, losses...), stored as is.
    """
    from safetensors.torch import save_file

    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().cpu().contiguous() for k, v in encoders.state_dict().items()}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "backbone": backbone,
        "model": model,
        "prompt": prompt,
        "text_width": encoders.cfg.text_width,
        "encoder": encoders.cfg.to_dict(),
        "training": info or {},
    }
    with atomic_path(p / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
        os.chmod(tmp, 0o644)  # safetensors writes 0600; checkpoints are shareable files
    with atomic_path(p / META_NAME) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return p


def load_encoders(
    path: str | Path,
    *,
    text_width: int | None = None,
    backbone: str | None = None,
    model_name: str = "this model",
    device: str = "cpu",
) -> tuple[InversionEncoders, dict]:
    """Load encoders for inference (eval mode).

    Parameters
    ----------
    path : str or Path
        Checkpoint folder.
    text_width : int, optional
        The backbone's text width; a different width raises a clear error.
    backbone : str, optional
        Expected backbone name.
    model_name : str
        The model in use, for error messages.
    device : str

    Returns
    -------
    encoders : InversionEncoders
    meta : dict
        The checkpoint's JSON.
    """
    from safetensors.torch import load_file

    from d2m_core.inversion.encoders import InversionEncoders

    meta = read_meta(path)
    trained_on = meta.get("model", "?")
    if backbone is not None and meta.get("backbone") != backbone:
        raise D2MError(
            f"encoder checkpoint {path} was trained for backbone '{meta.get('backbone')}',"
            f" not '{backbone}': use --backbone {meta.get('backbone')}"
        )
    width = int(meta["text_width"])
    if text_width is not None and width != int(text_width):
        raise D2MError(
            f"encoder checkpoint {path} was trained for a text encoder of width {width}"
            f" ({trained_on}), but {model_name} has width {text_width}: pass --model"
            f" {trained_on} or train an encoder for {model_name}"
        )
    cfg = EncoderConfig.from_dict(meta["encoder"])
    enc = InversionEncoders(cfg)
    try:
        state = load_file(str(Path(path) / WEIGHTS_NAME))
        enc.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - any failure means a damaged checkpoint
        msg = f"cannot load the weights in {path} ({exc}); re-train or re-copy it"
        raise D2MError(msg) from None
    return enc.to(device).eval(), meta
