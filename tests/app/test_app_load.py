"""Load: six gradio_client sessions at once, each analysing a shared video and generating."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_app_e2e import serve, streams  # a sibling test module

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

VIDEOS = ("videos/unianimate_dance_9s.mp4", "videos/aist_clip_2s_a.mp4")
SESSIONS = 6


def test_six_concurrent_sessions(shared_file):
    from gradio_client import Client, handle_file

    from d2m_core.app import pipeline as service

    videos = [shared_file(v) for v in VIDEOS]
    demo, url = serve()
    try:

        def session(i: int) -> tuple[float, str, str]:
            video = str(videos[i % len(videos)])
            client = Client(url, verbose=False)
            t0 = time.perf_counter()
            client.predict(handle_file(video), None, "", 0, 0, api_name="/analyze")
            mp4, *_ = client.predict(
                handle_file(video), None, "", 0, 0, f"a @ music with * as the rhythm, take {i}",
                "auto", "groove", i, 0, 3.0, False, api_name="/generate",
            )  # fmt: skip
            return time.perf_counter() - t0, video, mp4

        t0 = time.perf_counter()
        with ThreadPoolExecutor(SESSIONS) as pool:
            results = list(pool.map(session, range(SESSIONS)))
        wall = time.perf_counter() - t0
        stats = dict(service.get_pipeline().stats)
    finally:
        demo.close()
    per = ", ".join(f"{t:.1f}" for t, _, _ in results)
    print(f"\n{SESSIONS} sessions: wall {wall:.1f} s; per session {per} s; {stats}")
    assert len({mp4 for _, _, mp4 in results}) == SESSIONS  # each got its own file
    for _, video, mp4 in results:
        s = streams(mp4)
        assert s["video"][0] == "h264" and s["audio"][0] == "aac", (video, s)
        assert Path(mp4).stat().st_size > 10_000
    # Same content shares one pose pass, whatever the number of sessions.
    assert stats["analyses"] == len(VIDEOS) and stats["generations"] == SESSIONS
