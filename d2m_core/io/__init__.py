"""Stage 0, files in and out: video decoding and muxing (PyAV), audio files, keypoint files
(.npy, .npz, AIST++ .pkl, mmpose / plain JSON) and atomic writes of every output."""
