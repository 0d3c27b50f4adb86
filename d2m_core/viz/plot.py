"""Figures: the dance's acceleration envelope with its rhythm peaks, visual beats and tempo."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: the CLI, tests and the app all render to files / arrays
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from d2m_core.dance.analysis import Analysis  # noqa: E402
from d2m_core.dance.tempo import pulse_words  # noqa: E402
from d2m_core.io.files import atomic_path  # noqa: E402


def rhythm_figure(analysis: Analysis, *, width_in: float = 11.0) -> Figure:
    """Plot a(t) (normalised), the rhythm peaks r, the visual beats, scene cuts (dashed, "cut")
    and the tempo in the title.

    Parameters
    ----------
    analysis : Analysis
    width_in : float
        Figure width, inches.

    Returns
    -------
    matplotlib.figure.Figure
        Time in seconds on the x axis. Close it with ``plt.close(fig)`` when done.
    """
    rh, te = analysis.rhythm, analysis.tempo
    t = rh.times_s
    env = rh.envelope / rh.envelope.max() if rh.envelope.max() > 0 else rh.envelope
    fig, ax = plt.subplots(figsize=(width_in, 3.2), dpi=100, layout="constrained")
    ax.plot(t, env, color="#3b6ea8", lw=1.0, label="acceleration a(t)")
    pk = rh.peaks.astype(bool)
    ax.plot(t[pk], env[pk], "o", ms=3.5, color="#e07b39", label="rhythm peaks r")
    for i, b in enumerate(te.beats_s):
        ax.axvline(b, color="#2a9d55", lw=1.0, alpha=0.7, label="visual beats" if i == 0 else None)
    for i, c in enumerate(analysis.scene_cuts_s):
        ax.axvline(c, color="#555555", lw=1.4, ls="--", label="cut" if i == 0 else None)
        ax.annotate("cut", (c, 1.0), xytext=(3, 0), textcoords="offset points", fontsize=8)
    ax.set_xlim(0, max(t[-1] if len(t) else 1.0, 1e-3))
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("a(t) / max")
    words = pulse_words(te.confidence, te.bpm)
    tempo = f"{te.bpm:.1f} BPM ({words})" if te.bpm > 0 else "no clear tempo"
    ax.set_title(f"Visual rhythm: {tempo}, {len(te.beats_s)} beats, {int(pk.sum())} peaks")
    ax.legend(loc="upper right", fontsize=8, ncols=3, framealpha=0.9)
    return fig


def figure_to_rgb(fig: Figure) -> np.ndarray:
    """Render a figure to an RGB array, shape (H, W, 3) uint8."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def close_figure(fig: Figure) -> None:
    """Free a figure made by this module (pyplot keeps every open figure alive)."""
    plt.close(fig)


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save a figure as PNG atomically and close it."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return Path(path)


def alignment_figure(
    visual_beats_s: np.ndarray,
    music_beats_s: np.ndarray,
    *,
    duration_s: float | None = None,
    audio: np.ndarray | None = None,
    sr: int | None = None,
    music_onsets_s: np.ndarray | None = None,
    scores: dict[str, float] | None = None,
    tolerance_s: float = 0.07,
    width_in: float = 11.0,
) -> Figure:
    """Plot the dance's visual beats against the beats detected in the generated music.

    Two lanes share the time axis: visual beats (top) and music beats (bottom); a visual beat
    with a music beat within ``tolerance_s`` (mir_eval's F-measure window) is drawn solid and
    joined to it, a missed one dashed. The music's amplitude envelope and, optionally, its
    onsets (what BCS / BHS count) are drawn faintly behind the music lane.

    Parameters
    ----------
    visual_beats_s, music_beats_s : np.ndarray [shape=(n,)]
        Beat times, seconds.
    duration_s : float, optional
        x-axis length; defaults to the audio's length or the last beat.
    audio : np.ndarray [shape=(N,) or (N, C)], optional
        The generated music, for the envelope (with ``sr``).
    sr : int, optional
        Sample rate of ``audio``.
    music_onsets_s : np.ndarray, optional
        Onset times of the music (the paper's BCS / BHS events).
    scores : dict, optional
        Figures for the title, e.g. ``{"beat F": 0.8, "BCS": 0.4, "BHS": 0.5, "F1": 0.44}``.
    tolerance_s : float
        Window for a visual beat to count as hit.
    width_in : float
        Figure width, inches.

    Returns
    -------
    matplotlib.figure.Figure
        Close it with ``plt.close(fig)`` when done.
    """
    vb = np.asarray(visual_beats_s, dtype=np.float64).ravel()
    mb = np.asarray(music_beats_s, dtype=np.float64).ravel()
    if duration_s is None:
        if audio is not None and sr:
            duration_s = len(audio) / float(sr)
        else:
            duration_s = float(max(vb.max(initial=0.0), mb.max(initial=0.0)) + 0.5)
    dur = max(float(duration_s), 1e-3)
    fig, ax = plt.subplots(figsize=(width_in, 2.6), dpi=100, layout="constrained")
    if audio is not None and sr:
        a = np.abs(np.asarray(audio, dtype=np.float32))
        a = a.mean(axis=1) if a.ndim == 2 else a
        hop = max(1, int(sr) // 100)  # 10 ms envelope
        n = len(a) // hop
        if n > 1:
            env = a[: n * hop].reshape(n, hop).max(axis=1)
            env = env / env.max() if env.max() > 0 else env
            te = (np.arange(n) + 0.5) * hop / float(sr)
            ax.fill_between(te, -env * 0.35, env * 0.35, color="#9db4d0", alpha=0.6, lw=0)
    if music_onsets_s is not None:
        on = np.asarray(music_onsets_s, dtype=np.float64).ravel()
        ax.vlines(on, -0.45, 0.45, color="#6d7f99", lw=0.6, alpha=0.6, label="music onsets")
    hit = np.zeros(len(vb), bool)
    for i, b in enumerate(vb):
        if mb.size:
            j = int(np.argmin(np.abs(mb - b)))
            if abs(mb[j] - b) <= tolerance_s:
                hit[i] = True
                ax.plot([b, mb[j]], [0.55, 0.45], color="#2a9d55", lw=1.2)
    ax.vlines(vb[hit], 0.55, 1.0, color="#2a9d55", lw=2.0, label="visual beat, hit")
    ax.vlines(vb[~hit], 0.55, 1.0, color="#c0392b", lw=1.5, linestyles="dashed",
              label="visual beat, missed")  # fmt: skip
    ax.vlines(mb, -0.45, 0.45, color="#1f4e8c", lw=2.0, label="music beats")
    ax.axhline(0.5, color="#cccccc", lw=0.8)
    ax.set_xlim(0, dur)
    ax.set_ylim(-0.5, 1.05)
    ax.set_yticks([0.0, 0.78], ["music", "dance"])
    ax.set_xlabel("time (s)")
    tol_ms = tolerance_s * 1e3
    title = f"Beat alignment: {int(hit.sum())}/{len(vb)} visual beats hit (±{tol_ms:.0f} ms)"
    if scores:
        title += "  |  " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items())
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), fontsize=8, ncols=4, frameon=False)
    return fig
