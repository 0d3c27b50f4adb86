"""Evaluation (paper §4.2 and beyond), mir_eval style: pure functions + ``evaluate()``.

A leaf: nothing in the library imports it; only the ``d2m evaluate`` command
(:mod:`d2m_core.cli.evaluate`) does, when it runs. Beat detection and the beat agreement scores
(BCS/BHS, F1, TD, beat F-measure) live in :mod:`d2m_core.music.beats`, since generation reports
them too (and ``d2m beats`` uses them).

- :mod:`.fad` — Fréchet distance (safe for singular covariances) and FAD of embedding sets.
- :mod:`.vggish` — VGGish (front end, network, PCA postprocessing) loading released weights.
- :mod:`.clap` — CLAP audio embeddings (transformers ``ClapModel``) and the CLAP score.
- :mod:`.evaluate` — :func:`~.evaluate.evaluate`: every metric over named clips, one dict.

Heavy dependencies (torch, transformers) are imported only by the modules that need them.
"""
