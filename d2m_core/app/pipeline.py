"""The demo's engine: a cached, thread-safe pipeline from an upload to playable files.

The Gradio app (``app.py``) lays out components and wires them to this module and to
:mod:`d2m_core.app.page` (what the page says); the work itself is here and, stage by stage, in
the CLI (``d2m analyze --plot --overlay``, ``d2m generate -o OUT.mp4 --json``). What this
module adds is serving concerns:

- one :class:`Pipeline` per process (:func:`get_pipeline`), safe to call from many threads;
- analyses cached by the input's content hash (bounded LRU): re-generating with a new prompt or
  seed never runs pose estimation again, and concurrent requests for the same video share one
  pose pass;
- heavy modules (MediaPipe, backbones) loaded lazily, once (:meth:`Pipeline.warm_up`);
- a browser-safe base video per analysis (the upload itself when it is already H.264 yuv420p,
  else one transcode started in the background during analysis; for keypoint files, a rendered
  skeleton), so each generation only muxes new audio onto it with a stream copy;
- outputs in a fresh folder per request, old ones swept away (:meth:`Pipeline.cleanup`);
- limits on upload size and video length, raised as one-line :class:`D2MError` messages.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import math
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from d2m_core import settings
from d2m_core.dance.analysis import Analysis, analyze, analyze_motion
from d2m_core.dance.overrides import BeatOverrides, apply_overrides
from d2m_core.errors import D2MError
from d2m_core.io.keypoints import is_keypoint_file
from d2m_core.music.generate import GenerationResult, generate_music
from d2m_core.music.genres import suggest_genre
from d2m_core.music.prompt import DEFAULT_PROMPT, parse_prompt

__all__ = [
    "AUTO_GENRE",
    "AnalyzeOutput",
    "GenerateOutput",
    "Limits",
    "Pipeline",
    "backbone_settings",
    "backbone_takes_guidance",
    "content_key",
    "get_pipeline",
    "gpu_task",
    "set_pipeline",
]

Progress = Callable[[float, str], None]

#: Genre value meaning "suggest one from the motion".
AUTO_GENRE = "auto"
#: Longest side of a video transcoded for the browser (bounds encode time on small machines).
TRANSCODE_MAX_SIDE = 1280
#: Evicted analyses' folders are kept this long, in case a running request still reads them.
_EVICT_GRACE_S = 120.0

# pyplot keeps global state: figures are built and saved one at a time.
_PLOT_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------------
# limits


@dataclass(frozen=True)
class Limits:
    """What the demo accepts. ``from_env`` reads ``D2M_MAX_UPLOAD_MB`` / ``D2M_MAX_VIDEO_S``."""

    max_upload_mb: float = settings.DEFAULT_MAX_UPLOAD_MB
    max_video_s: float = settings.DEFAULT_MAX_VIDEO_S

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "max_video_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise D2MError(f"{name} must be a positive number, got {v!r}")

    @classmethod
    def from_env(cls) -> Limits:
        """The limits set in the environment (:mod:`d2m_core.settings`), else the defaults."""
        return cls(max_upload_mb=settings.max_upload_mb(), max_video_s=settings.max_video_s())


def pose_reporter(
    report: Progress,
    *,
    start: float = 0.05,
    span: float = 0.8,
    clock: Callable[[], float] = time.monotonic,
) -> Progress:
    """Pose progress mapped onto the analysis bar, its text saying the time left.

    Parameters
    ----------
    report : callable(fraction, message)
        The analysis step's progress (the app's ``gr.Progress`` adapter).
    start, span : float
        The pose pass covers ``[start, start + span]`` of the step's bar.
    clock : callable() -> float
        Seconds, for the measured rate (tests pass a fake clock).

    Returns
    -------
    callable(fraction, message)
        For :func:`~d2m_core.dance.analysis.analyze`'s ``progress``: the message becomes
        "finding the dancer's pose, about 8 s left" once the rate is known (pose only: the
        steps after it take a second or two).
    """
    from d2m_core.io.progress import RateEta

    eta = RateEta(clock=clock)

    def pose_progress(f: float, msg: str) -> None:
        # The bar shows the share done: a percentage in the text too would be a second one.
        words = eta.update(fraction=f).words
        text = "finding the dancer's pose" + (f", {words}" if words else "")
        report(start + span * f, text)

    return pose_progress


def _check_size(path: Path, limits: Limits) -> None:
    mb = path.stat().st_size / 1e6
    if mb > limits.max_upload_mb:
        raise D2MError(
            f"{path.name} is {mb:.0f} MB; this demo takes files up to {limits.max_upload_mb:g} MB:"
            " trim or compress it (or use the d2m command line)"
        )


def _check_duration(name: str, seconds: float, limits: Limits) -> None:
    if seconds > limits.max_video_s + 0.05:
        raise D2MError(
            f"{name} is {seconds:.1f} s long; this demo takes up to {limits.max_video_s:g} s:"
            " trim it (or use the d2m command line)"
        )


# --------------------------------------------------------------------------------------------
# results


@dataclass
class AnalyzeOutput:
    """What the app shows after analysis.

    Attributes
    ----------
    key : str
        Cache key (content hash of the input + keypoint options).
    analysis : Analysis
    summary : dict
        ``analysis.to_dict()`` plus ``suggested_genre`` and ``genre_scores``.
    suggested_genre : str
        Genre id suggested for ``@``.
    preview_png : Path
        Skeleton drawn on a few frames (on the video's frames, or on a plain background for a
        keypoint file): shows whether the pose was found.
    plot_png : Path
        The rhythm plot (acceleration, rhythm peaks, visual beats).
    cached : bool
        Whether the analysis came from the cache (no pose pass this time).
    seconds : float
        How long this request took.
    warnings : list[str]
        Things to tell the user (e.g. the dancer was seen in few frames).
    video_mp4 : Path or None
        The dance as a browser-playable video (the upload itself when it already is one, its
        transcode, or the skeleton drawn from a keypoint file), for the beat timeline.
    """

    key: str
    analysis: Analysis
    summary: dict
    suggested_genre: str
    preview_png: Path
    plot_png: Path
    cached: bool = False
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    video_mp4: Path | None = None


@dataclass
class GenerateOutput:
    """Files and figures of one generation (all in a fresh folder).

    Attributes
    ----------
    video_mp4 : Path
        The input video with the new soundtrack (H.264 + AAC), or the rendered skeleton for a
        keypoint file.
    audio_wav : Path
        The music alone.
    report_json : Path
        ``GenerationResult.to_dict()`` plus the per-clip F1 and timings.
    alignment_png : Path
        Visual beats vs detected music beats.
    analysis_cached : bool
        True when the analysis was reused (no pose pass in this request).
    """

    result: GenerationResult
    report: dict
    video_mp4: Path
    audio_wav: Path
    report_json: Path
    alignment_png: Path
    analysis_cached: bool
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [self.video_mp4, self.audio_wav, self.report_json, self.alignment_png]


# --------------------------------------------------------------------------------------------
# backbone options and serving hardware


def backbone_settings(name: str) -> dict:
    """The app's options for a neural backbone, from the environment.

    ``D2M_<NAME>_MODEL`` (id or folder) and ``D2M_<NAME>_ENCODER`` (a trained encoder
    checkpoint), e.g. ``D2M_MUSICGEN_ENCODER=/data/enc``; ``D2M_DEVICE`` for all. Unset
    entries are left to the backbone's defaults (its default model; no encoder, which means
    zero-shot mode).
    """
    if not name or name == "groove":
        return {}
    found = {
        "model": settings.backbone_model(name),
        "encoder": settings.backbone_encoder(name),
        "device": settings.device(),
    }
    return {opt: v for opt, v in found.items() if v}


def backbone_takes_guidance(name: str) -> bool:
    """Whether classifier-free guidance applies (the neural backbones; not offline groove)."""
    return bool(name) and name != "groove"


def _backbone_options(backbone: str, *, guidance: float | None, zero_shot: bool) -> dict:
    """One generation's backbone options: the environment's, less the encoder when zero-shot."""
    options = backbone_settings(backbone)
    if zero_shot:
        options.pop("encoder", None)
    if guidance is not None and backbone_takes_guidance(backbone):
        options["guidance"] = float(guidance)
    return options


def gpu_task(duration: int = 120) -> Callable[[Callable], Callable]:
    """Decorator: ``spaces.GPU`` on Hugging Face ZeroGPU hardware, a no-op elsewhere."""
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


# --------------------------------------------------------------------------------------------
# the pipeline


def content_key(
    path: Path, *, key: str | None = None, fps: float | None = None, view: int = 0
) -> str:
    """Hash of the file's bytes (+ keypoint options, which change what is read)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if is_keypoint_file(path):
        h.update(f"|kp|{path.suffix.lower()}|{key}|{fps}|{view}".encode())
    else:
        h.update(b"|video")
    return h.hexdigest()


