"""Evaluation metrics (paper §4.2 and beyond), mir_eval style: pure functions + ``evaluate()``.

- :mod:`.beats` — paper onsets, BCS/BHS in bins, F1 from dataset means, paper tempo and TD,
  librosa beat tracking, mir_eval beat F-measure.
- :mod:`.fad` — Fréchet distance (safe for singular covariances) and FAD of embedding sets.
- :mod:`.vggish` — VGGish (front end, network, PCA postprocessing) loading released weights.
- :mod:`.clap` — CLAP audio embeddings (transformers ``ClapModel``) and the CLAP score.
- :mod:`.evaluate` — :func:`~.evaluate.evaluate`: every metric over named clips, one dict.
- :mod:`.cli` — the ``d2m evaluate`` and ``d2m beats`` commands.

Heavy dependencies (torch, transformers) are imported only by the modules that need them.
"""
