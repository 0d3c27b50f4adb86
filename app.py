"""d2m in the browser: upload a dance, see its rhythm, edit the prompt, play it with new music.

``python app.py`` serves on http://127.0.0.1:7860 (``--host 0.0.0.0`` in a container,
``--share`` for a public link). This file only lays out the page and wires events to
:mod:`d2m_core.app.pipeline` (the work, which the CLI reaches too) and
:mod:`d2m_core.app.page` (what the page says); user errors (``D2MError``) become ``gr.Error``
pop-ups, never tracebacks. Every event has an ``api_name`` so ``gradio_client`` can drive the
app: ``/analyze`` and ``/generate`` are the two that matter.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import gradio as gr

from d2m_core import settings
from d2m_core.app import page, pipeline
from d2m_core.errors import D2MError
from d2m_core.music.prompt import DEFAULT_PROMPT

log = logging.getLogger("d2m.app")

ASSETS = Path(__file__).resolve().parent / "assets"
EXAMPLE_VIDEO = ASSETS / "example_dancer_96bpm.mp4"
EXAMPLE_KEYPOINTS = ASSETS / "example_dance_112bpm.npz"

CSS = """
.chips .gallery-item, .chips button { padding: 2px 8px !important; min-height: 0 !important; }
.chips { gap: 4px !important; }
#prompt-check { min-height: 3.5em; }
/* The one progress bar of a step is drawn over its summary: leave it room for bar and label. */
#analysis-summary, #results-summary { min-height: 6em; }
footer { display: none !important; }
"""

#: Analyses (and, separately, generations) run at once unless ``--concurrency`` says otherwise.
DEFAULT_CONCURRENCY = 2

# Options shared by the small events that answer at once, outside the queue.
_INSTANT = MappingProxyType({"queue": False, "show_progress": "hidden"})


# --------------------------------------------------------------------------------------------
# handlers (module level: unit tests call them directly; ZeroGPU needs import-time decoration)


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show D2MError as a gr.Error pop-up; hide anything else behind a short message."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except D2MError as e:
            raise gr.Error(
                page.user_message(str(e)), title=page.USER_ERROR_TITLE, print_exception=False
            ) from None
        except Exception as e:  # a bug: log it for us, keep the page usable for the user
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(page.bug_message(e), print_exception=False) from None

    return wrapper


def _warn(warnings: Iterable[str]) -> None:
    for w in warnings:
        gr.Warning(page.user_message(w))


# Gradio spots the progress parameter by its default; the tracker itself is per request.
_PROGRESS = gr.Progress()


def _gr_progress(progress: gr.Progress) -> pipeline.Progress:
    return lambda f, msg: progress(min(max(f, 0.0), 1.0), desc=msg)


# Every parameter but the input has a default (None: the component's own), so an API user
# passes only what they change: ``predict(handle_file("dance.mp4"), api_name="/analyze")``.
@_user_errors
def analyze(
    video: Any = None,
    keypoints: Any = None,
    kp_key: str | None = None,
    kp_fps: float | None = None,
    kp_view: float | None = None,
    progress: gr.Progress = _PROGRESS,
) -> tuple:
    """Analyse the dance: pose check image, summary, rhythm plot, suggested style, length hint."""
    path, opts = page.pick_input(video, keypoints, kp_key, kp_fps, kp_view)
    out = pipeline.get_pipeline().analyze(path, **opts, progress=_gr_progress(progress))
    _warn(out.warnings)
    return (
        str(out.preview_png),
        page.analysis_markdown(out),
        str(out.plot_png),
        gr.update(value=out.suggested_genre, label=page.genre_label(out.suggested_genre)),
        gr.update(label=page.length_label(out.summary["duration_s"])),
    )


@pipeline.gpu_task()
@_user_errors
def generate(
    video: Any = None,
    keypoints: Any = None,
    kp_key: str | None = None,
    kp_fps: float | None = None,
    kp_view: float | None = None,
    prompt: str = DEFAULT_PROMPT,
    genre: str | None = pipeline.AUTO_GENRE,
    backbone: str | None = "groove",
    seed: float | None = 0,
    length_s: float | None = 0,
    guidance: float | None = 3.0,
    zero_shot: bool | None = False,
    progress: gr.Progress = _PROGRESS,
) -> tuple:
    """Music for the dance: the video with its soundtrack, the audio, downloads, alignment."""
    path, opts = page.pick_input(video, keypoints, kp_key, kp_fps, kp_view)
    out = pipeline.get_pipeline().generate(
        path,
        **opts,
        prompt=prompt or "",
        genre=genre,
        backbone=backbone or "groove",
        seed=int(seed or 0),
        duration_s=float(length_s) if length_s else None,
        guidance=guidance,
        zero_shot=bool(zero_shot),
        progress=_gr_progress(progress),
    )
    _warn(out.warnings)
    return (
        str(out.video_mp4),
        str(out.audio_wav),
        [str(f) for f in out.files],
        str(out.alignment_png),
        page.generation_markdown(out),
    )


def cleared_analysis() -> tuple:
    """What :func:`analyze` fills, emptied and hidden (in its return order)."""
    return (
        gr.update(value=None, visible=False),
        page.ANALYSIS_PLACEHOLDER,
        gr.update(value=None, visible=False),
        gr.update(value=pipeline.AUTO_GENRE, label=page.GENRE_MENU_LABEL),
        gr.update(label=page.length_label_default()),
    )


def cleared_results() -> tuple:
    """What :func:`generate` fills, emptied and hidden (in its return order)."""
    hidden = gr.update(value=None, visible=False)
    return (hidden, hidden, hidden, hidden, page.RESULTS_PLACEHOLDER)


def new_input() -> tuple:
    """A new upload or a cleared input: results of the previous dance no longer apply."""
    return (*cleared_analysis(), *cleared_results())


def check_video_upload(video: Any) -> tuple:
    """Refuse at once a file that is not a usable video (and clear the player), rather than
    after Analyse; either way the previous dance's results go."""
    try:
        pipeline.get_pipeline().check_upload(page.pick_input(video, None, None, None, None)[0])
    except D2MError as e:
        gr.Warning(page.upload_refusal(str(e)), title=page.UPLOAD_REFUSED_TITLE)
        return (None, *new_input())
    return (gr.skip(), *new_input())


