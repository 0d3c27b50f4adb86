"""Zero-shot sync (``d2m align``) and Riffusion spectrogram conversion: acceptance tables.

Usage: .venv/bin/python bench/bench_align.py [--shared ../shared/data] [--only align|tsm|riffusion]
[--tracker librosa|madmom]

- ``align``: every shared music file x every shared AIST dance. Music tempo from
  ``detect_beats``, dance tempo from ``analyze``; pairs whose tempi differ by < 30 % are in
  scope for the acceptance (F-measure after >= 0.8, pitch kept). Columns: beat F-measure
  (±70 ms, mir_eval) of the music's detected beats against the visual beats before (music
  played from its start) and after warping; share of visual beats hit; F with the tracker's
  tempo prior centred on the dance tempo ("informed", a diagnostic of metrical-level
  confusion); global baseline (music beats uniformly rescaled to the dance tempo and shifted
  by the best constant offset, no local warping: on beat lists); chroma distance and pitch
  shift in cents (tolerances in d2m_core.sync.checks); loop used; wall time. Then, per dance, the
  "ceiling" of the measure: clicks exactly on the visual beats, alone and with softer
  eighth-note clicks between them, scored the same way. ``--tracker madmom`` scores the same
  alignments (still warped on librosa's beats, as ``d2m align`` does) with madmom's beats:
  music BPM, F and hit rate before and after, the global baseline and the ceiling; the
  "informed" column and the scope (tempo difference) stay librosa's, so the rows are the same.
- ``tsm``: time-scale modification methods on constructed signals along a map alternating
  stretch 1.25 / 0.8 every 0.5 s: transient sharpness (share of a click's energy within ±1 ms
  of its peak, in a ±25 ms window; 1 = intact), chord spectral purity (energy within ±5 Hz of
  the partials), click ratio (largest sample-to-sample jump of the output / the input's),
  pitch error of a 440 Hz sine (cents), speed; "varispeed" (resampling) is the pitch-changing
  reference. Then WSOLA vs phase vocoder on gtzan x house dance.
- ``riffusion``: audio -> 5.12 s pictures -> audio on the shared music: beat F-measure of the
  round trip's detected beats against the original's, mean log-mel L1 (128 bands 0-10 kHz at
  22.05 kHz, dB re the original's max, floor -80 dB), and time per 5.12 s (wall, and CPU
  seconds over all threads).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import librosa
import numpy as np

from d2m_core.dance.analysis import analyze
from d2m_core.io.audio import read_audio
from d2m_core.music.beats import BEAT_TRACKERS, beat_f_measure, detect_beats, to_analysis_audio
from d2m_core.sync.align import align_to_beats
from d2m_core.sync.checks import beat_figures, hit_rate, pitch_figures
from d2m_core.sync.stretch import time_map_stretch
from d2m_core.sync.timemap import map_times

MUSIC = ("gtzan_country.00000.wav", "librosa_choice_drumbass.ogg", "madmom_sample.wav")
DANCES = (
    "gHO_sFM_cAll_d19_mHO0_ch01",
    "gKR_sFM_cAll_d28_mKR0_ch01",
    "gMH_sFM_cAll_d22_mMH0_ch01",
)
SR = 22050


def informed_f(y: np.ndarray, sr: int, target: np.ndarray, bpm: float, span: float) -> float:
    """F-measure of beats tracked with the prior centred on the dance's tempo."""
    env = librosa.onset.onset_strength(y=to_analysis_audio(y, sr), sr=SR)
    _, b = librosa.beat.beat_track(onset_envelope=env, sr=SR, units="time", start_bpm=bpm)
    return beat_f_measure(target[target < span], b[b < span])


def global_baseline(music_beats: np.ndarray, target: np.ndarray, span: float) -> float:
    """Best F of the music's beats uniformly rescaled to the dance tempo, then shifted."""
    scale = np.median(np.diff(target)) / np.median(np.diff(music_beats))
    if scale < 0.7:  # music near double the dance tempo: every other beat
        scale *= 2
    elif scale > 1.4:
        scale /= 2
    b = music_beats * scale
    tg = target[target < span]
    best = 0.0
    for shift in np.arange(-1.0, 1.0, 0.01):
        s = b + shift
        best = max(best, beat_f_measure(tg, s[(s >= 0) & (s < span)]))
    return best


