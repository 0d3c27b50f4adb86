"""The beat studio in the real app, in a real browser: a phone clip is analysed, its beats are
checked by playing, seeking, metronome clicks and tap tempo, corrected, followed by the music,
compared in the prompt lab, and cleared by a new upload.

One server and one page walk through the states in order (the tests below share them and run in
file order): an analysis costs ~10 s of pose on two cores, a generation ~2 s. Each check prints
what it measured (``-s`` shows it). Full-page screenshots of every state, at 1400x900 and at a
phone's 390x844, land in the module's tmp folder and in /tmp/acceptance_shots/.

Needs Debian's ``chromium`` and the ``playwright`` Python package (never downloads a browser),
and the real clip ``realdance/demo_dancer.mp4`` in ../shared/data (skips without them).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_app import ROOT

# The same browser, skip rule and marks as the first browser test.
from test_app_browser import CHROMIUM, pytestmark  # noqa: F401
from test_app_e2e import serve  # sibling test modules: pytest puts tests/app on sys.path
from test_beat_studio_js import AB_GAP_S, RECORD_CLICKS, heard

LAUNCH_ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
CLIP = "realdance/demo_dancer.mp4"  # a 60 s phone clip; its automatic tempo is ~73 BPM
NEW_UPLOAD = ROOT / "assets" / "example_dancer_96bpm.mp4"
SHOTS = Path("/tmp/acceptance_shots")
WIDE = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
STUDIO = "#studio-video"
RESULT = "#result-video"
LAB_ROWS = "#prompt-lab .d2m-lab table tr"


# Every red pop-up is reported to the test as it appears (the page's toasts vanish on their own).
WATCH_TOASTS = """(() => {
    const seen = new WeakSet();
    const check = () => {
        for (const el of document.querySelectorAll('.toast-body.error')) {
            if (seen.has(el)) continue;
            seen.add(el);
            window.d2mTestToast(el.innerText);
        }
    };
    new MutationObserver(check).observe(document, {childList: true, subtree: true});
})();"""

# Play a (muted) video from `start` and sample the timeline's playhead against the video's time.
PLAY_AND_SAMPLE = """async ([sel, start, waits]) => {
    const v = document.querySelector(sel + ' video');
    const entry = () => d2mStudio.timelines().find(t => t.video === sel);
    v.muted = true;
    v.currentTime = start;
    await new Promise(r => v.seeking ? v.addEventListener('seeked', r, {once: true}) : r());
    await v.play();
    const out = [];
    for (const ms of waits) {
        await new Promise(r => setTimeout(r, ms));
        await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
        const e = entry();
        out.push([e ? e.playhead_s : null, v.currentTime]);
    }
    v.pause();
    return out;
}"""


def recorder_js() -> str:
    """The click recorder of the harness test, pointed at any video and start time."""
    swaps = {
        "async (ms) =>": "async ([sel, start, ms]) =>",
        "document.querySelector('#dance-video video')": "document.querySelector(sel)",
        "v.currentTime = 0;": "v.currentTime = start;",
    }
    js = RECORD_CLICKS
    for old, new in swaps.items():
        assert old in js, f"test_beat_studio_js.RECORD_CLICKS changed: {old!r} not found"
        js = js.replace(old, new)
    return js


@dataclass
class Visit:
    """The one page every test drives, and what was seen on it so far."""

    page: Any
    shots: Path
    page_errors: list[str] = field(default_factory=list)
    error_toasts: list[str] = field(default_factory=list)
    phone_widths: dict[str, int] = field(default_factory=dict)
    taken: list[str] = field(default_factory=list)
    taps_before_upload: list[float] = field(default_factory=list)

    def shoot(self, name: str) -> None:
        """Full-page screenshots at both sizes (into tmp and /tmp/acceptance_shots)."""
        page = self.page
        page.wait_for_timeout(300)
        SHOTS.mkdir(parents=True, exist_ok=True)
        for size in (WIDE, PHONE):
            if size is PHONE:
                page.set_viewport_size(PHONE)
                page.wait_for_timeout(500)
                width = page.evaluate("document.documentElement.scrollWidth")
                self.phone_widths[name] = width
            path = self.shots / f"{name}_{size['width']}x{size['height']}.png"
            page.screenshot(path=str(path), full_page=True)
            shutil.copy(path, SHOTS / path.name)
            self.taken.append(path.name)
        page.set_viewport_size(WIDE)
        page.wait_for_timeout(300)


@pytest.fixture(scope="module")
def visit(shared_file, tmp_path_factory):
    """The app served, a browser on it, the clip uploaded and analysed."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    clip = shared_file(CLIP)
    shots = tmp_path_factory.mktemp("beat_studio_shots")
    t_start = time.perf_counter()
    demo, url = serve()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            page = browser.new_page(viewport=WIDE)
            v = Visit(page=page, shots=shots)
            page.on("pageerror", lambda e: v.page_errors.append(str(e)))
            page.expose_function("d2mTestToast", lambda text: v.error_toasts.append(text))
            page.add_init_script(WATCH_TOASTS)
            page.goto(url)
            analyse = page.get_by_role("button", name="Analyse the dance")
            analyse.wait_for(timeout=30_000)
            page.locator("#dance-video input[type=file]").set_input_files(str(clip))
            page.locator("#dance-video video").wait_for(timeout=30_000)
            t0 = time.perf_counter()
            analyse.click()
            page.locator("#beat-studio").wait_for(state="visible", timeout=180_000)
            page.wait_for_function(
                f"""() => {{
                    const e = window.d2mStudio && d2mStudio.timelines()
                        .find(t => t.video === '{STUDIO}');
                    const v = document.querySelector('{STUDIO} video');
                    return e && e.bound && v && v.readyState >= 2;
                }}""",
                timeout=60_000,
            )
            print(f"\nanalysis of {CLIP}: {time.perf_counter() - t0:.1f} s")
            yield v
            print(f"\nscreenshots ({len(v.taken)}) in {shots} and {SHOTS}")
            print(f"whole walk-through: {time.perf_counter() - t_start:.1f} s")
            browser.close()
    finally:
        demo.close()


