"""Seeded melody writing: a one-bar motif, repeated and varied over an 8-bar phrase.

The phrase follows a sentence shape: motif, motif moved onto the next chord, a contrasting
bar, a half cadence, then the first three bars again with small changes and a final bar that
lands on the tonic. Strong-beat notes are chord tones; the rest walk the scale.
"""

from __future__ import annotations

import numpy as np

from d2m_core.groove.theory import Chord, Scale

# One melody note: (start in beats from the phrase start, length in beats, MIDI pitch, velocity).
MelNote = tuple[float, float, int, int]

_STEP_WEIGHT = np.array([1.0, 0.25, 0.6, 0.25] * 4)
_STEP_WEIGHT[0] = 1.4
_STEP_WEIGHT[8] = 1.1


def _rhythm(rng: np.random.Generator, *, grid: int, notes: float) -> list[int]:
    """Onset steps (0..15) of one bar, about ``notes`` of them, on multiples of ``grid``."""
    w = _STEP_WEIGHT.copy()
    if grid > 1:
        w[np.arange(16) % grid != 0] = 0.0
    p = np.minimum(0.95, w * notes / w.sum())
    onsets = [s for s in range(16) if rng.random() < p[s]]
    if len(onsets) < 2:
        onsets = sorted(set(onsets) | {0, 8 if grid > 1 else 6})
    return onsets


def _nearest_chord_pitch(pitch: int, chord: Chord) -> int:
    best, dist = pitch, 99
    for d in range(-6, 7):
        if (pitch + d) % 12 in chord.pcs and abs(d) < dist:
            best, dist = pitch + d, abs(d)
    return best


class _Walker:
    """Scale-degree random walk bounded to a span, with leaps that then step back."""

    def __init__(self, rng: np.random.Generator, scale: Scale, octave: int, span: int, leap: float):
        self.rng, self.scale, self.octave = rng, scale, octave
        self.lo, self.hi = -2, span - 2
        self.leap = leap
        self.deg = 2
        self.last_step = 0

    def step(self) -> int:
        r = self.rng
        if abs(self.last_step) >= 3:  # after a leap, step back the other way
            s = -int(np.sign(self.last_step)) * int(r.integers(1, 3))
        elif r.random() < self.leap:
            s = int(r.choice([-4, -3, 3, 4]))
        else:
            s = int(r.choice([-2, -1, -1, 1, 1, 2]))
        d = self.deg + s
        if d > self.hi or d < self.lo:
            d = self.deg - s
        self.last_step = d - self.deg
        self.deg = d
        return d

    def pitch(self, deg: int) -> int:
        return self.scale.pitch(deg, self.octave)

    def snap(self, chord: Chord) -> int:
        """Move the current note to the nearest chord tone and return its pitch."""
        p = _nearest_chord_pitch(self.pitch(self.deg), chord)
        self.deg = min(max(self.scale.degree_of(p, self.octave), self.lo), self.hi)
        return p


def _bar_notes(
    onsets: list[int],
    pitches: list[int],
    *,
    artic: float,
    base_vel: int,
    rng: np.random.Generator,
    bar: int,
    end_step: int = 16,
) -> list[MelNote]:
    out: list[MelNote] = []
    for i, (s, p) in enumerate(zip(onsets, pitches, strict=True)):
        nxt = onsets[i + 1] if i + 1 < len(onsets) else end_step
        length = max(1.0, (nxt - s) * artic) / 4.0
        accent = 10 if s % 8 == 0 else (0 if s % 4 == 0 else -8)
        vel = int(np.clip(base_vel + accent + rng.integers(-4, 5), 30, 127))
        out.append((bar * 4 + s / 4.0, length, p, vel))
    return out


