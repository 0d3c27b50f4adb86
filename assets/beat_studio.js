/* d2m beat studio: the browser side of the beat timeline, the metronome clicks, tap tempo and the
 * A/B player.
 *
 * The app renders these parts as plain HTML strings in gr.HTML components and Gradio replaces them
 * whenever a value changes, so this script finds and binds them itself: a MutationObserver on the
 * body rescans, every binding is keyed by its element and its data-* string (binding twice is a
 * no-op), and a binding whose element left the page is torn down (animation loops, timers and
 * listeners on videos go with it).
 *
 * Public surface: window.d2mStudio (see the bottom of this file).
 */
(() => {
  "use strict";
  if (window.d2mStudio) return; // the page head may be inserted twice

  const TIMELINE_SEL = "div.d2m-timeline[data-timeline]";
  const AB_SEL = "div.d2m-ab[data-ab]";
  const TAP_BUTTON_SELS = ["#tap-button button", "button#tap-button", "#tap-button"];

  // Timeline geometry in CSS pixels.
  const BASE_H = 96; // envelope + beats lane and the time axis
  const MUSIC_H = 28; // the extra lane for the music's beats
  const AXIS_H = 22;
  const OVERVIEW_H = 18; // the whole-clip strip under a windowed timeline
  const FONT = "11px system-ui, -apple-system, 'Segoe UI', sans-serif";

  // A long clip drawn whole turns its beats into a solid band, so the timeline shows a window of it
  // that follows the playhead: at least MIN_SPAN_S, and no denser than PX_PER_S.
  const MIN_SPAN_S = 6;
  const PX_PER_S = 40;
  const FOLLOW_AT = 0.3; // the playhead sits this far into a scrolling window
  const GLIDE_MS = 300; // a held window glides to its following place when playback starts

  // Timing.
  const LOOKAHEAD_S = 0.12; // clicks are scheduled this far ahead (in video time)
  const SCHEDULER_MS = 25;
  const MAX_LATENCY_S = 0.2; // the output latency clicks are sent early by is trusted up to this
  const LATE_OK_S = 0.01; // a click this late is still played; a later one is skipped
  const FLASH_MS = 120;
  const HIGHLIGHT_MS = 220;
  const HARD_DRIFT_S = 0.25; // A/B audio further than this from the video is re-seeked...
  const RESEEK_GAP_MS = 500; // ...but not more often than this, so a slow seek cannot thrash
  const SETTLED_S = 0.02; // closer than this, the audio plays at the video's own rate
  const NUDGE_MAX_S = 0.05; // between the two, the drift (counted up to this)...
  const NUDGE_GAIN = 0.5; // ...times this sets how much faster or slower the audio plays
  const RATE_STEP = 0.002; // smaller rate changes than this are not worth making
  const TAP_GAP_S = 3;
  const MAX_TAPS = 16;
  const MAX_LOG = 500;

  const FALLBACK_COLOURS = {
    envelope: "#3b82f6",
    beat: "#ea580c",
    auto: "#8b5cf6",
    music: "#a21caf",
    cut: "#6b7280",
    playhead: "#dc2626",
    flash: "#2a9d55",
    lane: "rgba(128, 128, 128, 0.10)",
  };

  const bindings = new Map(); // element -> binding (Timeline or AbPlayer); emptied as they leave
  const clicksWanted = new Map(); // video selector -> clicks on/off; outlives re-rendered timelines
  const tapLists = new Map(); // video selector -> {src, duration, list}: the taps on one dance
  const clickLog = []; // every scheduled click, for tests and debugging
  const audio = { ctx: null, bus: null }; // one AudioContext and master gain for all clicks

  // ---------------------------------------------------------------- small helpers

  const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));

  function parseJson(text) {
    try {
      const value = JSON.parse(text);
      return value && typeof value === "object" ? value : null;
    } catch (err) {
      console.warn("d2m studio: bad data attribute", err);
      return null;
    }
  }

  /** Finite numbers, sorted; anything else in the list is dropped. */
  function numberList(value) {
    if (!Array.isArray(value)) return null;
    return value.map(Number).filter(Number.isFinite).sort((a, b) => a - b);
  }

  /** Index of the first value >= t in a sorted list (binary search). */
  function firstAtOrAfter(sorted, t) {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The <video> a selector names: the element itself, or the first video inside it. */
  function queryVideo(selector) {
    let el = null;
    try {
      el = document.querySelector(selector);
    } catch (err) {
      return null; // a malformed selector names nothing
    }
    if (!el) return null;
    return el.tagName === "VIDEO" ? el : el.querySelector("video");
  }

  const isPlaying = (video) => !!video && !video.paused && !video.ended;

  /**
   * Follows the video behind a selector. Gradio creates and replaces the <video> lazily, so the
   * cached one is re-queried when it leaves the page (and every half second, in case another one
   * took its place), and `handlers` move with it.
   */
  class VideoTracker {
    constructor(selector, handlers) {
      this.selector = selector;
      this.handlers = handlers;
      this.video = null;
      this.checkedAt = 0;
    }

    get() {
      const now = performance.now();
      if (this.video && this.video.isConnected && now - this.checkedAt < 500) return this.video;
      this.checkedAt = now;
      const next = queryVideo(this.selector);
      if (next !== this.video) {
        this.detach();
        this.video = next;
        if (next) for (const [type, fn] of Object.entries(this.handlers)) next.addEventListener(type, fn);
      }
      return this.video;
    }

    detach() {
      if (!this.video) return;
      for (const [type, fn] of Object.entries(this.handlers)) this.video.removeEventListener(type, fn);
      this.video = null;
    }
  }

  function element(tag, className, attrs = {}) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    return el;
  }

  /** Colours come from CSS custom properties so the server's legend and dark mode can match. */
  function readColours(el) {
    const style = getComputedStyle(el);
    const out = { text: style.color || "#374151" };
    for (const [name, fallback] of Object.entries(FALLBACK_COLOURS)) {
      out[name] = style.getPropertyValue(`--d2m-${name}`).trim() || fallback;
    }
    return out;
  }

  function formatSeconds(t, step) {
    if (t >= 60) {
      const m = Math.floor(t / 60);
      const s = Math.round(t - m * 60);
      return `${m}:${String(s).padStart(2, "0")}`;
    }
    return `${step < 1 ? t.toFixed(1) : Math.round(t)}s`;
  }

  /** Size a canvas's backing store for `w` x `h` CSS pixels; true when it changed. */
  function sizeCanvas(canvas, w, h, dpr) {
    const bw = Math.round(w * dpr);
    const bh = Math.round(h * dpr);
    if (canvas.width === bw && canvas.height === bh) return false;
    canvas.width = bw;
    canvas.height = bh;
    return true;
  }

  /** Seconds of the clip from `start` to `start + span` drawn `w` pixels wide. */
  function makeScale(start, span, w) {
    return { start, end: start + span, w, px: (t) => ((t - start) / span) * w };
  }

  // ---------------------------------------------------------------- drawing on a 2D context

  /** The motion curve (evenly sampled over [0, duration]) in `lane`; only the part in `scale`. */
  function drawEnvelope(c, env, duration, scale, lane, colour, outline) {
    if (env.length < 2) return;
    const dt = duration / (env.length - 1);
    const i0 = clamp(Math.floor(scale.start / dt), 0, env.length - 1);
    const i1 = clamp(Math.ceil(scale.end / dt), 0, env.length - 1);
    const height = (lane.bottom - lane.top) * 0.9;
    const point = (i) => [scale.px(i * dt), lane.bottom - env[i] * height];
    c.save();
    c.beginPath();
    c.moveTo(point(i0)[0], lane.bottom);
    for (let i = i0; i <= i1; i++) c.lineTo(...point(i));
    c.lineTo(point(i1)[0], lane.bottom);
    c.closePath();
    c.globalAlpha = outline ? 0.3 : 0.45;
    c.fillStyle = colour;
    c.fill();
    if (outline) {
      c.globalAlpha = 0.9;
      c.strokeStyle = colour;
      c.lineWidth = 1.25;
      c.beginPath();
      c.moveTo(...point(i0));
      for (let i = i0 + 1; i <= i1; i++) c.lineTo(...point(i));
      c.stroke();
    }
    c.restore();
  }

  /** A vertical tick in `lane` for every time inside `scale` (the edge ones kept on the canvas). */
  function drawTicks(c, times, scale, lane, style) {
    c.save();
    c.strokeStyle = style.colour;
    c.lineWidth = style.width;
    c.globalAlpha = style.alpha;
    c.setLineDash(style.dash || []);
    c.beginPath();
    for (let i = firstAtOrAfter(times, scale.start); i < times.length && times[i] <= scale.end; i++) {
      const px = clamp(scale.px(times[i]), 0.75, scale.w - 0.75);
      c.moveTo(px, lane.top);
      c.lineTo(px, lane.bottom);
    }
    c.stroke();
    c.restore();
  }

  // ---------------------------------------------------------------- shared audio (clicks)

  /** Create (or wake) the one AudioContext; called from a click, which counts as a user gesture. */
  function ensureAudio() {
    if (!audio.ctx) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return null;
      audio.ctx = new Ctx({ latencyHint: "interactive" });
      audio.bus = audio.ctx.createGain();
      audio.bus.gain.value = 0.8;
      audio.bus.connect(audio.ctx.destination);
    }
    if (audio.ctx.state === "suspended") audio.ctx.resume().catch(() => {});
    return audio.ctx;
  }

  /**
   * How long after its context time a click is heard: WebAudio's own buffering plus the output
   * device's. The video element already allows for its output latency and WebAudio does not, so
   * clicks go out this much early. A browser that does not know gives 0; a wild value is capped.
   */
  function outputLatency(ctx) {
    const part = (x) => (Number.isFinite(x) ? x : 0);
    return clamp(part(ctx.baseLatency) + part(ctx.outputLatency), 0, MAX_LATENCY_S);
  }

  /** One short click at context time `when`: a 1.5 kHz sine with a 25 ms exponential decay. */
  function playClick(when) {
    const ctx = audio.ctx;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 1500;
    gain.gain.setValueAtTime(0.6, when);
    gain.gain.exponentialRampToValueAtTime(0.001, when + 0.025);
    osc.connect(gain).connect(audio.bus);
    osc.start(when);
    osc.stop(when + 0.03);
    osc.onended = () => gain.disconnect();
    return { osc, gain, when };
  }

  function cancelClick(click) {
    try {
      click.osc.stop(0);
    } catch (err) {
      /* already stopped */
    }
    click.gain.disconnect();
  }

  // ---------------------------------------------------------------- click or drag to seek

  /**
   * Click or drag on a canvas seeks: `seek(fraction, first)` gets the pointer's x as a fraction of
   * the canvas's width on press (first = true), on every move while pressed, and on release. The
   * pointer is captured, so a drag may leave the canvas.
   */
  class DragSeek {
    constructor(canvas, canStart, seek) {
      this.canvas = canvas;
      this.canStart = canStart;
      this.seek = seek;
      this.pointerId = null;
      canvas.addEventListener("pointerdown", (e) => this.onDown(e));
      canvas.addEventListener("pointermove", (e) => this.onMove(e));
      canvas.addEventListener("pointerup", (e) => this.onUp(e));
      canvas.addEventListener("pointercancel", (e) => this.onUp(e));
    }

    get active() {
      return this.pointerId !== null;
    }

    fraction(e) {
      const rect = this.canvas.getBoundingClientRect();
      return rect.width > 0 ? clamp((e.clientX - rect.left) / rect.width, 0, 1) : null;
    }

    onDown(e) {
      if (e.pointerType === "mouse" && e.button !== 0) return;
      const f = this.fraction(e);
      if (f === null || !this.canStart()) return;
      this.pointerId = e.pointerId;
      this.canvas.setPointerCapture(e.pointerId);
      this.seek(f, true);
      e.preventDefault();
    }

    onMove(e) {
      const f = e.pointerId === this.pointerId ? this.fraction(e) : null;
      if (f !== null) this.seek(f, false);
    }

    onUp(e) {
      if (e.pointerId !== this.pointerId) return;
      const f = this.fraction(e);
      if (e.type === "pointerup" && f !== null) this.seek(f, false);
      this.pointerId = null;
      if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    }
  }

  // ---------------------------------------------------------------- beat timeline

  /**
   * One div.d2m-timeline: canvas, playhead, seeking, beat flashes, metronome clicks and a play
   * button. A clip too long to read whole is shown through a window that follows the playhead,
   * with an overview strip of the whole clip under it.
   */
  class Timeline {
    constructor(el, data) {
      this.el = el;
      this.model = Timeline.normalise(data);
      this.selector = this.model.video;
      this.playhead = null;
      this.flashes = 0;
      this.lastT = null; // video time seen on the previous frame, to find crossed beats
      this.highlight = { index: -1, at: -Infinity };
      this.clicksOn = false;
      this.scheduled = new Set(); // beat indices with a click already scheduled
      this.pending = []; // clicks scheduled but maybe not yet heard
      this.lastScheduleT = null;
      this.timer = 0;
      this.frame = 0;
      this.dirty = true;
      this.drawn = {};
      this.flashEl = null;
      this.view = { start: 0, span: this.model.duration, windowed: false };
      this.held = null; // window start kept still while the user seeks on the main canvas
      this.glide = null; // {from, at}: a held window easing back to following the playhead

      const reset = () => this.resetClicks();
      this.tracker = new VideoTracker(this.selector, {
        seeking: reset,
        pause: reset,
        ratechange: reset,
        play: () => {
          this.resetClicks();
          this.scheduleClicks();
        },
      });
      this.render();
      this.setClicks(clicksWanted.get(this.selector) === true);
      this.loop = this.loop.bind(this);
      this.frame = requestAnimationFrame(this.loop);
    }

    static normalise(data) {
      const beats = numberList(data.beats_s) || [];
      let duration = Number(data.duration_s);
      if (!(duration > 0)) duration = beats.length ? beats[beats.length - 1] + 0.5 : 1;
      return {
        video: String(data.video || ""),
        duration,
        envelope: Array.isArray(data.envelope) ? data.envelope.map((x) => clamp(Number(x) || 0, 0, 1)) : [],
        beats,
        auto: numberList(data.auto_beats_s),
        music: numberList(data.music_beats_s),
        cuts: numberList(data.cuts_s) || [],
        labels: Object.assign(
          { envelope: "how sharply the body moves", beats: "beats", music: "music beats", auto: "automatic beats" },
          data.labels || {},
        ),
      };
    }

    // ---- DOM

    render() {
      this.root = element("div", "d2m-tl-parts");
      this.canvas = element("canvas", "d2m-tl-canvas", { role: "img" });
      this.canvas.style.height = `${this.height()}px`;
      this.overview = element("canvas", "d2m-tl-overview", {
        role: "img",
        "aria-label": "The whole clip: the box is the part shown above. Click or drag to seek anywhere.",
      });
      this.overview.hidden = true;
      this.overview.style.height = `${OVERVIEW_H}px`;
      this.describe();

      // Gradio's player shows its controls only on hover, so a phone user may not find them.
      this.playButton = element("button", "d2m-play", { type: "button" });
      this.playButton.addEventListener("click", () => this.togglePlay());
      this.button = element("button", "d2m-clicks", { type: "button", "aria-pressed": "false" });
      this.button.addEventListener("click", () => this.toggleClicks());
      const tools = element("div", "d2m-tl-tools");
      tools.append(this.playButton, this.button);
      this.root.append(this.canvas, this.overview, tools);
      this.el.append(this.root);
      this.showPlayState(null);

      const ready = () => this.tracker.get() !== null;
      this.mainDrag = new DragSeek(this.canvas, ready, (f, first) => this.seekInWindow(f, first));
      this.overviewDrag = new DragSeek(this.overview, ready, (f) => this.seekAnywhere(f));
      this.resizer = new ResizeObserver(() => {
        this.dirty = true;
      });
      this.resizer.observe(this.canvas);
    }

    /** The canvas's words for screen readers: what it shows and what a click does. */
    describe() {
      const m = this.model;
      const parts = [`${m.labels.envelope}`, `${m.beats.length} ${m.labels.beats}`];
      if (m.auto) parts.push(`${m.labels.auto} (faint)`);
      if (m.music) parts.push(`${m.music.length} ${m.labels.music} (lower lane)`);
      if (m.cuts.length) parts.push(`${m.cuts.length} scene cuts`);
      const shown = this.view.windowed ? ` Shows ${Math.round(this.view.span)} s around the playhead.` : "";
      this.canvas.setAttribute("aria-label", `Timeline: ${parts.join(", ")}.${shown} Click or drag to seek.`);
    }

    height() {
      return BASE_H + (this.model.music ? MUSIC_H : 0);
    }

    /** Where things go, in CSS pixels. */
    geometry(width) {
      const h = this.height();
      const axisTop = h - AXIS_H;
      const mainBottom = this.model.music ? axisTop - MUSIC_H : axisTop;
      return {
        w: width,
        h,
        axisTop,
        main: { top: 2, bottom: mainBottom },
        music: this.model.music ? { top: mainBottom + 4, bottom: axisTop - 2 } : null,
      };
    }

    // ---- the window: which part of the clip the main canvas shows

    /** Seconds shown across `width` pixels: the whole clip, or a window no denser than PX_PER_S. */
    spanFor(width) {
      return Math.min(this.model.duration, Math.max(MIN_SPAN_S, width / PX_PER_S));
    }

    /** The window start that keeps the playhead FOLLOW_AT into the window (less near the ends). */
    followStart(t, span) {
      return clamp(t - FOLLOW_AT * span, 0, this.model.duration - span);
    }

    /** Work out this frame's window. It follows the playhead, so a seek makes it jump; it holds
     *  still while the user seeks on it (and after, while paused) so the picked beat stays put. */
    updateView(width, t, video, now) {
      const span = this.spanFor(width);
      const windowed = span < this.model.duration - 1e-6;
      let start = 0;
      if (!windowed) {
        this.held = null;
        this.glide = null;
      } else if (t === null) {
        start = clamp(this.view.start, 0, this.model.duration - span);
      } else {
        start = this.windowStart(t, span, video, now);
      }
      const changed = windowed !== this.view.windowed;
      this.view = { start, span, windowed };
      if (changed) this.describe();
      return this.view;
    }

    windowStart(t, span, video, now) {
      const target = this.followStart(t, span);
      if (this.held !== null) {
        const held = clamp(this.held, 0, this.model.duration - span);
        const inside = t >= held && t <= held + span;
        if (inside && (this.mainDrag.active || !isPlaying(video))) return held;
        this.held = null;
        this.glide = inside ? { from: held, at: now } : null; // outside: someone seeked; jump
      }
      if (this.glide) {
        const p = (now - this.glide.at) / GLIDE_MS;
        if (p < 1) return this.glide.from + (target - this.glide.from) * (1 - (1 - p) ** 2);
        this.glide = null;
      }
      return target;
    }

    scale(width) {
      return makeScale(this.view.start, this.view.span, width);
    }

    // ---- drawing: a scene layer (redrawn when resized or scrolled) plus the playhead and highlight

    drawScene(width, dpr) {
      const g = this.geometry(width);
      const layer = this.layer || (this.layer = document.createElement("canvas"));
      sizeCanvas(layer, width, g.h, dpr);
      const c = layer.getContext("2d");
      c.setTransform(dpr, 0, 0, dpr, 0, 0);
      c.clearRect(0, 0, width, g.h);
      const col = this.colours;
      const m = this.model;
      const s = this.scale(width);

      c.fillStyle = col.lane;
      c.fillRect(0, g.main.top, width, g.main.bottom - g.main.top);
      if (g.music) c.fillRect(0, g.music.top, width, g.music.bottom - g.music.top);

      drawEnvelope(c, m.envelope, m.duration, s, g.main, col.envelope, true);
      if (m.auto) drawTicks(c, m.auto, s, g.main, { colour: col.auto, width: 1, dash: [3, 3], alpha: 0.55 });
      drawTicks(c, m.beats, s, g.main, { colour: col.beat, width: 1.5, alpha: 0.95 });
      if (g.music) drawTicks(c, m.music, s, g.music, { colour: col.music, width: 1.5, alpha: 0.95 });
      this.drawCuts(c, g, s, col);
      this.drawAxis(c, g, s, col.text);
    }

    drawCuts(c, g, s, col) {
      const cuts = this.model.cuts;
      if (!cuts.length) return;
      const bottom = g.music ? g.music.bottom : g.main.bottom;
      c.save();
      c.strokeStyle = col.cut;
      c.lineWidth = 1.5;
      c.setLineDash([5, 3]);
      c.font = FONT;
      c.textBaseline = "top";
      for (let i = firstAtOrAfter(cuts, s.start); i < cuts.length && cuts[i] <= s.end; i++) {
        const px = clamp(s.px(cuts[i]), 0.75, g.w - 0.75);
        c.beginPath();
        c.moveTo(px, g.main.top);
        c.lineTo(px, bottom);
        c.stroke();
        const labelW = c.measureText("cut").width;
        const tx = px + 3 + labelW > g.w ? px - 3 - labelW : px + 3; // keep it inside the canvas
        c.fillStyle = col.cut;
        c.fillText("cut", tx, g.main.top + 2);
      }
      c.restore();
    }

    /** Round-number labels across the shown span, about one per 56 px. */
    drawAxis(c, g, s, colour) {
      const span = s.end - s.start;
      const steps = [0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];
      const maxLabels = Math.max(2, Math.floor(g.w / 56));
      const step = steps.find((x) => span / x <= maxLabels) || steps[steps.length - 1];
      c.save();
      c.strokeStyle = colour;
      c.fillStyle = colour;
      c.globalAlpha = 0.75;
      c.lineWidth = 1;
      c.beginPath();
      c.moveTo(0, g.axisTop + 0.5);
      c.lineTo(g.w, g.axisTop + 0.5);
      c.stroke();
      c.font = FONT;
      c.textBaseline = "alphabetic";
      for (let k = Math.ceil(s.start / step - 1e-9); k * step <= s.end + 1e-9; k++) {
        const t = k * step;
        const px = s.px(t);
        c.beginPath();
        c.moveTo(px, g.axisTop);
        c.lineTo(px, g.axisTop + 4);
        c.stroke();
        const label = formatSeconds(t, step);
        const lw = c.measureText(label).width;
        c.fillText(label, clamp(px - lw / 2, 0, g.w - lw), g.axisTop + 16);
      }
      c.restore();
    }

    draw(t, now, video) {
      const width = this.canvas.clientWidth;
      if (width <= 0) return; // hidden (e.g. a closed tab): drawn once it is shown
      const dpr = window.devicePixelRatio || 1;
      const view = this.updateView(width, t, video, now);
      const highlightOn = now - this.highlight.at < HIGHLIGHT_MS;
      const d = this.drawn;
      const resized = this.dirty || dpr !== d.dpr || width !== d.width;
      const moved = view.start !== d.start || view.span !== d.span;
      if (!resized && !moved && t === d.t && !highlightOn && !d.highlight) return;
      const g = this.geometry(width);
      if (resized) {
        this.colours = readColours(this.el);
        sizeCanvas(this.canvas, width, g.h, dpr);
        this.dirty = false;
      }
      if (resized || moved) this.drawScene(width, dpr);
      const c = this.canvas.getContext("2d");
      c.setTransform(1, 0, 0, 1, 0, 0);
      c.clearRect(0, 0, this.canvas.width, this.canvas.height);
      c.drawImage(this.layer, 0, 0);
      c.setTransform(dpr, 0, 0, dpr, 0, 0);
      if (highlightOn) this.drawHighlight(c, g, now);
      if (t !== null) this.drawPlayhead(c, g, t);
      this.drawOverview(t, dpr, resized);
      this.drawn = { t, highlight: highlightOn, dpr, width, start: view.start, span: view.span };
      this.playhead = t;
    }

    drawHighlight(c, g, now) {
      const beat = this.model.beats[this.highlight.index];
      const s = this.scale(g.w);
      if (beat === undefined || beat < s.start || beat > s.end) return;
      const px = clamp(s.px(beat), 0.75, g.w - 0.75);
      c.save();
      c.globalAlpha = 1 - (now - this.highlight.at) / HIGHLIGHT_MS;
      c.strokeStyle = this.colours.flash;
      c.lineWidth = 4;
      c.beginPath();
      c.moveTo(px, g.main.top);
      c.lineTo(px, g.main.bottom);
      c.stroke();
      c.restore();
    }

    drawPlayhead(c, g, t) {
      const px = clamp(this.scale(g.w).px(t), 0.75, g.w - 0.75);
      c.save();
      c.strokeStyle = this.colours.playhead;
      c.fillStyle = this.colours.playhead;
      c.lineWidth = 2;
      c.beginPath();
      c.moveTo(px, 0);
      c.lineTo(px, g.axisTop);
      c.stroke();
      c.beginPath(); // a small head so the line is easy to find
      c.moveTo(px - 5, 0);
      c.lineTo(px + 5, 0);
      c.lineTo(px, 6);
      c.closePath();
      c.fill();
      c.restore();
    }

    // ---- the overview strip: the whole clip small, the window as a box, the playhead

    drawOverview(t, dpr, resized) {
      const canvas = this.overview;
      if (canvas.hidden === this.view.windowed) canvas.hidden = !this.view.windowed;
      if (canvas.hidden) return;
      const w = canvas.clientWidth;
      if (w <= 0) return;
      const whole = makeScale(0, this.model.duration, w);
      const layer = this.overviewLayer || (this.overviewLayer = document.createElement("canvas"));
      if (sizeCanvas(layer, w, OVERVIEW_H, dpr) || resized) this.drawOverviewClip(layer, whole, dpr);
      sizeCanvas(canvas, w, OVERVIEW_H, dpr);
      const c = canvas.getContext("2d");
      c.setTransform(1, 0, 0, 1, 0, 0);
      c.clearRect(0, 0, canvas.width, canvas.height);
      c.drawImage(layer, 0, 0);
      c.setTransform(dpr, 0, 0, dpr, 0, 0);
      const col = this.colours;
      const x0 = whole.px(this.view.start);
      const bw = Math.max(4, whole.px(this.view.start + this.view.span) - x0);
      c.save();
      c.fillStyle = col.text;
      c.globalAlpha = 0.14;
      c.fillRect(x0, 0, bw, OVERVIEW_H);
      c.globalAlpha = 0.85;
      c.strokeStyle = col.text;
      c.lineWidth = 1.5;
      c.strokeRect(x0 + 0.75, 0.75, bw - 1.5, OVERVIEW_H - 1.5);
      c.restore();
      if (t === null) return;
      const px = clamp(whole.px(t), 1, w - 1);
      c.save();
      c.strokeStyle = col.playhead;
      c.lineWidth = 2;
      c.beginPath();
      c.moveTo(px, 0);
      c.lineTo(px, OVERVIEW_H);
      c.stroke();
      c.restore();
    }

    /** The strip's still part: the lane, the motion curve and the beats' density. */
    drawOverviewClip(layer, whole, dpr) {
      const c = layer.getContext("2d");
      const lane = { top: 1, bottom: OVERVIEW_H - 1 };
      const col = this.colours;
      c.setTransform(dpr, 0, 0, dpr, 0, 0);
      c.clearRect(0, 0, whole.w, OVERVIEW_H);
      c.fillStyle = col.lane;
      c.fillRect(0, 0, whole.w, OVERVIEW_H);
      drawEnvelope(c, this.model.envelope, this.model.duration, whole, lane, col.envelope, false);
      drawTicks(c, this.model.beats, whole, { top: lane.bottom - 6, bottom: lane.bottom }, {
        colour: col.beat,
        width: 1,
        alpha: 0.4,
      });
    }

    // ---- per frame: follow the video, flash crossed beats

    loop() {
      this.frame = requestAnimationFrame(this.loop);
      const video = this.tracker.get();
      const now = performance.now();
      const t = video ? video.currentTime : null;
      if (video) this.findCrossedBeats(video, t, now);
      this.draw(t, now, video);
      this.showPlayState(video);
    }

    /** While playing, every beat passed since the previous frame flashes the video and its tick. */
    findCrossedBeats(video, t, now) {
      const playing = !video.paused && !video.seeking && !video.ended;
      const prev = this.lastT;
      this.lastT = t;
      if (!playing || prev === null || !(t > prev) || t - prev > 1) return;
      const beats = this.model.beats;
      const first = firstAtOrAfter(beats, prev);
      let last = -1;
      for (let i = first; i < beats.length && beats[i] <= t; i++) if (beats[i] > prev) last = i;
      if (last < 0) return;
      this.highlight = { index: last, at: now };
      this.flash(video);
    }

    flash(video) {
      const host = video.parentElement;
      if (!host) return;
      if (!this.flashEl) this.flashEl = element("div", "d2m-flash", { "aria-hidden": "true" });
      if (getComputedStyle(host).position === "static") host.style.position = "relative";
      if (this.flashEl.parentElement !== host) host.append(this.flashEl);
      const s = this.flashEl.style; // cover the video's own box, not the whole wrapper
      s.left = `${video.offsetLeft}px`;
      s.top = `${video.offsetTop}px`;
      s.width = `${video.offsetWidth}px`;
      s.height = `${video.offsetHeight}px`;
      for (const a of this.flashEl.getAnimations()) a.cancel();
      this.flashEl.animate([{ opacity: 1 }, { opacity: 0 }], { duration: FLASH_MS, easing: "ease-out" });
      this.flashes += 1;
    }

    // ---- seeking: within the window on the main canvas, anywhere on the overview

    seekTo(t) {
      const video = this.tracker.get();
      if (!video) return;
      if (Number.isFinite(video.duration)) t = Math.min(t, video.duration);
      video.currentTime = Math.max(0, t);
    }

    /** The window holds still from the press on, so a drag moves the playhead, not the window. */
    seekInWindow(fraction, first) {
      if (first) {
        this.held = this.view.windowed ? this.view.start : null;
        this.glide = null;
      }
      this.seekTo(this.view.start + fraction * this.view.span);
    }

    seekAnywhere(fraction) {
      this.held = null;
      this.glide = null;
      this.seekTo(fraction * this.model.duration);
    }

    // ---- the play button

    togglePlay() {
      const video = this.tracker.get();
      if (!video) return;
      if (isPlaying(video)) video.pause();
      else video.play().catch(() => {}); // refused without a user gesture, or no source yet
    }

    showPlayState(video) {
      const label = isPlaying(video) ? "❚❚ Pause" : "▶ Play";
      if (this.playButton.textContent !== label) this.playButton.textContent = label;
      const off = !video;
      if (this.playButton.disabled !== off) this.playButton.disabled = off;
    }

    // ---- metronome clicks on the beats

    toggleClicks() {
      const on = !this.clicksOn;
      if (on && !ensureAudio()) return;
      clicksWanted.set(this.selector, on);
      for (const t of instances(Timeline)) if (t.selector === this.selector) t.setClicks(on);
    }

    setClicks(on) {
      this.clicksOn = on;
      this.button.textContent = `♪ Click on beats: ${on ? "on" : "off"}`;
      this.button.setAttribute("aria-pressed", String(on));
      clearInterval(this.timer);
      this.timer = 0;
      this.resetClicks();
      if (on) {
        ensureAudio(); // a re-rendered timeline comes back on: wake the context if it slept
        this.timer = setInterval(() => this.scheduleClicks(), SCHEDULER_MS);
      }
    }

    /** Forget what was scheduled and silence clicks not yet heard (after a seek, pause, rate change). */
    resetClicks() {
      const now = audio.ctx ? audio.ctx.currentTime : 0;
      for (const click of this.pending) if (click.when > now) cancelClick(click);
      this.pending = [];
      this.scheduled.clear();
      this.lastScheduleT = null;
    }

    /** Look-ahead scheduler: every beat in the next LOOKAHEAD_S of video time gets a click at the
     *  context time when the video will reach it, less the output latency (so it is heard then). */
    scheduleClicks() {
      const ctx = audio.ctx;
      const video = this.tracker.get();
      if (!this.clicksOn || !ctx || ctx.state !== "running" || !video) return;
      if (video.paused || video.seeking || video.ended || !(video.playbackRate > 0)) return;
      const t = video.currentTime;
      const rate = video.playbackRate;
      if (this.lastScheduleT !== null && t < this.lastScheduleT - 0.05) this.resetClicks(); // looped
      this.lastScheduleT = t;
      const now = ctx.currentTime;
      const latency = outputLatency(ctx);
      const beats = this.model.beats;
      const from = t + Math.max(0, latency - LATE_OK_S) * rate; // earlier beats can't be on time
      const to = t + (LOOKAHEAD_S + latency) * rate;
      for (let i = firstAtOrAfter(beats, from); i < beats.length && beats[i] <= to; i++) {
        if (this.scheduled.has(i)) continue;
        const when = now + (beats[i] - t) / rate - latency;
        this.pending.push(playClick(Math.max(now, when)));
        this.scheduled.add(i);
        clickLog.push({
          beat_s: beats[i],
          ctx_time: when,
          video_time_at_schedule: t,
          ctx_time_at_schedule: now,
          latency_s: latency,
        });
        if (clickLog.length > MAX_LOG) clickLog.splice(0, clickLog.length - MAX_LOG);
      }
      this.pending = this.pending.filter((click) => click.when > now - 0.1);
    }

    // ---- bookkeeping

    info() {
      if (!this.drawn.width && this.canvas.clientWidth > 0) {
        this.updateView(this.canvas.clientWidth, this.playhead, null, performance.now()); // not drawn yet
      }
      return {
        video: this.selector,
        bound: this.tracker.get() !== null,
        playhead_s: this.playhead,
        beats: this.model.beats.length,
        clicks_on: this.clicksOn,
        flashes: this.flashes,
        duration_s: this.model.duration,
        window: { start_s: this.view.start, span_s: this.view.span },
        overview: this.view.windowed,
      };
    }

    destroy() {
      cancelAnimationFrame(this.frame);
      clearInterval(this.timer);
      this.resetClicks();
      this.resizer.disconnect();
      this.tracker.detach();
      if (this.flashEl) this.flashEl.remove();
      this.root.remove();
    }
  }

  // ---------------------------------------------------------------- A/B player

  /**
   * One div.d2m-ab: a muted video with two soundtracks that follow it; one of them is heard.
   *
   * Keeping them together: a seek of a playing audio element is heard as a skip and costs it tens
   * of milliseconds to restart, so seeking it at every small drift brings the lag straight back.
   * The audios are seeked only on the video's seek or play and when they are far off; a smaller
   * drift is taken up by playing them slightly faster or slower (pitch kept), which is not heard.
   */
  class AbPlayer {
    constructor(el, data) {
      this.el = el;
      this.active = "a";
      this.audios = {};
      this.buttons = {};
      this.reseekAt = { a: -Infinity, b: -Infinity };

      this.root = element("div", "d2m-ab-parts");
      this.video = element("video", "d2m-ab-video", { controls: "", playsinline: "", preload: "auto" });
      this.video.muted = true; // its own soundtrack is never heard
      this.video.src = String(data.video || "");
      const group = element("div", "d2m-ab-buttons", { role: "group", "aria-label": "Which music plays" });
      for (const key of ["a", "b"]) {
        const track = data[key];
        if (!track || !track.url) continue;
        const a = element("audio", "", { preload: "auto" });
        a.src = String(track.url);
        a.muted = key !== this.active;
        a.preservesPitch = true; // a nudged rate must not bend the music's pitch
        this.audios[key] = a;
        const button = element("button", `d2m-ab-${key}`, { type: "button" });
        button.textContent = track.label || key.toUpperCase();
        button.addEventListener("click", () => this.choose(key));
        this.buttons[key] = button;
        group.append(button);
      }
      this.root.append(this.video, ...Object.values(this.audios), group);
      this.el.append(this.root);

      this.handlers = {
        play: () => this.follow(true),
        playing: () => this.follow(true),
        pause: () => this.follow(true),
        seeking: () => this.follow(true),
        seeked: () => this.follow(true),
        ratechange: () => this.follow(false),
        waiting: () => this.pauseAudios(),
        ended: () => this.pauseAudios(),
        volumechange: () => this.onVolume(),
      };
      for (const [type, fn] of Object.entries(this.handlers)) this.video.addEventListener(type, fn);
      this.choose("a");
      this.loop = this.loop.bind(this);
      this.frame = requestAnimationFrame(this.loop);
    }

    /** Switch the heard soundtrack; both keep playing, so the switch is instant and keeps time. */
    choose(key) {
      if (!this.audios[key]) return;
      this.active = key;
      for (const [k, a] of Object.entries(this.audios)) a.muted = k !== key;
      for (const [k, b] of Object.entries(this.buttons)) b.setAttribute("aria-pressed", String(k === key));
      this.follow(false);
    }

    /** Mirror the video's state on both audios; `seek` also puts them on the video's time. */
    follow(seek) {
      const v = this.video;
      const playing = isPlaying(v);
      for (const a of Object.values(this.audios)) {
        if (a.playbackRate !== v.playbackRate) a.playbackRate = v.playbackRate;
        if (seek && Math.abs(a.currentTime - v.currentTime) > 0.001) a.currentTime = v.currentTime;
        if (!playing) {
          if (!a.paused) a.pause();
        } else if (a.paused && !(v.currentTime >= a.duration)) {
          a.play().catch(() => {}); // retried by the loop; fails only without a user gesture
        }
      }
    }

    pauseAudios() {
      for (const a of Object.values(this.audios)) if (!a.paused) a.pause();
    }

    /** The video stays muted; its volume slider drives the soundtracks instead. */
    onVolume() {
      for (const a of Object.values(this.audios)) a.volume = this.video.volume;
      if (!this.video.muted) this.video.muted = true;
    }

    /** Per frame while playing: keep each audio on the video's time. */
    loop() {
      this.frame = requestAnimationFrame(this.loop);
      const v = this.video;
      if (v.paused || v.ended || v.seeking || v.readyState < 3) return;
      const now = performance.now();
      for (const [key, a] of Object.entries(this.audios)) this.keepInSync(key, a, now);
    }

    keepInSync(key, a, now) {
      const v = this.video;
      if (a.seeking || v.currentTime >= a.duration) return;
      const drift = a.currentTime - v.currentTime; // > 0: the audio is ahead
      if (a.paused || Math.abs(drift) > HARD_DRIFT_S) {
        if (now - this.reseekAt[key] > RESEEK_GAP_MS) this.hardSeek(key, a, now);
      } else {
        this.nudge(a, drift);
      }
    }

    hardSeek(key, a, now) {
      this.reseekAt[key] = now;
      a.playbackRate = this.video.playbackRate;
      a.currentTime = this.video.currentTime;
      if (a.paused) a.play().catch(() => {});
    }

    /** Play an audio that is ahead a little slower (behind: faster), up to 2.5 %, until it is
     *  within SETTLED_S; then at the video's exact rate again. */
    nudge(a, drift) {
      const rate = this.video.playbackRate;
      if (Math.abs(drift) < SETTLED_S) {
        if (a.playbackRate !== rate) a.playbackRate = rate;
        return;
      }
      const target = rate * (1 - clamp(drift, -NUDGE_MAX_S, NUDGE_MAX_S) * NUDGE_GAIN);
      if (Math.abs(a.playbackRate - target) >= RATE_STEP) a.playbackRate = target;
    }

    state() {
      const a = this.audios.a;
      const b = this.audios.b;
      return {
        active: this.active,
        video_time: this.video.currentTime,
        a_time: a ? a.currentTime : null,
        b_time: b ? b.currentTime : null,
        a_muted: a ? a.muted : null,
        b_muted: b ? b.muted : null,
        a_paused: a ? a.paused : null,
        b_paused: b ? b.paused : null,
        a_rate: a ? a.playbackRate : null,
        b_rate: b ? b.playbackRate : null,
      };
    }

    destroy() {
      cancelAnimationFrame(this.frame);
      for (const [type, fn] of Object.entries(this.handlers)) this.video.removeEventListener(type, fn);
      for (const media of [this.video, ...Object.values(this.audios)]) {
        media.pause();
        media.removeAttribute("src"); // let the browser drop the media data
        media.load();
      }
      this.root.remove();
    }
  }

  // ---------------------------------------------------------------- binding to the page

  const KINDS = [
    { selector: TIMELINE_SEL, attr: "data-timeline", make: (el, data) => new Timeline(el, data) },
    { selector: AB_SEL, attr: "data-ab", make: (el, data) => new AbPlayer(el, data) },
  ];

  /** Tear down bindings whose element left (or changed), then bind what is new. Idempotent. */
  function scan() {
    for (const [el, b] of bindings) {
      const stale = !el.isConnected || el.getAttribute(b.attr) !== b.text;
      const wiped = b.instance && !el.contains(b.instance.root); // someone replaced its children
      if (stale || wiped) {
        if (b.instance) b.instance.destroy();
        bindings.delete(el);
      }
    }
    for (const kind of KINDS) {
      for (const el of document.querySelectorAll(kind.selector)) {
        if (bindings.has(el)) continue;
        const text = el.getAttribute(kind.attr);
        const data = parseJson(text);
        let instance = null;
        try {
          instance = data ? kind.make(el, data) : null;
        } catch (err) {
          console.error("d2m studio: could not bind", el, err);
        }
        bindings.set(el, { attr: kind.attr, text, instance }); // a bad one is remembered too: no retry loop
      }
    }
    forgetStaleTaps();
  }

  function instances(cls) {
    const out = [];
    for (const b of bindings.values()) if (b.instance instanceof cls) out.push(b.instance);
    return out;
  }

  function start() {
    scan();
    new MutationObserver(scan).observe(document.body, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ["data-timeline", "data-ab"],
    });
  }

  // ---------------------------------------------------------------- tap tempo

  // Taps belong to one dance: a list is kept with the video source and the timeline's duration it
  // was tapped on, and a new list starts when either changes (a new upload), so the previous
  // dance's taps never join the new one's.

  /** The duration of the timeline bound to `selector`, or null when none is. */
  function boundDuration(selector) {
    const timeline = instances(Timeline).find((t) => t.selector === selector);
    return timeline ? timeline.model.duration : null;
  }

  /** After a rescan: drop the taps whose timeline was unbound or replaced by another dance's. */
  function forgetStaleTaps() {
    for (const [selector, taps] of tapLists) {
      if (taps.duration !== null && boundDuration(selector) !== taps.duration) tapLists.delete(selector);
    }
  }

  /** Record the video's current time as a tap; returns the list as a JSON string of seconds. */
  function tap(selector) {
    const video = queryVideo(selector);
    let taps = tapLists.get(selector);
    if (!video) return JSON.stringify(taps ? taps.list : []);
    const src = video.currentSrc || video.src || "";
    const duration = boundDuration(selector);
    if (!taps || taps.src !== src || taps.duration !== duration) taps = { src, duration, list: [] };
    let list = taps.list;
    const t = Math.round(video.currentTime * 1000) / 1000;
    const last = list[list.length - 1];
    if (last !== undefined && (t - last > TAP_GAP_S || t < last)) list = []; // a new phrase, or rewound
    if (list[list.length - 1] !== t) list.push(t); // a second tap on the same frame adds nothing
    if (list.length > MAX_TAPS) list = list.slice(-MAX_TAPS);
    tapLists.set(selector, { src, duration, list });
    return JSON.stringify(list);
  }

  function isTyping(target) {
    if (!(target instanceof Element)) return false;
    return target.isContentEditable || target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  function isVisible(el) {
    return el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  }

  /** "t" presses the app's Tap button (whose own handler calls d2mStudio.tap). */
  function onKeyDown(e) {
    if (e.key !== "t" && e.key !== "T") return;
    if (e.repeat || e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return;
    for (const sel of TAP_BUTTON_SELS) {
      const button = [...document.querySelectorAll(sel)].find(isVisible);
      if (button) {
        e.preventDefault();
        button.click();
        return;
      }
    }
  }

  // ---------------------------------------------------------------- public surface

  window.d2mStudio = Object.freeze({
    audio, // {ctx, bus}: ctx is null until the first clicks toggle
    clickLog,
    tap,
    taps: (selector) => {
      const taps = tapLists.get(selector);
      return taps ? [...taps.list] : [];
    },
    clearTaps: (selector) => {
      tapLists.delete(selector);
    },
    timelines: () => instances(Timeline).map((t) => t.info()),
    abState: () => instances(AbPlayer).map((p) => p.state()),
    rescan: scan,
  });

  document.addEventListener("keydown", onKeyDown);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true });
  else start();
})();
