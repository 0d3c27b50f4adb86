"""Prompt words that reshape a style: instruments, moods, energy and music genres.

Every word in :data:`WORD_BANK` maps to an effect on :class:`styles.Style`; words apply in
the order given, so a later word wins where two words set the same thing. Unknown words are
ignored (the caller warns about them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from d2m_core.groove.styles import Style

Effect = Callable[[Style], Style]


def _set(**kw: object) -> Effect:
    return lambda s: replace(s, **kw)


def _chain(*effects: Effect) -> Effect:
    def run(s: Style) -> Style:
        for e in effects:
            s = e(s)
        return s

    return run


def _scale(
    *,
    velocity: float = 1.0,
    density: float = 1.0,
    reverb: float = 0.0,
    shift: int = 0,
    pulse: float = 0.0,
) -> Effect:
    def run(s: Style) -> Style:
        return replace(
            s,
            velocity=min(1.25, max(0.5, s.velocity * velocity)),
            density=min(1.6, max(0.35, s.density * density)),
            reverb=min(0.7, max(0.0, s.reverb + reverb)),
            level_shift=max(-2, min(2, s.level_shift + shift)),
            pulse=min(0.3, max(0.1, s.pulse + pulse)),
        )

    return run


_MAJOR = ("axis", "fifties", "plagal")
_MINOR = ("epic", "turn", "lift")

_INSTRUMENTS: dict[str, Effect] = {
    "piano": _set(keys_program=0, lead_program=0),
    "rhodes": _set(keys_program=4, lead_program=4),
    "keys": _set(keys_program=5),
    "guitar": _set(keys_program=27, comp="chank", lead_program=26),
    "acoustic": _set(keys_program=25, bass_program=32, kit=8),
    "strings": _set(pad_program=48, double_program=49),
    "violin": _set(lead_program=40),
    "cello": _set(lead_program=42, lead_octave=3),
    "synth": _set(lead_program=81, pad_program=90, bass_program=38),
    "brass": _set(lead_program=61, accent_program=61),
    "trumpet": _set(lead_program=56),
    "sax": _set(lead_program=65),
    "saxophone": _set(lead_program=66),
    "organ": _set(keys_program=16, comp="sustain"),
    "bells": _set(lead_program=9, lead_octave=5),
    "flute": _set(lead_program=73, lead_octave=5),
    "choir": _set(pad_program=52),
    "harp": _set(keys_program=46, comp="arp"),
    "marimba": _set(lead_program=12),
    "vibraphone": _set(lead_program=11),
    "vibes": _set(lead_program=11),
    "clarinet": _set(lead_program=71),
    "accordion": _set(keys_program=21),
    "harmonica": _set(lead_program=22),
    "kalimba": _set(lead_program=108, lead_octave=5),
    "whistle": _set(lead_program=78, lead_octave=5),
    "sitar": _set(lead_program=104),
    "pad": _set(pad_program=89),
    "808": _set(kit=25, bass_program=38, bass="sub"),
    "bass": lambda s: replace(
        s, bass_program=39 if s.bass_program in (38, 39) else 34, pulse=max(s.pulse, 0.25)
    ),
    "drums": _chain(_set(kit=16), _scale(shift=1)),
}

_MOODS: dict[str, Effect] = {
    "happy": _chain(_set(mode="ionian", progressions=_MAJOR), _scale(velocity=1.04)),
    "bright": _set(
        mode="ionian", progressions=("rise", "axis", "gentle"), tone="bright", lead_octave=5
    ),
    "joyful": _chain(_set(mode="ionian", progressions=("fifties", "plagal")), _scale(density=1.1)),
    "uplifting": _set(mode="ionian", progressions=("rise", "axis"), pad_program=48),
    "sad": _chain(_set(mode="aeolian", progressions=_MINOR), _scale(velocity=0.94)),
    "dark": _set(mode="phrygian", progressions=("dark", "descend"), tone="warm"),
    "melancholic": _set(mode="aeolian", progressions=("soul", "circle"), chord_size=4),
    "melancholy": _set(mode="aeolian", progressions=("soul", "circle"), chord_size=4),
    "moody": _set(mode="dorian", progressions=("vamp", "circle"), tone="warm"),
    "mysterious": _set(mode="harmonic_minor", progressions=("dark",), pad_program=95),
    "calm": _scale(velocity=0.85, density=0.7, shift=-1),
    "soft": _scale(velocity=0.8, density=0.8),
    "chill": _chain(_scale(velocity=0.88, density=0.75, reverb=0.08), _set(tone="warm")),
    "gentle": _scale(velocity=0.82, density=0.7, reverb=0.05),
    "relaxed": _scale(velocity=0.88, density=0.7, shift=-1),
    "peaceful": _chain(_scale(velocity=0.82, density=0.6, shift=-1), _set(pad_program=89)),
    "epic": _chain(_set(pad_program=48, accent_program=55, chord_size=3), _scale(shift=1)),
    "dramatic": _chain(_set(pad_program=49, accent_program=61), _scale(velocity=1.08)),
    "cinematic": _chain(_set(pad_program=48, double_program=60), _scale(reverb=0.12)),
    "dreamy": _chain(_set(pad_program=88, lead_program=11), _scale(reverb=0.2, density=0.8)),
    "ethereal": _chain(_set(pad_program=91), _scale(reverb=0.25, density=0.7)),
    "romantic": _set(pad_program=49, chord_size=4, lead_program=40),
    "aggressive": _chain(_set(kit=16, accent_program=55), _scale(velocity=1.12, shift=1)),
    "angry": _chain(_set(kit=16, lead_program=30), _scale(velocity=1.1)),
    "playful": _set(lead="riff", lead_program=12),
    "groovy": _scale(density=1.25, pulse=0.04),
    "smooth": _set(keys_program=4, chord_size=5, tone="warm"),
    "nostalgic": _set(keys_program=4, tone="lofi"),
}

_ENERGY: dict[str, Effect] = {
    "energetic": _scale(velocity=1.08, density=1.2, shift=1),
    "intense": _chain(_scale(velocity=1.1, shift=1), _set(accent_program=55)),
    "upbeat": _scale(velocity=1.05, density=1.25, shift=1),
    "driving": _chain(_scale(shift=1, pulse=0.1), _set(bass="octave")),
    "powerful": _chain(_scale(velocity=1.12, shift=1), _set(kit=16)),
    "hype": _scale(velocity=1.1, density=1.3, shift=2),
    "lively": _scale(density=1.2, shift=1),
    "bouncy": _chain(_scale(density=1.1), _set(bass="octave")),
    "fast": _chain(_scale(density=1.35), _set(lead="riff")),
    "minimal": _chain(_scale(density=0.55, shift=-1), _set(pad_program=None, accent_program=None)),
    "sparse": _scale(density=0.5, shift=-1),
    "laid-back": _chain(_scale(velocity=0.9, density=0.7), _set(swing=0.6)),
    "laidback": _chain(_scale(velocity=0.9, density=0.7), _set(swing=0.6)),
    "slow": _chain(_scale(density=0.6), _set(lead="legato")),
    "quiet": _scale(velocity=0.75, shift=-1),
    "subtle": _scale(velocity=0.85, density=0.6),
    "mellow": _chain(_scale(velocity=0.85, density=0.75), _set(tone="warm")),
}

_MUSIC_GENRES: dict[str, Effect] = {
    "jazz": _set(
        drums="jazz",
        kit=32,
        swing=0.64,
        swing_unit=1.0,
        chord_size=4,
        bass="walking",
        bass_program=32,
        comp="charleston",
        keys_program=0,
        lead="swing",
        lead_program=65,
        mode="ionian",
        progressions=("jazz", "rise"),
    ),
    "jazzy": _set(chord_size=5, keys_program=0, comp="charleston", swing=0.62, swing_unit=1.0),
    "swing": _set(drums="jazz", kit=32, swing=0.66, swing_unit=1.0, bass="walking"),
    "funk": _set(
        drums="funk",
        comp="chank",
        keys_program=28,
        bass="funk",
        bass_program=36,
        mode="dorian",
        progressions=("vamp", "soul"),
        accent_program=61,
        lead="riff",
    ),
    "funky": _set(comp="chank", bass="funk", bass_program=36, swing=0.54, swing_unit=0.5),
    "disco": _set(
        drums="disco",
        kit=0,
        bass="octave",
        comp="disco",
        pad_program=48,
        perc="tambourine",
        swing=0.5,
    ),
    "house": _set(drums="four_floor", kit=24, bass="house", comp="house_stab", pulse=0.26),
    "techno": _set(
        drums="four_floor",
        kit=24,
        bass="house",
        bass_program=39,
        comp="stab",
        keys_program=81,
        pad_program=None,
        chord_size=3,
        lead_program=80,
        pulse=0.28,
        swing=0.5,
    ),
    "edm": _set(
        drums="four_floor",
        kit=25,
        lead_program=81,
        pad_program=90,
        pulse=0.28,
        bass_program=38,
        swing=0.5,
    ),
    "electronic": _set(kit=24, lead_program=81, pad_program=90, bass_program=38, keys_program=90),
    "trance": _set(
        drums="four_floor",
        kit=24,
        comp="arp",
        keys_program=81,
        pad_program=91,
        swing=0.5,
        pulse=0.28,
    ),
    "rock": _set(
        drums="rock",
        kit=16,
        keys_program=29,
        comp="stab",
        bass_program=34,
        lead_program=30,
        swing=0.5,
        tone="bright",
    ),
    "metal": _set(
        drums="rock",
        kit=16,
        keys_program=30,
        comp="stab",
        bass_program=34,
        lead_program=30,
        mode="phrygian",
        progressions=("dark",),
        swing=0.5,
    ),
    "lofi": _set(
        drums="boom_bap",
        kit=8,
        keys_program=4,
        comp="rhodes",
        chord_size=5,
        swing=0.6,
        swing_unit=0.5,
        tone="lofi",
        velocity=0.9,
    ),
    "lo-fi": _set(
        drums="boom_bap",
        kit=8,
        keys_program=4,
        comp="rhodes",
        chord_size=5,
        swing=0.6,
        swing_unit=0.5,
        tone="lofi",
        velocity=0.9,
    ),
    "latin": _set(
        perc="latin", bass="octave", comp="stab", keys_program=0, lead_program=56, swing=0.5
    ),
    "salsa": _set(perc="latin", keys_program=0, comp="stab", lead_program=61, mode="aeolian"),
    "reggae": _set(comp="skank", keys_program=17, bass="roots", bass_program=33, swing=0.55),
    "hiphop": _set(drums="boom_bap", kit=8, bass="follow", comp="rhodes", swing=0.58),
    "hip-hop": _set(drums="boom_bap", kit=8, bass="follow", comp="rhodes", swing=0.58),
    "rap": _set(drums="boom_bap", kit=25, bass="sub", bass_program=38),
    "trap": _set(drums="trap", kit=25, bass="sub", bass_program=38, swing=0.5, comp="sustain"),
    "rnb": _set(keys_program=4, comp="rhodes", chord_size=5, bass_program=33, tone="warm"),
    "soul": _set(
        keys_program=4,
        comp="rhodes",
        chord_size=4,
        pad_program=61,
        mode="dorian",
        progressions=("soul", "vamp"),
    ),
    "gospel": _set(
        keys_program=16,
        pad_program=52,
        mode="ionian",
        chord_size=4,
        progressions=("plagal", "rise"),
    ),
    "blues": _set(
        mode="mixolydian",
        progressions=("blues",),
        swing=0.64,
        swing_unit=1.0,
        keys_program=0,
        lead_program=22,
    ),
    "classical": _set(
        keys_program=0,
        comp="arp",
        pad_program=48,
        lead_program=40,
        bass_program=42,
        kit=48,
        drums="brush",
        pulse=0.15,
    ),
    "orchestral": _set(
        keys_program=46,
        comp="arp",
        pad_program=48,
        lead_program=60,
        bass_program=42,
        kit=48,
        accent_program=55,
        pulse=0.15,
    ),
    "ambient": _chain(
        _set(pad_program=94, comp="sustain", keys_program=88),
        _scale(reverb=0.25, density=0.6, shift=-1),
    ),
    "afrobeat": _set(
        perc="congas", comp="chank", keys_program=27, bass="funk", mode="dorian", accent_program=61
    ),
    "country": _set(
        keys_program=25,
        comp="chank",
        lead_program=105,
        bass_program=32,
        bass="roots",
        drums="rock",
        kit=0,
        mode="ionian",
        progressions=_MAJOR,
    ),
    "pop": _set(
        mode="ionian", progressions=("axis", "fifties", "rise"), lead="hook", pad_program=90
    ),
    "kpop": _set(
        mode="aeolian",
        progressions=("epic", "lift"),
        lead="hook",
        lead_program=81,
        drums="electro",
        kit=25,
    ),
    "dubstep": _set(drums="heavy", kit=25, bass="sub", bass_program=39, lead_program=87),
}

_CATEGORIES: dict[str, dict[str, Effect]] = {
    "instruments": _INSTRUMENTS,
    "moods": _MOODS,
    "energy": _ENERGY,
    "genres": _MUSIC_GENRES,
}

WORD_BANK: dict[str, tuple[str, ...]] = {cat: tuple(eff) for cat, eff in _CATEGORIES.items()}
_EFFECTS: dict[str, Effect] = {w: e for eff in _CATEGORIES.values() for w, e in eff.items()}


def known_words(words: Sequence[str]) -> list[str]:
    """The words (lower-cased, stripped) that have an effect, in order."""
    out = []
    for w in words:
        k = str(w).strip().lower()
        if k in _EFFECTS:
            out.append(k)
    return out


def apply_words(style: Style, words: Sequence[str]) -> Style:
    """Reshape ``style`` by each known word in turn; unknown words are ignored."""
    for w in known_words(words):
        style = _EFFECTS[w](style)
    return style
