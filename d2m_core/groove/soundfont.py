"""Finding, loading and lending General MIDI soundfonts.

The soundfont file is read once per process (lazily, under a lock). A parsed
``tinysoundfont`` synthesiser holds voice state, so one instance cannot serve two renders at
once: instances are kept in a small pool and lent to one render at a time.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import threading
from collections.abc import Iterator
from pathlib import Path

import tinysoundfont._tinysoundfont as _tsf

from d2m_core import settings

# A better GM soundfont from Debian's fluid-soundfont-gm, used when present, never required.
_SYSTEM_SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
)

_lock = threading.Lock()
_bytes_cache: dict[Path, bytes] = {}
_pool: dict[tuple[Path, int], list[_tsf.SoundFont]] = {}


def bundled_soundfont() -> Path:
    """Path of ``TimGM6mb.sf2``, the GM soundfont shipped inside the ``pretty_midi`` wheel."""
    return Path(str(importlib.resources.files("pretty_midi").joinpath("TimGM6mb.sf2")))


def soundfont_path() -> Path:
    """The soundfont to render with: ``$D2M_SOUNDFONT``, else FluidR3_GM if installed, else
    the bundled TimGM6mb.

    Returns
    -------
    Path
        An existing ``.sf2`` file.
    """
    env = settings.soundfont()
    if env and Path(env).is_file():
        return Path(env)
    for cand in _SYSTEM_SOUNDFONTS:
        if cand.is_file():
            return cand
    path = bundled_soundfont()
    if not path.is_file():
        raise FileNotFoundError(f"GM soundfont not found at {path}; reinstall pretty_midi")
    return path


def _load_bytes(path: Path) -> bytes:
    with _lock:
        data = _bytes_cache.get(path)
        if data is None:
            data = path.read_bytes()
            _bytes_cache[path] = data
        return data


def _silence(synth: _tsf.SoundFont) -> None:
    """Reset every channel and let the quick release of cut voices run out.

    ``reset`` only starts a very short release; rendering a little scratch audio finishes it,
    so a lent synth never carries sound (or state) from one render into the next.
    """
    synth.reset()
    synth.render(memoryview(bytearray(8 * 4096)), False)
    synth.reset()


@contextlib.contextmanager
def borrow_synth(*, sr: int, path: Path | None = None) -> Iterator[_tsf.SoundFont]:
    """Lend a reset synthesiser for exclusive use, returning it to the pool afterwards.

    Parameters
    ----------
    sr : int
        Output sample rate in Hz.
    path : Path, optional
        Soundfont file; :func:`soundfont_path` when omitted.

    Yields
    ------
    tinysoundfont._tinysoundfont.SoundFont
        Stereo-interleaved float32 output at ``sr``, all channels silent and reset.
    """
    path = soundfont_path() if path is None else Path(path)
    key = (path, int(sr))
    with _lock:
        free = _pool.setdefault(key, [])
        synth = free.pop() if free else None
    if synth is None:
        synth = _tsf.SoundFont(_load_bytes(path))
        synth.set_output(_tsf.OutputMode.StereoInterleaved, int(sr), 0.0)
        synth.set_max_voices(192)
    _silence(synth)
    try:
        yield synth
    finally:
        _silence(synth)
        with _lock:
            _pool[key].append(synth)
