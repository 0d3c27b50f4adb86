"""Looping music to length on beat boundaries, for dances longer than the music.

The loop is a whole number of bars (:data:`~d2m_core.sync.timemap.BEATS_PER_BAR` beats; fewer
when the music has under 5 usable beats), from beat ``s`` to beat ``e``, chosen where the two
beats' surroundings sound most alike (chroma and MFCC), longer loops preferred. Joins sit
:data:`JOIN_LEAD_S` before those beats (between notes rather than on an attack) with a
:data:`JOIN_FADE_S` raised-cosine crossfade.

Conventions
-----------
- Times are in seconds; audio is ``(N,)`` mono or ``(N, C)`` samples-first float at ``sr`` Hz.
- The *timeline* is the music laid out with its loop repeated: the music up to the loop's
  end, then the loop body ``repeats`` more times. Beats are given in file time and returned
  in timeline time.
- Analysis features are computed on mono audio at :data:`~d2m_core.music.beats.ANALYSIS_SR`.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

from d2m_core.music.beats import ANALYSIS_SR, to_analysis_audio
from d2m_core.sync.stretch import as_2d, raised_cosine
from d2m_core.sync.timemap import BEATS_PER_BAR, median_ibi

JOIN_LEAD_S = 0.03
"""Loop joins sit this long before a beat, between notes rather than on an attack."""

JOIN_FADE_S = 0.02
"""Crossfade length at a loop join, seconds."""

LENGTH_BONUS = 0.2
"""Loop choice: a loop as long as the music scores this much more than a very short one
(similarities range over [-1, 1]), so long loops win unless a short one joins far better."""


@dataclass
class LoopedMusic:
    """Music laid out on a timeline, its looped section repeated.

    Attributes
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        The timeline's samples.
    beats_s : np.ndarray [shape=(B,)]
        Beats on the timeline, seconds.
    info : dict or None
        ``{"start_s", "end_s", "bars", "repeats"}`` or None when no loop was needed.
    """

    audio: np.ndarray
    beats_s: np.ndarray
    info: dict | None


def beat_features(y: np.ndarray, *, beats_s: np.ndarray) -> np.ndarray:
    """Chroma + MFCC of one beat-long window each side of every beat (rows unit length).

    Parameters
    ----------
    y : np.ndarray [shape=(N,)]
        Mono music at :data:`~d2m_core.music.beats.ANALYSIS_SR`.
    beats_s : np.ndarray [shape=(B,)], B >= 2
        Its beats, seconds.

    Returns
    -------
    np.ndarray [shape=(B, 48)]
        Per beat: mean chroma (12) and MFCC 1-12 (each frame unit length) before, then after.
    """
    hop = 512
    chroma = librosa.feature.chroma_stft(y=y, sr=ANALYSIS_SR, hop_length=hop)
    mfcc = librosa.feature.mfcc(y=y, sr=ANALYSIS_SR, hop_length=hop, n_mfcc=13)[1:]
    mfcc = mfcc / (np.linalg.norm(mfcc, axis=0, keepdims=True) + 1e-9)
    feats = np.vstack([chroma, mfcc])
    ibi = median_ibi(beats_s)
    out = []
    n = feats.shape[1]
    for b in beats_s:
        f0 = int(np.clip((b - ibi) * ANALYSIS_SR / hop, 0, n - 1))
        f1 = int(np.clip(b * ANALYSIS_SR / hop, f0 + 1, n))
        f2 = int(np.clip((b + ibi) * ANALYSIS_SR / hop, f1 + 1, n))
        v = np.concatenate([feats[:, f0:f1].mean(axis=1), feats[:, f1:f2].mean(axis=1)])
        out.append(v / (np.linalg.norm(v) + 1e-9))
    return np.asarray(out)


def join_candidates(*, beats_s: np.ndarray, length_s: float) -> np.ndarray:
    """Indices of the beats a loop may start or end on, shape ``(J,)``, increasing.

    A join needs its crossfade to start after the music does and a whole beat of music after
    it (for the crossfade tail and the similarity window); all beats when under two qualify.
    """
    ibi = median_ibi(beats_s)
    ok = (beats_s - JOIN_LEAD_S - JOIN_FADE_S > 0) & (beats_s + ibi <= length_s)
    idx = np.flatnonzero(ok)
    if idx.size < 2:
        idx = np.arange(beats_s.size)
    return idx


def choose_loop(
    *, features: np.ndarray, beats_s: np.ndarray, candidates: np.ndarray, length_s: float
) -> tuple[int, int]:
    """The loop's first and last beat indices ``(s, e)``.

    ``e - s`` is a whole number of bars (of 2 or 1 beats when the candidates span under a
    bar); ``e`` is among the last two bars' candidates. The pair maximising
    ``features[s] @ features[e] + LENGTH_BONUS * (beats_s[e] - beats_s[s]) / length_s`` wins;
    first and last candidate when no pair qualifies.

    Parameters
    ----------
    features : np.ndarray [shape=(B, D)]
        Unit-length beat features (:func:`beat_features`).
    beats_s : np.ndarray [shape=(B,)]
        Beats, seconds.
    candidates : np.ndarray [shape=(J,)], int
        Beat indices allowed as joins (:func:`join_candidates`), increasing.
    length_s : float
        Music length, seconds.
    """
    span = int(candidates[-1] - candidates[0])
    unit = BEATS_PER_BAR if span >= BEATS_PER_BAR else (2 if span >= 2 else 1)
    best, best_score = None, -np.inf
    for e in candidates[::-1][: 2 * BEATS_PER_BAR]:
        for s in candidates:
            if e - s < unit or (e - s) % unit:
                continue
            sim = float(features[s] @ features[e])
            score = sim + LENGTH_BONUS * (beats_s[e] - beats_s[s]) / length_s
            if score > best_score:
                best, best_score = (int(s), int(e)), score
    if best is None:
        best = (int(candidates[0]), int(candidates[-1]))
    return best


def splice_loop(x: np.ndarray, *, start: int, end: int, repeats: int, fade: int) -> np.ndarray:
    """The timeline's samples: ``x`` up to ``end``, then ``x[start:end]`` ``repeats`` times.

    Parameters
    ----------
    x : np.ndarray [shape=(N, C)], float32
        The music.
    start, end : int
        Loop body ``[start, end)``, samples.
    repeats : int
        How many times the body follows the music's first ``end`` samples.
    fade : int
        Crossfade length at each join, samples (>= 1).

    Returns
    -------
    np.ndarray [shape=(end + repeats * (end - start), C)], float32
    """
    period = end - start
    total = end + repeats * period
    y = np.zeros((total + fade, x.shape[1]), np.float32)
    y[: min(end + fade, x.shape[0])] = x[: min(end + fade, x.shape[0])]
    fade_in = raised_cosine(fade).astype(np.float32)
    body = x[start : min(end + fade, x.shape[0])]  # loop body plus the fade tail beyond its end
    for r in range(repeats):
        at = end + r * period
        # fade out what is there (the natural continuation), fade in the loop start
        y[at : at + fade] *= (1 - fade_in)[: y[at : at + fade].shape[0], None]
        seg = body.copy()
        seg[:fade] *= fade_in[: seg[:fade].shape[0], None]
        stop = min(at + seg.shape[0], y.shape[0])
        y[at:stop] += seg[: stop - at]
    return y[:total]


def timeline_beats(
    beats_s: np.ndarray,
    *,
    start_s: float,
    end_s: float,
    period_s: float,
    repeats: int,
    length_s: float,
) -> np.ndarray:
    """Beats on the timeline, seconds, shape ``(B',)``: the music's up to the loop's end, then
    the loop's own ``[start_s, end_s)`` shifted by each repeat's ``period_s``; those before
    ``length_s`` (the timeline's length)."""
    in_loop = beats_s[(beats_s >= start_s) & (beats_s < end_s)]
    parts = [beats_s[beats_s < end_s]]
    for r in range(1, repeats + 1):
        parts.append(in_loop + r * period_s)
    beats = np.concatenate(parts)
    return beats[beats < length_s]


def loop_music(
    audio: np.ndarray,
    sr: int,
    *,
    beats_s: np.ndarray,
    min_duration_s: float,
    analysis: np.ndarray | None = None,
) -> LoopedMusic:
    """Lay the music out on a timeline at least ``min_duration_s`` long, looping whole bars.

    See the module docstring for the choice of loop and its joins.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        The music.
    sr : int
        Its sample rate, Hz.
    beats_s : np.ndarray [shape=(B,)]
        Its beats, seconds.
    min_duration_s : float
        Timeline length needed, seconds.
    analysis : np.ndarray [shape=(M,)], optional
        The music mono at :data:`~d2m_core.music.beats.ANALYSIS_SR` (computed when absent).

    Returns
    -------
    LoopedMusic
        ``audio`` unchanged (and ``info`` None) when it is long enough or has under 3 beats.
    """
    x, mono_in = as_2d(audio)
    length_s = x.shape[0] / sr
    beats = np.asarray(beats_s, dtype=np.float64)
    if length_s >= min_duration_s or beats.size < 3:
        return LoopedMusic(audio=audio, beats_s=beats, info=None)
    ana = to_analysis_audio(audio, sr) if analysis is None else analysis
    s, e = choose_loop(
        features=beat_features(ana, beats_s=beats),
        beats_s=beats,
        candidates=join_candidates(beats_s=beats, length_s=length_s),
        length_s=length_s,
    )
    j0 = max(beats[s] - JOIN_LEAD_S, 0.0)
    j1 = beats[e] - JOIN_LEAD_S
    n0, n1 = int(round(j0 * sr)), int(round(j1 * sr))
    period = n1 - n0
    repeats = int(np.ceil((min_duration_s * sr - n1) / period)) + 1
    fade = max(1, int(round(JOIN_FADE_S * sr)))
    y = splice_loop(x, start=n0, end=n1, repeats=repeats, fade=fade)
    tl_beats = timeline_beats(
        beats, start_s=j0, end_s=j1, period_s=period / sr, repeats=repeats,
        length_s=y.shape[0] / sr,
    )  # fmt: skip
    info = {
        "start_s": round(float(j0), 4),
        "end_s": round(float(j1), 4),
        "bars": (e - s) / BEATS_PER_BAR,
        "repeats": repeats,
    }
    return LoopedMusic(audio=y[:, 0] if mono_in else y, beats_s=tl_beats, info=info)
