"""A real browser (headless system Chromium via Playwright) uses the app like a person would.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and the ``playwright`` Python package
(requirements-dev.txt); it never downloads a browser. Screenshots land in the test's tmp folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_app_e2e import serve  # a sibling test module: pytest puts tests/ on sys.path

CHROMIUM = Path(os.environ.get("D2M_CHROMIUM", "/usr/bin/chromium"))
VIDEO = "videos/unianimate_dance_9s.mp4"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no system Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)",
    ),
    pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"),
]

PLAY_LAST_VIDEO = """async () => {
    const vs = [...document.querySelectorAll('video')];
    const v = vs[vs.length - 1];
    if (!v) return {error: 'no video element'};
    await new Promise(r => {
        if (v.readyState >= 2) r(); else v.addEventListener('loadeddata', r, {once: true});
        setTimeout(r, 15000);
    });
    v.muted = true;  // autoplay policy: muted playback needs no gesture
    try { await v.play(); } catch (e) { return {error: String(e)}; }
    await new Promise(r => setTimeout(r, 1200));
    v.pause();
    return {src: v.currentSrc, readyState: v.readyState, currentTime: v.currentTime,
            duration: v.duration, mediaError: v.error ? v.error.code : null,
            width: v.videoWidth, height: v.videoHeight};
}"""


def test_upload_analyze_generate_and_play(shared_file, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    video = shared_file(VIDEO)
    demo, url = serve()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.get_by_role("button", name="Analyse the dance").wait_for(timeout=30_000)
            page.locator("input[type=file]").first.set_input_files(str(video))
            page.locator("video").first.wait_for(timeout=30_000)  # the upload's preview

            t0 = time.perf_counter()
            page.get_by_role("button", name="Analyse the dance").click()
            page.get_by_text("Suggested genre for @").wait_for(timeout=90_000)
            t_analyze = time.perf_counter() - t0
            page.wait_for_timeout(500)
            page.screenshot(path=str(tmp_path / "after_analyze.png"), full_page=True)

            page.get_by_role("button", name="piano", exact=True).click()
            prompt = page.get_by_label("Prompt: @ = the genre, * = the dance's rhythm")
            page.wait_for_function(
                "() => [...document.querySelectorAll('textarea')]"
                ".some(t => t.value.endsWith(', piano'))",
                timeout=10_000,
            )
            assert prompt.input_value().endswith(", piano")

            t0 = time.perf_counter()
            page.get_by_role("button", name="Generate music").click()
            page.get_by_text("Beat F-measure").wait_for(timeout=90_000)
            t_generate = time.perf_counter() - t0
            state = page.evaluate(PLAY_LAST_VIDEO)
            page.screenshot(path=str(tmp_path / "after_generate.png"), full_page=True)
            errors = page.locator(".toast-body.error").count()
            browser.close()
    finally:
        demo.close()
    print(f"\nbrowser: analyze {t_analyze:.1f} s, generate {t_generate:.1f} s; {state}")
    print(f"screenshots in {tmp_path}")
    assert "error" not in state, state
    assert state["mediaError"] is None and state["readyState"] >= 2
    assert state["currentTime"] > 0.3  # it actually played
    assert state["duration"] == pytest.approx(9.375, abs=0.15)
    assert state["src"].endswith(".mp4") and state["width"] > 0
    assert errors == 0
    assert (tmp_path / "after_analyze.png").stat().st_size > 10_000
    assert (tmp_path / "after_generate.png").stat().st_size > 10_000