def write_phrase(
    *,
    motif_rng: np.random.Generator,
    var_rng: np.random.Generator,
    chords: list[tuple[Chord, Chord]],
    scale: Scale,
    octave: int,
    params: dict[str, float],
    density: float,
    base_vel: int,
) -> list[MelNote]:
    """Write one 8-bar melodic phrase.

    Parameters
    ----------
    motif_rng : np.random.Generator
        Draws the motif; the same state for phrases of the same section gives the same tune.
    var_rng : np.random.Generator
        Draws the per-phrase variations.
    chords : list of (Chord, Chord), length 8
        Chord of the first and second half of each bar.
    scale : Scale
    octave : int
        Octave of the tonic the melody centres on.
    params : dict
        A :data:`patterns.LEAD_STYLES` entry.
    density : float
        Multiplies the notes per bar.
    base_vel : int
        Typical MIDI velocity.

    Returns
    -------
    list of MelNote
        Notes with start times in beats from the phrase start (0..32).
    """
    grid = int(params["grid"])
    n_notes = float(params["notes"]) * density
    artic = float(params["artic"])
    walker = _Walker(motif_rng, scale, octave, int(params["span"]), float(params["leap"]))

    def chord_at(bar: int, step: int) -> Chord:
        return chords[bar][0 if step < 8 else 1]

    def realise(bar: int, onsets: list[int], degs: list[int] | None) -> tuple[list[int], list[int]]:
        """Pitches for ``onsets``: fresh walk, or ``degs`` shifted onto this bar's chord."""
        pitches, out_degs = [], []
        if degs is not None:
            first = _nearest_chord_pitch(walker.pitch(degs[0]), chord_at(bar, onsets[0]))
            shift = scale.degree_of(first, octave) - degs[0]
            # Keep the sequence in range by shifting it an octave when it drifts away.
            if degs[0] + shift > walker.hi:
                shift -= 7
            elif degs[0] + shift < walker.lo:
                shift += 7
        for i, s in enumerate(onsets):
            if degs is not None and i < len(degs):
                walker.deg = degs[i] + shift
            elif i > 0 or degs is None:
                walker.step()
            strong = s % 8 == 0 or i == 0
            p = walker.snap(chord_at(bar, s)) if strong else walker.pitch(walker.deg)
            pitches.append(p)
            out_degs.append(scale.degree_of(p, octave))
        return pitches, out_degs

    motif = _rhythm(motif_rng, grid=grid, notes=n_notes)
    contrast = _rhythm(motif_rng, grid=grid, notes=n_notes * 1.15)
    # Cadence bars: the motif's opening, then a long note.
    cad_on = [s for s in motif if s < 8][:2] or [0]
    cad_on = cad_on + [8] if cad_on[-1] < 8 else cad_on

    notes: list[MelNote] = []
    p0, d0 = realise(0, motif, None)
    p1, _ = realise(1, motif, d0)
    p2, d2 = realise(2, contrast, None)
    p3, _ = realise(3, cad_on, d0[: len(cad_on) - 1])
    plan = [(motif, p0), (motif, p1), (contrast, p2), (cad_on, p3)]
    for bar, (on, ps) in enumerate(plan):
        notes += _bar_notes(
            on, ps, artic=artic if bar != 3 else 1.0, base_vel=base_vel, rng=var_rng, bar=bar
        )
    # Second half: repeat with a variation drawn per phrase.
    for bar in range(4, 7):
        on, _ = plan[bar - 4]
        src_d = d0 if bar != 6 else d2
        if var_rng.random() < 0.35:  # vary the rhythm's tail
            keep = [s for s in on if s < 8]
            tail = [s for s in _rhythm(var_rng, grid=grid, notes=n_notes) if s >= 8]
            on = keep + tail or [0]
        ps, _ = realise(bar, on, src_d)
        notes += _bar_notes(on, ps, artic=artic, base_vel=base_vel, rng=var_rng, bar=bar)
    # Final bar: approach the tonic and hold it.
    fin_on = [0, 4, 8] if grid > 1 or var_rng.random() < 0.5 else [0, 2, 4, 8]
    fin_ps = []
    for s in fin_on[:-1]:
        walker.step()
        fin_ps.append(walker.snap(chord_at(7, s)) if s == 0 else walker.pitch(walker.deg))
    last = chord_at(7, 8)
    tonic_pc = scale.tonic if scale.tonic in last.pcs else last.root_pc
    ref = fin_ps[-1] if fin_ps else walker.pitch(0)
    cands = [ref + d for d in range(-7, 8) if (ref + d) % 12 == tonic_pc]
    fin_ps.append(min(cands, key=lambda q: abs(q - ref)))
    notes += _bar_notes(
        fin_on, fin_ps, artic=1.0, base_vel=base_vel, rng=var_rng, bar=7, end_step=15
    )
    return notes
