"""Front end: the web app's library side (``app.py`` holds only layout and events).

- :mod:`.pipeline`: the cached analysis and generation pipeline, its limits, the process-wide
  instance.
- :mod:`.page`: what the page says: its text, results as Markdown, choices, prompt help,
  backbone notes.
"""
