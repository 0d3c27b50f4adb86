"""Stage: backbone (the offline engine): weight-free GM-soundfont music locked to a dance's beats.

The offline default backbone of d2m. :func:`render_groove` turns the dance's visual beats,
its motion energy, a genre and prompt words into stereo audio whose quarter notes land on the
beats, with arrangement density following the motion.

Modules: ``timeline`` (beat grid, bars, energy), ``styles`` (genres), ``words`` (prompt words),
``drums`` / ``patterns`` (rhythms), ``theory`` (scales, chords), ``melody`` (tunes),
``arrange`` (notes per part), ``soundfont`` / ``render`` (synthesis), ``master`` (mix bus),
``generate`` (the entry point).
"""

from d2m_core.groove.generate import compose, render_groove
from d2m_core.groove.styles import GENRE_LABELS, GENRES
from d2m_core.groove.words import WORD_BANK, apply_words, known_words

__all__ = [
    "GENRES",
    "GENRE_LABELS",
    "WORD_BANK",
    "apply_words",
    "compose",
    "known_words",
    "render_groove",
]
