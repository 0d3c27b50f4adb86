"""Stage 3, music -> music on the dance's beats (zero-shot sync): beat pairing and time maps,
time-stretching, looping, quality checks, and :func:`~d2m_core.sync.align.align_to_beats`."""
