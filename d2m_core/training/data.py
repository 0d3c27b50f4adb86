"""Training data: dance/music pairs -> fixed-length clips -> cached encoder inputs and targets.

Layouts
-------
- **Folder** (``DIR/manifest.csv``): columns ``motion,audio,genre,split`` (paths relative to
  ``DIR``); ``motion`` is a video or a keypoint file, ``file.npz#KEY`` for one entry of an npz;
  ``split`` is ``train``, ``val`` or ``test``. Optional columns: ``fps`` (keypoint files that do
  not store one), ``view`` (AIST++ camera), ``name``.
- **AIST++**: ``DIR/keypoints2d/*.pkl`` (COCO-17, 60 fps), the official split lists
  ``DIR/splits/crossmodal_{train,val,test}.txt`` (``ignore_list.txt`` is honoured), and the
  music as ``mXX0.wav`` files in ``DIR/wav`` (or ``music``, ``musics``, ``all_musics``,
  ``audio``, or ``--music-dir``). Genre and music come from the sequence name
  (``gHO_sFM_cAll_d19_mHO0_ch01`` -> house, ``mHO0.wav``).

Clips
-----
Motion and music are assumed to start together. Each pair is cut into clips of
``clip_s`` seconds (5.12 by default) starting every ``hop_s`` seconds (training split; ``val``
and ``test`` never overlap), as long as both the dance and the music last. Per clip the cache
holds the rhythm-encoder input ``(C, L)`` (:func:`d2m_core.inversion.features.rhythm_input`) and
the backbone's targets (MusicGen: Encodec codes ``(K, T)``), so later epochs and later runs
do neither pose estimation nor audio tokenisation again. Cache files are keyed by the source
files' size and time stamp, the clip and rhythm settings, and the backbone's target signature.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from d2m_core.errors import D2MError
from d2m_core.inversion.config import EncoderConfig
from d2m_core.music.genres import genre_from_aist_name, resolve_genre

SPLITS = ("train", "val", "test")
MANIFEST = "manifest.csv"
AIST_MUSIC_DIRS = ("wav", "music", "musics", "all_musics", "audio")

Log = Callable[[str], None]


@dataclass
class Pair:
    """One dance with its music.

    Attributes
    ----------
    name : str
        Unique id (file stem, or the npz key).
    motion : Path
        Video or keypoint file.
    audio : Path
    genre : str
        Genre id (:data:`d2m_core.music.genres.GENRES`).
    split : str
        ``train``, ``val`` or ``test``.
    key : str, optional
        npz entry.
    view : int
        AIST++ camera.
    fps : float, optional
        Frame rate of keypoint files that do not store one.
    """

    name: str
    motion: Path
    audio: Path
    genre: str
    split: str
    key: str | None = None
    view: int = 0
    fps: float | None = None


@dataclass
class ClipTable:
    """All clips of one split, in memory.

    Attributes
    ----------
    rhythm : np.ndarray [shape=(N, C, L)], float32
    genre : np.ndarray [shape=(N,)], int64
        Index into the encoder config's genre list.
    targets : np.ndarray [shape=(N, ...)]
    names : list[str]
        ``pair@start_s`` per clip.
    """

    rhythm: np.ndarray
    genre: np.ndarray
    targets: np.ndarray
    names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.genre)

    @classmethod
    def concat(cls, parts: list[ClipTable]) -> ClipTable | None:
        parts = [p for p in parts if len(p)]
        if not parts:
            return None
        return cls(
            rhythm=np.concatenate([p.rhythm for p in parts]),
            genre=np.concatenate([p.genre for p in parts]),
            targets=np.concatenate([p.targets for p in parts]),
            names=[n for p in parts for n in p.names],
        )


# --- finding pairs --------------------------------------------------------------------------


def read_manifest(root: Path) -> list[Pair]:
    """Pairs listed in ``root/manifest.csv`` (see the module docstring)."""
    path = root / MANIFEST
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise D2MError(f"cannot read {path} ({exc})") from None
    need = {"motion", "audio", "genre", "split"}
    if not rows or not need <= set(rows[0]):
        raise D2MError(f"{path} needs a header with columns {','.join(sorted(need))}")
    pairs, seen = [], set()
    for i, row in enumerate(rows, start=2):
        where = f"{path.name} line {i}"
        motion, _, key = (row["motion"] or "").strip().partition("#")
        split = (row["split"] or "").strip().lower()
        if split not in SPLITS:
            raise D2MError(f"{where}: split must be one of {', '.join(SPLITS)}, got '{split}'")
        m_path, a_path = root / motion, root / (row["audio"] or "").strip()
        for p in (m_path, a_path):
            if not p.is_file():
                raise D2MError(f"{where}: file not found: {p}")
        try:
            genre = resolve_genre((row["genre"] or "").strip())
        except D2MError as exc:
            raise D2MError(f"{where}: {exc}") from None
        name = (row.get("name") or "").strip() or (f"{m_path.stem}-{key}" if key else m_path.stem)
        base, n = name, 1
        while name in seen:
            n += 1
            name = f"{base}-{n}"
        seen.add(name)
        fps = float(row["fps"]) if (row.get("fps") or "").strip() else None
        view = int(row["view"]) if (row.get("view") or "").strip() else 0
        pairs.append(Pair(name, m_path, a_path, genre, split, key=key or None, view=view, fps=fps))
    return pairs


def _aist_music_dir(root: Path, music_dir: Path | None) -> Path:
    if music_dir is not None:
        if not music_dir.is_dir():
            raise D2MError(f"music folder {music_dir} not found")
        return music_dir
    for name in AIST_MUSIC_DIRS:
        if (root / name).is_dir():
            return root / name
    raise D2MError(
        f"no AIST++ music folder in {root} (looked for {', '.join(AIST_MUSIC_DIRS)}):"
        " put the mXX0.wav files in DIR/wav or pass --music-dir"
    )


def read_aistpp(root: Path, *, music_dir: Path | None = None, view: int = 0) -> list[Pair]:
    """Pairs of the AIST++ layout with the official cross-modal splits."""
    kp_dir, split_dir = root / "keypoints2d", root / "splits"
    if not kp_dir.is_dir() or not split_dir.is_dir():
        raise D2MError(f"{root} is not an AIST++ folder (needs keypoints2d/ and splits/)")
    mdir = _aist_music_dir(root, music_dir)
    ignore_file = split_dir / "ignore_list.txt"
    ignore = set(ignore_file.read_text().split()) if ignore_file.is_file() else set()
    pairs = []
    for split in SPLITS:
        lst = split_dir / f"crossmodal_{split}.txt"
        if not lst.is_file():
            raise D2MError(f"AIST++ split list {lst} not found")
        for name in lst.read_text().split():
            if name in ignore:
                continue
            kp = kp_dir / f"{name}.pkl"
            genre = genre_from_aist_name(name)
            m = re.search(r"_(m[A-Z]{2}\d)(?:_|$)", name)
            if not kp.is_file() or genre is None or m is None:
                continue  # AIST++ lists a few sequences without keypoints
            audio = mdir / f"{m.group(1)}.wav"
            if not audio.is_file():
                raise D2MError(f"music {audio.name} for {name} not found in {mdir}")
            pairs.append(Pair(name, kp, audio, genre, split, view=view))
    if not pairs:
        raise D2MError(f"no usable AIST++ sequences found in {root}")
    return pairs


def find_pairs(
    root: str | Path, *, layout: str = "auto", music_dir: Path | None = None, view: int = 0
) -> list[Pair]:
    """Pairs from a data folder.

    Parameters
    ----------
    root : str or Path
    layout : str
        ``auto`` (``manifest.csv`` if present, else AIST++), ``manifest`` or ``aist``.
    music_dir : Path, optional
        AIST++ music folder.
    view : int
        AIST++ camera.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise D2MError(f"data folder {root} not found")
    if layout == "auto":
        layout = "manifest" if (root / MANIFEST).is_file() else "aist"
        if layout == "aist" and not (root / "keypoints2d").is_dir():
            raise D2MError(
                f"{root} has neither {MANIFEST} nor an AIST++ keypoints2d/ folder;"
                f" write a {MANIFEST} with columns motion,audio,genre,split"
            )
    if layout == "manifest":
        return read_manifest(root)
    if layout == "aist":
        return read_aistpp(root, music_dir=music_dir, view=view)
    raise D2MError(f"unknown data layout '{layout}': use auto, manifest or aist")