def bench_align(shared: Path, *, tracker: str = "librosa") -> None:
    npz = shared / "keypoints" / "aist_gendance_coco17_px_30fps.npz"
    dances = {k: analyze(npz, key=k) for k in DANCES}
    print(
        "\n## align: acceptance (in scope: tempi differ by < 30 %;"
        f" music beats by the {tracker} tracker)\n"
    )
    print(
        "| music | dance | music BPM | dance BPM | diff | scope | step | F before | F after"
        " | hit before -> after | F after, informed | global baseline | chroma dist | cents"
        " | pitch kept | loop | s |"
    )
    print("|" + "---|" * 17)
    rows = []
    for name in MUSIC:
        y, sr = read_audio(shared / "audio" / name)
        m_bpm, m_beats = detect_beats(y, sr, tracker=tracker)
        # The scope is librosa's reading of the tempo whatever the tracker: the same rows.
        s_bpm = m_bpm if tracker == "librosa" else detect_beats(y, sr)[0]
        for key, d in dances.items():
            d_bpm = d.tempo.bpm
            diff = abs(s_bpm - d_bpm) / min(s_bpm, d_bpm)
            scope = diff < 0.30 and name != "madmom_sample.wav"
            t0 = time.perf_counter()
            r = align_to_beats(
                y, sr, target_beats_s=d.tempo.beats_s, duration_s=d.motion.duration_s
            )
            dt = time.perf_counter() - t0
            f_before, f_after = r.f_measure_before, r.f_measure_after
            hit_before, hit_after = r.hit_rate_before, r.hit_rate_after
            if tracker != "librosa":  # align_to_beats measured with librosa's: re-score
                _, out_beats = detect_beats(r.audio, r.sr, tracker=tracker)
                tg = r.target_beats_s
                f_before, hit_before = beat_figures(tg, m_beats, span_s=r.span_before_s)
                f_after, hit_after = beat_figures(tg, out_beats, span_s=r.span_after_s)
            inf = informed_f(r.audio, r.sr, r.target_beats_s, d_bpm, r.span_after_s)
            base = global_baseline(m_beats, r.target_beats_s, min(r.span_before_s, 1e9))
            loop = f"{r.loop['bars']:g} bars x{r.loop['repeats']}" if r.loop else "-"
            tag = "yes" if scope else ("extra" if name == "madmom_sample.wav" else "no")
            print(
                f"| {name.split('.')[0]} | {key[:3]} | {m_bpm:.1f} | {d_bpm:.1f} | {diff:.0%}"
                f" | {tag} | {r.step[0]}:{r.step[1]} | {f_before:.3f}"
                f" | **{f_after:.3f}** | {hit_before:.2f} ->"
                f" {hit_after:.2f} | {inf:.3f} | {base:.3f} | {r.chroma_distance:.4f}"
                f" | {r.pitch_shift_cents:+.0f} | {'yes' if r.pitch_kept else 'NO'} | {loop}"
                f" | {dt:.1f} |"
            )
            rows.append((scope, f_after, r.pitch_kept, key))
    ok = [(f >= 0.8 and p) for s, f, p, _ in rows if s]
    print(f"\nin scope: {sum(ok)} of {len(ok)} pairs reach F >= 0.8 with pitch kept")
    print("\n## the measure's ceiling: clicks exactly on the visual beats\n")
    print("| dance | clicks: tracker BPM | F | + eighth notes: tracker BPM | F |")
    print("|---|---|---|---|---|")
    for key, d in dances.items():
        t = d.tempo.beats_s
        n = int(d.motion.duration_s * SR)
        c = librosa.clicks(times=t, sr=SR, length=n)
        c8 = c + 0.4 * librosa.clicks(times=(t[:-1] + t[1:]) / 2, sr=SR, length=n)
        (b1, s1), (b2, s2) = (detect_beats(x, SR, tracker=tracker) for x in (c, c8))
        print(
            f"| {key[:3]} | {b1:.1f} | {beat_f_measure(t, s1):.3f} | {b2:.1f}"
            f" | {beat_f_measure(t, s2):.3f} |"
        )


# --------------------------------------------------------------------------------------------


def _wobble_map(duration_s: float) -> np.ndarray:
    out = np.arange(0.0, duration_s + 1.5, 0.5)
    ratios = np.where(np.arange(out.size - 1) % 2 == 0, 1.25, 0.8)
    src = np.concatenate([[0.0], np.cumsum(np.diff(out) / ratios)])
    return np.stack([out, src], axis=1)