# ------------------------------------------------------------------------------------------
# small readers


def timeline_data(page, container: str) -> dict:
    """The data of the (visible) timeline inside `container`, as the server wrote it."""
    text = page.get_attribute(f"{container} .d2m-timeline", "data-timeline")
    return json.loads(text)


def timeline_entry(page, selector: str) -> dict | None:
    return page.evaluate(
        "(sel) => d2mStudio.timelines().find(t => t.video === sel) || null", selector
    )


def status(page) -> str:
    return page.inner_text("#studio-status")


def wait_status(page, text: str, timeout: float = 60_000) -> str:
    page.wait_for_function(
        "(s) => document.querySelector('#studio-status').innerText.includes(s)",
        arg=text,
        timeout=timeout,
    )
    return status(page)


def tempi(text: str) -> tuple[float, float | None]:
    """(tempo in use, automatic tempo or None) from the studio's status line."""
    tempo = float(re.search(r"([\d.]+) BPM, \d+ beats", text)[1])
    auto = re.search(r"automatic: ([\d.]+) BPM", text)
    return tempo, float(auto[1]) if auto else None


def wait_bound(page, container: str, selector: str) -> dict:
    """Wait until the script drew the timeline now in `container`; returns its data."""
    page.wait_for_function(
        """([container, sel]) => {
            const el = document.querySelector(container + ' .d2m-timeline');
            if (!el) return false;
            const beats = JSON.parse(el.getAttribute('data-timeline')).beats_s.length;
            const e = d2mStudio.timelines().find(t => t.video === sel);
            return e && e.bound && e.beats === beats && el.querySelector('canvas');
        }""",
        arg=[container, selector],
        timeout=30_000,
    )
    return timeline_data(page, container)


def lab_rows(page) -> int:
    """Generations listed in the prompt lab (table rows less the header)."""
    return max(0, page.locator(LAB_ROWS).count() - 1)


def wait_lab_rows(page, n: int, timeout: float = 120_000) -> None:
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length === n + 1",
        arg=[LAB_ROWS, n],
        timeout=timeout,
    )


def generate(page) -> float:
    """Press Generate and wait for its row in the prompt lab; returns the seconds it took."""
    rows = lab_rows(page)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Generate music").click()
    wait_lab_rows(page, rows + 1)
    page.wait_for_function(
        "() => document.querySelector('#results-summary').innerText.includes('beats hit')"
    )
    return time.perf_counter() - t0


def no_error_toasts(v: Visit) -> None:
    assert not v.error_toasts, v.error_toasts
    assert v.page.locator(".toast-body.error").count() == 0


