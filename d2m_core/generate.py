"""Dance -> music: choose genre and backbone, generate, and measure how the music lands.

This is the one place the CLI (``d2m generate``) and the app call to make music; writing the
result (WAV, or the video with its new soundtrack) is :func:`write_result`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .analysis import Analysis
from .backbones import get_backbone
from .backbones.base import Progress
from .errors import D2MError
from .genres import GENRE_LABELS, resolve_genre, suggest_genre
from .metrics.beats import (
    bcs_bhs,
    beat_f_measure,
    detect_beats,
    paper_onsets,
    paper_tempo,
    rhythm_f1,
)
from .prompt import DEFAULT_PROMPT, ParsedPrompt, parse_prompt

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


def generate_music(
    analysis: Analysis,
    *,
    prompt: str = DEFAULT_PROMPT,
    genre: str | None = None,
    backbone: str = "groove",
    seed: int = 0,
    duration_s: float | None = None,
    backbone_options: dict | None = None,
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
    bb = get_backbone(backbone, **(backbone_options or {}))
    t0 = time.perf_counter()
    audio = bb.generate(
        analysis=analysis, prompt=parsed, genre=genre_id, seed=int(seed), duration_s=dur,
        progress=progress,
    )  # fmt: skip
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
    )


def write_result(
    result: GenerationResult, out_path: str | Path, *, video_path: str | Path | None = None
) -> Path:
    """Write generated music: ``.wav``, or ``.mp4`` (the video with its new soundtrack, or a
    rendered skeleton when the input was a keypoint file)."""
    out = Path(out_path)
    suffix = out.suffix.lower()
    if suffix == ".wav":
        from .audio_io import write_wav

        return write_wav(out, result.audio, result.sample_rate)
    if suffix == ".mp4":
        if video_path is not None:
            from .video import mux_audio

            return mux_audio(video_path, result.audio, result.sample_rate, out)
        from .overlay import render_skeleton_video

        return render_skeleton_video(
            result.analysis.motion, out, audio=result.audio, sr=result.sample_rate
        )
    raise D2MError(f"output must end in .wav or .mp4, got '{out.name}'")


def alignment_plot(result: GenerationResult, out_png: str | Path) -> Path:
    """Write the beat-alignment figure (visual beats vs the music's beats and onsets) as PNG."""
    from .plot import alignment_figure, save_figure

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
