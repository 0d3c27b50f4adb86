"""Stage: files, the flow's two ends (video in, muxed video out).

Video decoding and muxing (PyAV), audio files, keypoint files (.npy, .npz, AIST++ .pkl,
mmpose / plain JSON) and atomic writes of every output; and what the user sees while a stage
runs (:mod:`d2m_core.io.progress`: the time left, the terminal bar).
"""