def check_prompt(prompt: str | None) -> str:
    """Live prompt validation (Markdown)."""
    return page.check_prompt(prompt)


def insert_word(sample: list | str | None, prompt: str | None) -> str:
    """A word-bank chip was clicked: add its word to the prompt."""
    return page.insert_word(prompt, page.chip_word(sample))


def backbone_options(backbone: str | None) -> tuple:
    """Show the guidance slider only for backbones that use it; set the zero-shot switch."""
    value, interactive, info = page.zero_shot_state(backbone or "")
    return (
        gr.update(visible=pipeline.backbone_takes_guidance(backbone or "")),
        gr.update(value=value, interactive=interactive, info=info),
    )


def keep_one(value: Any, tab: str) -> tuple:
    """A new video clears the keypoint upload and vice versa (one input at a time), and its
    tab comes to the front (an example fills an input that may sit in the hidden tab)."""
    if not value:
        return gr.skip(), gr.skip()
    return None, gr.Tabs(selected=tab)


def keep_video(value: Any) -> tuple:
    return keep_one(value, "video")


def keep_keypoints(value: Any) -> tuple:
    return keep_one(value, "keypoints")


def analyze_example_video(video: Any, progress: gr.Progress = _PROGRESS) -> tuple:
    return (*analyze(video, None, None, None, 0, progress=progress), *cleared_results())


def analyze_example_keypoints(
    keypoints: Any, kp_key: str | None, progress: gr.Progress = _PROGRESS
) -> tuple:
    return (*analyze(None, keypoints, kp_key, None, 0, progress=progress), *cleared_results())


# --------------------------------------------------------------------------------------------
# layout: one function per section, each returning the components that events need


