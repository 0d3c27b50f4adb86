"""The ten dance genres as musical styles: groove, instruments, harmony, melody and mix.

Programs are General MIDI program numbers (0-based); kits are bank-128 preset numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

# One genre vocabulary for the whole project: the `@` genres of d2m_core.music.genres.
from d2m_core.music.genres import GENRE_LABELS, GENRES  # noqa: E402, F401

# A chord slot: a scale degree (diatonic chord) or (degree, quality) with quality "dom"
# (dominant 7th), "maj", "min" or "sus" built on that degree's root regardless of the mode.
ChordSlot = int | tuple[int, str]

# Progressions by tonal family; styles pick from these by name.
MINOR_PROGRESSIONS: dict[str, tuple[ChordSlot, ...]] = {
    "epic": (0, 5, 2, 6),  # i VI III VII
    "descend": (0, 6, 5, 6),  # i VII VI VII
    "vamp": (0, 3, 0, 3),  # i iv (i IV in dorian)
    "turn": (0, 5, 3, 4),  # i VI iv v
    "circle": (0, 3, 6, 2),  # i iv VII III
    "lift": (5, 6, 0, 0),  # VI VII i i
    "dark": (0, 0, 5, (4, "maj")),  # i i VI V
    "soul": (3, 4, 0, 0),  # iv v i i
}
MAJOR_PROGRESSIONS: dict[str, tuple[ChordSlot, ...]] = {
    "axis": (0, 4, 5, 3),  # I V vi IV
    "fifties": (0, 5, 3, 4),  # I vi IV V
    "rise": (3, 4, 2, 5),  # IV V iii vi
    "jazz": (1, 4, 0, 5),  # ii V I vi
    "plagal": (0, 3, 0, 4),  # I IV I V
    "gentle": (0, 2, 5, 3),  # I iii vi IV
    "mixo": (0, 6, 3, 0),  # I bVII IV I (mixolydian)
    "blues": ((0, "dom"), (3, "dom"), (0, "dom"), (4, "dom")),
}


@dataclass(frozen=True)
class Style:
    """Everything that makes a genre sound like itself.

    Attributes
    ----------
    drums, perc : str
        Keys of :data:`drums.PATTERNS` and :data:`drums.PERCUSSION`.
    kit : int
        GM drum kit preset (bank 128).
    swing : float
        Position of the off-beat subdivision within its pair, 0.5 = straight, 0.66 = triplet.
    swing_unit : float
        Length in beats of the swung pair: 1.0 swings 8ths, 0.5 swings 16ths.
    tonics : tuple of int
        Candidate key tonics (pitch classes, 0 = C).
    mode : str
        Mode name from :data:`theory.MODES`.
    progressions : tuple of str
        Names in the major or minor progression table (by the mode's family).
    chord_bars : float
        Bars per chord slot (0.5, 1 or 2).
    chord_size : int
        Chord tones: 3 triads, 4 sevenths, 5 ninths.
    bass, comp, lead : str
        Pattern families for the bass line, the chord comping and the melody.
    bass_program, keys_program, lead_program : int
    pad_program, accent_program, double_program : int or None
        Sustained pad, stabs on strong motion, octave doubling of the lead at full energy.
    lead_octave : int
        Octave of the melody's tonic (4 = middle C).
    lead_level : int
        Lowest arrangement level (0..3) at which the melody plays.
    density : float
        Multiplies melody and ghost-note density.
    velocity : float
        Multiplies all velocities.
    level_shift : int
        Added to every bar's arrangement level (clipped to 0..3).
    pulse : float
        Depth (0..1) of the beat-synchronous gain that re-articulates the mix on every beat.
    reverb : float
        Reverb send (0..1) for the harmonic parts.
    tone : str
        Master colour: "bright", "warm" or "lofi".
    default_bpm : float
        Tempo used when the dance gives fewer than two beats.
    """

    drums: str
    perc: str
    kit: int
    swing: float
    swing_unit: float
    tonics: tuple[int, ...]
    mode: str
    progressions: tuple[str, ...]
    chord_bars: float
    chord_size: int
    bass: str
    comp: str
    lead: str
    bass_program: int
    keys_program: int
    lead_program: int
    pad_program: int | None
    accent_program: int | None
    double_program: int | None
    lead_octave: int = 4
    lead_level: int = 1
    density: float = 1.0
    velocity: float = 1.0
    level_shift: int = 0
    pulse: float = 0.22
    reverb: float = 0.25
    tone: str = "bright"
    default_bpm: float = 110.0


STYLES: dict[str, Style] = {
    "break": Style(
        drums="breakbeat",
        perc="bongos",
        kit=8,
        swing=0.56,
        swing_unit=0.5,
        tonics=(9, 4, 2, 7),
        mode="dorian",
        progressions=("vamp", "descend", "soul"),
        chord_bars=2.0,
        chord_size=4,
        bass="funk",
        comp="chank",
        lead="riff",
        bass_program=33,
        keys_program=28,
        lead_program=61,
        pad_program=None,
        accent_program=61,
        double_program=56,
        lead_level=1,
        density=1.0,
        reverb=0.18,
        tone="warm",
        default_bpm=112.0,
    ),
    "pop": Style(
        drums="electro",
        perc="tambourine",
        kit=25,
        swing=0.5,
        swing_unit=0.5,
        tonics=(4, 9, 2, 11),
        mode="dorian",
        progressions=("vamp", "descend", "circle"),
        chord_bars=1.0,
        chord_size=4,
        bass="synth_funk",
        comp="stab",
        lead="riff",
        bass_program=38,
        keys_program=5,
        lead_program=80,
        pad_program=90,
        accent_program=62,
        double_program=81,
        lead_level=1,
        density=0.9,
        reverb=0.22,
        tone="bright",
        default_bpm=100.0,
    ),
    "lock": Style(
        drums="funk",
        perc="cowbell",
        kit=0,
        swing=0.54,
        swing_unit=0.5,
        tonics=(7, 2, 9, 0),
        mode="mixolydian",
        progressions=("mixo", "plagal", "blues"),
        chord_bars=1.0,
        chord_size=4,
        bass="funk",
        comp="chank",
        lead="riff",
        bass_program=36,
        keys_program=27,
        lead_program=61,
        pad_program=16,
        accent_program=61,
        double_program=65,
        lead_level=1,
        density=1.0,
        reverb=0.18,
        tone="warm",
        default_bpm=108.0,
    ),
    "middle_hiphop": Style(
        drums="boom_bap",
        perc="shaker",
        kit=8,
        swing=0.6,
        swing_unit=0.5,
        tonics=(9, 2, 5, 0),
        mode="aeolian",
        progressions=("soul", "turn", "epic"),
        chord_bars=1.0,
        chord_size=4,
        bass="follow",
        comp="rhodes",
        lead="hook",
        bass_program=33,
        keys_program=4,
        lead_program=11,
        pad_program=49,
        accent_program=61,
        double_program=73,
        lead_level=1,
        density=0.8,
        reverb=0.22,
        tone="lofi",
        default_bpm=92.0,
    ),
    "la_hiphop": Style(
        drums="west_coast",
        perc="shaker",
        kit=25,
        swing=0.55,
        swing_unit=0.5,
        tonics=(1, 6, 11, 4),
        mode="aeolian",
        progressions=("descend", "epic", "lift"),
        chord_bars=1.0,
        chord_size=4,
        bass="sub",
        comp="sustain",
        lead="hook",
        bass_program=38,
        keys_program=4,
        lead_program=80,
        pad_program=89,
        accent_program=62,
        double_program=81,
        lead_level=1,
        density=0.85,
        reverb=0.24,
        tone="bright",
        default_bpm=96.0,
    ),
    "house": Style(
        drums="four_floor",
        perc="congas",
        kit=24,
        swing=0.52,
        swing_unit=0.5,
        tonics=(9, 5, 0, 7),
        mode="dorian",
        progressions=("vamp", "descend", "soul"),
        chord_bars=1.0,
        chord_size=4,
        bass="house",
        comp="house_stab",
        lead="hook",
        bass_program=38,
        keys_program=0,
        lead_program=81,
        pad_program=89,
        accent_program=16,
        double_program=9,
        lead_level=2,
        density=0.8,
        reverb=0.25,
        tone="bright",
        default_bpm=124.0,
    ),
    "waack": Style(
        drums="disco",
        perc="tambourine",
        kit=0,
        swing=0.5,
        swing_unit=0.5,
        tonics=(9, 4, 2, 5),
        mode="aeolian",
        progressions=("circle", "epic", "vamp"),
        chord_bars=1.0,
        chord_size=4,
        bass="octave",
        comp="disco",
        lead="hook",
        bass_program=33,
        keys_program=27,
        lead_program=48,
        pad_program=48,
        accent_program=61,
        double_program=56,
        lead_level=1,
        density=0.9,
        reverb=0.24,
        tone="bright",
        default_bpm=118.0,
    ),
    "krump": Style(
        drums="heavy",
        perc="timbale",
        kit=16,
        swing=0.52,
        swing_unit=0.5,
        tonics=(2, 4, 1, 6),
        mode="aeolian",
        progressions=("dark", "descend"),
        chord_bars=2.0,
        chord_size=3,
        bass="sub",
        comp="sustain",
        lead="sparse",
        bass_program=38,
        keys_program=62,
        lead_program=81,
        pad_program=52,
        accent_program=55,
        double_program=30,
        lead_level=2,
        density=0.7,
        reverb=0.2,
        tone="warm",
        default_bpm=100.0,
    ),
    "street_jazz": Style(
        drums="jazz",
        perc="none",
        kit=32,
        swing=0.64,
        swing_unit=1.0,
        tonics=(5, 10, 3, 0),
        mode="ionian",
        progressions=("jazz", "rise", "gentle"),
        chord_bars=1.0,
        chord_size=4,
        bass="walking",
        comp="charleston",
        lead="swing",
        bass_program=32,
        keys_program=0,
        lead_program=65,
        pad_program=None,
        accent_program=61,
        double_program=56,
        lead_level=1,
        density=0.9,
        reverb=0.26,
        tone="warm",
        default_bpm=112.0,
    ),
    "ballet_jazz": Style(
        drums="brush",
        perc="none",
        kit=40,
        swing=0.6,
        swing_unit=1.0,
        tonics=(7, 2, 0, 5),
        mode="ionian",
        progressions=("gentle", "fifties", "rise"),
        chord_bars=1.0,
        chord_size=4,
        bass="roots",
        comp="arp",
        lead="legato",
        bass_program=32,
        keys_program=0,
        lead_program=40,
        pad_program=48,
        accent_program=None,
        double_program=73,
        lead_level=1,
        density=0.8,
        velocity=0.9,
        reverb=0.38,
        tone="warm",
        default_bpm=100.0,
    ),
}


def style_for(genre: str) -> Style:
    """The style of a dance genre id.

    Raises
    ------
    ValueError
        If ``genre`` is not one of :data:`GENRES`.
    """
    try:
        return STYLES[genre]
    except KeyError:
        raise ValueError(f"unknown genre {genre!r}; valid genres: {', '.join(GENRES)}") from None