def _varispeed(x: np.ndarray, sr: int, tm: np.ndarray, duration_s: float) -> np.ndarray:
    t = np.arange(int(duration_s * sr)) / sr
    return np.interp(map_times(tm, t) * sr, np.arange(x.size), x).astype(np.float32)


def _render(method: str, x: np.ndarray, tm: np.ndarray, dur: float) -> np.ndarray:
    if method == "varispeed":
        return _varispeed(x, SR, tm, dur)
    return time_map_stretch(x, SR, time_map=tm, duration_s=dur, method=method)


def bench_tsm(shared: Path) -> None:
    dur = 8.0
    tm = _wobble_map(dur)
    n = int((dur + 2) * SR)
    t = np.arange(n) / SR
    click_src = np.arange(0.25, dur + 1.5, 0.5)
    clicks = np.zeros(n, np.float32)
    clicks[(click_src * SR).astype(int)] = 1.0
    partials = (220.0, 277.18, 329.63)
    chord = sum(0.2 * np.sin(2 * np.pi * f * t) for f in partials).astype(np.float32)
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    click_out = np.interp(click_src, tm[:, 1], tm[:, 0])
    click_out = click_out[(click_out > 0.1) & (click_out < dur - 0.1)]
    print("\n## tsm: time-scale modification along a 1.25 / 0.8 map\n")
    print(
        "| method | transient sharpness | chord purity | click ratio | 440 Hz error (cents)"
        " | x real time |"
    )
    print("|---|---|---|---|---|---|")
    for method in ("wsola", "pv", "varispeed"):
        yc = _render(method, clicks, tm, dur)
        sharp = []
        for c in click_out:
            w = yc[int((c - 0.025) * SR) : int((c + 0.025) * SR)] ** 2
            k = int(np.argmax(w))
            sharp.append(w[max(0, k - 22) : k + 23].sum() / (w.sum() + 1e-12))
        t0 = time.perf_counter()
        yh = _render(method, chord, tm, dur)[SR:-SR]
        speed = dur / (time.perf_counter() - t0)
        spec = np.abs(np.fft.rfft(yh * np.hanning(yh.size))) ** 2
        f = np.fft.rfftfreq(yh.size, 1 / SR)
        near = np.zeros(f.size, bool)
        for p in partials:
            near |= np.abs(f - p) <= 5.0
        purity = spec[near].sum() / spec.sum()
        jump = np.max(np.abs(np.diff(yh))) / np.max(np.abs(np.diff(chord)))
        yt = _render(method, tone, tm, dur)[SR:-SR]
        mag = np.abs(np.fft.rfft(yt * np.hanning(yt.size), 8 * yt.size))
        k = int(np.argmax(mag))
        a, b, c = np.log(mag[k - 1 : k + 2])
        f0 = (k + 0.5 * (a - c) / (a - 2 * b + c)) * SR / (8 * yt.size)
        cents = 1200 * np.log2(f0 / 440.0)
        print(
            f"| {method} | {np.mean(sharp):.2f} | {purity:.3f} | {jump:.2f} | {cents:+.1f}"
            f" | {speed:.0f} |"
        )
    npz = shared / "keypoints" / "aist_gendance_coco17_px_30fps.npz"
    d = analyze(npz, key=DANCES[0])
    y, sr = read_audio(shared / "audio" / MUSIC[0])
    print("\n| gtzan x HO | F after | chroma dist | cents | s |")
    print("|---|---|---|---|---|")
    for method in ("wsola", "pv"):
        t0 = time.perf_counter()
        r = align_to_beats(
            y, sr, target_beats_s=d.tempo.beats_s, duration_s=d.motion.duration_s, method=method
        )
        print(
            f"| {method} | {r.f_measure_after:.3f} | {r.chroma_distance:.4f}"
            f" | {r.pitch_shift_cents:+.0f} | {time.perf_counter() - t0:.1f} |"
        )
    # the pitch measure itself: a warped output against the same output pitch-shifted, on
    # the same beat-to-beat segments as in align_to_beats
    out = to_analysis_audio(r.audio, r.sr)
    u = r.time_map[:, 0]
    seg = np.stack([u[:-1], u[1:]], axis=1)
    seg = seg[(seg[:, 0] >= 0) & (seg[:, 1] <= r.duration_s)]
    print("\n| pitch measure, control | chroma dist | cents |")
    print("|---|---|---|")
    for steps in (0.0, 0.25, 1.0):
        o2 = out if steps == 0 else librosa.effects.pitch_shift(out, sr=SR, n_steps=steps)
        dist, cents = pitch_figures(out, o2, source_segments_s=seg, output_segments_s=seg)
        print(f"| output shifted by {steps:g} semitone | {dist:.4f} | {cents:+.0f} |")


