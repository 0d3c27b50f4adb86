"""The offline default backbone: :mod:`d2m_core.groove` arranged on the dance's visual beats."""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi

from d2m_core.backbones.base import Backbone, GenerationRequest, Progress, register
from d2m_core.music.genres import TYPICAL_BPM


@register
class GrooveBackbone(Backbone):
    """Weight-free multi-instrument music rendered from a General MIDI soundfont.

    With ``*`` in the prompt, the music's quarter-note beats are the dance's visual beats and its
    density follows the dance's acceleration envelope; without ``*`` it plays at the genre's
    typical tempo, unaligned, as the paper's semantics say.
    """

    name = "groove"
    label = "groove (offline)"
    sample_rate = 32000

    def __init__(self, *, sample_rate: int = 32000) -> None:
        self.sample_rate = int(sample_rate)

    def compose(
        self, request: GenerationRequest, *, progress: Progress | None = None
    ) -> np.ndarray:
        from d2m_core.groove import render_groove

        analysis, prompt, genre = request.analysis, request.prompt, request.genre
        duration_s = request.duration_s
        rh = analysis.rhythm
        beats = np.asarray(analysis.tempo.beats_s, dtype=np.float64)
        energy = rh.envelope
        energy_t = rh.times_s
        if not prompt.has_rhythm or len(beats) < 2:
            period = 60.0 / TYPICAL_BPM[genre]
            beats = np.arange(0.0, duration_s + period, period)
        if not prompt.has_rhythm:
            # Without `*` the dance's motion must not shape the music either.
            energy = np.full(2, 0.6)
            energy_t = np.array([0.0, max(duration_s, 1e-3)])
        else:
            # A(t) is spiky at the frame level; the arrangement wants its slower contour.
            energy = ndi.gaussian_filter1d(energy, sigma=max(1.0, 0.25 * rh.fps))
        if progress:
            progress(0.1, "arranging and rendering")
        audio = render_groove(
            beat_times_s=beats,
            duration_s=float(duration_s),
            energy_times_s=energy_t,
            energy=energy,
            genre=genre,
            words=tuple(prompt.words),
            seed=int(request.seed),
            sr=self.sample_rate,
        )
        if progress:
            progress(1.0, "rendered")
        return audio
