"""The groove generator's entry point: dance beats, energy and genre in, stereo audio out."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

from d2m_core.groove.arrange import Arrangement, arrange
from d2m_core.groove.master import active_rms, master, pulse_gain, reverb
from d2m_core.groove.render import render_part
from d2m_core.groove.styles import GENRES, Style, style_for
from d2m_core.groove.timeline import Timeline, build_timeline
from d2m_core.groove.words import apply_words, known_words

_MAX_DURATION_S = 1800.0


def _seed_sequence(seed: int, genre: str, words: Sequence[str]) -> np.random.SeedSequence:
    """Deterministic across processes (no salted ``hash``)."""
    tag = zlib.crc32(" ".join(words).encode("utf-8"))
    return np.random.SeedSequence([int(seed) % (1 << 63), GENRES.index(genre), tag])


def compose(
    *,
    beat_times_s: np.ndarray,
    duration_s: float,
    energy_times_s: np.ndarray,
    energy: np.ndarray,
    genre: str,
    words: Sequence[str] = (),
    seed: int = 0,
    downbeat_index: int | None = None,
) -> tuple[Style, Timeline, Arrangement]:
    """Plan a piece without rendering it (see :func:`render_groove` for the parameters).

    Returns
    -------
    style : Style
        The genre's style after the prompt words.
    timeline : Timeline
        Beat grid and bars.
    arrangement : Arrangement
        Notes per part.
    """
    style = apply_words(style_for(genre), words)
    tl = build_timeline(
        beat_times_s=beat_times_s,
        duration_s=duration_s,
        energy_times_s=energy_times_s,
        energy=energy,
        downbeat_index=downbeat_index,
        default_bpm=style.default_bpm,
    )
    seeds = _seed_sequence(seed, genre, known_words(words))
    arr = arrange(style=style, timeline=tl, seed_seq=seeds)
    return style, tl, arr


def mix_parts(arr: Arrangement, *, style: Style, timeline: Timeline, sr: int, n: int) -> np.ndarray:
    """Render every part, level it, add reverb, sum, and re-articulate the mix on the beats.

    Returns
    -------
    np.ndarray, shape (n, 2), float32
        The mix before the master bus.
    """
    mix = np.zeros((n, 2), dtype=np.float32)
    send = np.zeros((n, 2), dtype=np.float32)
    for name, notes in arr.notes.items():
        spec = arr.specs[name]
        audio = render_part(notes, spec, name=name, timeline=timeline, sr=sr, n=n)
        rms = active_rms(audio, sr)
        if rms <= 0:
            continue
        audio *= np.float32(10 ** (spec.level_db / 20) / rms)
        mix += audio
        if spec.reverb > 0:
            send += np.float32(spec.reverb) * audio
    if np.any(send):
        rt60 = 1.4 + 1.6 * min(style.reverb, 0.6)
        mix += reverb(send, sr=sr, rt60=rt60)
    mix *= pulse_gain(timeline, sr=sr, n=n, depth=style.pulse)[:, None]
    return mix


def render_groove(
    *,
    beat_times_s: np.ndarray,
    duration_s: float,
    energy_times_s: np.ndarray,
    energy: np.ndarray,
    genre: str,
    words: Sequence[str] = (),
    seed: int = 0,
    sr: int = 32000,
    downbeat_index: int | None = None,
) -> np.ndarray:
    """Render a piece of music whose quarter notes land on the dance's beats.

    Parameters
    ----------
    beat_times_s : np.ndarray, shape (K,), seconds
        The dance's visual beats, increasing; tempo may drift, beats may be missing. The grid is
        extrapolated to cover ``[0, duration_s]`` and gaps are filled.
    duration_s : float
        Length of the piece in seconds.
    energy_times_s : np.ndarray, shape (E,), seconds
    energy : np.ndarray, shape (E,)
        Motion-energy envelope, any scale: drives arrangement density and accents.
    genre : str
        One of :data:`styles.GENRES`.
    words : sequence of str
        Prompt words (see :data:`words.WORD_BANK`); unknown words are ignored.
    seed : int
        Same seed and inputs give bit-identical audio; other seeds give other music.
    sr : int
        Output sample rate in Hz (32000 default; 44100 and others work).
    downbeat_index : int or None
        Index into ``beat_times_s`` of a bar's first beat; None picks the most energetic phase.

    Returns
    -------
    np.ndarray, shape (round(duration_s * sr), 2), float32
        Stereo audio, peak <= 0.99.

    Raises
    ------
    ValueError
        Unknown genre, bad duration or sample rate, or a downbeat index outside the beats.
    """
    style_for(genre)  # validate first: cheapest error
    try:
        duration_s = float(duration_s)
    except (TypeError, ValueError):
        duration_s = math.nan
    if not math.isfinite(duration_s) or not 0 < duration_s <= _MAX_DURATION_S:
        raise ValueError(
            f"duration_s must be in (0, {_MAX_DURATION_S:g}] seconds, got {duration_s}"
        )
    if int(sr) != sr or not 8000 <= sr <= 192000:
        raise ValueError(f"sr must be an integer sample rate in 8000..192000 Hz, got {sr}")
    sr = int(sr)
    n = int(round(duration_s * sr))
    style, tl, arr = compose(
        beat_times_s=beat_times_s,
        duration_s=float(duration_s),
        energy_times_s=energy_times_s,
        energy=energy,
        genre=genre,
        words=words,
        seed=seed,
        downbeat_index=downbeat_index,
    )
    mix = mix_parts(arr, style=style, timeline=tl, sr=sr, n=n)
    return master(mix, sr=sr, tone=style.tone)