# --------------------------------------------------------------------------------------------


def logmel_l1(a: np.ndarray, sa: int, b: np.ndarray, sb: int) -> float:
    """Mean |dB| between 128-band log-mel spectrograms (0-10 kHz, 22.05 kHz, floor -80 dB)."""
    a = to_analysis_audio(a, sa)
    b = to_analysis_audio(b, sb)[: a.size]
    kw = {"sr": SR, "n_mels": 128, "fmax": 10000}
    ma, mb = librosa.feature.melspectrogram(y=a, **kw), librosa.feature.melspectrogram(y=b, **kw)
    da = np.maximum(librosa.power_to_db(ma, ref=ma.max()), -80)
    db = np.maximum(librosa.power_to_db(mb, ref=ma.max()), -80)
    return float(np.mean(np.abs(da - db)))


def bench_riffusion(shared: Path) -> None:
    from d2m_core.backbones.riffusion import spectrogram as rs

    print("\n## riffusion: audio -> 512 x 512 pictures -> audio\n")
    print(
        "| music | seconds | tiles | Griffin-Lim FFT | beat F (vs original) | log-mel L1 dB"
        " | wall s per 5.12 s | CPU s per 5.12 s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rs.image_to_audio(rs.audio_to_image(np.zeros(44100, np.float32) + 1e-3, 44100), n_iter=1)
    for name in MUSIC:
        y, sr = read_audio(shared / "audio" / name)
        _, b0 = detect_beats(y, sr)
        for gl in ("compact", "full"):
            if gl == "full" and name != MUSIC[0]:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            tiles = rs.audio_to_tiles(y, sr)
            out, osr = rs.tiles_to_audio(tiles, gl_fft=gl)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            per = (y.shape[0] / sr) / rs.TILE_SECONDS
            _, b1 = detect_beats(out, osr)
            b1 = b1[b1 < y.shape[0] / sr]
            print(
                f"| {name.split('.')[0]} | {y.shape[0] / sr:.1f} | {len(tiles)} | {gl}"
                f" | {beat_f_measure(b0, b1):.3f} | {logmel_l1(y, sr, out, osr):.2f}"
                f" | {wall / per:.2f} | {cpu / per:.2f} |"
            )
    y, sr = read_audio(shared / "audio" / MUSIC[0])
    clip = y[: int(rs.TILE_SECONDS * sr)]
    print("\n| one 5.12 s clip (gtzan) | wall s | CPU s |")
    print("|---|---|---|")
    t0, c0 = time.perf_counter(), time.process_time()
    im = rs.audio_to_image(clip, sr)
    print(f"| audio_to_image | {time.perf_counter() - t0:.2f} | {time.process_time() - c0:.2f} |")
    for gl in ("compact", "full"):
        t0, c0 = time.perf_counter(), time.process_time()
        rs.image_to_audio(im, gl_fft=gl)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"| image_to_audio, {gl} Griffin-Lim FFT | {wall:.2f} | {cpu:.2f} |")
    out, osr = rs.tiles_to_audio(rs.audio_to_tiles(y, sr, overlap=32), overlap=32)
    _, b0 = detect_beats(y, sr)
    _, b1 = detect_beats(out, osr)
    print(
        f"\ngtzan with 32-column tile overlap: beat F {beat_f_measure(b0, b1):.3f},"
        f" hit rate {hit_rate(b0, b1):.2f}, log-mel L1 {logmel_l1(y, sr, out, osr):.2f} dB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    ap.add_argument("--shared", type=Path, default=default)
    ap.add_argument("--only", choices=("align", "tsm", "riffusion"))
    ap.add_argument(
        "--tracker",
        choices=BEAT_TRACKERS,
        default="librosa",
        help="beat tracker that scores the align table (default librosa, as d2m align reports)",
    )
    args = ap.parse_args()
    if not args.shared.is_dir():
        raise SystemExit(f"shared data not found at {args.shared}")
    if args.only in (None, "align"):
        bench_align(args.shared, tracker=args.tracker)
    if args.only in (None, "tsm"):
        bench_tsm(args.shared)
    if args.only in (None, "riffusion"):
        bench_riffusion(args.shared)


if __name__ == "__main__":
    main()
