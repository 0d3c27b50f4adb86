"""The registered MusicGen backbone: the decoder driven window by window by the dance."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from d2m_core.backbones.base import register
from d2m_core.backbones.musicgen import model as mg
from d2m_core.backbones.windowed import WindowedBackbone, WindowTask, open_model

if TYPE_CHECKING:
    import torch


@register
class MusicgenBackbone(WindowedBackbone):
    """MusicGen driven by the dance through trained rhythm and genre encoders (or text alone).

    Takes :class:`~d2m_core.backbones.windowed.WindowedBackbone`'s parameters, with fp16
    decoder on a GPU; without an encoder MusicGen is a plain text-to-music model (``d2m
    generate --zero-shot`` spells ``@`` / ``*`` out and aligns the beats afterwards). With
    encoders a window is one encoder clip (5.12 s) and ``window_overlap`` defaults to 0.25
    (1.28 s of context, 3.84 s new): the rhythm embedding describes the whole window, and the
    encoders place beats best early in a clip, so short overlaps follow the dance better (in
    the CPU proof: beat F 0.34 at 0.25 vs 0.29 at 0.5). Without encoders a window is
    :data:`~d2m_core.backbones.musicgen.model.TEXT_WINDOW_S` (MusicGen's 30 s training length)
    and the default is 0.4 (12 s of context, as audiocraft extends).

    Parameters
    ----------
    guidance : float
        Classifier-free guidance scale (default 3.0, MusicGen's).
    top_k : int
        Top-k sampling (default 250, MusicGen's).
    temperature : float
    steps : int, optional
        Diffusion steps: ignored (MusicGen is autoregressive).
    """

    name = "musicgen"
    label = "MusicGen (neural)"
    sample_rate = 32000
    default_model = mg.DEFAULT_MODEL
    model_kind = mg.LoadedMusicgen
    text_window_s = mg.TEXT_WINDOW_S

    def __init__(
        self,
        *,
        model: str | None = None,
        encoder: str | Path | None = None,
        guidance: float = 3.0,
        top_k: int = 250,
        device: str | None = None,
        temperature: float = 1.0,
        window_overlap: float | None = None,
        steps: int | None = None,
    ) -> None:
        super().__init__(model=model, encoder=encoder, device=device, window_overlap=window_overlap)
        self.guidance = float(guidance if guidance is not None else 3.0)
        self.top_k = int(top_k)
        self.temperature = float(temperature)

    def _load_model(self, *, half: bool) -> None:
        self.lm, self.core, self.conditioner = open_model(
            self.model_kind, self.model_name, device=self.device, half=half
        )
        self.sample_rate = self.lm.sample_rate

    # -- geometry: code frames at Encodec's frame rate

    def default_overlap(self) -> float:
        return 0.25 if self.cfg else 0.4

    @property
    def frame_rate(self) -> float:
        return self.lm.frame_rate

    @property
    def generator_device(self) -> str:
        return self.device  # the sampler draws on the model's device

    def frames_per_window(self, window_s: float) -> int:
        return max(2, int(round(window_s * self.frame_rate)))

    def frames_to_sample(self, *, start: int, total: int) -> int:
        return min(self.window, total - start)  # autoregressive: the last window stops early

    # -- sampling and decoding

    def sample_window(self, task: WindowTask) -> torch.Tensor:
        """Codes ``(B, K, frames)`` continuing the known codes ``(B, K, k)`` (no step progress:
        sampling is one decoder pass per frame)."""
        return self.core.sample(
            hidden=task.hidden, mask=task.mask, num_frames=task.frames, prompt_codes=task.known,
            guidance=self.guidance, top_k=self.top_k, temperature=self.temperature,
            generator=task.generator,
        )  # fmt: skip

    def render(self, windows: list[torch.Tensor], *, num_samples: int, seed: int) -> np.ndarray:
        """Encodec's audio of the windows' codes joined into one sequence."""
        return self.core.decode(self.join_windows(windows)[0])
