"""Video input and output on PyAV (FFmpeg's libraries; no ``ffmpeg`` executable is needed).

- :func:`probe_video` reads a video's geometry, frame rate and duration, and checks that it can
  be decoded, raising :class:`~d2m_core.errors.D2MError` with a one-line fix otherwise.
- :func:`iter_frames` / :func:`read_frames_at` decode upright RGB frames (rotation metadata
  applied), optionally downscaled, with timestamps taken from the stream (variable frame rate
  safe).
- :func:`mux_audio` puts new audio under a video; :func:`write_video` encodes rendered frames.
  Both write browser-playable MP4 (H.264 yuv420p + AAC, ``moov`` atom first) atomically: a temp
  file in the destination folder is renamed over the target only once it is complete.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from d2m_core.dance.motion import MAX_FPS, MIN_FPS
from d2m_core.errors import D2MError
from d2m_core.io.files import atomic_path

__all__ = [
    "VideoInfo",
    "probe_video",
    "iter_frames",
    "read_frames_at",
    "is_browser_safe",
    "mux_audio",
    "write_video",
]

#: Sample rates FFmpeg's native AAC encoder accepts; anything else is resampled to 48 kHz.
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
#: Output video time base: fine enough for any frame rate up to 240 fps and for VFR timestamps.
_OUT_TIME_BASE = Fraction(1, 90000)
#: A decode that ends more than this fraction of the declared frames early is a truncated file.
_TRUNCATION_TOLERANCE = 0.02

#: read_frames_at decodes on through targets closer than this (s) instead of seeking.
_SEEK_GAP_S = 4.0

_FIX_VIDEO = "re-export or re-download it (MP4/H.264 works everywhere)"


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a video.

    Attributes
    ----------
    width, height : int
        Display size in pixels, after rotation metadata (a portrait phone video is portrait).
    fps : float
        Average frame rate (frames / duration).
    duration_s : float
        Duration of the video stream in seconds (first frame start to last frame end).
    num_frames : int
        Number of video frames (counted from the container's packets).
    rotation : int
        Counter-clockwise rotation in degrees (0, 90, 180 or -90) that makes the coded frames
        upright; :func:`iter_frames` applies it.
    has_audio : bool
        Whether the file also carries an audio stream.
    codec : str
        Video codec name (``"h264"``, ``"hevc"``, ...).
    start_s : float
        Presentation time of the first frame in the container's timeline, in seconds.
    keyframes_s : tuple of float
        Times of the keyframes (seconds from the first frame, ascending): where a decoder can
        start, e.g. for :func:`iter_frames` with ``start_s``.
    """

    width: int
    height: int
    fps: float
    duration_s: float
    num_frames: int
    rotation: int
    has_audio: bool
    codec: str = ""
    start_s: float = 0.0
    keyframes_s: tuple[float, ...] = ()


# --------------------------------------------------------------------------------------------
# reading


def _check_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise D2MError(f"video not found: {p}; check the path")
    if not p.is_file():
        raise D2MError(f"{p} is not a file; give the path of a video file")
    if p.stat().st_size == 0:
        raise D2MError(f"{p.name} is empty (0 bytes); {_FIX_VIDEO}")
    return p


@contextmanager
def _open_video(path: str | os.PathLike) -> Iterator[tuple[av.container.InputContainer, Path]]:
    """Open ``path`` for reading, turning FFmpeg's failures into one-line D2MErrors."""
    p = _check_file(path)
    try:
        container = av.open(str(p), mode="r")
    except av.error.FFmpegError as e:
        detail = getattr(e, "strerror", None) or str(e)
        raise D2MError(
            f"cannot read {p.name} as a video ({detail}): the file is truncated, corrupt or not a"
            f" video; {_FIX_VIDEO}"
        ) from None
    try:
        if not container.streams.video:
            raise D2MError(
                f"{p.name} has no video stream; give a video file, not audio or an image"
            )
        yield container, p
    finally:
        container.close()


def _norm_rotation(deg: float | int | None) -> int:
    """Round a display-matrix angle to a multiple of 90 in (-180, 180]."""
    if not deg:
        return 0
    r = int(round(float(deg) / 90.0)) * 90 % 360
    return r - 360 if r > 180 else r


