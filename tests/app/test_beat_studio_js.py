"""assets/beat_studio.js in a real browser: headless system Chromium (via Playwright) on a static
harness page that holds the parts the app renders (a dance video, a beat timeline, an A/B player).

No Gradio here: the harness is served from the test's tmp folder by http.server. A second page,
long.html, holds a 60 s clip with a 146 BPM timeline (145 beats) and a music lane, which the
timeline shows through a window that follows the playhead. The metronome tests record the clicks'
audio from the shared bus with an AudioWorklet and check their timing against the beats.
Screenshots land in the tmp folder and in /tmp/studio_shots/.
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


LONG_S = 60.0  # the long clip: 60 s at 146 BPM, like a phone clip of a fast dance
LONG_PERIOD_S = 60 / 146
LONG = "#long-video"
HARD_DRIFT_S = 0.25  # the A/B player re-seeks an audio only past this


def long_timeline_data() -> dict:
    beats = beat_grid(LONG_S, 0.5, LONG_PERIOD_S)
    env_t = np.linspace(0, LONG_S, 800)
    pulse = 0.5 + 0.45 * np.cos(2 * np.pi * (env_t - beats[0]) / LONG_PERIOD_S)
    envelope = pulse * (0.65 + 0.35 * np.sin(2 * np.pi * env_t / 17))
    return {
        "video": LONG,
        "duration_s": LONG_S,
        "envelope": [round(float(v), 3) for v in envelope],
        "beats_s": beats,
        "auto_beats_s": None,
        "music_beats_s": beat_grid(LONG_S, 0.51, LONG_PERIOD_S),
        "cuts_s": [21.3, 44.0],
        "labels": {
            "envelope": "how sharply the body moves",
            "beats": "beats",
            "music": "music beats",
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
LONG_LEGEND = (
    '<div class="d2m-legend"><strong>Beat timeline</strong>'
    '<span class="d2m-key d2m-key-envelope">how sharply the body moves</span>'
    '<span class="d2m-key d2m-key-beat">beats</span>'
    '<span class="d2m-key d2m-key-music">music beats</span>'
    '<span class="d2m-key d2m-key-cut">scene cut</span></div>'
)


def attr(data: dict) -> str:
    return html.escape(json.dumps(data), quote=True)


def write_long_video(path: Path, seconds: float = LONG_S, fps: int = 10) -> None:
    """A small grey clip (a key frame every second, so seeks are quick)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": str(fps)}
        for i in range(int(seconds * fps)):
            img = np.full((64, 96, 3), 60 + (i * 3) % 120, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def page_html(title: str, body: str) -> str:
    return f"""<!doctype html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="beat_studio.css">
<script src="beat_studio.js"></script>
<style>
  body {{ font-family: system-ui, sans-serif; margin: 12px; max-width: 960px; }}
  #dance-video video, #long-video video {{ display: block; max-width: 100%; max-height: 260px; }}
  section {{ margin: 12px 0; }}
</style></head>
<body>
{body}
</body></html>"""


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
    body = f"""<h3>d2m beat studio</h3>
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
</section>"""
    page = page_html("beat studio harness", body)
    (folder / "index.html").write_text(page, encoding="utf-8")

    write_long_video(folder / "long.mp4")
    long_body = f"""<h3>d2m beat studio: a long clip</h3>
<section>
  <div id="long-video">
    <video src="long.mp4" muted playsinline controls preload="auto"></video>
  </div>
</section>
<section>
  <div class="d2m-timeline" data-timeline="{attr(long_timeline_data())}">{LONG_LEGEND}</div>
</section>"""
    (folder / "long.html").write_text(page_html("long clip", long_body), encoding="utf-8")
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
    # A short clip is drawn whole, as it always was: no window, no overview strip.
    info = page.evaluate("d2mStudio.timelines()[0]")
    assert info["window"] == {"start_s": 0, "span_s": site["T"]} and not info["overview"]
    assert not page.locator(".d2m-timeline canvas.d2m-tl-overview").is_visible()

    box = page.locator(".d2m-timeline canvas.d2m-tl-canvas").bounding_box()
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


def heard(rec: dict) -> np.ndarray:
    """Context times the recorded clicks are heard at: the recorder taps the bus before the output,
    so each onset gets back the output latency its click was sent early by (from the click log)."""
    bus = onsets(rec["chunks"], rec["sr"])
    log = rec["log"]
    if not len(bus) or not log:
        return bus
    when = np.array([e["ctx_time"] for e in log])
    latency = np.array([e["latency_s"] for e in log])
    nearest = np.abs(bus[:, None] - when[None, :]).argmin(axis=1)
    return bus + latency[nearest]


def expected_latency(base, output) -> float:
    """What the script sends clicks early by: base + output latency, missing ones 0, in [0, 0.2]."""
    part = [x if isinstance(x, int | float) and np.isfinite(x) else 0.0 for x in (base, output)]
    return float(np.clip(sum(part), 0.0, 0.2))


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


def click_errors(rec: dict, beats: np.ndarray) -> dict:
    """Heard clicks against the beats, in video time (from a fit of video time on context time)."""
    pairs = np.array(rec["pairs"])
    assert len(pairs) > 30, "too few animation frames while playing"
    slope, offset = np.polyfit(pairs[:, 0], pairs[:, 1], 1)  # video time from context time
    clicks_v = slope * heard(rec) + offset
    bus_v = slope * onsets(rec["chunks"], rec["sr"]) + offset
    lo, hi = pairs[0, 1] + 0.15, pairs[-1, 1] - 0.15
    played = beats[(beats > lo) & (beats < hi)]
    assert len(clicks_v), "no click was heard on the bus"

    def signed(times):
        return np.array([(times - b)[np.argmin(np.abs(times - b))] for b in played])

    return {
        "slope": slope,
        "played": played,
        "clicks_v": clicks_v,
        "signed": signed(clicks_v),
        "bus_signed": signed(bus_v),  # before the latency is added back: early by it
        "stray": np.array([np.min(np.abs(beats - c)) for c in clicks_v]),
    }


def test_metronome_clicks_land_on_the_beats(page, site):
    button = page.locator("button.d2m-clicks")
    assert button.get_attribute("aria-pressed") == "false"
    button.click()
    assert button.get_attribute("aria-pressed") == "true"
    assert "on" in button.inner_text()
    page.wait_for_function("() => d2mStudio.audio.ctx && d2mStudio.audio.ctx.state === 'running'")

    rec = page.evaluate(RECORD_CLICKS, 4000)
    assert rec["log"], "no click was scheduled"
    beats = np.array(timeline_data(site["T"])["beats_s"])
    e = click_errors(rec, beats)
    assert e["slope"] == pytest.approx(1.0, abs=0.02)
    assert len(e["played"]) >= 5
    beat_err = np.abs(e["signed"])
    latency = expected_latency(rec["base_latency"], rec["output_latency"])
    print(
        f"\nclicks: {len(e['clicks_v'])} heard for {len(e['played'])} beats played;"
        f" max |click - beat| {1000 * beat_err.max():.1f} ms, mean {1000 * beat_err.mean():.1f} ms"
        f" (heard: bus onset + {1000 * latency:.1f} ms latency);"
        f" signed {np.round(1000 * e['signed'], 1).tolist()} ms;"
        f" on the bus {np.round(1000 * e['bus_signed'], 1).tolist()} ms;"
        f" worst stray click {1000 * e['stray'].max():.1f} ms; fit slope {e['slope']:.4f};"
        f" sample rate {rec['sr']}, base latency {rec['base_latency']},"
        f" output latency {rec['output_latency']}"
    )
    assert beat_err.max() < 0.030, beat_err
    assert e["stray"].max() < 0.030, e["stray"]
    entry = rec["log"][0]
    assert set(entry) == {
        "beat_s",
        "ctx_time",
        "video_time_at_schedule",
        "ctx_time_at_schedule",
        "latency_s",
    }
    assert all(x["latency_s"] == pytest.approx(latency, abs=1e-9) for x in rec["log"])


# Report made-up output latencies from the page's AudioContext (own properties shadow the real
# getters), so the test knows what the clicks must allow for.
FAKE_LATENCY = """([base, output]) => {
    const ctx = d2mStudio.audio.ctx;
    for (const [name, value] of [['baseLatency', base], ['outputLatency', output]]) {
        Object.defineProperty(ctx, name, {value, configurable: true});
    }
}"""


def test_clicks_go_out_early_by_the_output_latency(page, site):
    page.click("button.d2m-clicks")
    page.wait_for_function("() => d2mStudio.audio.ctx && d2mStudio.audio.ctx.state === 'running'")
    page.evaluate(FAKE_LATENCY, [0.01, 0.09])
    rec = page.evaluate(RECORD_CLICKS, 3000)
    beats = np.array(timeline_data(site["T"])["beats_s"])
    e = click_errors(rec, beats)
    log = rec["log"]
    print(
        f"\nfake latency 100 ms: heard - beat {np.round(1000 * e['signed'], 1).tolist()} ms;"
        f" on the bus {np.round(1000 * e['bus_signed'], 1).tolist()} ms"
    )
    assert len(e["played"]) >= 3
    assert all(x["latency_s"] == pytest.approx(0.1) for x in log)
    for x in log:  # each click is scheduled for when the video reaches its beat, less the latency
        ahead = x["beat_s"] - x["video_time_at_schedule"]
        assert x["ctx_time"] == pytest.approx(x["ctx_time_at_schedule"] + ahead - 0.1, abs=1e-6)
    assert np.abs(e["signed"]).max() < 0.030, e["signed"]
    assert np.median(e["bus_signed"]) == pytest.approx(-0.1, abs=0.03)  # really went out early

    # A missing or broken value counts as 0; a wild one is capped at 0.2 s.
    for base, output in [(None, float("nan")), (0.01, 5.0), (-1.0, 0.02)]:
        page.evaluate(FAKE_LATENCY, [base, output])
        page.evaluate("d2mStudio.clickLog.length = 0")
        play_for(page, 0.8, start=1.0)
        got = {round(x["latency_s"], 6) for x in page.evaluate("d2mStudio.clickLog")}
        assert got == {round(expected_latency(base, output), 6)}, (base, output, got)


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


# Seek the harness video to `t` and tap; returns the taps the script gives back.
TAP_AT = """async (t) => {
    const v = document.querySelector('#dance-video video');
    v.pause();
    v.currentTime = t;
    await new Promise(r => v.addEventListener('seeked', r, {once: true}));
    return JSON.parse(d2mStudio.tap('#dance-video'));
}"""


def set_timeline(page, data: dict) -> None:
    """Re-render the timeline as the server would, and wait until the script bound it."""
    page.evaluate(
        "(d) => document.querySelector('.d2m-timeline').setAttribute('data-timeline', d)",
        json.dumps(data),
    )
    page.wait_for_function(
        "(n) => d2mStudio.timelines().length === 1 && d2mStudio.timelines()[0].beats === n",
        arg=len(data["beats_s"]),
    )


def test_taps_start_afresh_on_a_new_dance(page, site):
    """A tap list belongs to one dance: a new video source or a timeline of another length (a new
    upload) starts a new list; a re-rendered timeline of the same dance keeps it."""
    taps = "d2mStudio.taps('#dance-video')"
    assert page.evaluate(TAP_AT, 1.0) == [1.0]
    assert page.evaluate(TAP_AT, 1.5) == [1.0, 1.5]

    # The same dance re-rendered (its beats corrected from the taps): the list goes on.
    set_timeline(page, dict(timeline_data(site["T"]), beats_s=beat_grid(site["T"], 0.25, 0.5)))
    assert page.evaluate(taps) == [1.0, 1.5]
    assert page.evaluate(TAP_AT, 2.0) == [1.0, 1.5, 2.0]

    # Another dance's timeline (another duration) replaces it: the old taps are dropped at once.
    set_timeline(page, dict(timeline_data(site["T"]), duration_s=site["T"] - 0.5))
    assert page.evaluate(taps) == []
    assert page.evaluate(TAP_AT, 2.5) == [2.5]

    # A new video in the same player (same timeline duration): the next tap starts a new list.
    page.evaluate(
        """async () => {
            const v = document.querySelector('#dance-video video');
            v.src = 'long.mp4';
            await new Promise(r => v.addEventListener('loadeddata', r, {once: true}));
        }"""
    )
    assert page.evaluate(TAP_AT, 3.0) == [3.0]
    assert page.evaluate(TAP_AT, 3.4) == [3.0, 3.4]

    # The timeline unbound (its dance cleared): so are its taps.
    page.evaluate("document.querySelector('.d2m-timeline').remove()")
    page.wait_for_function("() => d2mStudio.timelines().length === 0")
    assert page.evaluate(taps) == []


def test_play_button_plays_and_pauses_the_video(page):
    button = page.locator(".d2m-timeline button.d2m-play")
    tools = page.locator(".d2m-timeline .d2m-tl-tools button")
    assert tools.nth(0).get_attribute("class") == "d2m-play"  # beside the clicks toggle
    assert tools.nth(1).get_attribute("class") == "d2m-clicks"
    assert button.inner_text() == "▶ Play" and button.is_enabled()
    video = "document.querySelector('#dance-video video')"

    button.click()
    page.wait_for_function(f"() => !{video}.paused && {video}.currentTime > 0.2")
    page.wait_for_function("() => document.querySelector('.d2m-play').textContent === '❚❚ Pause'")
    button.click()
    page.wait_for_function(f"() => {video}.paused")
    page.wait_for_function("() => document.querySelector('.d2m-play').textContent === '▶ Play'")
    stopped_at = video_time(page)
    page.wait_for_timeout(300)
    assert video_time(page) == stopped_at

    # The label follows the video however it is played (its own controls, the keyboard...).
    page.evaluate(f"{video}.play()")
    page.wait_for_function("() => document.querySelector('.d2m-play').textContent === '❚❚ Pause'")
    page.evaluate(f"{video}.pause()")
    page.wait_for_function("() => document.querySelector('.d2m-play').textContent === '▶ Play'")


def ab_state(page) -> dict:
    states = page.evaluate("d2mStudio.abState()")
    assert len(states) == 1
    return states[0]


# The A/B audios start ~0.1 s behind the video (an audio element's own start-up in headless
# Chromium) and are nudged onto it within a few seconds; no sample may be further off than this.
AB_GAP_S = 0.15


def test_ab_player_follows_the_video(page):
    play = """async () => { const v = document.querySelector('.d2m-ab video'); v.currentTime = 0.5;
                            await v.play(); await new Promise(r => setTimeout(r, 1000)); }"""
    page.evaluate(play)
    s = ab_state(page)
    assert s["active"] == "a" and not s["a_muted"] and s["b_muted"]
    assert not s["a_paused"] and not s["b_paused"]
    assert s["video_time"] > 1.2
    assert abs(s["a_time"] - s["video_time"]) < AB_GAP_S
    assert abs(s["b_time"] - s["video_time"]) < AB_GAP_S

    page.click("button.d2m-ab-b")
    assert page.get_attribute("button.d2m-ab-b", "aria-pressed") == "true"
    assert page.get_attribute("button.d2m-ab-a", "aria-pressed") == "false"
    page.wait_for_timeout(300)
    s = ab_state(page)
    assert s["active"] == "b" and s["a_muted"] and not s["b_muted"]
    assert abs(s["a_time"] - s["video_time"]) < AB_GAP_S
    assert abs(s["b_time"] - s["video_time"]) < AB_GAP_S

    page.evaluate("document.querySelector('.d2m-ab video').pause()")
    s = ab_state(page)
    assert s["a_paused"] and s["b_paused"]


# Samples the A/B player every 50 ms while its video plays: each audio's gap to the video
# (audio - video, s) and rate; and every seek of an audio while it plays (a pause also aligns
# them), with the video time it happened at.
AB_TRACE = """async (start) => {
    const v = document.querySelector('.d2m-ab video');
    const audios = [...document.querySelectorAll('.d2m-ab audio')];
    const trace = window.abTrace = {samples: [], seeks: []};
    audios.forEach((a, i) => a.addEventListener('seeking', () => {
        if (!v.paused) trace.seeks.push(['ab'[i], performance.now(), v.currentTime]);
    }));
    v.currentTime = start;
    await new Promise(r => v.addEventListener('seeked', r, {once: true}));
    await v.play();
    trace.started = performance.now();
    trace.timer = setInterval(() => {
        if (v.paused) return;
        trace.samples.push({at: performance.now(), t: v.currentTime,
                            gap: audios.map(a => a.currentTime - v.currentTime),
                            rate: audios.map(a => a.playbackRate)});
    }, 50);
}"""


def ab_trace(page) -> dict:
    return page.evaluate("(() => { const t = window.abTrace; return {...t, timer: 0}; })()")


def test_ab_audio_is_nudged_onto_the_video_not_reseeked(page):
    """Over 3 s of playback the audios are seeked only at the start, and the start-up lag is played
    off by a slightly faster rate (no skips): the gaps shrink, and never pass AB_GAP_S."""
    page.evaluate(AB_TRACE, 0.3)
    page.wait_for_timeout(3000)
    page.evaluate("document.querySelector('.d2m-ab video').pause()")
    trace = ab_trace(page)
    samples = trace["samples"]
    gaps = np.array([s["gap"] for s in samples])  # [n, 2]: a (heard), b
    rates = np.array([s["rate"] for s in samples])
    late_seeks = [s for s in trace["seeks"] if s[1] > trace["started"] + 300]
    print(
        f"\nA/B over 3 s: max |audio - video| {1000 * np.abs(gaps).max():.0f} ms;"
        f" heard track {np.round(1000 * gaps[::6, 0]).astype(int).tolist()} ms every 0.3 s,"
        f" its rate {np.round(rates[::6, 0], 3).tolist()};"
        f" seeks {len(trace['seeks'])} ({len(late_seeks)} after the start)"
    )
    assert len(samples) > 30
    assert np.abs(gaps).max() < AB_GAP_S, gaps
    assert not late_seeks, late_seeks
    settling = np.array([s["at"] > trace["started"] + 300 for s in samples])  # past the start
    for k in range(2):
        start, end = np.abs(gaps[:10, k]).max(), np.abs(gaps[-5:, k]).max()
        assert end < 0.02 + 1e-3 or end < start - 0.02, (k, start, end)  # settled, or catching up
        behind = settling & (gaps[:, k] < -0.03)  # clearly behind: it plays faster (by < 2.5 %)
        assert np.all(rates[behind, k] > 1.0) and np.all(rates[:, k] <= 1.025 + 1e-9)


def test_ab_big_drift_is_reseeked_small_drift_nudged(page):
    page.evaluate(AB_TRACE, 0.3)
    page.wait_for_timeout(800)
    # A small drift (audio a put 60 ms behind; its restart adds to that): nudged, not seeked.
    mark = page.evaluate(
        "() => { const v = document.querySelector('.d2m-ab video');"
        " const a = document.querySelector('.d2m-ab audio');"
        " a.currentTime = v.currentTime - 0.06; return performance.now(); }"
    )
    page.wait_for_timeout(1200)
    trace = ab_trace(page)
    after = [s for s in trace["samples"] if s["at"] > mark + 300]
    seeks = [s for s in trace["seeks"] if s[0] == "a" and s[1] >= mark]
    small = [s["gap"][0] for s in after]
    assert len(seeks) == 1, seeks  # ours; none by the script
    assert max(small) < 0 and min(small) > -HARD_DRIFT_S
    assert all(s["rate"][0] > 1.0 for s in after if s["gap"][0] < -0.03)

    # A big one (0.6 s ahead): the script seeks it back at once.
    mark = page.evaluate(
        "() => { const v = document.querySelector('.d2m-ab video');"
        " const a = document.querySelector('.d2m-ab audio');"
        " a.currentTime = v.currentTime + 0.6; return performance.now(); }"
    )
    page.wait_for_timeout(1000)
    page.evaluate("document.querySelector('.d2m-ab video').pause()")
    trace = ab_trace(page)
    script_seeks = [s for s in trace["seeks"] if s[0] == "a" and s[1] >= mark][1:]  # not ours
    last = [s["gap"][0] for s in trace["samples"] if s["at"] > mark + 700]
    print(
        f"\nA/B drift: 60 ms behind -> gaps {np.round(1000 * np.array(small)).astype(int).tolist()}"
        f" ms, no seek; 600 ms ahead -> {len(script_seeks)} seek(s), then"
        f" {np.round(1000 * np.array(last)).astype(int).tolist()} ms"
    )
    assert len(script_seeks) >= 1
    assert last and max(abs(g) for g in last) < AB_GAP_S


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
    assert page.locator(".d2m-timeline canvas.d2m-tl-canvas").count() == 1
    assert page.locator(".d2m-timeline canvas.d2m-tl-overview").count() == 1
    assert page.locator(".d2m-timeline button.d2m-play").count() == 1
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


# ------------------------------------------------------------------------------------------
# the long clip: a window that follows the playhead, and the overview strip


@pytest.fixture(params=[(1400, 900), (390, 844)], ids=["wide", "phone"])
def long_page(browser, site, request):
    width, height = request.param
    pg = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(site["url"].replace("index.html", "long.html"))
    pg.wait_for_function(
        "() => window.d2mStudio && d2mStudio.timelines().length === 1"
        " && d2mStudio.timelines()[0].bound"
        " && document.querySelector('#long-video video').readyState >= 2",
        timeout=15_000,
    )
    pg.viewport = request.param
    yield pg
    pg.close()
    assert not errors, errors


def long_entry(page) -> dict:
    return page.evaluate("d2mStudio.timelines()[0]")


def follow_start(t: float, span: float) -> float:
    """Where the window starts for playhead `t`: 30 % in, clamped to the clip."""
    return min(max(t - 0.3 * span, 0.0), LONG_S - span)


def seek_long(page, t: float) -> dict:
    """Seek the long clip (paused), wait for the timeline to draw it; returns its entry."""
    page.evaluate(
        """async (t) => {
            const v = document.querySelector('#long-video video');
            v.pause();
            v.currentTime = t;
            await new Promise(r => v.addEventListener('seeked', r, {once: true}));
        }""",
        t,
    )
    page.wait_for_function(
        "(t) => Math.abs(d2mStudio.timelines()[0].playhead_s - t) < 1e-3", arg=t, timeout=5_000
    )
    return long_entry(page)


def wait_idle(page) -> dict:
    page.wait_for_timeout(100)
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return long_entry(page)


def test_long_clip_shows_a_window_that_follows_the_playhead(long_page):
    page = long_page
    width, _ = page.viewport
    data = long_timeline_data()
    assert len(data["beats_s"]) == 145
    canvas_w = page.evaluate("document.querySelector('.d2m-tl-canvas').clientWidth")
    span = min(LONG_S, max(6.0, canvas_w / 40))
    e = seek_long(page, 0.0)
    assert e["overview"] and e["duration_s"] == LONG_S
    assert e["window"] == {"start_s": 0, "span_s": pytest.approx(span)}
    px_per_beat = canvas_w / span * LONG_PERIOD_S
    assert px_per_beat >= 10  # beats stand apart (drawn whole they were 2-6 px apart)
    strip = page.locator(".d2m-timeline canvas.d2m-tl-overview").bounding_box()
    assert strip["height"] == pytest.approx(18, abs=0.5)
    assert strip["width"] == pytest.approx(canvas_w, abs=1)
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "sideways scrolling"

    # While playing, the window scrolls with the playhead (held 30 % in): start moves as t does.
    frames = page.evaluate(
        """async () => {
            const v = document.querySelector('#long-video video');
            v.currentTime = 20;
            await new Promise(r => v.addEventListener('seeked', r, {once: true}));
            await v.play();
            const out = [];
            const t0 = performance.now();
            while (performance.now() - t0 < 1200) {
                await new Promise(r => requestAnimationFrame(r));
                const e = d2mStudio.timelines()[0];
                if (!v.paused) out.push([e.playhead_s, e.window.start_s, e.window.span_s]);
            }
            v.pause();
            return out;
        }"""
    )
    frames = np.array([f for f in frames if f[0] > 20.05])
    assert len(frames) > 15 and frames[-1, 0] > 20.8
    assert np.allclose(frames[:, 1], frames[:, 0] - 0.3 * span, atol=1e-6)
    steps = np.diff(frames[:, 1])
    assert np.all(steps >= 0) and steps.max() < 0.25  # smooth: frame by frame, no jumps

    # A seek makes it jump; near the ends it stops at the clip's edge.
    for t in (45.0, 2.0, 59.0, 30.0):
        e = seek_long(page, t)
        assert e["window"]["start_s"] == pytest.approx(follow_start(t, span), abs=1e-6), t
    print(
        f"\nlong clip at {width} px: canvas {canvas_w} px shows {span:.2f} s"
        f" ({px_per_beat:.1f} px between beats at 146 BPM); {len(frames)} frames of scrolling,"
        f" largest window step {1000 * steps.max():.0f} ms"
    )


def test_long_clip_seeks_in_the_window_and_on_the_overview(long_page):
    page = long_page
    e = seek_long(page, 30.0)
    start, span = e["window"]["start_s"], e["window"]["span_s"]
    main = page.locator(".d2m-timeline canvas.d2m-tl-canvas").bounding_box()
    y = main["y"] + main["height"] / 2
    at = main["x"] + 0.8 * main["width"]
    px_s = span / main["width"]  # one pixel in seconds
    errors = {}

    # A click on the main canvas seeks within the window, which holds still under the pointer.
    page.mouse.click(at, y)
    e = wait_idle(page)
    errors["click main 80%"] = e["playhead_s"] - (start + 0.8 * span)
    assert e["window"]["start_s"] == pytest.approx(start)
    page.mouse.move(main["x"] + 0.2 * main["width"], y)
    page.mouse.down()
    page.mouse.move(main["x"] + 0.6 * main["width"], y, steps=5)
    assert long_entry(page)["window"]["start_s"] == pytest.approx(start)  # no runaway while held
    page.mouse.up()
    e = wait_idle(page)
    errors["drag main to 60%"] = e["playhead_s"] - (start + 0.6 * span)
    assert e["window"]["start_s"] == pytest.approx(start)

    # Playing again, the held window glides back to following the playhead.
    play_for(page, 0.8, selector="#long-video video", start=e["playhead_s"])
    e = wait_idle(page)
    assert e["window"]["start_s"] == pytest.approx(follow_start(e["playhead_s"], span), abs=1e-6)

    # The overview seeks anywhere in the clip, and the window jumps there.
    strip = page.locator(".d2m-timeline canvas.d2m-tl-overview").bounding_box()
    sy = strip["y"] + strip["height"] / 2
    page.mouse.click(strip["x"] + 0.25 * strip["width"], sy)
    e = wait_idle(page)
    errors["click overview 25%"] = e["playhead_s"] - 0.25 * LONG_S
    assert e["window"]["start_s"] == pytest.approx(follow_start(e["playhead_s"], span), abs=1e-6)
    page.mouse.move(strip["x"] + 0.1 * strip["width"], sy)
    page.mouse.down()
    page.mouse.move(strip["x"] + 0.9 * strip["width"], sy, steps=8)
    page.mouse.up()
    e = wait_idle(page)
    errors["drag overview to 90%"] = e["playhead_s"] - 0.9 * LONG_S
    assert e["window"]["start_s"] == pytest.approx(follow_start(e["playhead_s"], span), abs=1e-6)

    overview_px_s = LONG_S / strip["width"]
    print(
        f"\nseeks on the long clip ({main['width']:.0f} px; 1 px = {1000 * px_s:.0f} ms on the"
        f" window, {1000 * overview_px_s:.0f} ms on the overview): errors "
        + ", ".join(f"{k} {1000 * v:+.0f} ms" for k, v in errors.items())
    )
    for name, err in errors.items():
        tolerance = (overview_px_s if "overview" in name else px_s) + 0.02
        assert abs(err) < tolerance, (name, err)


@pytest.mark.parametrize("width,height", [(1400, 900), (390, 844)])
def test_long_clip_screenshots(browser, site, width, height):
    pg = browser.new_page(viewport={"width": width, "height": height})
    try:
        pg.goto(site["url"].replace("index.html", "long.html"))
        pg.wait_for_function(
            "() => window.d2mStudio && d2mStudio.timelines().length === 1"
            " && document.querySelector('#long-video video').readyState >= 2"
        )
        seek_long(pg, 30.0)
        assert pg.evaluate("document.documentElement.scrollWidth") <= width, "sideways scrolling"
        path = site["dir"] / f"long_{width}.png"
        pg.screenshot(path=str(path), full_page=True)
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SHOTS / path.name)
    finally:
        pg.close()
