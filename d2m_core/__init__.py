"""d2m: music for dance videos.

Data flows one way: video -> keypoints (:mod:`pose`, :mod:`keypoint_io`) -> rhythm
(:mod:`rhythm`, :mod:`tempo`) -> prompt embeddings -> backbone -> audio -> muxed video.
"""

__version__ = "0.1.0"