def _rotate(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate an (H, W, 3) array counter-clockwise by ``rotation`` degrees (multiple of 90)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def _scaled_size(w: int, h: int, max_side: int | None) -> tuple[int, int]:
    """Size that fits ``max_side`` keeping the aspect ratio (even numbers, never upscaled)."""
    if max_side is None or max(w, h) <= max_side:
        return w, h
    if max_side < 16:
        raise ValueError(f"max_side must be at least 16, got {max_side}")
    s = max_side / max(w, h)
    # Even sizes keep the chroma planes aligned in swscale and the encoders happy.
    return max(2, int(round(w * s / 2)) * 2), max(2, int(round(h * s / 2)) * 2)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's size, frame rate, duration and rotation, and check it decodes.

    Parameters
    ----------
    path : str or os.PathLike
        Video file (any container / codec FFmpeg reads).

    Returns
    -------
    VideoInfo

    Raises
    ------
    D2MError
        Missing or empty file, not a video, truncated or corrupt, no decodable frame, or an
        average frame rate outside [1, 240] fps.
    """
    with _open_video(path) as (container, p):
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 1)
        # Count packets instead of trusting header fields: they are absent in some containers
        # and wrong for variable frame rate files; demuxing without decoding is cheap.
        n = 0
        first = last_end = None
        keys: list[int] = []
        try:
            for pkt in container.demux(stream):
                if pkt.pts is None or pkt.size == 0:
                    continue
                n += 1
                if pkt.is_keyframe:
                    keys.append(pkt.pts)
                end = pkt.pts + (pkt.duration or 0)
                first = pkt.pts if first is None else min(first, pkt.pts)
                last_end = end if last_end is None else max(last_end, end)
        except av.error.FFmpegError as e:
            raise D2MError(f"{p.name} is corrupt ({e.strerror or e}); {_FIX_VIDEO}") from None
        if n == 0:
            raise D2MError(f"{p.name} contains no video frames; {_FIX_VIDEO}")
        _check_complete(p, n, int(stream.frames or 0))

        rate = stream.average_rate or stream.guessed_rate
        duration = float((last_end - first) * tb) if last_end is not None else 0.0
        if n > 1 and duration > 0:
            fps = n / duration
        elif rate:
            fps = float(rate)
            duration = n / fps
        else:
            raise D2MError(f"{p.name} has no usable timestamps; {_FIX_VIDEO}")
        if not (MIN_FPS <= fps <= MAX_FPS):
            raise D2MError(
                f"{p.name} has a frame rate of {fps:.3g} fps, outside {MIN_FPS:g}-{MAX_FPS:g} fps;"
                " re-encode it at a normal frame rate (e.g. 30 fps)"
            )

        has_audio = bool(container.streams.audio)
        codec = stream.codec_context.name
    # Decode one frame: proves the codec works and carries the rotation side data. (A fresh
    # open rather than a seek back: not every input can seek.)
    with _open_video(path) as (container, p):
        frame = _first_frame(container, container.streams.video[0], p)
    rotation = _norm_rotation(frame.rotation)
    w, h = frame.width, frame.height
    if rotation in (90, -90):
        w, h = h, w
    return VideoInfo(
        width=int(w),
        height=int(h),
        fps=float(fps),
        duration_s=duration,
        num_frames=n,
        rotation=rotation,
        has_audio=has_audio,
        codec=codec,
        start_s=float(first * tb) if first is not None else 0.0,
        keyframes_s=tuple(sorted(float((k - first) * tb) for k in keys)),
    )


def _first_frame(container, stream, p: Path) -> av.VideoFrame:
    errors = 0
    for pkt in container.demux(stream):
        try:
            for frame in pkt.decode():
                return frame
        except av.error.FFmpegError:
            errors += 1
            if errors > 50:
                break
    raise D2MError(f"no frame of {p.name} could be decoded (corrupt or unsupported); {_FIX_VIDEO}")


def _threaded(stream) -> None:
    """Decode with frame + slice threads (~2x faster on 2 cores); only possible before opening."""
    if not stream.codec_context.is_open:
        stream.thread_type = "AUTO"


def _decode(container, stream, p: Path, *, check_complete: bool = True) -> Iterator[av.VideoFrame]:
    """Decode every frame (from the current position), skipping undecodable packets.

    With ``check_complete``, raise when the file ends early (the whole file was to be read).
    """
    _threaded(stream)
    expected = int(stream.frames or 0) if check_complete else 0
    n = errors = 0
    try:
        packets = container.demux(stream)
        for pkt in packets:
            try:
                frames = pkt.decode()
            except av.error.FFmpegError:
                # A damaged packet: FFmpeg conceals what it can; keep going, judge at the end.
                errors += 1
                continue
            for frame in frames:
                n += 1
                yield frame
    except av.error.FFmpegError as e:
        raise D2MError(f"{p.name} is corrupt ({e.strerror or e}); {_FIX_VIDEO}") from None
    if n == 0:
        raise D2MError(
            f"no frame of {p.name} could be decoded (corrupt or unsupported); {_FIX_VIDEO}"
        )
    _check_complete(p, n, expected)


def _check_complete(p: Path, n: int, expected: int) -> None:
    """Raise if far fewer than the ``expected`` frames (0: unknown) were read."""
    if expected and n < expected * (1 - _TRUNCATION_TOLERANCE) - 2:
        raise D2MError(
            f"{p.name} is truncated or corrupt: only {n} of its {expected} frames could be read;"
            f" {_FIX_VIDEO}"
        )


def iter_frames(
    path: str | os.PathLike,
    *,
    max_side: int | None = None,
    start_s: float = 0.0,
    end_s: float | None = None,
    keep: Callable[[float], bool] | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Decode a video's frames as upright RGB images.

    Parameters
    ----------
    path : str or os.PathLike
        Video file.
    max_side : int or None
        If given, frames are downscaled (never upscaled) so that their longer side is at most
        this many pixels, keeping the aspect ratio (sizes rounded to even numbers).
    start_s, end_s : float, float or None
        Only frames with ``start_s <= t < end_s`` (times as yielded); a ``start_s`` after the
        first frame seeks to the keyframe at or before it, so a part of a long video costs
        about its own length to decode (from a keyframe, nothing is decoded twice).
    keep : callable (t: float) -> bool, optional
        Frames for which it returns False are decoded (later frames may need them) but neither
        converted to RGB nor yielded: a cheap way to analyse fewer frames than the video has.

    Yields
    ------
    t : float
        Presentation time in seconds from the first frame (from the stream's timestamps, so
        variable frame rate video keeps its real timing).
    rgb : np.ndarray [shape=(H, W, 3)], uint8
        The frame, rotation metadata applied.

    Raises
    ------
    D2MError
        The file is missing, not a video, yields no frame, or ends early (truncated; checked
        only when the whole video is read).
    """
    partial = start_s > 0 or end_s is not None
    with _open_video(path) as (container, p):
        stream = container.streams.video[0]
        tb = float(stream.time_base or 1)
        t0 = None
        if start_s > 0:
            _threaded(stream)
            first = _first_frame(container, stream, p)
            if first.pts is not None:
                t0 = first.pts * tb
                # Keyframe at or before the start (the decoder is flushed by the seek).
                container.seek(
                    int((t0 + start_s) / tb + 1e-6), backward=True, any_frame=False,
                    stream=stream,
                )  # fmt: skip
            else:  # no timestamps to seek by: decode from the start and skip
                container.seek(0, stream=stream)
        k = 0
        size = None
        for frame in _decode(container, stream, p, check_complete=not partial):
            if size is None:
                size = _scaled_size(frame.width, frame.height, max_side)
            if frame.pts is not None:
                t_abs = frame.pts * tb
                if t0 is None:
                    t0 = t_abs
                t = t_abs - t0
            else:  # no timestamp: fall back to the nominal rate
                t = k / float(stream.average_rate or 30)
            k += 1
            if end_s is not None and t >= end_s - 1e-6:
                break  # frames come out in presentation order
            if t < start_s - 1e-6 or (keep is not None and not keep(float(t))):
                continue
            if (frame.width, frame.height) == size:
                rgb = frame.to_ndarray(format="rgb24")
            else:
                # swscale does the resize and the colour conversion in one pass (area filter
                # for downscaling: no aliasing).
                rgb = frame.to_ndarray(
                    width=size[0], height=size[1], format="rgb24", interpolation="AREA"
                )
            yield float(t), _rotate(rgb, _norm_rotation(frame.rotation))


def read_frames_at(
    path: str | os.PathLike, times_s: Iterable[float], *, max_side: int | None = None
) -> list[np.ndarray]:
    """Decode the frames shown at the given times (seeking, so long videos stay fast).

    Parameters
    ----------
    path : str or os.PathLike
        Video file.
    times_s : iterable of float
        Times in seconds from the first frame (as :func:`iter_frames` reports them).
    max_side : int or None
        Downscale as in :func:`iter_frames`.

    Returns
    -------
    frames : list of np.ndarray [shape=(H, W, 3)], uint8
        One upright RGB frame per requested time: the last frame starting at or before it
        (the first frame for earlier times, the last frame for later ones).
    """
    times = [float(t) for t in times_s]
    out: list[np.ndarray | None] = [None] * len(times)
    with _open_video(path) as (container, p):
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 1)
        first = _first_frame(container, stream, p)
        t0 = first.pts if first.pts is not None else 0
        size = _scaled_size(first.width, first.height, max_side)

        def convert(frame: av.VideoFrame) -> np.ndarray:
            rgb = frame.to_ndarray(
                width=size[0], height=size[1], format="rgb24", interpolation="AREA"
            )
            return _rotate(rgb, _norm_rotation(frame.rotation))

        it = None  # running decoder
        cur = None  # latest frame at or before the previous target
        nxt = None  # a frame read past the previous target, not yet used
        for i in sorted(range(len(times)), key=lambda j: times[j]):
            target = t0 + int(math.floor(max(times[i], 0.0) / tb + 1e-6))
            here = cur.pts if cur is not None else t0
            # Decode on through nearby targets; seek for far ones (long videos, sparse times).
            if it is None or (target - here) * tb > _SEEK_GAP_S:
                container.seek(int(target), backward=True, any_frame=False, stream=stream)
                it, cur, nxt = container.decode(stream), None, None
            if nxt is not None and nxt.pts <= target:
                cur, nxt = nxt, None
            if nxt is None:
                try:
                    for frame in it:
                        if frame.pts is None:
                            continue
                        if frame.pts > target:
                            if cur is None:
                                cur = frame
                            else:
                                nxt = frame
                                break
                        else:
                            cur = frame
                            if frame.pts == target:
                                break
                except av.error.FFmpegError:
                    it = None  # damaged data: seek afresh for the next target
            out[i] = convert(cur if cur is not None else first)
    return out  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# writing


