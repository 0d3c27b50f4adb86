"""Stage: video -> keypoints -> rhythm and beats: pose estimation, the motion object, the
paper's rhythm features, visual tempo and beats, the analysis entry point, and a procedural
dancer for examples and tests."""
