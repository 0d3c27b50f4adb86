"""Scales, diatonic chords and voice leading (pitches are MIDI note numbers)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Semitone steps of each mode from its tonic.
MODES: dict[str, tuple[int, ...]] = {
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}
MAJOR_MODES = ("ionian", "lydian", "mixolydian")


@dataclass(frozen=True)
class Scale:
    """A key: tonic pitch class (0 = C) and mode name from :data:`MODES`."""

    tonic: int
    mode: str

    @property
    def steps(self) -> tuple[int, ...]:
        return MODES[self.mode]

    def pitch(self, degree: int, octave: int = 4) -> int:
        """MIDI pitch of scale ``degree`` (0-based, any integer) above C of ``octave``."""
        q, r = divmod(int(degree), 7)
        return 12 * (octave + 1 + q) + self.tonic + self.steps[r]

    def degree_of(self, pitch: int, octave: int = 4) -> int:
        """Nearest scale degree (relative to ``octave``'s tonic) at or below ``pitch``."""
        base = 12 * (octave + 1) + self.tonic
        q, r = divmod(int(pitch) - base, 12)
        idx = max(i for i, s in enumerate(self.steps) if s <= r)
        return 7 * q + idx

    def pitch_classes(self) -> set[int]:
        return {(self.tonic + s) % 12 for s in self.steps}


@dataclass(frozen=True)
class Chord:
    """A diatonic chord: scale degree of the root and its pitch classes (root first)."""

    degree: int
    root_pc: int
    pcs: tuple[int, ...]


def diatonic_chord(scale: Scale, degree: int, size: int) -> Chord:
    """Stack ``size`` thirds from ``degree`` within ``scale`` (3 = triad, 4 = 7th, 5 = 9th)."""
    d = degree % 7
    pcs = [(scale.tonic + scale.steps[(d + 2 * k) % 7]) % 12 for k in range(size)]
    return Chord(degree=d, root_pc=pcs[0], pcs=tuple(pcs))


def is_diminished(chord: Chord) -> bool:
    """Whether the chord's fifth is a tritone above its root."""
    return len(chord.pcs) >= 3 and (chord.pcs[2] - chord.pcs[0]) % 12 == 6


def voice_chord(
    chord: Chord, prev: tuple[int, ...] | None, *, low: int, high: int
) -> tuple[int, ...]:
    """Close voicing of ``chord`` within ``[low, high]`` nearest to ``prev`` (smooth leading).

    Returns
    -------
    tuple of int
        Sorted MIDI pitches, one per chord tone.
    """
    n = len(chord.pcs)
    best: tuple[int, ...] | None = None
    best_cost = np.inf
    target = np.mean(prev) if prev else (low + high) / 2
    for inv in range(n):
        order = chord.pcs[inv:] + chord.pcs[:inv]
        for base_oct in range(low // 12 - 1, high // 12 + 1):
            notes = []
            p = 12 * base_oct + order[0]
            for pc in order:
                while p % 12 != pc:
                    p += 1
                notes.append(p)
                p += 1
            if notes[0] < low or notes[-1] > high:
                continue
            if prev and len(prev) == n:
                cost = float(np.abs(np.array(notes) - np.array(prev)).sum())
            else:
                cost = abs(float(np.mean(notes)) - target) * n
            if cost < best_cost:
                best, best_cost = tuple(notes), cost
    if best is None:  # range too narrow for a close voicing: stack from the bottom
        p = low + (chord.pcs[0] - low) % 12
        best = tuple(p + (pc - chord.pcs[0]) % 12 for pc in chord.pcs)
    return best


def bass_pitch(pc: int, *, low: int = 31, high: int = 48) -> int:
    """Lowest MIDI pitch of pitch class ``pc`` at or above ``low`` (kept below ``high``)."""
    p = low + (pc - low) % 12
    return p if p <= high else p - 12