def _transcode(src: Path, out: Path, fps: float) -> Path:
    """Re-encode a video to browser-safe H.264 (downscaled to TRANSCODE_MAX_SIDE), no audio."""
    from d2m_core.io.video import iter_frames, write_video

    frames = (rgb for _, rgb in iter_frames(src, max_side=TRANSCODE_MAX_SIDE))
    return write_video(frames, fps, out)


def _save_fig(make: Callable[[], object], out_png: Path) -> Path:
    from d2m_core.viz.plot import save_figure

    with _PLOT_LOCK:
        return save_figure(make(), out_png)


def _safe_stem(path: Path) -> str:
    stem = re.sub(r"[^\w.-]+", "_", path.stem).strip("._") or "dance"
    return stem[:40]


def _analysis_warnings(analysis: Analysis, summary: dict) -> list[str]:
    """What to tell the user about an analysis the music may not follow well."""
    warnings = []
    share = summary["frames_with_person"] / max(summary["frames_total"], 1)
    if share < 0.5:
        warnings.append(
            f"the dancer was found in only {share:.0%} of the frames: the rhythm may be"
            " unreliable (use a video where the whole body stays in view)"
        )
    if len(analysis.tempo.beats_s) < 2:
        warnings.append("no steady visual beat found: the music will use the genre's usual tempo")
    return warnings


