"""CLAP score: cosine similarity of CLAP audio embeddings of generated and reference audio.

Conventions
-----------
- Model: a transformers ``ClapModel`` and its ``ClapFeatureExtractor`` (default
  :data:`DEFAULT_CLAP_MODEL`, LAION-CLAP trained on music), loaded from a local folder or the
  Hugging Face cache only (``local_files_only=True``: nothing is downloaded).
- Audio: ``(N,)`` or ``(N, C)`` floats at any rate, mixed to mono and resampled to the
  extractor's rate (48 kHz for LAION-CLAP).
- Embedding of a clip: audio up to the extractor's ``max_length_s`` (10 s) is one window,
  repeat-padded by the extractor; longer audio is cut into consecutive windows of that length
  (a last partial window is kept when at least 1 s long) whose embeddings are averaged. Each
  embedding is the L2-normalised audio projection, so the procedure is deterministic (the
  extractor's random cropping is never used).
- CLAP score of a pair: cosine similarity of the two clip embeddings, in [-1, 1]; of a
  dataset: the mean over pairs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DEFAULT_CLAP_MODEL = "laion/larger_clap_music"
MIN_TAIL_S = 1.0


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors ``(d,)``; 0 when either is all zeros."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"embedding shapes differ: {a.shape} vs {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("embeddings must be finite")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def clap_score(generated: np.ndarray, reference: np.ndarray) -> float:
    """Mean pairwise cosine similarity of paired embeddings.

    Parameters
    ----------
    generated, reference : np.ndarray [shape=(n_pairs, d)]
        Row i of each is the embedding of pair i.
    """
    g = np.atleast_2d(np.asarray(generated, dtype=np.float64))
    r = np.atleast_2d(np.asarray(reference, dtype=np.float64))
    if g.shape != r.shape or g.shape[0] == 0:
        raise ValueError(f"need equal, non-empty (n, d) arrays, got {g.shape} and {r.shape}")
    return float(np.mean([cosine_similarity(x, y) for x, y in zip(g, r, strict=True)]))


class ClapEmbedder:
    """CLAP audio embeddings: ``embed(y, sr) -> (d,)`` unit vector. Build with :func:`load_clap`
    (or directly from a model and feature extractor, as the tests do)."""

    def __init__(self, model, feature_extractor, *, device: str = "cpu", source: str = "") -> None:
        self.model = model.eval().to(device)
        self.fe = feature_extractor
        self.device = device
        self.source = source

    @property
    def sample_rate(self) -> int:
        return int(self.fe.sampling_rate)

    @property
    def settings(self) -> dict:
        return {"model": "CLAP", "weights": self.source, "sample_rate": self.sample_rate}

    def _windows(self, y: np.ndarray) -> list[np.ndarray]:
        n = int(self.fe.nb_max_samples)
        if y.size <= n:
            return [y]
        out = [y[i : i + n] for i in range(0, y.size, n)]
        if len(out) > 1 and out[-1].size < MIN_TAIL_S * self.sample_rate:
            out.pop()
        return out

    def embed(self, y: np.ndarray, sr: int) -> np.ndarray:
        """The clip's embedding, ``(d,)`` float64, L2-normalised."""
        import librosa
        import torch

        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2:
            y = y.mean(axis=1)
        if y.ndim != 1 or y.size == 0:
            raise ValueError(f"audio must be non-empty (N,) or (N, C), got shape {y.shape}")
        if int(sr) != self.sample_rate:
            y = librosa.resample(y, orig_sr=int(sr), target_sr=self.sample_rate)
        wins = self._windows(y)
        inputs = self.fe(wins, sampling_rate=self.sample_rate, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.inference_mode():
            out = self.model.get_audio_features(**inputs)
        emb = out.pooler_output if hasattr(out, "pooler_output") else out
        emb = torch.nn.functional.normalize(emb.float(), dim=-1).mean(dim=0)
        e = emb.double().cpu().numpy()
        return e / max(np.linalg.norm(e), 1e-12)


def load_clap(
    model: str | os.PathLike = DEFAULT_CLAP_MODEL, *, device: str = "cpu"
) -> ClapEmbedder:
    """Load a CLAP model from a local folder or the Hugging Face cache (never downloads).

    Raises
    ------
    FileNotFoundError
        The model is neither a folder nor in the cache (the message says how to get it).
    """
    from transformers import ClapFeatureExtractor, ClapModel

    name = str(model)
    local = Path(name).expanduser()
    src = str(local) if local.is_dir() else name
    try:
        m = ClapModel.from_pretrained(src, local_files_only=True)
        fe = ClapFeatureExtractor.from_pretrained(src, local_files_only=True)
    except (OSError, ValueError):
        repo = name if name.count("/") == 1 and not local.exists() else DEFAULT_CLAP_MODEL
        raise FileNotFoundError(
            f"CLAP model '{name}' not found locally (no such folder, not in the Hugging Face"
            f" cache); download it once with `hf download {repo}`, or pass --clap FOLDER"
        ) from None
    return ClapEmbedder(m, fe, device=device, source=src)