@dataclass(frozen=True)
class DanceSection:
    """Step 1: the upload (video or keypoints), the analyse button and what analysis shows."""

    column: gr.Column  # the input column: the examples go under it once the outputs exist
    tabs: gr.Tabs
    video: gr.Video
    keypoints: gr.File
    kp_key: gr.Textbox
    kp_fps: gr.Number
    kp_view: gr.Number
    analyze: gr.Button
    preview: gr.Image
    summary: gr.Markdown
    rhythm_plot: gr.Image

    @property
    def inputs(self) -> list[gr.components.Component]:
        """The components every analysis and generation reads, in the handlers' order."""
        return [self.video, self.keypoints, self.kp_key, self.kp_fps, self.kp_view]


@dataclass(frozen=True)
class PromptSection:
    """Step 2, first half: the prompt, its live check, the genre and the word bank."""

    prompt: gr.Textbox
    check: gr.Markdown
    genre: gr.Dropdown
    chips: dict[str, gr.Dataset]


@dataclass(frozen=True)
class GenerationControls:
    """Step 2, second half: backbone, seed, length, guidance, zero-shot, the generate button."""

    backbone: gr.Dropdown
    seed: gr.Number
    length: gr.Slider
    guidance: gr.Slider
    zero_shot: gr.Checkbox
    generate: gr.Button


@dataclass(frozen=True)
class ResultsSection:
    """Step 3: the video with its music, the music alone, downloads and the alignment."""

    video: gr.Video
    audio: gr.Audio
    files: gr.File
    alignment: gr.Image
    figures: gr.Markdown

    @property
    def outputs(self) -> list[gr.components.Component]:
        """In :func:`generate`'s return order."""
        return [self.video, self.audio, self.files, self.alignment, self.figures]


def _keypoint_tab() -> tuple[gr.File, gr.Textbox, gr.Number, gr.Number]:
    keypoints = gr.File(
        label="Keypoints (.npy .npz .pkl .json, COCO-17)",
        file_types=page.keypoint_suffixes(),
        type="filepath",
    )
    with gr.Row():
        kp_key = gr.Textbox(label=".npz entry", placeholder="only one: leave empty")
        kp_fps = gr.Number(label="fps (0 = stored)", value=0, minimum=0)
        kp_view = gr.Number(label="AIST++ view", value=0, precision=0, minimum=0)
    return keypoints, kp_key, kp_fps, kp_view


def _dance_section(limits: pipeline.Limits) -> DanceSection:
    gr.Markdown("### 1 · Your dance")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1) as column:
            with gr.Tabs() as tabs:
                with gr.Tab("Video", id="video"):
                    video = gr.Video(
                        label=f"Dance video (up to {limits.max_video_s:g} s,"
                        f" {limits.max_upload_mb:g} MB)",
                        sources=["upload"],
                        height=360,
                    )
                with gr.Tab("Keypoint file", id="keypoints"):
                    keypoints, kp_key, kp_fps, kp_view = _keypoint_tab()
            analyze_btn = gr.Button("Analyse the dance", variant="primary")
        with gr.Column(scale=1):
            # Outputs stay hidden until they hold something: no empty boxes on the first screen.
            preview = gr.Image(
                label="Pose check: the skeleton d2m found", type="filepath", height=360,
                interactive=False, visible=False,
            )  # fmt: skip
            summary = gr.Markdown(page.ANALYSIS_PLACEHOLDER, elem_id="analysis-summary")
    # The figures carry their own titles: a component label would cover them.
    rhythm_plot = gr.Image(
        label="Visual rhythm: acceleration, rhythm peaks, visual beats", type="filepath",
        interactive=False, show_label=False, height=320, visible=False,
    )  # fmt: skip
    return DanceSection(
        column=column, tabs=tabs, video=video, keypoints=keypoints, kp_key=kp_key,
        kp_fps=kp_fps, kp_view=kp_view, analyze=analyze_btn, preview=preview, summary=summary,
        rhythm_plot=rhythm_plot,
    )  # fmt: skip


def _word_bank() -> dict[str, gr.Dataset]:
    chips = {}
    with gr.Accordion(page.WORD_BANK_TITLE, open=True):
        with gr.Row():
            for cat, words in page.word_bank().items():
                chips[cat] = gr.Dataset(
                    label=page.word_bank_label(cat),
                    components=["textbox"],
                    samples=[[w] for w in words],
                    samples_per_page=len(words),
                    layout="gallery",
                    elem_classes="chips",
                )
    return chips


