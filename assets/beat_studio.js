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
  const FONT = "11px system-ui, -apple-system, 'Segoe UI', sans-serif";

  // Timing.
  const LOOKAHEAD_S = 0.12; // clicks are scheduled this far ahead (in video time)
  const SCHEDULER_MS = 25;
  const FLASH_MS = 120;
  const HIGHLIGHT_MS = 220;
  const DRIFT_S = 0.04; // A/B audio is re-seeked when it drifts further than this from the video
  const RESEEK_GAP_MS = 500; // ...but not more often than this, so a slow seek cannot thrash
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
  const tapLists = new Map(); // video selector -> tapped seconds
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

  // ---------------------------------------------------------------- beat timeline

  /** One div.d2m-timeline: canvas, playhead, seeking, beat flashes and metronome clicks. */
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
      this.drawn = { t: NaN, highlight: false };
      this.flashEl = null;
      this.pointerId = null;

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
      const m = this.model;
      this.root = element("div", "d2m-tl-parts");
      this.canvas = element("canvas", "d2m-tl-canvas", { role: "img" });
      const parts = [`${m.labels.envelope}`, `${m.beats.length} ${m.labels.beats}`];
      if (m.auto) parts.push(`${m.labels.auto} (faint)`);
      if (m.music) parts.push(`${m.music.length} ${m.labels.music} (lower lane)`);
      if (m.cuts.length) parts.push(`${m.cuts.length} scene cuts`);
      this.canvas.setAttribute("aria-label", `Timeline: ${parts.join(", ")}. Click or drag to seek.`);
      this.canvas.style.height = `${this.height()}px`;
      this.button = element("button", "d2m-clicks", { type: "button", "aria-pressed": "false" });
      this.button.addEventListener("click", () => this.toggleClicks());
      const tools = element("div", "d2m-tl-tools");
      tools.append(this.button);
      this.root.append(this.canvas, tools);
      this.el.append(this.root);

      this.canvas.addEventListener("pointerdown", (e) => this.onPointerDown(e));
      this.canvas.addEventListener("pointermove", (e) => this.onPointerMove(e));
      this.canvas.addEventListener("pointerup", (e) => this.onPointerUp(e));
      this.canvas.addEventListener("pointercancel", (e) => this.onPointerUp(e));
      this.resizer = new ResizeObserver(() => {
        this.dirty = true;
      });
      this.resizer.observe(this.canvas);
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

    x(t, w) {
      return clamp((t / this.model.duration) * w, 0.75, w - 0.75);
    }

    // ---- drawing: a static layer (redrawn on resize) plus the playhead and highlight per frame

    drawStatic(width, dpr) {
      const g = this.geometry(width);
      const layer = this.layer || (this.layer = document.createElement("canvas"));
      layer.width = Math.round(width * dpr);
      layer.height = Math.round(g.h * dpr);
      const c = layer.getContext("2d");
      c.setTransform(dpr, 0, 0, dpr, 0, 0);
      c.clearRect(0, 0, width, g.h);
      const col = (this.colours = readColours(this.el));
      const m = this.model;

      c.fillStyle = col.lane;
      c.fillRect(0, g.main.top, width, g.main.bottom - g.main.top);
      if (g.music) c.fillRect(0, g.music.top, width, g.music.bottom - g.music.top);

      this.drawEnvelope(c, g, col.envelope);
      if (m.auto) this.drawTicks(c, g.w, m.auto, g.main, col.auto, 1, [3, 3], 0.55);
      this.drawTicks(c, g.w, m.beats, g.main, col.beat, 1.5, [], 0.95);
      if (g.music) this.drawTicks(c, g.w, m.music, g.music, col.music, 1.5, [], 0.95);
      this.drawCuts(c, g, col);
      this.drawAxis(c, g, col.text);
    }

    drawEnvelope(c, g, colour) {
      const env = this.model.envelope;
      if (env.length < 2) return;
      const { top, bottom } = g.main;
      const span = (bottom - top) * 0.9;
      c.beginPath();
      c.moveTo(0, bottom);
      env.forEach((v, i) => c.lineTo((i / (env.length - 1)) * g.w, bottom - v * span));
      c.lineTo(g.w, bottom);
      c.closePath();
      c.globalAlpha = 0.3;
      c.fillStyle = colour;
      c.fill();
      c.globalAlpha = 0.9;
      c.strokeStyle = colour;
      c.lineWidth = 1.25;
      c.beginPath();
      env.forEach((v, i) => {
        const px = (i / (env.length - 1)) * g.w;
        if (i === 0) c.moveTo(px, bottom - v * span);
        else c.lineTo(px, bottom - v * span);
      });
      c.stroke();
      c.globalAlpha = 1;
    }

    drawTicks(c, w, times, lane, colour, width, dash, alpha) {
      c.save();
      c.strokeStyle = colour;
      c.lineWidth = width;
      c.globalAlpha = alpha;
      c.setLineDash(dash);
      c.beginPath();
      for (const t of times) {
        const px = this.x(t, w);
        c.moveTo(px, lane.top);
        c.lineTo(px, lane.bottom);
      }
      c.stroke();
      c.restore();
    }

    drawCuts(c, g, col) {
      if (!this.model.cuts.length) return;
      const bottom = g.music ? g.music.bottom : g.main.bottom;
      c.save();
      c.strokeStyle = col.cut;
      c.lineWidth = 1.5;
      c.setLineDash([5, 3]);
      c.font = FONT;
      c.textBaseline = "top";
      for (const t of this.model.cuts) {
        const px = this.x(t, g.w);
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

    drawAxis(c, g, colour) {
      const d = this.model.duration;
      const steps = [0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];
      const maxLabels = Math.max(2, Math.floor(g.w / 56));
      const step = steps.find((s) => d / s <= maxLabels) || steps[steps.length - 1];
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
      for (let t = 0; t <= d + 1e-9; t += step) {
        const px = (t / d) * g.w;
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

    draw(t, now) {
      const width = this.canvas.clientWidth;
      if (width <= 0) return; // hidden (e.g. a closed tab): drawn once it is shown
      const dpr = window.devicePixelRatio || 1;
      const highlightOn = now - this.highlight.at < HIGHLIGHT_MS;
      if (!this.dirty && dpr === this.dpr && t === this.drawn.t && !highlightOn && !this.drawn.highlight) return;
      const g = this.geometry(width);
      if (this.dirty || dpr !== this.dpr || width !== this.geomW) {
        this.geomW = width;
        this.dpr = dpr;
        this.canvas.width = Math.round(width * dpr);
        this.canvas.height = Math.round(g.h * dpr);
        this.drawStatic(width, dpr);
        this.dirty = false;
      }
      const c = this.canvas.getContext("2d");
      c.setTransform(1, 0, 0, 1, 0, 0);
      c.clearRect(0, 0, this.canvas.width, this.canvas.height);
      c.drawImage(this.layer, 0, 0);
      c.setTransform(dpr, 0, 0, dpr, 0, 0);
      if (highlightOn) this.drawHighlight(c, g, now);
      if (t !== null) this.drawPlayhead(c, g, t);
      this.drawn = { t, highlight: highlightOn };
      this.playhead = t;
    }

    drawHighlight(c, g, now) {
      const beat = this.model.beats[this.highlight.index];
      if (beat === undefined) return;
      const px = this.x(beat, g.w);
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
      const px = this.x(t, g.w);
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

    // ---- per frame: follow the video, flash crossed beats

    loop() {
      this.frame = requestAnimationFrame(this.loop);
      const video = this.tracker.get();
      const now = performance.now();
      const t = video ? video.currentTime : null;
      if (video) this.findCrossedBeats(video, t, now);
      this.draw(t, now);
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

    // ---- click or drag to seek

    seekFromPointer(e) {
      const video = this.tracker.get();
      if (!video) return;
      const rect = this.canvas.getBoundingClientRect();
      if (rect.width <= 0) return;
      let t = (clamp(e.clientX - rect.left, 0, rect.width) / rect.width) * this.model.duration;
      if (Number.isFinite(video.duration)) t = Math.min(t, video.duration);
      video.currentTime = t;
    }

    onPointerDown(e) {
      if (e.pointerType === "mouse" && e.button !== 0) return;
      if (!this.tracker.get()) return;
      this.pointerId = e.pointerId;
      this.canvas.setPointerCapture(e.pointerId);
      this.seekFromPointer(e);
      e.preventDefault();
    }

    onPointerMove(e) {
      if (e.pointerId === this.pointerId) this.seekFromPointer(e);
    }

    onPointerUp(e) {
      if (e.pointerId !== this.pointerId) return;
      if (e.type === "pointerup") this.seekFromPointer(e);
      this.pointerId = null;
      if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
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
     *  context time when the video will reach it. */
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
      const beats = this.model.beats;
      for (let i = firstAtOrAfter(beats, t); i < beats.length && beats[i] <= t + LOOKAHEAD_S; i++) {
        if (this.scheduled.has(i)) continue;
        const when = now + (beats[i] - t) / rate;
        this.pending.push(playClick(when));
        this.scheduled.add(i);
        clickLog.push({ beat_s: beats[i], ctx_time: when, video_time_at_schedule: t, ctx_time_at_schedule: now });
        if (clickLog.length > MAX_LOG) clickLog.splice(0, clickLog.length - MAX_LOG);
      }
      this.pending = this.pending.filter((click) => click.when > now - 0.1);
    }

    // ---- bookkeeping

    info() {
      return {
        video: this.selector,
        bound: this.tracker.get() !== null,
        playhead_s: this.playhead,
        beats: this.model.beats.length,
        clicks_on: this.clicksOn,
        flashes: this.flashes,
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

  /** One div.d2m-ab: a muted video with two soundtracks that follow it; one of them is heard. */
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
      const playing = !v.paused && !v.ended;
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

    /** Per frame while playing: re-seek an audio that drifted more than DRIFT_S. */
    loop() {
      this.frame = requestAnimationFrame(this.loop);
      const v = this.video;
      if (v.paused || v.ended || v.seeking || v.readyState < 3) return;
      const now = performance.now();
      for (const [key, a] of Object.entries(this.audios)) {
        if (a.seeking || v.currentTime >= a.duration) continue;
        if (a.paused && now - this.reseekAt[key] > RESEEK_GAP_MS) {
          this.reseekAt[key] = now;
          a.currentTime = v.currentTime;
          a.play().catch(() => {});
        } else if (Math.abs(a.currentTime - v.currentTime) > DRIFT_S && now - this.reseekAt[key] > RESEEK_GAP_MS) {
          this.reseekAt[key] = now;
          a.currentTime = v.currentTime;
        }
      }
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

  /** Record the video's current time as a tap; returns the list as a JSON string of seconds. */
  function tap(selector) {
    let list = tapLists.get(selector) || [];
    const video = queryVideo(selector);
    if (!video) return JSON.stringify(list);
    const t = Math.round(video.currentTime * 1000) / 1000;
    const last = list[list.length - 1];
    if (last !== undefined && (t - last > TAP_GAP_S || t < last)) list = []; // a new phrase, or rewound
    if (list[list.length - 1] !== t) list.push(t); // a second tap on the same frame adds nothing
    if (list.length > MAX_TAPS) list = list.slice(-MAX_TAPS);
    tapLists.set(selector, list);
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
    taps: (selector) => [...(tapLists.get(selector) || [])],
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