def _prepare_audio(audio: np.ndarray, sr: int) -> np.ndarray:
    """Validate audio and return it as (channels, N) float32 in [-1, 1]."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[None, :]
    elif a.ndim == 2 and a.shape[1] in (1, 2):
        a = a.T
    else:
        raise ValueError(f"audio must have shape (N,) or (N, 2), got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("audio contains NaN or infinite samples")
    if not (isinstance(sr, (int, np.integer)) and 1000 <= int(sr) <= 384000):
        raise ValueError(f"sample rate must be an integer in [1000, 384000] Hz, got {sr!r}")
    return np.ascontiguousarray(np.clip(a, -1.0, 1.0))


class _AudioWriter:
    """Feeds a (channels, N) array to an AAC stream piece by piece, so that packets interleave
    with the video (good for progressive playback, and the muxer need not buffer the video)."""

    def __init__(self, container, audio: np.ndarray, sr: int, n_samples: int, start_s: float):
        if audio.shape[1] >= n_samples:
            audio = audio[:, :n_samples]
        else:  # pad with silence up to the video's duration
            audio = np.pad(audio, ((0, 0), (0, n_samples - audio.shape[1])))
        self.audio = audio
        self.sr = int(sr)
        layout = "mono" if audio.shape[0] == 1 else "stereo"
        rate = self.sr if self.sr in _AAC_RATES else 48000
        self.stream = container.add_stream("aac", rate=rate, layout=layout)
        self.stream.bit_rate = 128_000 if layout == "mono" else 192_000
        self.layout = layout
        self.pos = 0
        self.offset = int(round(start_s * self.sr))  # audio starts with the first video frame
        self.container = container

    def write_until(self, t_s: float | None) -> None:
        end = self.audio.shape[1] if t_s is None else min(self.audio.shape[1], int(t_s * self.sr))
        # Chunks of >= 0.1 s keep the per-frame overhead small.
        if t_s is not None and end - self.pos < self.sr // 10:
            return
        if end > self.pos:
            frame = av.AudioFrame.from_ndarray(
                self.audio[:, self.pos : end].copy(), format="fltp", layout=self.layout
            )
            frame.sample_rate = self.sr
            frame.time_base = Fraction(1, self.sr)
            frame.pts = self.offset + self.pos
            self.container.mux(self.stream.encode(frame))
            self.pos = end
        if t_s is None:
            self.container.mux(self.stream.encode(None))


def _add_h264_stream(container, width: int, height: int, fps: float):
    stream = container.add_stream(
        "libx264",
        rate=Fraction(fps).limit_denominator(1001),
        options={"crf": "20", "preset": "veryfast"},
    )
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    stream.time_base = _OUT_TIME_BASE
    stream.codec_context.time_base = _OUT_TIME_BASE
    stream.thread_type = "AUTO"
    return stream


def _even_rgb(rgb: np.ndarray) -> np.ndarray:
    """Pad an RGB frame by one edge pixel where a side is odd (yuv420p needs even sizes)."""
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(rgb)


_MP4_OPTIONS = {"movflags": "+faststart"}


def _can_copy(stream) -> bool:
    """Whether the video stream can go into the MP4 untouched and still play in browsers."""
    cc = stream.codec_context
    profile = (stream.profile or "").lower()
    return (
        cc.name == "h264"
        and cc.pix_fmt in ("yuv420p", "yuvj420p")
        and cc.width % 2 == 0
        and cc.height % 2 == 0
        and "10" not in profile
        and "4:2:2" not in profile
        and "4:4:4" not in profile
    )


def is_browser_safe(path: str | os.PathLike) -> bool:
    """Whether ``path``'s video stream can be copied untouched into an MP4 browsers play
    (H.264 8-bit 4:2:0, even size): :func:`mux_audio` then copies instead of re-encoding."""
    try:
        with _open_video(path) as (c, _):
            return _can_copy(c.streams.video[0])
    except (D2MError, IndexError):
        return False


def mux_audio(
    video_path: str | os.PathLike, audio: np.ndarray, sr: int, out_path: str | os.PathLike
) -> Path:
    """Write ``video_path`` with its audio replaced by ``audio``.

    H.264 yuv420p video in the source is copied bit for bit (fast, lossless); other codecs,
    pixel formats or odd sizes are re-encoded to H.264 yuv420p (rotation baked into the pixels).
    The audio is encoded to AAC and trimmed or padded with silence to the video's duration, and
    starts with the first video frame.

    Parameters
    ----------
    video_path : str or os.PathLike
        Source video (never modified).
    audio : np.ndarray [shape=(N,) or (N, 2)], float32
        Samples in [-1, 1] (clipped otherwise), mono or stereo.
    sr : int
        Sample rate of ``audio`` in Hz.
    out_path : str or os.PathLike
        Destination ``.mp4``; written atomically (temp file + rename).

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    D2MError
        Unreadable video (see :func:`probe_video`), output equal to the input, or an
        unwritable destination.
    """
    src = _check_file(video_path)
    out = Path(out_path)
    if out.exists() and out.resolve() == src.resolve():
        raise D2MError(f"output {out} is the input video; choose another output path")
    a = _prepare_audio(audio, sr)
    info = probe_video(src)
    n_samples = max(1, int(round(info.duration_s * sr)))
    with atomic_path(out) as tmp:
        try:
            _mux_copy_or_encode(src, info, a, int(sr), n_samples, tmp)
        except av.error.FFmpegError as e:
            raise D2MError(
                f"could not write {out.name} ({e.strerror or e}); {_FIX_VIDEO}"
            ) from None
    return out


def _mux_copy_or_encode(src, info, a, sr, n_samples, tmp) -> None:
    with av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        if _can_copy(vin):
            try:
                with av.open(str(tmp), "w", format="mp4", options=_MP4_OPTIONS) as outc:
                    vout = outc.add_stream_from_template(vin)
                    aw = _AudioWriter(outc, a, sr, n_samples, info.start_s)
                    tb = float(vin.time_base)
                    for pkt in inp.demux(vin):
                        if pkt.dts is None:
                            continue
                        aw.write_until((pkt.dts * tb) - info.start_s + 0.5)
                        pkt.stream = vout
                        outc.mux(pkt)
                    aw.write_until(None)
                return
            except av.error.FFmpegError:
                pass  # unusual bitstream: fall back to re-encoding below
    _mux_encode(src, info, a, sr, n_samples, tmp)


def _mux_encode(src, info, a, sr, n_samples, tmp) -> None:
    w, h = info.width + info.width % 2, info.height + info.height % 2
    with av.open(str(tmp), "w", format="mp4", options=_MP4_OPTIONS) as outc:
        vout = _add_h264_stream(outc, w, h, info.fps)
        aw = _AudioWriter(outc, a, sr, n_samples, 0.0)
        last_pts = -1
        for t, rgb in iter_frames(src):
            pts = max(int(round(t / _OUT_TIME_BASE)), last_pts + 1)  # strictly increasing
            last_pts = pts
            frame = av.VideoFrame.from_ndarray(_even_rgb(rgb), format="rgb24")
            frame.pts = pts
            frame.time_base = _OUT_TIME_BASE
            outc.mux(vout.encode(frame))
            aw.write_until(t + 0.5)
        outc.mux(vout.encode(None))
        aw.write_until(None)


def write_video(
    frames: Iterable[np.ndarray],
    fps: float,
    out_path: str | os.PathLike,
    *,
    audio: np.ndarray | None = None,
    sr: int | None = None,
) -> Path:
    """Encode RGB frames to a browser-playable MP4 (H.264 yuv420p, optional AAC audio).

    Parameters
    ----------
    frames : iterable of np.ndarray [shape=(H, W, 3)], uint8
        RGB frames, all the same size (odd sizes are padded by one pixel).
    fps : float
        Frame rate in frames per second, in [1, 240].
    out_path : str or os.PathLike
        Destination ``.mp4``; written atomically (temp file + rename).
    audio : np.ndarray [shape=(N,) or (N, 2)], float32, optional
        Soundtrack in [-1, 1]; trimmed or padded with silence to ``len(frames) / fps``.
    sr : int, optional
        Sample rate of ``audio`` in Hz (required with ``audio``).

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    ValueError
        Bad fps, frame shapes or audio.
    D2MError
        Unwritable destination.
    """
    fps = float(fps)
    if not (MIN_FPS <= fps <= MAX_FPS):
        raise ValueError(f"fps must be in [{MIN_FPS:g}, {MAX_FPS:g}], got {fps:g}")
    a = None
    if audio is not None:
        if sr is None:
            raise ValueError("sr is required when audio is given")
        a = _prepare_audio(audio, sr)
    out = Path(out_path)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("write_video needs at least one frame")
    with atomic_path(out) as tmp:
        _encode_frames(first, frames, fps, tmp, a, sr)
    return out


def _check_frame(rgb: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    if shape is not None and rgb.shape != shape:
        raise ValueError(f"all frames must have the same shape: {rgb.shape} != {shape}")
    return rgb


def _encode_frames(first, frames, fps, tmp, a, sr) -> None:
    first = _check_frame(first, None)
    shape = first.shape
    h, w = shape[0] + shape[0] % 2, shape[1] + shape[1] % 2
    rate = Fraction(fps).limit_denominator(1001)
    pts_step = 1 / (float(rate) * float(_OUT_TIME_BASE))
    try:
        with av.open(str(tmp), "w", format="mp4", options=_MP4_OPTIONS) as outc:
            vout = _add_h264_stream(outc, w, h, fps)
            aw = None
            if a is not None:
                # The audio length is only known at the end; for interleaving assume it matches
                # the audio's own length, then trim / pad once the frame count is known.
                aw = _AudioWriter(outc, a, int(sr), a.shape[1], 0.0)
            i = 0
            for rgb in _chain(first, frames):
                frame = av.VideoFrame.from_ndarray(_even_rgb(_check_frame(rgb, shape)), "rgb24")
                frame.pts = int(round(i * pts_step))
                frame.time_base = _OUT_TIME_BASE
                outc.mux(vout.encode(frame))
                i += 1
                if aw is not None:
                    aw.write_until(min(i / float(rate), a.shape[1] / sr) - 0.5)
            outc.mux(vout.encode(None))
            if aw is not None:
                n_samples = max(1, int(round(i / float(rate) * sr)))
                rest = aw.audio[:, aw.pos : n_samples]
                if rest.shape[1] < n_samples - aw.pos:
                    rest = np.pad(rest, ((0, 0), (0, n_samples - aw.pos - rest.shape[1])))
                aw.audio = np.concatenate([aw.audio[:, : aw.pos], rest], axis=1)
                aw.write_until(None)
    except av.error.FFmpegError as e:
        raise D2MError(f"could not encode {Path(tmp).name} ({e.strerror or e})") from None


def _chain(first, rest):
    yield first
    yield from rest