def _prompt_section() -> PromptSection:
    gr.Markdown("### 2 · Describe the music")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            # No max_length: the browser would cut a long paste without a word; the live
            # check below says how long it is and Generate refuses it.
            prompt = gr.Textbox(label=page.PROMPT_LABEL, value=DEFAULT_PROMPT, lines=1)
            check = gr.Markdown(page.check_prompt(DEFAULT_PROMPT), elem_id="prompt-check")
        with gr.Column(scale=1, min_width=220):
            genre = gr.Dropdown(
                label=page.GENRE_MENU_LABEL,
                choices=page.genre_choices(),
                value=pipeline.AUTO_GENRE,
            )
    return PromptSection(prompt=prompt, check=check, genre=genre, chips=_word_bank())


def _generation_controls(*, max_length_s: float) -> GenerationControls:
    backbones = page.backbone_choices()
    note = page.unavailable_backbones_note()
    first = backbones[0][1] if backbones else ""
    zs_value, zs_interactive, zs_info = page.zero_shot_state(first)
    with gr.Row(equal_height=True):
        backbone = gr.Dropdown(
            label="Backbone",
            choices=backbones,
            value=first or None,
            info=page.BACKBONE_HINT if note else None,
        )
        seed = gr.Number(label="Seed", value=0, precision=0)
        length = gr.Slider(0, max_length_s, value=0, step=0.5, label=page.length_label_default())
    # Closed by default: most visitors never need these, nor the server's set-up notes.
    with gr.Accordion(page.ADVANCED_LABEL, open=False):
        with gr.Row(equal_height=True):
            guidance = gr.Slider(
                1.0, 10.0, value=3.0, step=0.5, label="Guidance (classifier-free)",
                visible=pipeline.backbone_takes_guidance(first),
            )  # fmt: skip
            zero_shot = gr.Checkbox(
                label="Zero-shot sync", value=zs_value, interactive=zs_interactive, info=zs_info
            )
        if note:
            gr.Markdown(page.backbone_note_html(note), elem_classes="backbone-note")
    generate_btn = gr.Button("Generate music", variant="primary")
    return GenerationControls(
        backbone=backbone, seed=seed, length=length, guidance=guidance, zero_shot=zero_shot,
        generate=generate_btn,
    )  # fmt: skip


def _results_section() -> ResultsSection:
    gr.Markdown("### 3 · Watch and listen")
    # The summary comes first and the players stay hidden until there is music: before that,
    # one line of text instead of empty boxes.
    figures = gr.Markdown(page.RESULTS_PLACEHOLDER, elem_id="results-summary")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            video = gr.Video(label="Your dance with its new music", height=420, visible=False)
        with gr.Column(scale=1):
            audio = gr.Audio(
                label="The music alone", type="filepath", interactive=False, visible=False
            )
            files = gr.File(
                label="Downloads", file_count="multiple", interactive=False, visible=False
            )
    alignment = gr.Image(
        label="Beat alignment: visual beats vs detected music beats", type="filepath",
        interactive=False, show_label=False, height=260, visible=False,
    )  # fmt: skip
    return ResultsSection(
        video=video, audio=audio, files=files, alignment=alignment, figures=figures
    )


# --------------------------------------------------------------------------------------------
# events


def _show_many(n: int) -> Callable[[], tuple]:
    """A handler revealing ``n`` components once they hold a result: a step of its own, so
    the API's answers stay plain values rather than visibility updates."""

    def show_results() -> tuple:
        return tuple(gr.update(visible=True) for _ in range(n))

    return show_results


def _analysis_outputs(
    dance: DanceSection, prompt: PromptSection, controls: GenerationControls
) -> list[gr.components.Component]:
    """What an analysis fills, in :func:`analyze`'s return order."""
    return [dance.preview, dance.summary, dance.rhythm_plot, prompt.genre, controls.length]