# ------------------------------------------------------------------------------------------
# the walk-through, in order


def test_1_playhead_follows_playback(visit):
    page = visit.page
    visit.shoot("01_after_analyse")
    samples = page.evaluate(PLAY_AND_SAMPLE, [STUDIO, 0.0, [500, 1000]])
    (p1, v1), (p2, v2) = samples
    print(
        f"\n1 playhead: at 0.5 s playhead {p1:.3f} s / video {v1:.3f} s;"
        f" at 1.5 s playhead {p2:.3f} s / video {v2:.3f} s;"
        f" max |playhead - video| {max(abs(p1 - v1), abs(p2 - v2)) * 1e3:.0f} ms"
    )
    assert p1 is not None and p2 > p1 > 0.2
    assert abs(p1 - v1) < 0.15 and abs(p2 - v2) < 0.15
    assert v2 > 1.2  # it really played
    play = page.locator("#dance-timeline button.d2m-play")
    assert play.is_visible()
    page.wait_for_function(  # its label follows the video from the next frame on
        "() => document.querySelector('#dance-timeline button.d2m-play').textContent === '▶ Play'",
        timeout=5_000,
    )
    no_error_toasts(visit)


def test_2_click_on_the_timeline_seeks(visit):
    """The 60 s clip is too long to draw whole: the timeline shows a window of it (the canvas seeks
    within the window) over an overview strip of the whole clip (which seeks anywhere)."""
    page = visit.page
    data = timeline_data(page, "#dance-timeline")
    canvas = page.locator("#dance-timeline canvas.d2m-tl-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    before = timeline_entry(page, STUDIO)
    start, span = before["window"]["start_s"], before["window"]["span_s"]
    assert before["overview"] and span == pytest.approx(max(6.0, box["width"] / 40), abs=0.05)
    canvas.click(position={"x": box["width"] * 0.5, "y": box["height"] / 2})
    t, duration = page.evaluate(
        f"() => {{ const v = document.querySelector('{STUDIO} video');"
        " return [v.currentTime, v.duration]; }"
    )
    page.wait_for_function(
        "([sel, t]) => Math.abs(d2mStudio.timelines().find(e => e.video === sel).playhead_s"
        " - t) < 0.05",
        arg=[STUDIO, t],
        timeout=5_000,
    )
    after_click = timeline_entry(page, STUDIO)

    strip = page.locator("#dance-timeline canvas.d2m-tl-overview")
    strip_box = strip.bounding_box()
    strip.click(position={"x": strip_box["width"] * 0.75, "y": strip_box["height"] / 2})
    t2 = page.evaluate(f"document.querySelector('{STUDIO} video').currentTime")
    page.wait_for_function(
        "([sel, t]) => Math.abs(d2mStudio.timelines().find(e => e.video === sel).playhead_s"
        " - t) < 0.05",
        arg=[STUDIO, t2],
        timeout=5_000,
    )
    after_overview = timeline_entry(page, STUDIO)
    follow = min(max(t2 - 0.3 * span, 0.0), data["duration_s"] - span)
    print(
        f"\n2 seek: timeline {box['width']:.0f} px shows {span:.2f} s of"
        f" {data['duration_s']} s (window from {start:.2f} s); clicked 50% -> {t:.3f} s,"
        f" error {abs(t - (start + span / 2)) * 1e3:.0f} ms; overview {strip_box['width']:.0f} x"
        f" {strip_box['height']:.0f} px clicked at 75% -> {t2:.3f} s, error"
        f" {abs(t2 - 0.75 * duration) * 1e3:.0f} ms; window now from"
        f" {after_overview['window']['start_s']:.2f} s; video duration {duration:.3f} s"
    )
    assert t == pytest.approx(start + span / 2, abs=0.15)
    assert after_click["window"]["start_s"] == pytest.approx(start)  # held under the pointer
    assert t2 == pytest.approx(0.75 * duration, abs=0.25)
    assert after_overview["window"]["start_s"] == pytest.approx(follow, abs=0.01)


def test_3_metronome_clicks_land_on_the_beats(visit):
    page = visit.page
    button = page.locator("#dance-timeline button.d2m-clicks")
    assert button.get_attribute("aria-pressed") == "false"
    button.click()
    assert button.get_attribute("aria-pressed") == "true"
    page.wait_for_function("() => d2mStudio.audio.ctx && d2mStudio.audio.ctx.state === 'running'")
    visit.shoot("02_clicks_on")

    start = 20.0
    rec = page.evaluate(recorder_js(), [f"{STUDIO} video", start, 4000])
    assert rec["log"], "no click was scheduled"
    pairs = np.array(rec["pairs"])
    assert len(pairs) > 30, "too few animation frames while playing"
    slope, offset = np.polyfit(pairs[:, 0], pairs[:, 1], 1)  # video time from context time
    heard_at = heard(rec)  # the bus is recorded before the output: its latency is added back
    assert len(heard_at), "no click was heard on the bus"
    clicks_v = slope * heard_at + offset
    latency = sorted({round(e["latency_s"], 4) for e in rec["log"]})

    beats = np.array(timeline_data(page, "#dance-timeline")["beats_s"])
    lo, hi = pairs[0, 1] + 0.15, pairs[-1, 1] - 0.15
    played = beats[(beats > lo) & (beats < hi)]
    # Clicks at the very edges of the played span may be cut short by the start or the pause.
    inner = clicks_v[(clicks_v > lo - 0.05) & (clicks_v < hi + 0.05)]
    beat_err = np.array([np.min(np.abs(clicks_v - b)) for b in played])
    click_err = np.array([np.min(np.abs(beats - c)) for c in inner])
    print(
        f"\n3 clicks: played {pairs[0, 1]:.2f}-{pairs[-1, 1]:.2f} s; {len(inner)} clicks heard"
        f" for {len(played)} beats; max |click - beat| {beat_err.max() * 1e3:.1f} ms"
        f" (mean {beat_err.mean() * 1e3:.1f} ms); worst stray click {click_err.max() * 1e3:.1f}"
        f" ms; fit slope {slope:.4f}; clicks sent early by the output latency {latency} s"
    )
    assert slope == pytest.approx(1.0, abs=0.02)
    assert len(played) >= 3
    assert beat_err.max() < 0.030, beat_err
    assert click_err.max() < 0.030, click_err
    no_error_toasts(visit)


def test_4_tap_tempo_with_the_t_key(visit):
    page = visit.page
    before = timeline_data(page, "#dance-timeline")["beats_s"]
    page.evaluate(
        f"""async () => {{
            const v = document.querySelector('{STUDIO} video');
            v.muted = true;
            v.currentTime = 0;
            await new Promise(r => v.seeking ? v.addEventListener('seeked', r, {{once: true}})
                                             : r());
            await v.play();
            if (document.activeElement) document.activeElement.blur();
        }}"""
    )
    page.wait_for_timeout(400)
    t0 = time.perf_counter()
    for k in range(8):  # 100 BPM, each press on its own deadline so jitter does not add up
        time.sleep(max(0.0, t0 + 0.6 * k - time.perf_counter()))
        page.keyboard.press("t")
    text = wait_status(page, "tapped by you (8 taps)")
    page.evaluate(f"document.querySelector('{STUDIO} video').pause()")
    taps = np.array(page.evaluate(f"d2mStudio.taps('{STUDIO}')"))
    page.wait_for_function(
        "(old) => JSON.stringify(JSON.parse(document.querySelector('#dance-timeline"
        " .d2m-timeline').getAttribute('data-timeline')).beats_s) !== old",
        arg=json.dumps(before, separators=(",", ":")),
        timeout=10_000,
    )
    grid = np.array(wait_bound(page, "#dance-timeline", STUDIO)["beats_s"])
    visit.shoot("03_after_taps")

    tap_bpm = 60 / np.median(np.diff(taps))
    grid_bpm = 60 / np.median(np.diff(grid))
    err = np.array([np.min(np.abs(grid - t)) for t in taps])
    entry = timeline_entry(page, STUDIO)
    print(
        f"\n4 taps: {np.round(taps, 3).tolist()} ({tap_bpm:.1f} BPM from the taps);"
        f" grid {grid_bpm:.2f} BPM, {len(grid)} beats; max |tap - beat| {err.max() * 1e3:.1f}"
        f" ms; status {text!r}; clicks still on after re-render: {entry['clicks_on']}"
    )
    assert len(taps) == 8
    assert grid_bpm == pytest.approx(100, rel=0.03)
    assert grid_bpm == pytest.approx(tap_bpm, rel=0.03)
    assert err.max() < 0.040, err
    assert entry["clicks_on"]  # the toggle outlives the re-rendered timeline
    no_error_toasts(visit)


def test_5_double_tempo_shift_and_the_music_follows(visit):
    page = visit.page
    page.get_by_role("button", name="Reset to automatic").click()
    auto_text = wait_status(page, "(automatic)")
    auto_bpm, _ = tempi(auto_text)
    page.get_by_role("button", name="×2 tempo", exact=True).click()
    # x 2 adds the midpoints of the beats shown (older apps re-tracked at twice the tempo)
    page.wait_for_function(
        "() => /beats adjusted by you|tempo set by you/.test("
        "document.querySelector('#studio-status').innerText)",
        timeout=60_000,
    )
    later = page.get_by_role("button", name="10 ms later ▶")
    later.click()
    wait_status(page, "moved 10 ms later")
    later.click()
    text = wait_status(page, "moved 20 ms later")
    studio = wait_bound(page, "#dance-timeline", STUDIO)
    tempo, auto = tempi(text)
    grid = np.array(studio["beats_s"])
    grid_bpm = 60 / np.median(np.diff(grid))
    mean_bpm = 60 * (len(grid) - 1) / (grid[-1] - grid[0])  # re-tracked beats are not even
    auto_grid = np.array(studio["auto_beats_s"])
    auto_mean = 60 * (len(auto_grid) - 1) / (auto_grid[-1] - auto_grid[0])
    visit.shoot("04_after_double_and_shift")
    print(
        f"\n5 correction: automatic {auto_bpm:.1f} BPM -> {tempo:.1f} BPM shown"
        f" (grid: {mean_bpm:.2f} BPM on average, {grid_bpm:.2f} BPM by the median gap,"
        f" {len(grid)} beats; the automatic grid: {auto_mean:.2f} BPM on average,"
        f" {len(auto_grid)} beats); status {text!r}"
    )
    assert auto_bpm == pytest.approx(73, abs=3)
    assert auto == pytest.approx(auto_bpm, abs=0.05)
    assert tempo == pytest.approx(2 * auto_bpm, rel=0.02)
    assert mean_bpm == pytest.approx(2 * auto_bpm, rel=0.03)
    assert grid_bpm == pytest.approx(2 * auto_bpm, rel=0.03)

    seconds = generate(page)
    page.locator(f"{RESULT} video").wait_for(state="visible", timeout=30_000)
    result = wait_bound(page, "#result-timeline", RESULT)
    visit.shoot("05_after_generate")

    import mir_eval

    beats = np.array(result["beats_s"])
    music = np.array(result["music_beats_s"])
    f = mir_eval.beat.f_measure(beats, music)
    same = len(beats) == len(studio["beats_s"]) and np.allclose(
        beats, studio["beats_s"], atol=1.5e-3
    )
    page.wait_for_function(
        f"() => document.querySelector('{RESULT} video').readyState >= 2", timeout=30_000
    )
    (p1, v1), (p2, v2) = page.evaluate(PLAY_AND_SAMPLE, [RESULT, 0.0, [300, 700]])
    print(
        f"\n5 music: generated in {seconds:.1f} s; result grid {len(beats)} beats, same as the"
        f" studio's: {same}; {len(music)} music beats; F = {f:.3f};"
        f" result playhead {p1:.3f} -> {p2:.3f} s (video {v1:.3f} -> {v2:.3f} s);"
        f" summary {page.inner_text('#results-summary')!r}"
    )
    assert same, (beats[:8], studio["beats_s"][:8])
    assert f >= 0.8
    assert p1 is not None and p2 > p1 and v2 > 0.6
    assert abs(p2 - v2) < 0.15
    no_error_toasts(visit)


# Watches the A/B player while it plays: the heard track's lag behind the video, sampled every
# 100 ms, and how often the script re-seeks the audios (it should only nudge their rates).
AB_WATCH = """() => {
    const v = document.querySelector('#ab-player .d2m-ab video');
    const out = window.d2mTestAb = {heard_lag: [], seeks: {a: 0, b: 0}};
    const audios = [...document.querySelectorAll('#ab-player .d2m-ab audio')];
    audios.forEach((a, i) => a.addEventListener('seeking', () => {
        if (!v.paused && v.currentTime > 0.05) out.seeks['ab'[i]] += 1;
    }));
    const timer = setInterval(() => {
        if (v.paused) { if (out.heard_lag.length) clearInterval(timer); return; }
        const heard = audios.find(a => !a.muted);
        if (heard) out.heard_lag.push([v.currentTime, v.currentTime - heard.currentTime]);
    }, 100);
}"""


def ab_state(page) -> dict:
    states = page.evaluate("d2mStudio.abState()")
    assert len(states) == 1, states
    return states[0]


def test_6_prompt_lab_lists_and_compares(visit):
    page = visit.page
    seed = page.get_by_label("Seed", exact=True)
    times = []
    for s in (1, 2):
        seed.fill(str(s))
        seed.press("Tab")
        times.append(generate(page))
    assert lab_rows(page) == 3
    a = page.locator("#lab-a input").input_value()
    b = page.locator("#lab-b input").input_value()
    page.wait_for_function(
        """() => d2mStudio.abState().length === 1
            && document.querySelector('#ab-player .d2m-ab video').readyState >= 3
            && [...document.querySelectorAll('#ab-player .d2m-ab audio')]
                .every(a => a.readyState >= 3)""",
        timeout=30_000,
    )
    page.evaluate(AB_WATCH)
    page.evaluate(
        """async () => {
            const v = document.querySelector('#ab-player .d2m-ab video');
            v.muted = true;
            await v.play();
            await new Promise(r => setTimeout(r, 1000));
        }"""
    )
    s_a = ab_state(page)
    page.click("button.d2m-ab-b")
    page.wait_for_timeout(400)
    s_b = ab_state(page)
    page.wait_for_timeout(1600)  # 3 s of playback in all
    trace = page.evaluate("window.d2mTestAb")
    page.evaluate("document.querySelector('#ab-player .d2m-ab video').pause()")
    visit.shoot("06_lab_with_ab")
    drift = max(abs(s[k] - s["video_time"]) for s in (s_a, s_b) for k in ("a_time", "b_time"))
    print(
        f"\n6 lab: generations made in {', '.join(f'{t:.1f} s' for t in times)};"
        f" {lab_rows(page)} listed; A = {a!r}, B = {b!r};"
        f" playing A: {s_a}; after B: {s_b}; max |audio - video| {drift * 1e3:.0f} ms"
    )
    heard_lag = [(round(t, 2), round(1e3 * d)) for t, d in trace["heard_lag"]]
    max_lag = max(abs(d) for _, d in trace["heard_lag"])
    print(
        f"6 A/B trace (video s, heard track's lag ms, every 100 ms): {heard_lag};"
        f" max {max_lag * 1e3:.0f} ms over {trace['heard_lag'][-1][0]:.1f} s;"
        f" audio seeks after the start: {trace['seeks']}"
    )
    # "#3 · seed 2 · ..." (newer labels name the backbone too: "#3 · groove · seed 2 · ...")
    assert re.match(r"#3 · (\w+ · )?seed 2\b", a) and re.match(r"#2 · (\w+ · )?seed 1\b", b)
    assert s_a["active"] == "a" and not s_a["a_muted"] and s_a["b_muted"]
    assert not s_a["a_paused"] and not s_a["b_paused"] and s_a["video_time"] > 0.7
    assert s_b["active"] == "b" and s_b["a_muted"] and not s_b["b_muted"]
    assert page.get_attribute("button.d2m-ab-b", "aria-pressed") == "true"
    assert drift < AB_GAP_S
    assert trace["heard_lag"][-1][0] > 2.5 and max_lag < AB_GAP_S
    assert sum(trace["seeks"].values()) <= 2  # at most the start's; drift is nudged, not seeked
    no_error_toasts(visit)


def test_7_new_upload_clears_the_studio(visit):
    page = visit.page
    assert page.locator("#beat-studio").is_visible()
    assert "beats hit" in page.inner_text("#results-summary")
    visit.taps_before_upload = page.evaluate(f"d2mStudio.taps('{STUDIO}')")
    # A filled video box has no file input: a person presses its Clear button, then uploads.
    assert page.locator("#dance-video input[type=file]").count() == 0
    page.locator("#dance-video button[aria-label=Clear]").click()
    upload = page.locator("#dance-video input[type=file]")
    upload.wait_for(state="attached", timeout=10_000)
    upload.set_input_files(str(NEW_UPLOAD))
    page.wait_for_function(
        "() => { const v = document.querySelector('#dance-video video');"
        " return v && v.src.includes('example_dancer_96bpm'); }",
        timeout=30_000,
    )
    page.locator("#beat-studio").wait_for(state="hidden", timeout=30_000)
    page.wait_for_function(
        "() => document.querySelector('#results-summary').innerText"
        ".includes('Generate to hear the music')",
        timeout=30_000,
    )
    page.wait_for_timeout(1000)  # the upload's own check answers on the queue
    timelines = page.locator("#dance-timeline .d2m-timeline")
    shown = sum(timelines.nth(i).is_visible() for i in range(timelines.count()))
    bound = page.evaluate("d2mStudio.timelines()")
    old_taps = page.evaluate(f"d2mStudio.taps('{STUDIO}')")
    visit.shoot("07_after_new_upload")
    print(
        f"\n7 new upload: studio visible {page.locator('#beat-studio').is_visible()};"
        f" results {page.inner_text('#results-summary')!r}; timelines shown {shown};"
        f" timelines bound {bound}; lab rows {lab_rows(page)};"
        f" taps the script still keeps for the studio video {old_taps}"
    )
    assert not page.locator("#beat-studio").is_visible()
    assert "Generate to hear the music" in page.inner_text("#results-summary")
    assert shown == 0
    assert lab_rows(page) == 3  # the lab is history: it stays
    assert page.locator("#prompt-lab").is_visible()
    no_error_toasts(visit)


def test_7b_taps_on_the_new_dance_start_afresh(visit):
    """The previous dance's taps must not join the new dance's: one tap is one tap."""
    page = visit.page
    old = visit.taps_before_upload  # the first dance's taps (test 4), as kept before the upload
    kept = page.evaluate(f"d2mStudio.taps('{STUDIO}')")
    t0 = time.perf_counter()
    page.get_by_role("button", name="Analyse the dance").click()
    page.locator("#beat-studio").wait_for(state="visible", timeout=120_000)
    wait_status(page, "(automatic)")
    page.wait_for_function(
        f"() => {{ const v = document.querySelector('{STUDIO} video');"
        " return v && v.readyState >= 2 && v.currentSrc.includes('example_dancer_96bpm'); }",
        timeout=30_000,
    )
    seconds = time.perf_counter() - t0
    # A tap just after the old taps' last one (a tap within 3 s of the last continues a list).
    at = (old[-1] + 0.5) if old else 1.0
    page.evaluate(
        f"""async () => {{
            const v = document.querySelector('{STUDIO} video');
            v.currentTime = {at};
            await new Promise(r => v.addEventListener('seeked', r, {{once: true}}));
            if (document.activeElement) document.activeElement.blur();
        }}"""
    )
    page.keyboard.press("t")
    page.wait_for_function(
        "() => /keep tapping|tapped by you/.test("
        "document.querySelector('#studio-status').innerText)",
        timeout=30_000,
    )
    taps = page.evaluate(f"d2mStudio.taps('{STUDIO}')")
    text = status(page)
    print(
        f"\n7b new dance analysed in {seconds:.1f} s; the old dance's taps {old} (kept after the"
        f" upload: {kept}); one tap at {at:.3f} s -> taps {taps}; status {text!r}"
    )
    no_error_toasts(visit)
    assert old  # the first dance really had taps that could have leaked
    assert taps == [pytest.approx(at, abs=0.01)]
    assert "tapped by you" not in text


def test_8_the_lab_comes_back_after_a_reload(visit):
    page = visit.page
    page.reload()
    page.get_by_role("button", name="Analyse the dance").wait_for(timeout=30_000)
    wait_lab_rows(page, 3, timeout=30_000)
    a = page.locator("#lab-a input").input_value()
    b = page.locator("#lab-b input").input_value()
    visit.shoot("08_after_reload")
    print(f"\n8 reload: {lab_rows(page)} generations listed; A = {a!r}, B = {b!r}")
    assert lab_rows(page) == 3
    assert a.startswith("#3 ") and b.startswith("#2 ")
    no_error_toasts(visit)


def test_9_no_page_errors_and_no_wide_phone_pages(visit):
    print(
        f"\n9 page errors {visit.page_errors}; error toasts {visit.error_toasts};"
        f" phone scrollWidth per state {visit.phone_widths}"
    )
    assert not visit.page_errors
    assert not visit.error_toasts
    assert visit.phone_widths and all(w <= PHONE["width"] for w in visit.phone_widths.values())
