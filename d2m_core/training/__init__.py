"""Stage (offline, for researchers): training the dance encoders on any trainable backbone.

- :mod:`.data`: dance/music pairs (a folder with ``manifest.csv``, or the AIST++ layout) cut
  into clips, with the encoder inputs and the backbone's targets cached on disk.
- :mod:`.loop`: the backbone-agnostic loop on Hugging Face Accelerate (CPU, one GPU, or
  ``accelerate launch`` on many), resumable, logging to ``metrics.csv``.

The ``d2m train`` command is :mod:`d2m_core.cli.train`.
"""