# --- clips and the cache ----------------------------------------------------------------------


def _file_id(p: Path) -> list:
    st = p.stat()
    return [str(p.resolve()), st.st_size, st.st_mtime_ns]


def _digest(obj: object) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def clip_starts(
    duration_s: float, *, clip_s: float, hop_s: float, tolerance_s: float = 0.02
) -> np.ndarray:
    """Clip start times (seconds) of whole clips inside ``duration_s``.

    A clip may overrun the end by ``tolerance_s`` (a frame of rounding: 5.12 s at 60 fps is
    307.2 frames), the missing bit being silence / stillness.
    """
    d = duration_s + tolerance_s
    n = int(np.floor((d - clip_s) / hop_s + 1e-6)) + 1 if d >= clip_s else 0
    return np.round(np.arange(max(n, 0)) * hop_s, 6)


def _load_motion(pair: Pair, cache_dir: Path):
    from d2m_core.dance.analysis import load_motion
    from d2m_core.dance.motion import Motion
    from d2m_core.io.keypoints import is_keypoint_file

    if is_keypoint_file(pair.motion):
        return load_motion(pair.motion, key=pair.key, fps=pair.fps, view=pair.view)
    # Videos: pose estimation is the slow part, so its keypoints are cached on their own.
    path = cache_dir / "motion" / f"{pair.motion.stem}-{_digest(_file_id(pair.motion))}.npz"
    if path.is_file():
        with np.load(path) as z:
            return Motion(keypoints=z["keypoints"], fps=float(z["fps"]), source=str(pair.motion))
    motion = load_motion(pair.motion)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, keypoints=motion.keypoints, fps=np.float64(motion.fps))
    return motion


