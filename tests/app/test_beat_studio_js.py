"""assets/beat_studio.js in a real browser: headless system Chromium (via Playwright) on a static
harness page that holds the parts the app renders (a dance video, a beat timeline, an A/B player).

No Gradio here: the harness is served from the test's tmp folder by http.server. The metronome test
records the clicks' audio from the shared bus with an AudioWorklet and checks their timing against
the beats. Screenshots land in the tmp folder and in /tmp/studio_shots/.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "assets"
CHROMIUM = Path(os.environ.get("D2M_CHROMIUM", "/usr/bin/chromium"))
SHOTS = Path("/tmp/studio_shots")
LAUNCH_ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no system Chromium at {CHROMIUM}"),
]

PERIOD_S = 60 / 96  # the example dancer moves at 96 BPM
SELECTOR = "#dance-video"


def beat_grid(duration: float, first: float, period: float) -> list[float]:
    return [round(t, 4) for t in np.arange(first, duration, period)]


def timeline_data(duration: float) -> dict:
    beats = beat_grid(duration, PERIOD_S / 2, PERIOD_S)
    env_t = np.linspace(0, duration, 400)
    envelope = 0.5 + 0.45 * np.cos(2 * np.pi * (env_t - beats[0]) / PERIOD_S)
    return {
        "video": SELECTOR,
        "duration_s": duration,
        "envelope": [round(float(v), 3) for v in envelope],
        "beats_s": beats,
        "auto_beats_s": [round(b + 0.04, 4) for b in beats],
        "music_beats_s": beat_grid(duration, PERIOD_S / 2 + 0.01, PERIOD_S),
        "cuts_s": [4.7],
        "labels": {
            "envelope": "how sharply the body moves",
            "beats": "beats",
            "music": "music beats",
            "auto": "automatic beats",
        },
    }


LEGEND = (
    '<div class="d2m-legend"><strong>Beat timeline</strong>'
    '<span class="d2m-key d2m-key-envelope">how sharply the body moves</span>'
    '<span class="d2m-key d2m-key-beat">beats</span>'
    '<span class="d2m-key d2m-key-auto">automatic beats</span>'
    '<span class="d2m-key d2m-key-music">music beats</span>'
    '<span class="d2m-key d2m-key-cut">scene cut</span></div>'
)


def attr(data: dict) -> str:
    return html.escape(json.dumps(data), quote=True)


def write_harness(folder: Path) -> float:
    """The harness page and its files; returns the video's duration in seconds."""
    import soundfile as sf

    video = folder / "example.mp4"
    shutil.copy(ASSETS / "example_dancer_96bpm.mp4", video)
    for name in ("beat_studio.js", "beat_studio.css"):
        shutil.copy(ASSETS / name, folder / name)
    with av.open(str(video)) as c:
        duration = round(float(c.duration / av.time_base), 3)
    sr = 44100
    t = np.arange(int(9 * sr)) / sr
    for name, hz in (("a.wav", 440.0), ("b.wav", 660.0)):
        sf.write(folder / name, (0.05 * np.sin(2 * np.pi * hz * t)).astype(np.float32), sr)
    ab = {
        "video": "example.mp4",
        "a": {"url": "a.wav", "label": "A · seed 0 · 96 BPM"},
        "b": {"url": "b.wav", "label": "B · seed 1 · 96 BPM"},
    }
    page = f"""<!doctype html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>beat studio harness</title>
<link rel="stylesheet" href="beat_studio.css">
<script src="beat_studio.js"></script>
<style>
  body {{ font-family: system-ui, sans-serif; margin: 12px; max-width: 960px; }}
  #dance-video video {{ display: block; max-width: 100%; max-height: 260px; }}
  section {{ margin: 12px 0; }}
</style></head>
<body>
<h3>d2m beat studio</h3>
<section>
  <div id="dance-video"><video src="example.mp4" muted playsinline controls></video></div>
  <button id="tap-button"
    onclick="window.tapClicks = (window.tapClicks || 0) + 1; d2mStudio.tap('#dance-video')">
    Tap</button>
  <input id="typing" placeholder="typing here ignores t">
</section>
<section>
  <div class="d2m-timeline" data-timeline="{attr(timeline_data(duration))}">{LEGEND}</div>
</section>
<section>
  <div class="d2m-ab" data-ab="{attr(ab)}"><strong>Compare the two takes</strong></div>
</section>
</body></html>"""
    (folder / "index.html").write_text(page, encoding="utf-8")
    return duration


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files with byte ranges, which media elements use to seek."""

    def log_message(self, *args):  # quiet
        pass

    def send_head(self):
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not match or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start = int(match[1]) if match[1] else max(0, size - int(match[2] or 0))
        end = min(int(match[2]), size - 1) if match[1] and match[2] else size - 1
        f = path.open("rb")
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.range_left = end - start + 1
        return f

    def copyfile(self, source, outputfile):
        left = getattr(self, "range_left", None)
        if left is None:
            return super().copyfile(source, outputfile)
        while left > 0:
            chunk = source.read(min(64 * 1024, left))
            if not chunk:
                break
            outputfile.write(chunk)
            left -= len(chunk)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studio")
    duration = write_harness(folder)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{server.server_port}/index.html", "dir": folder, "T": duration}
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, site):
    pg = browser.new_page(viewport={"width": 1000, "height": 900})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(site["url"])
    pg.wait_for_function(
        "() => window.d2mStudio && d2mStudio.timelines().length === 1"
        " && document.querySelector('#dance-video video').readyState >= 3"
        " && document.querySelector('.d2m-ab video').readyState >= 3",
        timeout=15_000,
    )
    yield pg
    pg.close()
    assert not errors, errors


def play_for(page, seconds: float, selector: str = "#dance-video video", start: float = 0.0):
    """Play a (muted) video from `start` for `seconds`, then pause; returns the video time."""
    return page.evaluate(
        """async ([sel, ms, start]) => {
            const v = document.querySelector(sel);
            v.currentTime = start;
            await new Promise(r => v.seeking ? v.addEventListener('seeked', r, {once: true}) : r());
            await v.play();
            await new Promise(r => setTimeout(r, ms));
            v.pause();
            return v.currentTime;
        }""",
        [selector, int(seconds * 1000), start],
    )


def video_time(page) -> float:
    return page.evaluate("document.querySelector('#dance-video video').currentTime")


def test_playhead_follows_playback(page):
    samples = page.evaluate(
        """async () => {
            const v = document.querySelector('#dance-video video');
            const out = [];
            await v.play();
            for (const ms of [500, 1000]) {
                await new Promise(r => setTimeout(r, ms));
                await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
                out.push([d2mStudio.timelines()[0].playhead_s, v.currentTime]);
            }
            v.pause();
            return out;
        }"""
    )
    (p1, v1), (p2, v2) = samples
    assert p2 > p1 > 0.2
    assert abs(p1 - v1) < 0.1 and abs(p2 - v2) < 0.1
    info = page.evaluate("d2mStudio.timelines()[0]")
    assert info["bound"] and info["video"] == SELECTOR and info["beats"] == 13


def test_click_and_drag_on_the_canvas_seek(page, site):
    box = page.locator(".d2m-timeline canvas").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.click(box["x"] + 0.5 * box["width"], y)
    assert video_time(page) == pytest.approx(site["T"] / 2, abs=0.1)

    page.mouse.move(box["x"] + 0.2 * box["width"], y)
    page.mouse.down()
    assert video_time(page) == pytest.approx(site["T"] * 0.2, abs=0.1)
    page.mouse.move(box["x"] + 0.7 * box["width"], y, steps=6)
    page.mouse.up()
    assert video_time(page) == pytest.approx(site["T"] * 0.7, abs=0.1)
    page.wait_for_function(
        f"() => Math.abs(d2mStudio.timelines()[0].playhead_s - 0.7 * {site['T']}) < 0.1"
    )


RECORD_CLICKS = """async (ms) => {
    const {ctx, bus} = d2mStudio.audio;
    const v = document.querySelector('#dance-video video');
    // The recorder sees the bus block by block; `currentTime` in the worklet is the block's start.
    const code = `class Rec extends AudioWorkletProcessor {
        constructor() {
            super(); this.buf = new Float32Array(128 * 32); this.n = 0; this.t0 = 0; this.on = true;
            this.port.onmessage = () => { this.flush(); this.on = false; };
        }
        flush() { if (this.n) this.port.postMessage({t0: this.t0, data: this.buf.slice(0, this.n)});
                  this.n = 0; }
        process(inputs) {
            if (!this.on) return false;
            const ch = inputs[0] && inputs[0][0];
            const next = this.t0 + this.n / sampleRate;  // blocks are contiguous, or a new chunk
            if (this.n && Math.abs(currentTime - next) > 1e-6) this.flush();
            if (this.n === 0) this.t0 = currentTime;
            if (ch) this.buf.set(ch, this.n); else this.buf.fill(0, this.n, this.n + 128);
            this.n += 128;
            if (this.n === this.buf.length) this.flush();
            return true;
        }
    }
    registerProcessor('d2m-test-rec', Rec);`;
    const url = URL.createObjectURL(new Blob([code], {type: 'application/javascript'}));
    await ctx.audioWorklet.addModule(url);
    const rec = new AudioWorkletNode(ctx, 'd2m-test-rec', {numberOfOutputs: 1});
    const chunks = [];
    rec.port.onmessage = (e) => chunks.push(e.data);
    bus.connect(rec);
    rec.connect(ctx.destination);

    const pairs = [];
    let recording = true;
    const sample = () => {
        if (!recording) return;
        if (!v.paused && !v.seeking) pairs.push([ctx.currentTime, v.currentTime]);
        requestAnimationFrame(sample);
    };
    v.currentTime = 0;
    await new Promise(r => v.seeking ? v.addEventListener('seeked', r, {once: true}) : r());
    await v.play();
    requestAnimationFrame(sample);
    await new Promise(r => setTimeout(r, ms));
    v.pause();
    recording = false;
    await new Promise(r => setTimeout(r, 300));
    rec.port.postMessage('stop');
    await new Promise(r => setTimeout(r, 200));
    bus.disconnect(rec);
    const b64 = (f32) => {
        const u8 = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
        let s = '';
        for (let i = 0; i < u8.length; i += 0x8000) {
            s += String.fromCharCode(...u8.subarray(i, i + 0x8000));
        }
        return btoa(s);
    };
    return {sr: ctx.sampleRate, base_latency: ctx.baseLatency, output_latency: ctx.outputLatency,
            chunks: chunks.map(c => ({t0: c.t0, data: b64(c.data)})), pairs,
            log: d2mStudio.clickLog.slice()};
}"""


def onsets(chunks: list[dict], sr: float, threshold=0.05, refractory_s=0.15) -> np.ndarray:
    """Context times where the recorded bus first rises above `threshold` after a quiet gap."""
    found: list[float] = []
    for chunk in chunks:
        x = np.frombuffer(base64.b64decode(chunk["data"]), dtype="<f4")
        for i in np.flatnonzero(np.abs(x) > threshold):
            t = chunk["t0"] + i / sr
            if not found or t - found[-1] > refractory_s:
                found.append(t)
    return np.array(found)


def test_metronome_clicks_land_on_the_beats(page, site):
    button = page.locator("button.d2m-clicks")
    assert button.get_attribute("aria-pressed") == "false"
    button.click()
    assert button.get_attribute("aria-pressed") == "true"
    assert "on" in button.inner_text()
    page.wait_for_function("() => d2mStudio.audio.ctx && d2mStudio.audio.ctx.state === 'running'")

    rec = page.evaluate(RECORD_CLICKS, 4000)
    assert rec["log"], "no click was scheduled"
    pairs = np.array(rec["pairs"])
    assert len(pairs) > 30, "too few animation frames while playing"
    slope, offset = np.polyfit(pairs[:, 0], pairs[:, 1], 1)  # video time from context time
    assert slope == pytest.approx(1.0, abs=0.02)
    clicks_v = slope * onsets(rec["chunks"], rec["sr"]) + offset

    beats = np.array(timeline_data(site["T"])["beats_s"])
    lo, hi = pairs[0, 1] + 0.15, pairs[-1, 1] - 0.15
    played = beats[(beats > lo) & (beats < hi)]
    assert len(played) >= 5
    assert len(clicks_v), "no click was heard on the bus"
    signed = np.array([(clicks_v - b)[np.argmin(np.abs(clicks_v - b))] for b in played])
    beat_err = np.abs(signed)
    click_err = np.array([np.min(np.abs(beats - c)) for c in clicks_v])
    print(
        f"\nclicks: {len(clicks_v)} heard for {len(played)} beats played;"
        f" max |click - beat| {1000 * beat_err.max():.1f} ms, mean {1000 * beat_err.mean():.1f} ms;"
        f" signed {np.round(1000 * signed, 1).tolist()} ms;"
        f" worst stray click {1000 * click_err.max():.1f} ms; fit slope {slope:.4f};"
        f" sample rate {rec['sr']}, base latency {rec['base_latency']},"
        f" output latency {rec['output_latency']}"
    )
    assert beat_err.max() < 0.030, beat_err
    assert click_err.max() < 0.030, click_err
    entry = rec["log"][0]
    assert set(entry) == {"beat_s", "ctx_time", "video_time_at_schedule", "ctx_time_at_schedule"}


def test_beats_flash_on_the_video(page):
    play_for(page, 2.0)
    info = page.evaluate("d2mStudio.timelines()[0]")
    assert info["flashes"] >= 2
    assert page.locator("#dance-video .d2m-flash").count() == 1
    flash = page.locator("#dance-video .d2m-flash").bounding_box()
    video = page.locator("#dance-video video").bounding_box()
    assert flash == pytest.approx(video, abs=1)  # the ring covers the video itself


def test_tap_tempo_and_the_t_key(page):
    taps = page.evaluate(
        """async () => {
            const v = document.querySelector('#dance-video video');
            const seek = async (t) => {
                v.currentTime = t;
                await new Promise(r => v.addEventListener('seeked', r, {once: true}));
            };
            v.pause();
            const out = [];
            for (const t of [1.0, 1.6, 2.2, 2.8]) {
                await seek(t);
                out.push(d2mStudio.tap('#dance-video'));
            }
            await seek(0.5);
            out.push(d2mStudio.tap('#dance-video'));
            return out;
        }"""
    )
    assert json.loads(taps[3]) == [1.0, 1.6, 2.2, 2.8]
    assert json.loads(taps[4]) == [0.5]
    assert page.evaluate("d2mStudio.taps('#dance-video')") == [0.5]

    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("t")
    assert page.evaluate("window.tapClicks") == 1
    page.focus("#typing")
    page.keyboard.press("t")  # typing a "t" is not a tap
    assert page.evaluate("window.tapClicks") == 1
    page.evaluate("d2mStudio.clearTaps('#dance-video')")
    assert page.evaluate("d2mStudio.taps('#dance-video')") == []


def ab_state(page) -> dict:
    states = page.evaluate("d2mStudio.abState()")
    assert len(states) == 1
    return states[0]


def test_ab_player_follows_the_video(page):
    play = """async () => { const v = document.querySelector('.d2m-ab video'); v.currentTime = 0.5;
                            await v.play(); await new Promise(r => setTimeout(r, 1000)); }"""
    page.evaluate(play)
    s = ab_state(page)
    assert s["active"] == "a" and not s["a_muted"] and s["b_muted"]
    assert not s["a_paused"] and not s["b_paused"]
    assert s["video_time"] > 1.2
    assert abs(s["a_time"] - s["video_time"]) < 0.1 and abs(s["b_time"] - s["video_time"]) < 0.1

    page.click("button.d2m-ab-b")
    assert page.get_attribute("button.d2m-ab-b", "aria-pressed") == "true"
    assert page.get_attribute("button.d2m-ab-a", "aria-pressed") == "false"
    page.wait_for_timeout(300)
    s = ab_state(page)
    assert s["active"] == "b" and s["a_muted"] and not s["b_muted"]
    assert abs(s["a_time"] - s["video_time"]) < 0.1 and abs(s["b_time"] - s["video_time"]) < 0.1

    page.evaluate("document.querySelector('.d2m-ab video').pause()")
    s = ab_state(page)
    assert s["a_paused"] and s["b_paused"]


def test_rerender_keeps_the_clicks_toggle_and_removal_unbinds(page, site):
    page.click("button.d2m-clicks")
    new = dict(timeline_data(site["T"]), beats_s=beat_grid(site["T"], 0.25, 0.5))
    page.evaluate(
        "(d) => document.querySelector('.d2m-timeline').setAttribute('data-timeline', d)",
        json.dumps(new),
    )
    page.wait_for_function(f"() => d2mStudio.timelines()[0].beats === {len(new['beats_s'])}")
    info = page.evaluate("d2mStudio.timelines()")
    assert len(info) == 1 and info[0]["clicks_on"]
    assert page.locator(".d2m-timeline canvas").count() == 1
    assert page.locator(".d2m-timeline .d2m-legend").count() == 1  # the server's part is kept
    assert page.get_attribute("button.d2m-clicks", "aria-pressed") == "true"

    # Gradio swaps the whole element for a new one: the toggle comes back on.
    page.evaluate(
        "(d) => { const el = document.querySelector('.d2m-timeline');"
        ' el.outerHTML = `<div class="d2m-timeline"></div>`;'
        " document.querySelector('.d2m-timeline').setAttribute('data-timeline', d); }",
        json.dumps(timeline_data(site["T"])),
    )
    page.wait_for_function(
        "() => d2mStudio.timelines().length === 1 && d2mStudio.timelines()[0].beats === 13"
    )
    assert page.evaluate("d2mStudio.timelines()[0].clicks_on")

    page.evaluate("document.querySelector('.d2m-timeline').remove()")
    page.wait_for_function("() => d2mStudio.timelines().length === 0")
    page.evaluate("document.querySelector('.d2m-ab').remove()")
    page.wait_for_function("() => d2mStudio.abState().length === 0")


@pytest.mark.parametrize("width,height", [(1400, 900), (390, 844)])
def test_screenshots(browser, site, width, height):
    pg = browser.new_page(viewport={"width": width, "height": height})
    try:
        pg.goto(site["url"])
        pg.wait_for_function(
            "() => window.d2mStudio && d2mStudio.timelines().length === 1"
            " && document.querySelector('#dance-video video').readyState >= 2"
        )
        pg.evaluate("document.querySelector('#dance-video video').currentTime = 3.0")
        pg.wait_for_function("() => Math.abs(d2mStudio.timelines()[0].playhead_s - 3.0) < 0.01")
        assert pg.evaluate("document.documentElement.scrollWidth") <= width, "sideways scrolling"
        path = site["dir"] / f"studio_{width}x{height}.png"
        pg.screenshot(path=str(path), full_page=True)
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SHOTS / path.name)
    finally:
        pg.close()