def _correction_warnings(analysis: Analysis) -> list[str]:
    bc = analysis.beat_correction
    return list(bc.warnings) if bc is not None else []


def _result_tag(
    analysis_key: str,
    prompt: str,
    backbone: str,
    options: dict,
    duration_s: float | None,
    zero_shot: bool,
    correction: dict | None = None,
) -> str:
    """Six hex digits naming one generation's settings: two different results that share a
    dance, genre and seed (another prompt, length, backbone option) still get their own
    file names, and a download says which request it came from."""
    h = hashlib.blake2b(digest_size=3)
    parts = (analysis_key, prompt, backbone, sorted(options.items()), duration_s, zero_shot)
    if correction is not None:
        parts += (sorted(correction.items()),)
    h.update(repr(parts).encode())
    return h.hexdigest()


@dataclass
class _Entry:
    key: str
    output: AnalyzeOutput
    folder: Path
    is_video: bool
    base_video: Future | None  # transcoded / rendered video; None: the upload itself is safe


class Pipeline:
    """Analyse and generate with caching; one instance serves every request of a process.

    Parameters
    ----------
    limits : Limits, optional
        Upload size and video length limits (default: :meth:`Limits.from_env`).
    cache_size : int
        Analyses kept (least recently used dropped first).
    root : str or Path, optional
        Working folder for analyses and outputs (default: a new temp folder, removed at exit).
    output_ttl_s : float
        Output folders older than this are deleted by :meth:`cleanup`.
    """

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        cache_size: int = 16,
        root: str | Path | None = None,
        output_ttl_s: float = 3600.0,
    ) -> None:
        self.limits = limits or Limits.from_env()
        self.cache_size = max(1, int(cache_size))
        self.output_ttl_s = float(output_ttl_s)
        if root is None:
            self.root = Path(tempfile.mkdtemp(prefix="d2m-app-"))
            atexit.register(shutil.rmtree, self.root, True)
        else:
            self.root = Path(root)
        (self.root / "analyses").mkdir(parents=True, exist_ok=True)
        (self.root / "outputs").mkdir(parents=True, exist_ok=True)
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[str, threading.Lock] = {}
        self._evicted: list[tuple[float, Path]] = []
        # One background worker: transcodes / skeleton renders overlap pose estimation.
        self._bg = ThreadPoolExecutor(max_workers=1, thread_name_prefix="d2m-bg")
        # Short jobs (pose-check images) that run beside the request's own thread.
        self._quick = ThreadPoolExecutor(max_workers=2, thread_name_prefix="d2m-quick")
        self._warm_lock = threading.Lock()
        self._warm = False
        self.stats = {"analyses": 0, "cache_hits": 0, "generations": 0}

    # -- loading -------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Pay every first-use cost once, before the first visitor (once; thread-safe).

        Imports MediaPipe and runs a tiny synthetic dance through analysis, generation,
        alignment and both plots: that JIT-compiles librosa's numba kernels (tens of seconds
        on a fresh machine, cached on disk afterwards), loads the soundfont and builds
        matplotlib's font cache.
        """
        with self._warm_lock:
            if self._warm:
                return
            from d2m_core.dance import pose as pose
            from d2m_core.dance.synth import synthetic_dance
            from d2m_core.viz.plot import (
                alignment_figure,
                close_figure,
                figure_to_rgb,
                rhythm_figure,
            )

            pose._import_mediapipe()
            a = analyze_motion(synthetic_dance(bpm=110, duration_s=3.0, fps=30, seed=0))
            r = generate_music(a, duration_s=3.0)
            with _PLOT_LOCK:
                for fig in (
                    rhythm_figure(a),
                    alignment_figure(a.tempo.beats_s, r.alignment.music_beats_s, duration_s=3),
                ):
                    figure_to_rgb(fig)  # draws it: builds the font cache
                    close_figure(fig)
            self._warm = True

    # -- analysis ------------------------------------------------------------------------------

    def check_upload(self, path: str | Path | None) -> None:
        """Refuse an upload at once if it is not a video this demo can take.

        Cheaper than an analysis (no frame is decoded beyond the container's packets), so the
        app can check a file as soon as it arrives instead of after Analyse.

        Raises
        ------
        D2MError
            Missing, too large, not a decodable video, or longer than the limit.
        """
        if path is None or str(path).strip() == "":
            return
        p = Path(path)
        if not p.is_file():
            raise D2MError(f"file not found: {p.name}; upload it again")
        _check_size(p, self.limits)
        from d2m_core.io.video import probe_video

        info = probe_video(p)
        _check_duration(p.name, info.duration_s, self.limits)

    def analyze(
        self,
        path: str | Path | None,
        *,
        key: str | None = None,
        fps: float | None = None,
        view: int = 0,
        overrides: BeatOverrides | None = None,
        progress: Progress | None = None,
    ) -> AnalyzeOutput:
        """Analyse a video or keypoint file (cached by content), its beats corrected as
        ``overrides`` say (:func:`~d2m_core.dance.overrides.apply_overrides`; the cached
        analysis stays the automatic one).

        Raises
        ------
        D2MError
            No input, too large, too long, not a video, corrupt, no person found, bad
            keypoints, a correction that does not fit the dance.
        """
        t0 = time.perf_counter()
        entry, hit = self._entry(path, key=key, fps=fps, view=view, progress=progress)
        # A copy per request: the cached one is shared by every session.
        out = dataclasses.replace(
            entry.output,
            video_mp4=self._playable(entry, path),
            cached=hit,
            seconds=time.perf_counter() - t0,
        )
        return out if overrides is None else self.correct(out, overrides)

    @staticmethod
    def correct(out: AnalyzeOutput, overrides: BeatOverrides) -> AnalyzeOutput:
        """An analysis output with its beats corrected as ``overrides`` say (starting from the
        automatic beats, whatever ``out`` held; ``BeatOverrides()`` gives them back), without
        reading the input again.

        Raises
        ------
        D2MError
            A correction that does not fit the dance.
        """
        analysis = apply_overrides(out.analysis, overrides)
        summary = {**out.summary, **analysis.to_dict(), "source": out.summary["source"]}
        auto = [w for w in out.warnings if w not in _correction_warnings(out.analysis)]
        return dataclasses.replace(
            out,
            analysis=analysis,
            summary=summary,
            warnings=[*auto, *_correction_warnings(analysis)],
        )

    @staticmethod
    def _playable(entry: _Entry, path: str | Path | None) -> Path:
        """The browser-safe video of an entry (waits for its transcode or render)."""
        return entry.base_video.result() if entry.base_video is not None else Path(str(path))

    def _entry(
        self,
        path: str | Path | None,
        *,
        key: str | None,
        fps: float | None,
        view: int,
        progress: Progress | None,
    ) -> tuple[_Entry, bool]:
        if path is None or str(path).strip() == "":
            raise D2MError("no input: upload a dance video or a keypoint file (or pick an example)")
        p = Path(path)
        if not p.is_file():
            raise D2MError(f"file not found: {p.name}; upload it again")
        _check_size(p, self.limits)
        key = (key or "").strip() or None
        fps = float(fps) if fps else None
        view = int(view or 0)
        k = content_key(p, key=key, fps=fps, view=view)
        with self._lock:
            if k in self._cache:
                self._cache.move_to_end(k)
                self.stats["cache_hits"] += 1
                return self._cache[k], True
            klock = self._inflight.setdefault(k, threading.Lock())
        try:
            with klock:  # one pose pass per content, however many requests ask at once
                with self._lock:
                    if k in self._cache:
                        self._cache.move_to_end(k)
                        self.stats["cache_hits"] += 1
                        return self._cache[k], True
                entry = self._build(k, p, key=key, fps=fps, view=view, progress=progress)
                with self._lock:
                    self._cache[k] = entry
                    self.stats["analyses"] += 1
                    while len(self._cache) > self.cache_size:
                        _, old = self._cache.popitem(last=False)
                        self._evicted.append((time.time(), old.folder))
                return entry, False
        finally:
            with self._lock:
                self._inflight.pop(k, None)

    def _build(
        self,
        k: str,
        p: Path,
        *,
        key: str | None,
        fps: float | None,
        view: int,
        progress: Progress | None,
    ) -> _Entry:
        report = progress or (lambda f, m: None)
        self.cleanup()
        folder = Path(tempfile.mkdtemp(prefix=f"{k[:12]}-", dir=self.root / "analyses"))
        try:
            return self._build_in(k, p, folder, key=key, fps=fps, view=view, report=report)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _build_in(
        self,
        k: str,
        p: Path,
        folder: Path,
        *,
        key: str | None,
        fps: float | None,
        view: int,
        report: Progress,
    ) -> _Entry:
        is_video = not is_keypoint_file(p)
        if is_video:
            analysis, base, preview_job = self._read_video(p, folder, report=report)
        else:
            analysis, base, preview_job = self._read_keypoints(
                p, folder, key=key, fps=fps, view=view, report=report
            )
        report(0.94, "plotting the rhythm")
        from d2m_core.viz.plot import rhythm_figure

        plot = _save_fig(lambda: rhythm_figure(analysis), folder / "rhythm.png")
        sug = suggest_genre(analysis.motion, tempo_bpm=analysis.tempo.bpm)
        preview = preview_job.result()
        summary = {**analysis.to_dict(), "suggested_genre": sug.genre, "genre_scores": sug.scores}
        summary["source"] = p.name  # the upload's temp path means nothing to the user
        report(1.0, "analysis done")
        out = AnalyzeOutput(
            key=k,
            analysis=analysis,
            summary=summary,
            suggested_genre=sug.genre,
            preview_png=preview,
            plot_png=plot,
            warnings=_analysis_warnings(analysis, summary),
        )
        return _Entry(key=k, output=out, folder=folder, is_video=is_video, base_video=base)

    def _read_video(
        self, p: Path, folder: Path, *, report: Progress
    ) -> tuple[Analysis, Future | None, Future]:
        """Pose pass over a video; returns (analysis, base video job, pose-check image job)."""
        from d2m_core.io.video import is_browser_safe, probe_video

        report(0.0, "reading the video")
        info = probe_video(p)  # not a video / corrupt: a clear D2MError here
        _check_duration(p.name, info.duration_s, self.limits)
        base = None
        if not is_browser_safe(p):
            base = self._bg.submit(_transcode, p, folder / "video.mp4", info.fps)

        analysis = analyze(p, progress=pose_reporter(report))
        report(0.88, "drawing the skeleton check")
        from d2m_core.viz.overlay import overlay_grid

        # Decoding the check frames (~1 s) overlaps the plot that follows.
        preview_job = self._quick.submit(
            overlay_grid, p, analysis.motion, folder / "pose_check.png"
        )
        return analysis, base, preview_job

    def _read_keypoints(
        self,
        p: Path,
        folder: Path,
        *,
        key: str | None,
        fps: float | None,
        view: int,
        report: Progress,
    ) -> tuple[Analysis, Future, Future]:
        """Analysis of a keypoint file; returns (analysis, skeleton video job, image job)."""
        report(0.0, "reading keypoints")
        analysis = analyze(p, key=key, fps=fps, view=view)
        _check_duration(p.name, analysis.motion.duration_s, self.limits)
        from d2m_core.viz.overlay import render_skeleton_video, skeleton_grid

        base = self._bg.submit(
            render_skeleton_video, analysis.motion, folder / "skeleton.mp4", max_side=480
        )
        preview_job = self._quick.submit(skeleton_grid, analysis.motion, folder / "pose_check.png")
        return analysis, base, preview_job

    # -- generation ----------------------------------------------------------------------------

    def generate(
        self,
        path: str | Path | None,
        *,
        key: str | None = None,
        fps: float | None = None,
        view: int = 0,
        prompt: str = DEFAULT_PROMPT,
        genre: str | None = None,
        backbone: str = "groove",
        seed: int = 0,
        duration_s: float | None = None,
        guidance: float | None = None,
        zero_shot: bool = False,
        overrides: BeatOverrides | None = None,
        progress: Progress | None = None,
    ) -> GenerateOutput:
        """Music for the input (analysed first only if it is not cached) and its files.

        ``genre`` None / ``""`` / :data:`AUTO_GENRE` means the suggestion; ``duration_s`` None
        or 0 means the dance's length; ``guidance`` applies to neural backbones only, whose
        model and encoder come from :func:`backbone_settings`; ``zero_shot`` is
        :func:`d2m_core.music.generate.generate_music`'s; ``overrides`` is the user's beat
        correction, which the music then follows.
        """
        t0 = time.perf_counter()
        report = progress or (lambda f, m: None)
        parsed = parse_prompt(prompt)  # a bad prompt fails before any heavy work
        entry, hit = self._entry(
            path,
            key=key,
            fps=fps,
            view=view,
            progress=None if progress is None else (lambda f, m: report(0.6 * f, m)),
        )
        analysis = entry.output.analysis
        if overrides is not None:
            analysis = apply_overrides(analysis, overrides)
        genre = None if not genre or genre == AUTO_GENRE else genre
        options = _backbone_options(backbone, guidance=guidance, zero_shot=zero_shot)
        report(0.62 if not hit else 0.05, f"composing with {backbone}")
        result = generate_music(
            analysis,
            prompt=parsed.text,
            genre=genre,
            backbone=backbone,
            seed=int(seed or 0),
            duration_s=float(duration_s) if duration_s else None,
            backbone_options=options,
            zero_shot=bool(zero_shot),
        )
        report(0.8, "writing the video with its new soundtrack")
        out_dir = self._output_dir()
        fix = None if overrides is None or overrides.is_identity else overrides.to_dict()
        tag = _result_tag(entry.key, parsed.text, backbone, options, duration_s, zero_shot, fix)
        files = self._write_outputs(entry, Path(path), result, out_dir, tag)  # type: ignore[arg-type]
        with self._lock:
            self.stats["generations"] += 1
        report(1.0, "done")
        report_dict = {
            **result.to_dict(),
            "source": entry.output.summary["source"],
            "genre_is_suggestion": result.genre == entry.output.suggested_genre,
            "analysis_cached": hit,
            "seconds_total": round(time.perf_counter() - t0, 3),
        }
        from d2m_core.io.files import write_json

        write_json(files["report_json"], report_dict)
        return GenerateOutput(
            result=result,
            report=report_dict,
            analysis_cached=hit,
            seconds=time.perf_counter() - t0,
            warnings=[*parsed.warnings, *_correction_warnings(analysis)],
            **files,
        )

    def _write_outputs(
        self, entry: _Entry, path: Path, result: GenerationResult, out_dir: Path, tag: str
    ) -> dict[str, Path]:
        from d2m_core.io.audio import write_wav
        from d2m_core.io.video import mux_audio
        from d2m_core.music.generate import alignment_plot

        stem = (
            f"{_safe_stem(path)}_d2m_{result.genre}_{_safe_stem(Path(result.backbone))}"
            f"_seed{result.seed}_{tag}"
        )
        base = entry.base_video.result() if entry.base_video is not None else path
        video = mux_audio(base, result.audio, result.sample_rate, out_dir / f"{stem}.mp4")
        wav = write_wav(out_dir / f"{stem}.wav", result.audio, result.sample_rate)
        with _PLOT_LOCK:
            png = alignment_plot(result, out_dir / f"{stem}_alignment.png")
        return {
            "video_mp4": video,
            "audio_wav": wav,
            "report_json": out_dir / f"{stem}.json",
            "alignment_png": png,
        }

    # -- housekeeping --------------------------------------------------------------------------

    def _output_dir(self) -> Path:
        self.cleanup()
        d = self.root / "outputs" / f"{int(time.time())}-{uuid.uuid4().hex[:8]}"
        d.mkdir(parents=True)
        return d

    def cleanup(self, *, now: float | None = None) -> int:
        """Delete output folders older than ``output_ttl_s`` and evicted analyses' folders.

        Returns the number of folders removed.
        """
        now = time.time() if now is None else now
        removed = 0
        with self._lock:
            due = [f for t, f in self._evicted if now - t >= _EVICT_GRACE_S]
            self._evicted = [(t, f) for t, f in self._evicted if now - t < _EVICT_GRACE_S]
        for folder in due:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        for d in (self.root / "outputs").iterdir():
            try:
                if now - d.stat().st_mtime > self.output_ttl_s:
                    shutil.rmtree(d, ignore_errors=True)
                    removed += 1
            except FileNotFoundError:  # another thread got there first
                pass
        return removed

    def cached_keys(self) -> list[str]:
        with self._lock:
            return list(self._cache)

    def close(self) -> None:
        """Stop the background workers (the working folder stays until exit)."""
        self._bg.shutdown(wait=True)
        self._quick.shutdown(wait=True)


_PIPELINE: Pipeline | None = None
_PIPELINE_LOCK = threading.Lock()


def get_pipeline() -> Pipeline:
    """The process-wide pipeline, created on first use."""
    global _PIPELINE
    with _PIPELINE_LOCK:
        if _PIPELINE is None:
            _PIPELINE = Pipeline()
        return _PIPELINE


def set_pipeline(pipeline: Pipeline) -> None:
    """Replace the process-wide pipeline (the app's flags, tests)."""
    global _PIPELINE
    with _PIPELINE_LOCK:
        _PIPELINE = pipeline
