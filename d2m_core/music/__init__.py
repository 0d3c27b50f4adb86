"""Stage: rhythm and beats -> prompt -> backbone -> audio (the orchestration).

The prompt around ``@`` / ``*``, the genre vocabulary, dance-to-music generation through a
backbone with its alignment report, and beat detection of audio with the agreement scores
that report uses.
"""
