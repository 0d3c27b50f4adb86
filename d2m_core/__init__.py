"""d2m: music for dance videos.

One folder per stage of a one-way flow: video -> keypoints -> rhythm and beats -> prompt
embeddings -> backbone -> audio -> muxed video.

- :mod:`.io`: video, audio and keypoint files; atomic writes.
- :mod:`.dance`: pose, motion, rhythm features, visual tempo and beats (the analysis).
- :mod:`.music`: prompt around ``@`` / ``*``, genres, generation, beats of audio.
- :mod:`.inversion`: pseudo-word injection and the dance encoders.
- :mod:`.backbones`: the music models behind one interface (offline groove, MusicGen,
  AudioLDM, Riffusion); :mod:`.groove` is the offline engine.
- :mod:`.sync`: zero-shot sync, warping music onto the dance's beats.
- :mod:`.viz`: figures. :mod:`.training`: training the encoders.
- :mod:`.app`, :mod:`.cli`: the two front ends; :mod:`.settings`: every environment variable.
- :mod:`.metrics`: the paper's evaluation (a leaf: only ``d2m evaluate`` imports it).
"""

__version__ = "0.1.0"
