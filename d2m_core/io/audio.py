"""Audio files: read any soundfile/ffmpeg-decodable audio or a video's soundtrack, write WAV
atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from d2m_core.errors import D2MError
from d2m_core.io.files import atomic_path

#: Containers whose first audio track :func:`load_audio` reads (PyAV).
CONTAINER_SUFFIXES = (".mp4", ".m4a", ".aac", ".mov", ".mkv", ".webm", ".avi")


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


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Audio of an audio file, or the first audio track of a video container.

    Returns
    -------
    samples : np.ndarray [shape=(N,) or (N, C)], float32
    sr : int
    """
    path = Path(path)
    if path.suffix.lower() not in CONTAINER_SUFFIXES:
        return read_audio(path)
    if not path.is_file():
        raise D2MError(f"file not found: {path}")
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise D2MError(f"{path.name} has no audio track")
            stream = c.streams.audio[0]
            chunks, sr = [], None
            for frame in c.decode(stream):
                a = frame.to_ndarray()  # (C, n) planar or (1, n*C) packed
                if not frame.format.is_planar:
                    a = a.reshape(-1, len(frame.layout.channels)).T
                chunks.append(a.astype(np.float32))
                sr = frame.sample_rate
    except av.FFmpegError as exc:
        raise D2MError(f"cannot read audio from {path.name} ({exc})") from None
    if not chunks:
        raise D2MError(f"{path.name}: its audio track holds no samples")
    y = np.concatenate(chunks, axis=1).T
    if np.issubdtype(y.dtype, np.integer):
        y = y / np.iinfo(y.dtype).max
    return np.ascontiguousarray(y[:, 0] if y.shape[1] == 1 else y, dtype=np.float32), int(sr)


def write_wav(path: str | Path, audio: np.ndarray, sr: int) -> Path:
    """Write float audio (N,) or (N, C) as 16-bit PCM WAV, atomically."""
    audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, int(sr), subtype="PCM_16", format="WAV")
    return Path(path)
