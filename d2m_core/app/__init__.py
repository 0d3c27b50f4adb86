"""The web app's library side (``app.py`` holds only layout and events): the cached analysis
and generation pipeline, and the page's text and choices."""
