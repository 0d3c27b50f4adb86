"""d2m in the browser: upload a dance, see its rhythm, edit the prompt, play it with new music.

``python app.py`` serves on http://127.0.0.1:7860 (``--host 0.0.0.0`` in a container,
``--share`` for a public link). This file only lays out the page and wires events to
:mod:`d2m_core.app.pipeline`, whose functions the CLI reaches too; user errors (``D2MError``) become
``gr.Error`` pop-ups, never tracebacks. Every event has an ``api_name`` so ``gradio_client``
can drive the app: ``/analyze`` and ``/generate`` are the two that matter.
"""

from __future__ import annotations

import argparse
import functools
import html
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from d2m_core.app import pipeline as service
from d2m_core.errors import D2MError
from d2m_core.music.genres import GENRE_LABELS
from d2m_core.music.prompt import DEFAULT_PROMPT, MAX_PROMPT_CHARS

log = logging.getLogger("d2m.app")

ASSETS = Path(__file__).resolve().parent / "assets"
EXAMPLE_VIDEO = ASSETS / "example_dancer_96bpm.mp4"
EXAMPLE_KEYPOINTS = ASSETS / "example_dance_112bpm.npz"

INTRO = """
# d2m · music for dance videos
**1.** Upload a dance video (or a keypoint file), or click an example: d2m finds the dancer's
pose and the visual beats of the moves. **2.** Edit the prompt around `@` (the genre) and `*`
(the dance's rhythm). **3.** Generate: your video plays with new music whose beats land on the
moves. Re-generating reuses the analysis, so new prompts and seeds take a second or two.
"""

CSS = """
.chips .gallery-item, .chips button { padding: 2px 8px !important; min-height: 0 !important; }
.chips { gap: 4px !important; }
#prompt-check { min-height: 3.5em; }
footer { display: none !important; }
"""


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
                html.escape(str(e)), title="Cannot do that", print_exception=False
            ) from None
        except Exception as e:  # a bug: log it for us, keep the page usable for the user
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(
                f"Something went wrong on our side ({type(e).__name__}). Try again, or another"
                " file.",
                print_exception=False,
            ) from None

    return wrapper