def _wire_analysis(
    dance: DanceSection, outputs: list[gr.components.Component], *, concurrency: int
) -> None:
    # One progress bar, on the summary: on every output it was drawn five times over.
    event = dance.analyze.click(
        analyze, dance.inputs, outputs, api_name="analyze", concurrency_id="analyze",
        concurrency_limit=concurrency, show_progress_on=dance.summary,
    )  # fmt: skip
    event.success(
        _show_many(2), None, [dance.preview, dance.rhythm_plot], api_visibility="private",
        **_INSTANT,
    )  # fmt: skip
    event.failure(
        cleared_analysis, None, outputs, api_name="clear_analysis",
        api_visibility="undocumented", **_INSTANT,
    )  # fmt: skip


def _wire_generation(
    dance: DanceSection,
    prompt: PromptSection,
    controls: GenerationControls,
    results: ResultsSection,
    *,
    concurrency: int,
) -> None:
    c = controls
    event = controls.generate.click(
        generate,
        [*dance.inputs, prompt.prompt, prompt.genre, c.backbone, c.seed, c.length, c.guidance,
         c.zero_shot],
        results.outputs,
        api_name="generate",
        concurrency_id="generate",
        concurrency_limit=concurrency,
        show_progress_on=results.figures,
    )  # fmt: skip
    players = [results.video, results.audio, results.files, results.alignment]
    event.success(_show_many(len(players)), None, players, api_visibility="private", **_INSTANT)
    event.failure(
        cleared_results, None, results.outputs, api_name="clear_results",
        api_visibility="undocumented", **_INSTANT,
    )  # fmt: skip


def _wire_prompt(prompt: PromptSection) -> None:
    prompt.prompt.change(
        check_prompt, prompt.prompt, prompt.check, api_name="check_prompt",
        trigger_mode="always_last", **_INSTANT,
    )  # fmt: skip
    for cat, ds in prompt.chips.items():
        ds.click(
            insert_word, [ds, prompt.prompt], prompt.prompt, api_name=f"insert_{cat}",
            api_visibility="undocumented", **_INSTANT,
        )  # fmt: skip


def _wire_backbone(controls: GenerationControls) -> None:
    controls.backbone.change(
        backbone_options, controls.backbone, [controls.guidance, controls.zero_shot],
        api_name="backbone_options", **_INSTANT,
    )  # fmt: skip


def _wire_new_input(dance: DanceSection, outputs: list[gr.components.Component]) -> None:
    """Results belong to the file they came from: an upload or a cleared input empties them,
    and a video upload that is no usable video is refused at once."""
    # Queued, unlike the other instant events: a refusal's pop-up travels on the queue's stream.
    dance.video.upload(
        check_video_upload, dance.video, [dance.video, *outputs], api_name="check_video",
        api_visibility="undocumented", show_progress="hidden",
    )  # fmt: skip
    for event in (dance.video.clear, dance.keypoints.upload, dance.keypoints.clear):
        event(new_input, None, outputs, api_visibility="private", **_INSTANT)


def _wire_one_input(dance: DanceSection) -> None:
    """A video upload clears the keypoint file and the other way round."""
    dance.video.change(
        keep_video, dance.video, [dance.keypoints, dance.tabs], api_name="clear_keypoints",
        api_visibility="undocumented", **_INSTANT,
    )  # fmt: skip
    dance.keypoints.change(
        keep_keypoints, dance.keypoints, [dance.video, dance.tabs], api_name="clear_video",
        api_visibility="undocumented", **_INSTANT,
    )  # fmt: skip


def _add_examples(
    dance: DanceSection,
    outputs: list[gr.components.Component],
    *,
    progress_on: gr.components.Component,
) -> None:
    """The examples, under the input; added last because they need the outputs they fill
    (the analysis outputs, then the results they empty)."""
    # The analysis is chained here rather than by run_on_click: that would draw the progress
    # bar on every output instead of on ``progress_on`` only.
    run = {"show_progress_on": progress_on, "api_visibility": "undocumented"}
    shown = outputs[:1] + outputs[2:3]  # the pose check and the rhythm plot
    with dance.column:
        if EXAMPLE_VIDEO.is_file():
            ex = gr.Examples(
                [[str(EXAMPLE_VIDEO)]],
                inputs=[dance.video],
                outputs=outputs,
                api_name="example_video",
                elem_id="example-video",
                label="Example video: a procedural dancer rendered by d2m (96 BPM)",
            )
            done = ex.load_input_event.then(analyze_example_video, [dance.video], outputs, **run)
            done.success(_show_many(2), None, shown, api_visibility="private", **_INSTANT)
        if EXAMPLE_KEYPOINTS.is_file():
            ex = gr.Examples(
                [[str(EXAMPLE_KEYPOINTS), "dance"]],
                inputs=[dance.keypoints, dance.kp_key],
                outputs=outputs,
                api_name="example_keypoints",
                elem_id="example-keypoints",
                label="Example keypoints: a procedural dance (112 BPM, 10 s)",
            )
            done = ex.load_input_event.then(
                analyze_example_keypoints, [dance.keypoints, dance.kp_key], outputs, **run
            )
            done.success(_show_many(2), None, shown, api_visibility="private", **_INSTANT)


