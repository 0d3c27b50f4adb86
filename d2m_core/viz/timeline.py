"""The beat timeline under a playing video: what the page's script draws, as data and HTML.

The browser draws the timeline (``assets/beat_studio.js``: playhead, seeking, beat flashes,
metronome clicks); this module decides what it shows. :func:`timeline_data` turns an analysis
(and, after generation, the music's beats) into a small JSON-ready dict; :func:`timeline_html`
wraps it in the element the script binds to, with a plain-words legend.

Conventions: times in seconds from the video's first frame; the motion curve is the rhythm
envelope (how sharply the body moves) scaled to [0, 1] by its 99th percentile, evenly sampled
over ``[0, duration_s]``.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from d2m_core.dance.analysis import Analysis

__all__ = ["LABELS", "MAX_POINTS", "timeline_data", "timeline_html"]

#: Most motion-curve samples sent to the page (a wide screen has about this many pixels).
MAX_POINTS = 800
#: What each layer is called on the page: plain words, no paper symbols.
LABELS = {
    "envelope": "how sharply the body moves",
    "beats": "beats",
    "auto": "automatic beats",
    "music": "music beats",
    "cut": "cut",
}


def _curve(envelope: np.ndarray, *, max_points: int) -> list[float]:
    """The envelope scaled to [0, 1] and reduced to at most ``max_points`` samples (the peak of
    each bin, so a sharp move never vanishes between samples)."""
    env = np.nan_to_num(np.asarray(envelope, dtype=np.float64).ravel(), nan=0.0)
    if env.size == 0:
        return []
    top = float(np.percentile(env, 99))
    scaled = np.clip(env / top, 0.0, 1.0) if top > 0 else np.zeros_like(env)
    if scaled.size > max_points:
        edges = np.linspace(0, scaled.size, max_points + 1).astype(int)
        scaled = np.maximum.reduceat(scaled, edges[:-1])
    return [round(float(v), 3) for v in scaled]


def _times(values: Any) -> list[float]:
    return [round(float(t), 3) for t in np.asarray(values, dtype=np.float64).ravel()]


def timeline_data(
    analysis: Analysis,
    *,
    video: str,
    music_beats_s: Any = None,
    max_points: int = MAX_POINTS,
) -> dict:
    """What the timeline of one video shows.

    Parameters
    ----------
    analysis : Analysis
        The dance (its ``tempo.beats_s`` are the beats drawn: the corrected ones if the user
        corrected them, with the automatic ones kept for comparison).
    video : str
        CSS selector of the player the timeline follows (e.g. ``"#studio-video"``).
    music_beats_s : np.ndarray [shape=(M,)], seconds, optional
        The generated music's beats, drawn in a lane of their own.
    max_points : int
        Most samples of the motion curve.

    Returns
    -------
    dict
        ``video``, ``duration_s``, ``envelope`` (list of floats in [0, 1]), ``beats_s``,
        ``auto_beats_s`` (None unless corrected), ``music_beats_s`` (None unless given),
        ``cuts_s``, ``labels``.
    """
    bc = analysis.beat_correction
    return {
        "video": video,
        "duration_s": round(float(analysis.motion.duration_s), 3),
        "envelope": _curve(analysis.rhythm.envelope, max_points=max(2, int(max_points))),
        "beats_s": _times(analysis.tempo.beats_s),
        "auto_beats_s": _times(bc.auto_tempo.beats_s) if bc is not None else None,
        "music_beats_s": None if music_beats_s is None else _times(music_beats_s),
        "cuts_s": _times(analysis.scene_cuts_s),
        "labels": dict(LABELS),
    }


def _legend(data: dict) -> str:
    items = [("d2m-key-envelope", LABELS["envelope"]), ("d2m-key-beat", LABELS["beats"])]
    if data.get("auto_beats_s") is not None:
        items.append(("d2m-key-auto", LABELS["auto"]))
    if data.get("music_beats_s") is not None:
        items.append(("d2m-key-music", LABELS["music"]))
    if data.get("cuts_s"):
        items.append(("d2m-key-cut", LABELS["cut"]))
    keys = "".join(f'<span class="d2m-key {cls}">{html.escape(text)}</span>' for cls, text in items)
    return f'<div class="d2m-legend">{keys}</div>'


def timeline_html(data: dict, *, title: str = "") -> str:
    """The element the page's script turns into a live timeline.

    Parameters
    ----------
    data : dict
        From :func:`timeline_data`.
    title : str
        A line above the timeline (plain text; escaped).

    Returns
    -------
    str
        ``<div class="d2m-timeline" data-timeline="...">`` holding the title and legend; the
        script adds the drawing, the playhead and the click toggle. Without the script, the
        title and legend still read sensibly.
    """
    payload = html.escape(json.dumps(data, separators=(",", ":")), quote=True)
    head = f'<div class="d2m-timeline-title">{html.escape(title)}</div>' if title else ""
    return f'<div class="d2m-timeline" data-timeline="{payload}">{head}{_legend(data)}</div>'
