"""A real browser (headless system Chromium via Playwright) uses the app like a person would.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and the ``playwright`` Python package
(requirements-dev.txt); it never downloads a browser. Screenshots land in the test's tmp folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_app import ROOT
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
    const vs = [...document.querySelectorAll('video')].filter(v => v.offsetParent);
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
            page.get_by_text("Suggested dance style for @").wait_for(timeout=90_000)
            t_analyze = time.perf_counter() - t0
            page.wait_for_timeout(500)
            page.screenshot(path=str(tmp_path / "after_analyze.png"), full_page=True)

            page.get_by_role("button", name="piano", exact=True).click()
            prompt = page.get_by_label("Prompt: @ = the dance style, * = the dance's rhythm")
            page.wait_for_function(
                "() => [...document.querySelectorAll('textarea')]"
                ".some(t => t.value.endsWith(', piano'))",
                timeout=10_000,
            )
            assert prompt.input_value().endswith(", piano")

            t0 = time.perf_counter()
            page.get_by_role("button", name="Generate music").click()
            page.locator("#results-summary").get_by_text("beats hit").wait_for(timeout=90_000)
            t_generate = time.perf_counter() - t0
            # The players are revealed by a step of their own, right after the results arrive.
            page.wait_for_function(
                "() => [...document.querySelectorAll('video')]"
                ".some(v => v.offsetParent && v.currentSrc.includes('_d2m_'))",
                timeout=30_000,
            )
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


# The prompt lab is history: it keeps earlier dances' results on purpose, so it is left out.
RESULTS_SHOWN = """() => ({
    summary: document.querySelector('#analysis-summary').innerText,
    results: document.querySelector('#results-summary').innerText,
    images: [...document.querySelectorAll('img')].filter(i => i.offsetParent
        && /rhythm|pose_check|alignment/.test(i.src)).length,
    videos: [...document.querySelectorAll('video')].filter(v => v.offsetParent
        && !v.closest('#example-video') && !v.closest('#prompt-lab')).length,
    timelines: [...document.querySelectorAll('.d2m-timeline')].filter(t => t.offsetParent)
        .length,
    downloads: [...document.querySelectorAll('a[download]')]
        .filter(a => a.href.includes('_d2m_') && !a.closest('#prompt-lab')).length,
})"""


def test_new_upload_clears_results_and_a_text_file_is_refused(tmp_path):
    """Results belong to the file they came from; a text file named .mp4 never gets in."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    video = ROOT / "assets" / "example_dancer_96bpm.mp4"
    npz = ROOT / "assets" / "example_dance_112bpm.npz"
    notes = tmp_path / "notes.mp4"
    notes.write_text("my shopping list, not a video\n" * 20)
    demo, url = serve()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            analyse = page.get_by_role("button", name="Analyse the dance")
            analyse.wait_for(timeout=30_000)
            first = page.evaluate(RESULTS_SHOWN)
            page.locator("input[type=file]").first.set_input_files(str(video))
            page.locator("video").first.wait_for(timeout=30_000)
            analyse.click()
            page.get_by_text("Suggested dance style for @").wait_for(timeout=90_000)
            page.get_by_role("button", name="Generate music").click()
            page.locator("#results-summary").get_by_text("beats hit").wait_for(timeout=90_000)
            page.wait_for_timeout(500)
            full = page.evaluate(RESULTS_SHOWN)

            # A keypoint file is a new dance: the video's results go, and the video itself.
            page.get_by_role("tab", name="Keypoint file").click()
            page.locator("input[type=file]").last.set_input_files(str(npz))
            cleared = "() => !document.querySelector('#results-summary').innerText.includes('hit')"
            page.wait_for_function(cleared, timeout=15_000)
            page.wait_for_timeout(500)
            after_upload = page.evaluate(RESULTS_SHOWN)
            page.screenshot(path=str(tmp_path / "after_new_upload.png"), full_page=True)

            page.get_by_role("tab", name="Video").click()
            page.locator("input[type=file]").first.set_input_files(str(notes))
            toast = page.locator(".toast-body").filter(has_text="notes.mp4")
            toast.wait_for(timeout=15_000)
            refusal = toast.inner_text()
            page.wait_for_timeout(500)
            page.screenshot(path=str(tmp_path / "after_text_file.png"), full_page=True)
            player_empty = page.get_by_text("Drop Video Here").is_visible()
            browser.close()
    finally:
        demo.close()
    print(f"\nscreenshots in {tmp_path}; refusal: {refusal!r}")
    assert first["images"] == 0 and first["videos"] == 0  # no empty boxes before a dance
    assert "BPM" in full["summary"] and "beats hit" in full["results"]
    # The pose check shows; the paper's plots wait in closed sections for researchers.
    assert full["images"] == 1 and full["videos"] >= 3 and full["downloads"] >= 4
    assert full["timelines"] == 2  # the dance's and the result's
    assert "BPM" not in after_upload["summary"] and "beats hit" not in after_upload["results"]
    assert after_upload["images"] == 0 and after_upload["videos"] == 0
    assert after_upload["timelines"] == 0
    assert after_upload["downloads"] == 0
    assert "not a video" in refusal or "cannot read" in refusal
    assert player_empty  # the file never got into the player