def _as_path(value: Any) -> str | None:
    """A component value (path string, or a dict from gr.Video / gr.File) as a path."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("video") or value.get("path") or value.get("name")
        return _as_path(value)
    return str(value) or None


def _input(
    video: Any, keypoints: Any, kp_key: str | None, kp_fps: float | None, kp_view: float | None
) -> tuple[str | None, dict]:
    """The input to use: the video if there is one, else the keypoint file with its options."""
    v = _as_path(video)
    if v:
        return v, {}
    k = _as_path(keypoints)
    return k, {"key": kp_key or None, "fps": kp_fps or None, "view": int(kp_view or 0)}


# Gradio spots the progress parameter by its default; the tracker itself is per request.
_PROGRESS = gr.Progress()


def _gr_progress(progress: gr.Progress) -> service.Progress:
    return lambda f, msg: progress(min(max(f, 0.0), 1.0), desc=msg)


@_user_errors
def analyze(
    video: Any,
    keypoints: Any,
    kp_key: str | None,
    kp_fps: float | None,
    kp_view: float | None,
    progress: gr.Progress = _PROGRESS,
) -> tuple:
    """Analyse the dance: pose check image, summary, rhythm plot, suggested genre, length hint."""
    path, opts = _input(video, keypoints, kp_key, kp_fps, kp_view)
    out = service.get_pipeline().analyze(path, **opts, progress=_gr_progress(progress))
    for w in out.warnings:
        gr.Warning(html.escape(w))
    label = GENRE_LABELS[out.suggested_genre]
    dur = out.summary["duration_s"]
    return (
        str(out.preview_png),
        out.markdown(),
        str(out.plot_png),
        gr.update(value=out.suggested_genre, label=f"Genre for @ (suggested: {label})"),
        gr.update(label=f"Music length, s (0 = the dance's {dur:.1f} s)"),
    )


@service.gpu_task()
@_user_errors
def generate(
    video: Any,
    keypoints: Any,
    kp_key: str | None,
    kp_fps: float | None,
    kp_view: float | None,
    prompt: str,
    genre: str | None,
    backbone: str | None,
    seed: float | None,
    length_s: float | None,
    guidance: float | None,
    zero_shot: bool | None = False,
    progress: gr.Progress = _PROGRESS,
) -> tuple:
    """Music for the dance: the video with its soundtrack, the audio, downloads, alignment."""
    path, opts = _input(video, keypoints, kp_key, kp_fps, kp_view)
    out = service.get_pipeline().generate(
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
    for w in out.warnings:
        gr.Warning(html.escape(w))
    return (
        str(out.video_mp4),
        str(out.audio_wav),
        [str(f) for f in out.files],
        str(out.alignment_png),
        out.markdown(),
    )


def check_prompt(prompt: str | None) -> str:
    """Live prompt validation (Markdown)."""
    return service.check_prompt(prompt)


def insert_word(sample: list | str | None, prompt: str | None) -> str:
    """A word-bank chip was clicked: add its word to the prompt."""
    word = sample[0] if isinstance(sample, (list, tuple)) and sample else sample
    return service.insert_word(prompt, str(word or ""))


def backbone_options(backbone: str | None) -> tuple:
    """Show the guidance slider only for backbones that use it; set the zero-shot switch."""
    value, interactive, info = service.zero_shot_state(backbone or "")
    return (
        gr.update(visible=service.backbone_takes_guidance(backbone or "")),
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
    return analyze(video, None, None, None, 0, progress=progress)


def analyze_example_keypoints(
    keypoints: Any, kp_key: str | None, progress: gr.Progress = _PROGRESS
) -> tuple:
    return analyze(None, keypoints, kp_key, None, 0, progress=progress)


# --------------------------------------------------------------------------------------------
# layout


def build_demo(*, max_video_s: float | None = None) -> gr.Blocks:
    """The page. Handlers use :func:`d2m_core.app.pipeline.get_pipeline` (set it first to configure
    limits)."""
    limits = service.get_pipeline().limits
    max_len = float(max_video_s or limits.max_video_s)
    backbones = service.backbone_choices()
    note = service.unavailable_backbones_note()
    with gr.Blocks(title="d2m: music for dance videos", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        gr.Markdown("### 1 · Your dance")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1) as input_col:
                with gr.Tabs() as input_tabs:
                    with gr.Tab("Video", id="video"):
                        video_in = gr.Video(
                            label=f"Dance video (up to {limits.max_video_s:g} s,"
                            f" {limits.max_upload_mb:g} MB)",
                            sources=["upload"],
                            height=360,
                        )
                    with gr.Tab("Keypoint file", id="keypoints"):
                        kp_in = gr.File(
                            label="Keypoints (.npy .npz .pkl .json, COCO-17)",
                            file_types=service.keypoint_suffixes(),
                            type="filepath",
                        )
                        with gr.Row():
                            kp_key = gr.Textbox(
                                label=".npz entry", placeholder="only one: leave empty"
                            )
                            kp_fps = gr.Number(label="fps (0 = stored)", value=0, minimum=0)
                            kp_view = gr.Number(
                                label="AIST++ view", value=0, precision=0, minimum=0
                            )
                analyze_btn = gr.Button("Analyse the dance", variant="primary")
            with gr.Column(scale=1):
                preview = gr.Image(
                    label="Pose check: the skeleton d2m found", type="filepath", height=360,
                    interactive=False,
                )  # fmt: skip
                summary = gr.Markdown("*Analyse a dance to see its tempo and suggested genre.*")
        # The figures carry their own titles: a component label would cover them.
        rhythm_plot = gr.Image(
            label="Visual rhythm: acceleration, rhythm peaks, visual beats", type="filepath",
            interactive=False, show_label=False, height=320,
        )  # fmt: skip

        gr.Markdown("### 2 · Describe the music")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                prompt = gr.Textbox(
                    label="Prompt: @ = the genre, * = the dance's rhythm",
                    value=DEFAULT_PROMPT,
                    max_length=MAX_PROMPT_CHARS,
                    lines=1,
                )
                prompt_check = gr.Markdown(
                    service.check_prompt(DEFAULT_PROMPT), elem_id="prompt-check"
                )
            with gr.Column(scale=1, min_width=220):
                genre = gr.Dropdown(
                    label="Genre for @", choices=service.genre_choices(), value=service.AUTO_GENRE
                )
        with gr.Accordion("Word bank: click a word to add it to the prompt", open=True):
            chips = {}
            with gr.Row():
                for cat, words in service.word_bank().items():
                    chips[cat] = gr.Dataset(
                        label=cat,
                        components=["textbox"],
                        samples=[[w] for w in words],
                        samples_per_page=len(words),
                        layout="gallery",
                        elem_classes="chips",
                    )
        with gr.Row(equal_height=True):
            backbone = gr.Dropdown(
                label="Backbone",
                choices=backbones,
                value=backbones[0][1] if backbones else None,
                info="groove runs offline; neural ones need their weights (see below)"
                if note
                else None,
            )
            seed = gr.Number(label="Seed", value=0, precision=0)
            length = gr.Slider(
                0, max_len, value=0, step=0.5, label="Music length, s (0 = the dance's length)"
            )
            guidance = gr.Slider(
                1.0, 10.0, value=3.0, step=0.5, label="Guidance (classifier-free)",
                visible=service.backbone_takes_guidance(backbones[0][1] if backbones else ""),
            )  # fmt: skip
            zs_value, zs_interactive, zs_info = service.zero_shot_state(
                backbones[0][1] if backbones else ""
            )
            zero_shot = gr.Checkbox(
                label="Zero-shot sync", value=zs_value, interactive=zs_interactive, info=zs_info
            )
        if note:
            gr.Markdown(f"<small>{html.escape(note)}</small>", elem_classes="backbone-note")
        generate_btn = gr.Button("Generate music", variant="primary")

        gr.Markdown("### 3 · Watch and listen")

        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                video_out = gr.Video(label="Your dance with its new music", height=420)
            with gr.Column(scale=1):
                figures = gr.Markdown("*Generate to hear the music and see how it lines up.*")
                audio_out = gr.Audio(label="The music alone", type="filepath", interactive=False)
                files_out = gr.File(label="Downloads", file_count="multiple", interactive=False)
        align_plot = gr.Image(
            label="Beat alignment: visual beats vs detected music beats", type="filepath",
            interactive=False, show_label=False, height=260,
        )  # fmt: skip

        # -- events --------------------------------------------------------------------------
        inputs = [video_in, kp_in, kp_key, kp_fps, kp_view]
        analysis_outputs = [preview, summary, rhythm_plot, genre, length]
        analyze_btn.click(
            analyze, inputs, analysis_outputs, api_name="analyze", concurrency_id="analyze",
            concurrency_limit=2,
        )  # fmt: skip
        generate_btn.click(
            generate,
            [*inputs, prompt, genre, backbone, seed, length, guidance, zero_shot],
            [video_out, audio_out, files_out, align_plot, figures],
            api_name="generate",
            concurrency_id="generate",
            concurrency_limit=2,
        )
        prompt.change(
            check_prompt, prompt, prompt_check, api_name="check_prompt", queue=False,
            show_progress="hidden", trigger_mode="always_last",
        )  # fmt: skip
        for cat, ds in chips.items():
            ds.click(
                insert_word, [ds, prompt], prompt, api_name=f"insert_{cat}", queue=False,
                show_progress="hidden", api_visibility="undocumented",
            )  # fmt: skip
        backbone.change(
            backbone_options, backbone, [guidance, zero_shot], api_name="backbone_options",
            queue=False,
            show_progress="hidden",
        )  # fmt: skip
        video_in.change(
            keep_video, video_in, [kp_in, input_tabs], api_name="clear_keypoints", queue=False,
            show_progress="hidden", api_visibility="undocumented",
        )  # fmt: skip
        kp_in.change(
            keep_keypoints, kp_in, [video_in, input_tabs], api_name="clear_video", queue=False,
            show_progress="hidden", api_visibility="undocumented",
        )  # fmt: skip

        # Examples sit under the input, added once the outputs they fill exist.
        with input_col:
            if EXAMPLE_VIDEO.is_file():
                gr.Examples(
                    [[str(EXAMPLE_VIDEO)]],
                    inputs=[video_in],
                    outputs=analysis_outputs,
                    fn=analyze_example_video,
                    run_on_click=True,
                    cache_examples=False,
                    api_name="example_video",
                    elem_id="example-video",
                    label="Example video: a procedural dancer rendered by d2m (96 BPM)",
                )
            if EXAMPLE_KEYPOINTS.is_file():
                gr.Examples(
                    [[str(EXAMPLE_KEYPOINTS), "dance"]],
                    inputs=[kp_in, kp_key],
                    outputs=analysis_outputs,
                    fn=analyze_example_keypoints,
                    run_on_click=True,
                    cache_examples=False,
                    api_name="example_keypoints",
                    elem_id="example-keypoints",
                    label="Example keypoints: a procedural dance (112 BPM, 10 s)",
                )
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
    env = os.environ.get
    ap = argparse.ArgumentParser(description="d2m web demo (Gradio)")
    ap.add_argument("--host", default=env("D2M_HOST", "127.0.0.1"), help="default 127.0.0.1")
    ap.add_argument("--port", type=int, default=int(env("D2M_PORT", "7860")), help="default 7860")
    ap.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    lim = service.Limits.from_env()
    ap.add_argument(
        "--max-upload-mb", type=_positive, default=lim.max_upload_mb, help="upload size limit"
    )
    ap.add_argument(
        "--max-video-s", type=_positive, default=lim.max_video_s, help="video length limit"
    )
    ap.add_argument("--concurrency", type=int, default=2, help="jobs run at once per event")
    ap.add_argument("--queue-size", type=int, default=32, help="waiting jobs before 'queue full'")
    ap.add_argument("--no-warmup", action="store_true", help="load the pose model on first use")
    return ap.parse_args(argv)


def launch(args: argparse.Namespace, **kwargs: Any) -> gr.Blocks:
    """Configure the pipeline, build the page and start serving (blocking unless told not to)."""
    limits = service.Limits(max_upload_mb=args.max_upload_mb, max_video_s=args.max_video_s)
    service.set_pipeline(service.Pipeline(limits=limits))
    if not args.no_warmup:
        # Import MediaPipe while the first visitor is still choosing a file.
        threading.Thread(target=service.get_pipeline().warm_up, daemon=True).start()
    demo = build_demo()
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
