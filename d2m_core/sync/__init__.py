"""Stage 3, music -> music on the dance's beats (zero-shot sync).

Modules: :mod:`~d2m_core.sync.timemap` (beat pairing, the time map), :mod:`~d2m_core.sync.stretch`
(rendering along the map: WSOLA, phase vocoder), :mod:`~d2m_core.sync.looping` (looping short
music on bar boundaries), :mod:`~d2m_core.sync.checks` (beat hit rates, pitch figures) and
:mod:`~d2m_core.sync.align` (:func:`~d2m_core.sync.align.align_to_beats`, which runs them).
"""