def _pair_clips(
    pair: Pair, *, adapter, cfg: EncoderConfig, hop_s: float, cache_dir: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, rhythm (n, C, L), targets (n, ...)) of one pair, from the cache if there."""
    from d2m_core.inversion.features import motion_rhythm, rhythm_input
    from d2m_core.io.audio import read_audio

    key = _digest(
        {
            "motion": _file_id(pair.motion),
            "key": pair.key,
            "view": pair.view,
            "fps": pair.fps,
            "audio": _file_id(pair.audio),
            "clip_s": cfg.clip_s,
            "hop_s": hop_s,
            "rhythm_fps": cfg.rhythm_fps,
            "rhythm_input": cfg.rhythm_input,
            "rhythm_params": cfg.rhythm_params,
            "targets": adapter.target_signature(),
        }
    )
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", pair.name)[:80]
    path = cache_dir / "clips" / f"{safe}-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            return z["starts"], z["rhythm"], z["targets"]
    motion = _load_motion(pair, cache_dir)
    audio, sr = read_audio(pair.audio)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if sr != adapter.sample_rate:
        import librosa

        audio = librosa.resample(audio, orig_sr=sr, target_sr=adapter.sample_rate)
    duration = min(motion.duration_s, len(audio) / adapter.sample_rate)
    starts = clip_starts(duration, clip_s=cfg.clip_s, hop_s=hop_s)
    n_clip = int(round(cfg.clip_s * adapter.sample_rate))
    c, l_frames = cfg.rhythm_channels, cfg.rhythm_frames
    if len(starts):
        feats = motion_rhythm(motion, cfg=cfg)
        rhythm = np.stack([rhythm_input(feats, cfg=cfg, start_s=s) for s in starts])
        clips = []
        for s in starts:
            a = int(round(s * adapter.sample_rate))
            seg = audio[a : a + n_clip]
            clips.append(np.pad(seg, (0, n_clip - len(seg))))
        targets = adapter.encode_targets(np.stack(clips).astype(np.float32))
    else:
        rhythm = np.zeros((0, c, l_frames), np.float32)
        targets = np.zeros((0,), np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.npz")
    np.savez(tmp, starts=starts, rhythm=rhythm, targets=targets)
    tmp.replace(path)
    return starts, rhythm, targets


def prepare_clips(
    pairs: list[Pair],
    *,
    adapter,
    cfg: EncoderConfig,
    cache_dir: str | Path,
    hop_s: float | None = None,
    log: Log | None = None,
    show_progress: bool = True,
) -> dict[str, ClipTable]:
    """Cut every pair into clips and load (or compute and cache) their features.

    Parameters
    ----------
    pairs : list[Pair]
    adapter : InversionAdapter
        Gives the audio rate, the targets and their cache signature.
    cfg : EncoderConfig
        Clip length, rhythm settings and genre vocabulary.
    cache_dir : str or Path
    hop_s : float, optional
        Training clip spacing (default: ``cfg.clip_s``, no overlap).
    log : callable(str), optional
        Receives warnings (pairs too short for one clip).

    Returns
    -------
    dict[str, ClipTable]
        Per split present.
    """
    from tqdm.auto import tqdm

    cache_dir = Path(cache_dir)
    parts: dict[str, list[ClipTable]] = {s: [] for s in SPLITS}
    unknown = sorted({p.genre for p in pairs} - set(cfg.genres))
    if unknown:
        raise D2MError(f"genres {', '.join(unknown)} are not in the encoders' genre list")
    for pair in tqdm(pairs, desc="preparing clips", unit="pair", disable=not show_progress):
        hop = (hop_s or cfg.clip_s) if pair.split == "train" else cfg.clip_s
        starts, rhythm, targets = _pair_clips(
            pair, adapter=adapter, cfg=cfg, hop_s=hop, cache_dir=cache_dir
        )
        if not len(starts):
            if log:
                log(f"warning: {pair.name} is shorter than one {cfg.clip_s:g} s clip; skipped")
            continue
        g = np.full(len(starts), cfg.genres.index(pair.genre), dtype=np.int64)
        names = [f"{pair.name}@{s:.2f}" for s in starts]
        parts[pair.split].append(ClipTable(rhythm, g, targets, names))
    out = {s: t for s, t in ((s, ClipTable.concat(p)) for s, p in parts.items()) if t is not None}
    return out


def _target_array(a: np.ndarray) -> np.ndarray:
    return a.astype(np.int64) if a.dtype.kind in "iub" else np.ascontiguousarray(a)


class ClipDataset:
    """A torch-style map dataset over a :class:`ClipTable` (dicts of tensors)."""

    def __init__(self, table: ClipTable) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int) -> dict:
        import torch

        t = self.table
        return {
            "rhythm": torch.from_numpy(t.rhythm[i]),
            "genre": torch.tensor(t.genre[i]),
            # Codes (MusicGen) as int64 for the embeddings; latents (diffusion) keep their dtype.
            "targets": torch.from_numpy(_target_array(t.targets[i])),
        }
