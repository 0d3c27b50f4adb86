"""Fetching a neural backbone's model from the Hugging Face hub on first use, when asked.

d2m downloads nothing unless told to: ``D2M_DOWNLOAD=1`` (:func:`d2m_core.settings.download`)
or ``--download`` on ``d2m generate``, ``d2m train`` and ``app.py`` (:func:`allow`). With the
option on, a Hugging Face id missing from the local cache counts as available (its
:class:`~d2m_core.backbones.base.Availability` says it will be downloaded on first use), and
loading it (:func:`ensure`, run by :func:`~d2m_core.backbones.windowed.load_model`) first
fetches the files the backbone reads, once, into the Hugging Face cache; the backbone then
loads it as always, from the cache only (``local_files_only``).

Which files: each backbone names glob patterns (``Availability.download_patterns``: configs,
tokenizer, weights in both formats); :func:`select_files` keeps, in each folder, the
safetensors weights where the repository has them, else the pickled ``.bin`` ones, and never
the variants (``*.fp16.safetensors``). Everything else in the repository (audiocraft
checkpoints, ``.ckpt`` files, safety checkers) stays on the hub.

``python -m d2m_core.backbones.download MODEL...`` fetches models ahead of time (the
Dockerfile's ``MODELS`` build argument).

Importing this module imports neither torch nor huggingface_hub.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from d2m_core import settings
from d2m_core.backbones.base import Availability
from d2m_core.errors import D2MError

__all__ = [
    "Plan",
    "allow",
    "allowed",
    "ensure",
    "fetch",
    "main",
    "pending",
    "prefetch",
    "select_files",
]

log = logging.getLogger(__name__)

#: Set by :func:`allow` (the ``--download`` flags); None: ``D2M_DOWNLOAD`` decides.
_forced: bool | None = None
_LOCK = threading.Lock()
#: What each (model, patterns) would fetch; None where the hub could not be asked.
_PLANS: dict[tuple[str, tuple[str, ...]], Plan | None] = {}
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_NEURAL = ("musicgen", "audioldm", "riffusion")


def allow(on: bool = True) -> None:
    """Allow (or forbid) downloads on first use in this process, whatever ``D2M_DOWNLOAD``
    says (the ``--download`` flags)."""
    global _forced
    _forced = bool(on)


def allowed() -> bool:
    """Whether a missing model may be downloaded on first use (:func:`allow`, else
    ``D2M_DOWNLOAD``; default False)."""
    return settings.download() if _forced is None else _forced


@dataclass(frozen=True)
class Plan:
    """What a download of one model fetches.

    Attributes
    ----------
    model : str
        Hugging Face id.
    files : tuple of str
        Repository paths, :func:`select_files` of those matching the backbone's patterns.
    size : int
        Bytes still to download (files already in the cache excluded).
    """

    model: str
    files: tuple[str, ...]
    size: int


# --- choosing files -----------------------------------------------------------------------------


def _weights(path: str) -> tuple[str, bool] | None:
    """``(format, variant)`` of a weights file or its shard index, None for any other file."""
    base = path.rsplit("/", 1)[-1]
    for ext in _WEIGHT_SUFFIXES:
        for suffix in (ext, ext + ".index.json"):
            if base.endswith(suffix):
                # A dot left in the stem marks a variant (diffusion_pytorch_model.fp16).
                return ext, "." in base[: -len(suffix)]
    return None


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def select_files(files: Iterable[str]) -> list[str]:
    """The files a loader reads among ``files`` (already filtered by the backbone's patterns).

    In each folder the weights come in one format: safetensors where there are any, else
    ``.bin`` (the loaders look for safetensors first, so fetching both would double the
    download). Variants (``*.fp16.*``) are dropped: the loaders never ask for one.

    Parameters
    ----------
    files : iterable of str
        Repository paths.

    Returns
    -------
    list of str
        Sorted repository paths.
    """
    names = sorted(set(files))
    has_safetensors = {
        _folder(f) for f in names if (w := _weights(f)) and w == (".safetensors", False)
    }
    keep = []
    for f in names:
        w = _weights(f)
        if w is None:
            keep.append(f)
        elif not w[1] and (w[0] == ".safetensors" or _folder(f) not in has_safetensors):
            keep.append(f)
    return keep


def _plan(model: str, patterns: tuple[str, ...]) -> Plan:
    """Ask the hub which files :func:`fetch` would download (one listing, nothing fetched)."""
    from huggingface_hub import snapshot_download

    infos = snapshot_download(model, allow_patterns=list(patterns), dry_run=True)
    files = tuple(select_files(i.filename for i in infos))
    chosen = set(files)
    size = sum(int(i.file_size or 0) for i in infos if i.filename in chosen and i.will_download)
    plan = Plan(model=model, files=files, size=size)
    _PLANS[model, patterns] = plan
    return plan


def _size_text(size: int) -> str:
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else "under 1 MB"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text[:200]}"


# --- availability and loading -------------------------------------------------------------------


def pending(model: str, *, family: str, patterns: tuple[str, ...], hint: str) -> Availability:
    """The availability of Hugging Face id ``model``, not (fully) in the local cache, when
    downloads are allowed: available, downloaded on first use.

    The size comes from the hub, asked once per process (a failed question leaves it out;
    the download itself says what failed). With ``HF_HUB_OFFLINE`` set nothing can be
    fetched, so the model is not available and ``hint`` says how to get it.

    Parameters
    ----------
    model : str
        Hugging Face id.
    family : str
        Human name for messages (``MusicGen``).
    patterns : tuple of str
        The files the backbone reads (glob patterns).
    hint : str
        The one-line reason to give when nothing can be downloaded.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        why = f"downloads are on but HF_HUB_OFFLINE is set; {hint}"
        return Availability.not_cached(model, why, patterns=patterns)
    key = (model, patterns)
    if key not in _PLANS:
        try:
            _plan(model, patterns)
        except Exception:  # noqa: BLE001 - only the size is lost; fetch reports the failure
            _PLANS[key] = None
    plan = _PLANS[key]
    size = f" ({_size_text(plan.size)})" if plan is not None and plan.size else ""
    reason = f"{family} '{model}' is not on this machine: it will be downloaded on first use{size}"
    return Availability.not_cached(model, reason, patterns=patterns, ok=True)


def fetch(model: str, *, family: str, patterns: tuple[str, ...], command: str) -> Plan:
    """Download the files of ``model`` that the backbone reads into the Hugging Face cache.

    Parameters
    ----------
    model : str
        Hugging Face id.
    family : str
        Human name for messages (``MusicGen``).
    patterns : tuple of str
        The files the backbone reads (glob patterns; :func:`select_files` picks among them).
    command : str
        The shell command that downloads it by hand, for the error message.

    Returns
    -------
    Plan
        What was fetched.

    Raises
    ------
    D2MError
        The hub could not be reached or refused (one line: what failed, how to download by
        hand), or the repository holds none of the files the backbone reads.
    """
    from huggingface_hub import snapshot_download

    with _LOCK:
        try:
            plan = _PLANS.get((model, patterns)) or _plan(model, patterns)
            if plan.files:
                log.info(
                    "downloading %s '%s' from the Hugging Face hub: %d files, %s",
                    family, model, len(plan.files), _size_text(plan.size),
                )  # fmt: skip
                snapshot_download(model, allow_patterns=list(plan.files))
        except Exception as exc:  # noqa: BLE001 - network, auth and hub errors alike
            raise D2MError(
                f"downloading {family} '{model}' from the Hugging Face hub failed"
                f" ({_one_line(exc)}): check the connection, or download it by hand with"
                f" `{command}` on a machine with internet"
            ) from None
    if not plan.files:
        raise D2MError(
            f"'{model}' on the Hugging Face hub has none of the files a {family} needs"
            f" ({', '.join(patterns)})"
        )
    return plan


def ensure(model: str, *, family: str, check: Callable[[str], Availability]) -> Availability:
    """Make ``model`` loadable from this machine: download it first when it is missing and
    downloads are allowed.

    Parameters
    ----------
    model : str
        ``debug``, a folder or a Hugging Face id.
    family : str
        Human name for messages (``MusicGen``).
    check : callable(model) -> Availability
        The backbone's check that ``model`` is here (or will be downloaded).

    Returns
    -------
    Availability
        Of the model now on this machine.

    Raises
    ------
    D2MError
        Not here and not to be downloaded (the check's reason says how to get it), a failed
        download (:func:`fetch`), or files still missing after it.
    """
    avail = check(model)
    if not avail.ok:
        raise D2MError(avail.reason)
    if avail.missing_model is None:
        return avail
    fetch(
        avail.missing_model,
        family=family,
        patterns=avail.download_patterns,
        command=avail.download_command or f"hf download {model}",
    )
    after = check(model)
    if not after.ok or after.missing_model is not None:
        raise D2MError(f"{family} '{model}' is still incomplete after the download: {after.reason}")
    return after


# --- ahead of time (the Dockerfile) -------------------------------------------------------------


def _backbone_of(entry: str) -> tuple[str, str]:
    """``(backbone, id)`` of ``backbone:id``, or of an id whose name says its backbone."""
    name, sep, model = entry.partition(":")
    if sep:
        return name.strip().lower(), model.strip()
    found = [b for b in _NEURAL if b in entry.lower()]
    if len(found) != 1:
        raise D2MError(
            f"cannot tell which backbone '{entry}' is for: write it as musicgen:{entry},"
            f" audioldm:{entry} or riffusion:{entry}"
        )
    return found[0], entry


def prefetch(entries: Iterable[str]) -> list[str]:
    """Download models ahead of time, each the way its backbone reads it.

    Parameters
    ----------
    entries : iterable of str
        Hugging Face ids whose name holds the backbone (``facebook/musicgen-small``), or
        ``backbone:id`` (``musicgen:someone/my-model``).

    Returns
    -------
    list of str
        One line per model: what was fetched, or that it was already here.

    Raises
    ------
    D2MError
        An unknown backbone or one that cannot take the model, or a failed download.
    """
    from d2m_core.backbones.base import backbone_class

    lines = []
    for entry in entries:
        name, model = _backbone_of(entry)
        if name not in _NEURAL:
            raise D2MError(f"'{name}' is not a neural backbone: use one of {', '.join(_NEURAL)}")
        cls = backbone_class(name)
        family = str(getattr(cls, "family", name))
        before = cls.availability(model=model)
        ensure(model, family=family, check=lambda m, c=cls: c.availability(model=m))
        plan = _PLANS.get((model, before.download_patterns)) if before.missing_model else None
        got = f"downloaded ({_size_text(plan.size)})" if plan else "already in the cache"
        lines.append(f"{name}: {model} {got}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m d2m_core.backbones.download MODEL...``: :func:`prefetch` the models."""
    ap = argparse.ArgumentParser(
        prog="python -m d2m_core.backbones.download",
        description="Download neural backbones' models into the Hugging Face cache, only the"
        " files d2m reads (needs internet).",
    )
    ap.add_argument("models", nargs="*", help="hub ids (facebook/musicgen-small) or backbone:id")
    args = ap.parse_args(argv)
    allow()  # this command's whole point: download whatever D2M_DOWNLOAD says
    try:
        for line in prefetch(args.models):
            print(line)
    except D2MError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Run the imported module's main: ``python -m`` runs this file as a second module
    # (__main__), whose allow() switch the backbones would not see.
    from d2m_core.backbones.download import main as _main

    sys.exit(_main())