def build_demo(
    *, max_video_s: float | None = None, concurrency: int = DEFAULT_CONCURRENCY
) -> gr.Blocks:
    """The page. Handlers use :func:`d2m_core.app.pipeline.get_pipeline` (set it first to
    configure limits).

    Parameters
    ----------
    max_video_s : float, optional
        Longest music the length slider offers (default: the pipeline's video length limit).
    concurrency : int
        Analyses run at once, and generations run at once (each event its own limit).
    """
    limits = pipeline.get_pipeline().limits
    with gr.Blocks(title="d2m: music for dance videos", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(page.INTRO)
        dance = _dance_section(limits)
        prompt = _prompt_section()
        controls = _generation_controls(max_length_s=float(max_video_s or limits.max_video_s))
        results = _results_section()
        analysis_outputs = _analysis_outputs(dance, prompt, controls)
        every_output = [*analysis_outputs, *results.outputs]
        # The events' order is their order in the API listing: keep it.
        _wire_analysis(dance, analysis_outputs, concurrency=concurrency)
        _wire_generation(dance, prompt, controls, results, concurrency=concurrency)
        _wire_prompt(prompt)
        _wire_backbone(controls)
        _wire_one_input(dance)
        _wire_new_input(dance, every_output)
        # An example is a new dance too: its analysis also empties the previous music.
        _add_examples(dance, every_output, progress_on=dance.summary)
    return demo


# --------------------------------------------------------------------------------------------
# serving


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return v


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="d2m web demo (Gradio)")
    ap.add_argument("--host", default=settings.host(), help="default 127.0.0.1")
    ap.add_argument("--port", type=int, default=settings.port(), help="default 7860")
    ap.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    lim = pipeline.Limits.from_env()
    ap.add_argument(
        "--max-upload-mb", type=_positive, default=lim.max_upload_mb, help="upload size limit"
    )
    ap.add_argument(
        "--max-video-s", type=_positive, default=lim.max_video_s, help="video length limit"
    )
    ap.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="jobs run at once per event"
    )
    ap.add_argument("--queue-size", type=int, default=32, help="waiting jobs before 'queue full'")
    ap.add_argument("--no-warmup", action="store_true", help="load the pose model on first use")
    ap.add_argument(
        "--download",
        action="store_true",
        help="download a neural backbone's missing model on first use (needs internet;"
        " default: D2M_DOWNLOAD, else never)",
    )
    return ap.parse_args(argv)


def launch(args: argparse.Namespace, **kwargs: Any) -> gr.Blocks:
    """Configure the pipeline, build the page and start serving (blocking unless told not to)."""
    limits = pipeline.Limits(max_upload_mb=args.max_upload_mb, max_video_s=args.max_video_s)
    if getattr(args, "download", False):
        from d2m_core.backbones import download

        download.allow()  # before the page lists the backbones: missing models become choices
    pipeline.set_pipeline(pipeline.Pipeline(limits=limits))
    if not args.no_warmup:
        # Import MediaPipe while the first visitor is still choosing a file.
        threading.Thread(target=pipeline.get_pipeline().warm_up, daemon=True).start()
    demo = build_demo(concurrency=args.concurrency)
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size=int(limits.max_upload_mb * 1e6),  # bytes: fractional MB limits stay exact
        allowed_paths=[str(ASSETS)],
        show_error=False,
        ssr_mode=False,
        theme=gr.themes.Soft(),
        css=CSS,
        **kwargs,
    )
    return demo


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    launch(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
