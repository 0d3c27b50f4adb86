"""Dance -> music: choose genre and backbone, generate, and measure how the music lands.

This is the one place the CLI (``d2m generate``) and the app call to make music; writing the
result (WAV, or the video with its new soundtrack) is :func:`write_result`.

Zero-shot mode (``zero_shot=True``, ``d2m generate --zero-shot``) makes any backbone follow the
dance without trained encoders: the pseudo-words are spelled out (``@`` -> the genre's name,
``*`` -> "a beat at 112 BPM", :func:`zero_shot_prompt`), the backbone makes music from that
text, and its beats are then moved onto the visual beats by beat-aligned time-warping
(:func:`d2m_core.sync.align.align_to_beats`: small local stretches, pitch unchanged). The report
keeps the beat F-measure before and after the warp.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from d2m_core.backbones import get_backbone
from d2m_core.backbones.base import Progress
from d2m_core.dance.analysis import Analysis
from d2m_core.errors import D2MError
from d2m_core.music.beats import (
    bcs_bhs,
    beat_f_measure,
    detect_beats,
    paper_onsets,
    paper_tempo,
    rhythm_f1,
)
from d2m_core.music.genres import GENRE_LABELS, resolve_genre, suggest_genre
from d2m_core.music.prompt import DEFAULT_PROMPT, ParsedPrompt, parse_prompt

MAX_DURATION_S = 600.0


@dataclass
class MusicAlignment:
    """How generated music lines up with the dance (all times in seconds)."""

    music_tempo_bpm: float
    music_beats_s: np.ndarray
    beat_f_measure: float
    bcs: float
    bhs: float
    music_onsets_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def f1(self) -> float:
        """Harmonic mean of this clip's BCS and BHS (the paper's F1 for one clip)."""
        return rhythm_f1([self.bcs], [self.bhs])

    def scores(self) -> dict[str, float]:
        return {"beat F": self.beat_f_measure, "BCS": self.bcs, "BHS": self.bhs, "F1": self.f1}

    def to_dict(self) -> dict:
        return {
            "music_tempo_bpm": round(self.music_tempo_bpm, 2),
            "music_beats_s": [round(float(t), 3) for t in self.music_beats_s],
            "beat_f_measure": round(self.beat_f_measure, 4),
            "bcs_0.2s": round(self.bcs, 4),
            "bhs_0.2s": round(self.bhs, 4),
            "f1_0.2s": round(self.f1, 4),
        }


@dataclass
class GenerationResult:
    audio: np.ndarray
    sample_rate: int
    analysis: Analysis
    prompt: ParsedPrompt
    genre: str
    genre_suggested: bool
    backbone: str
    seed: int
    seconds_to_generate: float
    alignment: MusicAlignment
    genre_scores: dict[str, float] = field(default_factory=dict)
    backbone_prompt: str = ""
    zero_shot: dict | None = None

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    def to_dict(self) -> dict:
        return {
            **self.analysis.to_dict(),
            "prompt": self.prompt.text,
            "prompt_warnings": self.prompt.warnings,
            "genre": self.genre,
            "genre_label": GENRE_LABELS[self.genre],
            "genre_suggested": self.genre_suggested,
            "genre_scores": self.genre_scores,
            "backbone": self.backbone,
            "seed": self.seed,
            "sample_rate": self.sample_rate,
            "music_duration_s": round(self.duration_s, 4),
            "seconds_to_generate": round(self.seconds_to_generate, 4),
            "backbone_prompt": self.backbone_prompt or self.prompt.text,
            "zero_shot": self.zero_shot,
            **self.alignment.to_dict(),
        }


def measure_alignment(audio: np.ndarray, sr: int, visual_beats_s: np.ndarray) -> MusicAlignment:
    """Detect the music's beats and tempo and score them against the dance's visual beats."""
    tempo_bt, beats = detect_beats(audio, sr)
    onsets = paper_onsets(audio, sr)
    bcs, bhs = bcs_bhs(onsets, visual_beats_s, bin_s=0.2, duration_s=len(audio) / sr)
    return MusicAlignment(
        music_tempo_bpm=paper_tempo(audio, sr),
        music_beats_s=beats,
        beat_f_measure=beat_f_measure(visual_beats_s, beats),
        bcs=bcs,
        bhs=bhs,
        music_onsets_s=np.asarray(onsets, dtype=np.float64),
    )


def zero_shot_prompt(prompt: ParsedPrompt, *, genre: str, tempo_bpm: float) -> str:
    """The prompt with ``@`` and ``*`` written out for a backbone without encoders.

    ``@`` becomes the genre's name (``middle hip-hop``) and ``*`` the dance's tempo
    (``a beat at 112 BPM``), so ``a @ music with * as the rhythm`` reads ``a house music with a
    beat at 112 BPM as the rhythm``.
    """
    return prompt.fill(
        genre_words=GENRE_LABELS[genre].lower(),
        rhythm_words=f"a beat at {float(tempo_bpm):.0f} BPM",
    )


def _sync_to_dance(
    audio: np.ndarray, sr: int, analysis: Analysis, duration_s: float
) -> tuple[np.ndarray, dict]:
    """Zero-shot mode's second half: warp the music's beats onto the visual beats."""
    from d2m_core.sync.align import align_to_beats

    beats = np.asarray(analysis.tempo.beats_s, dtype=np.float64)
    if beats.size < 2:
        raise D2MError(
            "zero-shot sync needs at least two visual beats and this dance has"
            f" {beats.size}: use a longer clip with clearer movement"
        )
    # The warp returns exactly round(duration_s * sr) float32 samples.
    res = align_to_beats(audio, sr, target_beats_s=beats, duration_s=duration_s)
    full = res.to_dict()
    keep = (
        "method", "f_measure_before", "f_measure_after", "hit_rate_before", "hit_rate_after",
        "chroma_distance", "chroma_tolerance", "pitch_shift_cents", "pitch_tolerance_cents",
        "pitch_kept", "step", "stretch", "loop", "warnings",
    )  # fmt: skip
    return np.clip(res.audio, -1.0, 1.0), {k: full[k] for k in keep}


def generate_music(
    analysis: Analysis,
    *,
    prompt: str = DEFAULT_PROMPT,
    genre: str | None = None,
    backbone: str = "groove",
    seed: int = 0,
    duration_s: float | None = None,
    backbone_options: dict | None = None,
    zero_shot: bool = False,
    progress: Progress | None = None,
) -> GenerationResult:
    """Generate music for an analysed dance.

    Parameters
    ----------
    analysis : Analysis
    prompt : str
        Prompt around ``@`` (genre) and ``*`` (rhythm).
    genre : str, optional
        Genre name for ``@``; suggested from the motion when None.
    backbone : str
        Registered backbone name (``groove`` is offline and always available).
    seed : int
    duration_s : float, optional
        Music length; the dance's length by default.
    backbone_options : dict, optional
        Passed to the backbone's constructor (model id, encoder checkpoint...).
    zero_shot : bool
        No encoders: spell out ``@`` / ``*`` (:func:`zero_shot_prompt`), generate from the plain
        text, then warp the music's beats onto the visual beats (skipped when the prompt has no
        ``*``: the user asked for music that does not follow the dance). The result's
        ``zero_shot`` dict holds the prompt sent and the beat F-measure before / after.
    progress : callable(fraction, message), optional
    """
    parsed = parse_prompt(prompt)
    scores: dict[str, float] = {}
    if genre:
        genre_id, suggested = resolve_genre(genre), False
    else:
        sug = suggest_genre(analysis.motion, tempo_bpm=analysis.tempo.bpm)
        genre_id, suggested, scores = sug.genre, True, sug.scores
    dur = float(duration_s) if duration_s else analysis.motion.duration_s
    if not 0.5 <= dur <= MAX_DURATION_S:
        raise D2MError(f"music length {dur:.1f} s is outside 0.5 .. {MAX_DURATION_S:g} s")
    options = dict(backbone_options or {})
    sent = parsed
    if zero_shot:
        if options.get("encoder") is not None:
            raise D2MError("--zero-shot uses no encoders: leave out --encoder (or --zero-shot)")
        sent = parse_prompt(zero_shot_prompt(parsed, genre=genre_id, tempo_bpm=analysis.tempo.bpm))
    bb = get_backbone(backbone, **options)
    t0 = time.perf_counter()
    audio = bb.generate(
        analysis=analysis, prompt=sent, genre=genre_id, seed=int(seed), duration_s=dur,
        progress=progress,
    )  # fmt: skip
    sync = None
    if zero_shot:
        sync = {"prompt_sent": sent.text, "aligned": parsed.has_rhythm}
        if parsed.has_rhythm:
            if progress:
                progress(0.95, "aligning the music's beats to the dance")
            audio, summary = _sync_to_dance(audio, bb.sample_rate, analysis, dur)
            if summary["f_measure_after"] < summary["f_measure_before"]:
                summary["warnings"].append(
                    "the warp lowered the beat F-measure: the generated music's beats are"
                    " unclear to the tracker; try another seed or a prompt with more drums"
                )
            sync.update(summary)
    elapsed = time.perf_counter() - t0
    return GenerationResult(
        audio=audio,
        sample_rate=bb.sample_rate,
        analysis=analysis,
        prompt=parsed,
        genre=genre_id,
        genre_suggested=suggested,
        backbone=bb.name,
        seed=int(seed),
        seconds_to_generate=elapsed,
        alignment=measure_alignment(audio, bb.sample_rate, analysis.tempo.beats_s),
        genre_scores=scores,
        backbone_prompt=sent.text,
        zero_shot=sync,
    )


def write_result(
    result: GenerationResult, out_path: str | Path, *, video_path: str | Path | None = None
) -> Path:
    """Write generated music: ``.wav``, or ``.mp4`` (the video with its new soundtrack, or a
    rendered skeleton when the input was a keypoint file)."""
    out = Path(out_path)
    suffix = out.suffix.lower()
    if suffix == ".wav":
        from d2m_core.io.audio import write_wav

        return write_wav(out, result.audio, result.sample_rate)
    if suffix == ".mp4":
        if video_path is not None:
            from d2m_core.io.video import mux_audio

            return mux_audio(video_path, result.audio, result.sample_rate, out)
        from d2m_core.viz.overlay import render_skeleton_video

        return render_skeleton_video(
            result.analysis.motion, out, audio=result.audio, sr=result.sample_rate
        )
    raise D2MError(f"output must end in .wav or .mp4, got '{out.name}'")


def alignment_plot(result: GenerationResult, out_png: str | Path) -> Path:
    """Write the beat-alignment figure (visual beats vs the music's beats and onsets) as PNG."""
    from d2m_core.viz.plot import alignment_figure, save_figure

    a = result.alignment
    fig = alignment_figure(
        result.analysis.tempo.beats_s,
        a.music_beats_s,
        audio=result.audio,
        sr=result.sample_rate,
        music_onsets_s=a.music_onsets_s,
        scores=a.scores(),
    )
    return save_figure(fig, out_png)
