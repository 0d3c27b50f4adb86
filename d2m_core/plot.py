"""Figures: the dance's acceleration envelope with its rhythm peaks, visual beats and tempo."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: the CLI, tests and the app all render to files / arrays
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .analysis import Analysis  # noqa: E402
from .fileio import atomic_path  # noqa: E402


def rhythm_figure(analysis: Analysis, *, width_in: float = 11.0) -> Figure:
    """Plot a(t) (normalised), the rhythm peaks r, the visual beats, and the tempo in the title.

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
    ax.set_xlim(0, max(t[-1] if len(t) else 1.0, 1e-3))
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("a(t) / max")
    tempo = f"{te.bpm:.1f} BPM (confidence {te.confidence:.2f})" if te.bpm > 0 else "no clear tempo"
    ax.set_title(f"Visual rhythm: {tempo}, {len(te.beats_s)} beats, {int(pk.sum())} peaks")
    ax.legend(loc="upper right", fontsize=8, ncols=3, framealpha=0.9)
    return fig


def figure_to_rgb(fig: Figure) -> np.ndarray:
    """Render a figure to an RGB array, shape (H, W, 3) uint8."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save a figure as PNG atomically and close it."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return Path(path)
