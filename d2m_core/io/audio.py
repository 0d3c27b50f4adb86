"""Audio files: read any soundfile/ffmpeg-decodable audio, write WAV atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from d2m_core.errors import D2MError
from d2m_core.io.files import atomic_path


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read audio as float32, shape (N,) mono or (N, C), and its sample rate.

    Uses soundfile (WAV, FLAC, OGG, MP3) and falls back to librosa's decoders for the rest.
    """
    path = Path(path)
    if not path.is_file():
        raise D2MError(f"file not found: {path}")
    try:
        y, sr = sf.read(path, dtype="float32", always_2d=False)
    except sf.LibsndfileError:
        try:
            import librosa

            y, sr = librosa.load(path, sr=None, mono=False)
            y = y.T if y.ndim == 2 else y
        except Exception as exc:  # noqa: BLE001 - any decoder failure means unreadable input
            raise D2MError(f"cannot read {path.name} as audio ({exc})") from None
    if y.size == 0:
        raise D2MError(f"{path.name} holds no audio samples")
    return np.ascontiguousarray(y, dtype=np.float32), int(sr)


def write_wav(path: str | Path, audio: np.ndarray, sr: int) -> Path:
    """Write float audio (N,) or (N, C) as 16-bit PCM WAV, atomically."""
    audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, int(sr), subtype="PCM_16", format="WAV")
    return Path(path)
