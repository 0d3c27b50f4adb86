"""The `@` vocabulary: the 10 AIST++ dance genres, name resolution, and a suggestion from motion.

Genre ids are lowercase snake case; AIST++ file names carry a code (``gHO`` = house) that
:func:`genre_from_aist_name` reads.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np

from d2m_core.dance.motion import Motion
from d2m_core.errors import D2MError

GENRES: tuple[str, ...] = (
    "break",
    "pop",
    "lock",
    "middle_hiphop",
    "la_hiphop",
    "house",
    "waack",
    "krump",
    "street_jazz",
    "ballet_jazz",
)

GENRE_LABELS: dict[str, str] = {
    "break": "Break",
    "pop": "Pop",
    "lock": "Lock",
    "middle_hiphop": "Middle Hip-hop",
    "la_hiphop": "LA-style Hip-hop",
    "house": "House",
    "waack": "Waack",
    "krump": "Krump",
    "street_jazz": "Street Jazz",
    "ballet_jazz": "Ballet Jazz",
}

#: A typical tempo per genre (BPM), used when a prompt leaves out the rhythm pseudo-word `*`.
TYPICAL_BPM: dict[str, float] = {
    "break": 110.0,
    "pop": 100.0,
    "lock": 105.0,
    "middle_hiphop": 95.0,
    "la_hiphop": 95.0,
    "house": 124.0,
    "waack": 120.0,
    "krump": 90.0,
    "street_jazz": 110.0,
    "ballet_jazz": 90.0,
}

AIST_CODES: dict[str, str] = {
    "gBR": "break",
    "gPO": "pop",
    "gLO": "lock",
    "gMH": "middle_hiphop",
    "gLH": "la_hiphop",
    "gHO": "house",
    "gWA": "waack",
    "gKR": "krump",
    "gJS": "street_jazz",
    "gJB": "ballet_jazz",
}

_ALIASES: dict[str, str] = {
    "breaking": "break",
    "breakdance": "break",
    "bboy": "break",
    "b-boy": "break",
    "popping": "pop",
    "locking": "lock",
    "hiphop": "middle_hiphop",
    "hip-hop": "middle_hiphop",
    "hip hop": "middle_hiphop",
    "middle hip-hop": "middle_hiphop",
    "middle hip hop": "middle_hiphop",
    "la hip-hop": "la_hiphop",
    "la hip hop": "la_hiphop",
    "la-style hip-hop": "la_hiphop",
    "la style hip hop": "la_hiphop",
    "waacking": "waack",
    "whacking": "waack",
    "krumping": "krump",
    "jazz": "street_jazz",
    "street jazz": "street_jazz",
    "ballet jazz": "ballet_jazz",
    "ballet": "ballet_jazz",
}


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().lower().replace("_", " "))


def resolve_genre(name: str) -> str:
    """Genre id for a user's name ("House", "krump", "LA hip hop", "gHO"...).

    Raises
    ------
    D2MError
        Unknown name; the message lists valid names and the closest match.
    """
    key = _norm(name)
    by_norm = {_norm(g): g for g in GENRES} | {_norm(v): k for k, v in GENRE_LABELS.items()}
    by_norm |= {_norm(k): v for k, v in _ALIASES.items()}
    by_norm |= {code.lower(): g for code, g in AIST_CODES.items()}
    if key in by_norm:
        return by_norm[key]
    close = difflib.get_close_matches(key, list(by_norm), n=1, cutoff=0.6)
    hint = f" (did you mean '{by_norm[close[0]]}'?)" if close else ""
    raise D2MError(f"unknown genre '{name}'{hint}; valid genres: {', '.join(GENRES)}")


def genre_from_aist_name(name: str) -> str | None:
    """Genre id from an AIST++ sequence name (``gHO_sFM_cAll_d19_mHO0_ch01`` -> ``house``)."""
    m = re.search(r"(?:^|[_/#])(g[A-Z]{2})_", name)
    return AIST_CODES.get(m.group(1)) if m else None


# --- suggestion from motion -------------------------------------------------------------------


@dataclass
class GenreSuggestion:
    """A suggested genre with per-genre scores (a softmax over prototype distances)."""

    genre: str
    scores: dict[str, float]
    features: dict[str, float]


# Interpretable motion descriptors: tempo (BPM / 100), energy (mean speed, body heights per
# second), bounce (share of the hips' path that is vertical), arms (wrist+elbow speed / knee+ankle
# speed), sharpness (95th percentile / median of the acceleration envelope, / 4), low (how far
# the hips drop below standing, x3). Each genre is a hand-set offset from a typical street dance
# (_CENTRE), in units of _SCALE, written from how the style moves (not fitted to any data):
# house bounces fast with busy feet, krump is sharp and heavy-armed, breaking goes to the
# floor, popping hits sharply with little travel, waacking is all arms, ballet jazz flows.
_FEATURES = ("tempo", "energy", "bounce", "arms", "sharpness", "low")
_CENTRE = np.array([1.0, 0.9, 0.7, 1.5, 0.55, 0.6])
_SCALE = np.array([0.12, 0.25, 0.1, 0.4, 0.1, 0.25])
_OFFSETS: dict[str, tuple[float, ...]] = {
    #                tempo energy bounce arms sharp low
    "break": (0.5, 1.0, -0.5, -0.5, 0.0, 2.0),
    "pop": (0.0, -1.0, -0.5, 0.5, 1.5, -0.5),
    "lock": (0.5, 0.5, 0.0, 1.0, 1.0, -0.5),
    "middle_hiphop": (-0.5, 0.0, 1.0, 0.0, 0.0, 0.5),
    "la_hiphop": (-0.5, 0.5, 0.0, 1.0, 0.5, 0.0),
    "house": (1.5, 0.5, 1.0, -1.0, -0.5, 0.0),
    "waack": (1.0, 0.5, -1.0, 2.0, 0.5, -0.5),
    "krump": (-1.0, 1.0, 0.0, 1.0, 1.5, 0.5),
    "street_jazz": (0.5, 0.5, -0.5, 0.5, 0.0, 0.0),
    "ballet_jazz": (0.0, -0.5, -1.0, 0.0, -1.5, -0.5),
}
_PROTOTYPES = {g: _CENTRE + np.array(o) * _SCALE for g, o in _OFFSETS.items()}


def motion_descriptors(motion: Motion, *, tempo_bpm: float) -> dict[str, float]:
    """The descriptors the genre suggestion compares (see ``_FEATURES``)."""
    kp = motion.keypoints
    xy = kp[:, :, :2].astype(np.float64)
    # Body height: shoulder centre to ankle centre, robust median over frames.
    shoulders = xy[:, 5:7].mean(1)
    ankles = xy[:, 15:17].mean(1)
    hips = xy[:, 11:13].mean(1)
    height = float(np.median(np.linalg.norm(ankles - shoulders, axis=1))) or 1.0
    vel = np.diff(xy, axis=0) * motion.fps / height  # body heights per second
    speed = np.linalg.norm(vel, axis=2)
    energy = float(speed.mean()) if speed.size else 0.0
    arms = float(speed[:, 7:11].mean() / max(speed[:, 13:17].mean(), 1e-6)) if speed.size else 1.0
    hip_vy = np.abs(np.diff(hips[:, 1])).sum()
    hip_all = np.linalg.norm(np.diff(hips, axis=0), axis=1).sum()
    bounce = float(hip_vy / max(hip_all, 1e-6))
    from d2m_core.dance.rhythm import acceleration_envelope

    env = acceleration_envelope(kp)
    sharp = float(np.percentile(env, 95) / max(np.median(env), 1e-6)) / 4.0 if env.any() else 0.0
    standing = np.percentile(ankles[:, 1] - hips[:, 1], 90)
    low = float(1.0 - np.percentile(ankles[:, 1] - hips[:, 1], 10) / max(standing, 1e-6)) * 3
    return {
        "tempo": tempo_bpm / 100.0,
        "energy": energy,
        "bounce": bounce,
        "arms": arms,
        "sharpness": sharp,
        "low": low,
    }


def suggest_genre(motion: Motion, *, tempo_bpm: float) -> GenreSuggestion:
    """Suggest the `@` genre of a dance from its motion (nearest hand-set prototype).

    Parameters
    ----------
    motion : Motion
    tempo_bpm : float
        The dance's visual tempo (:func:`d2m_core.dance.tempo.visual_tempo`).
    """
    feats = motion_descriptors(motion, tempo_bpm=tempo_bpm)
    x = np.array([feats[k] for k in _FEATURES])
    dists = {g: float(np.sum(((x - np.array(p)) / _SCALE) ** 2)) for g, p in _PROTOTYPES.items()}
    d = np.array([dists[g] for g in GENRES])
    w = np.exp(-0.5 * (d - d.min()))
    w /= w.sum()
    scores = {g: round(float(s), 4) for g, s in zip(GENRES, w, strict=True)}
    best = GENRES[int(np.argmax(w))]
    return GenreSuggestion(genre=best, scores=scores, features=feats)
