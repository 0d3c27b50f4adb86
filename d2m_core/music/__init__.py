"""Stage 2, rhythm and beats -> prompt -> music: the prompt around ``@`` / ``*``, the genre
vocabulary, dance-to-music generation through a backbone with its alignment report, and beat
detection of audio with the agreement scores that report uses."""
