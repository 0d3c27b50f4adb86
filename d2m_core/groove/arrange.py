"""From a style, a beat grid and motion energy to note lists per part.

Form: 8-bar phrases labelled by a seeded form string (e.g. ``AABA``); A and B use different
chord progressions and melodies. Each bar gets an arrangement level 0..3 from the motion
energy: quiet bars keep kick, snare, bass and harmony; fuller bars add hats, percussion, the
melody, busier bass and comping, and an octave doubling of the melody. Strong motion peaks
get accents (crash and a chord stab).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from d2m_core.groove import drums as dr
from d2m_core.groove.melody import write_phrase
from d2m_core.groove.patterns import BASS, COMP, LEAD_STYLES
from d2m_core.groove.styles import MAJOR_PROGRESSIONS, MINOR_PROGRESSIONS, ChordSlot, Style
from d2m_core.groove.theory import (
    MAJOR_MODES,
    Chord,
    Scale,
    bass_pitch,
    diatonic_chord,
    is_diminished,
    voice_chord,
)
from d2m_core.groove.timeline import Timeline

# A note: (beat position on the grid, length in beats, MIDI key, velocity 1..127).
Note = tuple[float, float, int, int]

PHRASE_BARS = 8
_SLOW_BPM = 92.0
# Mix levels (dBFS RMS where the part plays) of the three drum groups.
_KICK_DB, _SNARE_DB, _CYMBAL_DB = -18.0, -22.0, -25.0
_BASS_LOW = 28  # E1, the open low string of a bass guitar
_FORMS = ("AABA", "AABB", "ABAB", "AAAB", "ABAC")
_QUALITIES = {
    "dom": (0, 4, 7, 10),
    "maj": (0, 4, 7, 11),
    "min": (0, 3, 7, 10),
    "sus": (0, 5, 7, 10),
}


@dataclass(frozen=True)
class PartSpec:
    """How a part is played and mixed.

    Attributes
    ----------
    program : int
        GM program (or kit preset for drum parts).
    drum : bool
        Whether the part uses the percussion bank.
    level_db : float
        Target loudness of the part where it plays, dBFS RMS, before the master bus.
    pan : float
        Stereo position, 0 left .. 1 right.
    reverb : float
        Reverb send, 0..1.
    """

    program: int
    drum: bool
    level_db: float
    pan: float
    reverb: float


@dataclass(frozen=True)
class Arrangement:
    """Notes and mix settings of every part of a piece."""

    notes: dict[str, list[Note]]
    specs: dict[str, PartSpec]
    levels: np.ndarray
    scale: Scale
    chords: list[tuple[Chord, Chord]]


def swing_offset(beats: float, *, swing: float, unit: float) -> float:
    """Delay off-beat subdivisions: the middle of each ``unit``-beat pair moves to ``swing``."""
    if swing == 0.5:
        return beats
    q, r = divmod(beats, unit)
    p = r / unit
    p = p / 0.5 * swing if p < 0.5 else swing + (p - 0.5) / 0.5 * (1.0 - swing)
    return q * unit + p * unit


def _build_chord(scale: Scale, slot: ChordSlot, size: int) -> Chord:
    if isinstance(slot, tuple):
        degree, quality = slot
        root = (scale.tonic + scale.steps[degree % 7]) % 12
        ivs = _QUALITIES[quality][: max(3, size)]
        return Chord(degree=degree % 7, root_pc=root, pcs=tuple((root + i) % 12 for i in ivs))
    chord = diatonic_chord(scale, slot, size)
    if is_diminished(chord):
        # Progressions are written for the common modes; where a mode turns a chord
        # diminished (vi in dorian, vii in major), the chord a third below replaces it.
        chord = diatonic_chord(scale, slot - 2, size)
    return chord


def _levels(tl: Timeline, shift: int) -> np.ndarray:
    """Arrangement level (0..3) of each bar from its mean motion energy."""
    e = tl.bar_energy()
    if e.size >= 3:  # smooth so the arrangement does not flicker bar to bar
        e = np.convolve(np.pad(e, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
    lv = np.digitize(e, [0.2, 0.42, 0.68])
    return np.clip(lv + shift, 0, 3).astype(int)


def _accents(tl: Timeline) -> list[float]:
    """Beat positions (on the 8th-note grid) of the strongest motion peaks: at most one per
    bar, at least a bar apart, and clearly above the motion around them."""
    u = tl.bar0 + np.arange(tl.n_bars * 8) / 2.0
    t = tl.time_of(u)
    ok = (t >= 0) & (t < tl.duration_s - 0.3)
    e = tl.energy_at(t)
    if e.size < 3 or np.ptp(e) < 1e-6:
        return []
    thr = max(0.8, float(np.quantile(e[ok], 0.92))) if ok.any() else np.inf
    # Prominence: the peak must stand out from the surrounding two bars.
    local = np.convolve(np.pad(e, 8, mode="edge"), np.ones(17) / 17, mode="valid")
    peak = np.zeros(e.size, dtype=bool)
    peak[1:-1] = (e[1:-1] >= e[:-2]) & (e[1:-1] > e[2:])
    peak &= ok & (e >= thr) & (e >= 1.25 * local)
    chosen: list[int] = []
    for i in np.argsort(-e * peak):
        if not peak[i] or len(chosen) >= max(1, tl.n_bars // 2):
            break
        if all(abs(i - j) >= 8 for j in chosen):
            chosen.append(int(i))
    return sorted(float(u[i]) for i in chosen)


class _Composer:
    def __init__(self, style: Style, tl: Timeline, seed_seq: np.random.SeedSequence):
        self.style, self.tl = style, tl
        kids = seed_seq.spawn(6)
        self.rng_plan = np.random.default_rng(kids[0])
        self.rng_human = np.random.default_rng(kids[1])
        self.rng_var = np.random.default_rng(kids[2])
        self.motif_seeds = kids[3]
        self.rng_bass = np.random.default_rng(kids[4])
        self.rng_comp = np.random.default_rng(kids[5])
        s = style
        self.scale = Scale(tonic=int(self.rng_plan.choice(s.tonics)), mode=s.mode)
        table = MAJOR_PROGRESSIONS if s.mode in MAJOR_MODES else MINOR_PROGRESSIONS
        names = [n for n in s.progressions if n in table] or list(table)[:3]
        a = names[int(self.rng_plan.integers(len(names)))]
        rest = [n for n in names if n != a] or [n for n in table if n != a]
        b = rest[int(self.rng_plan.integers(len(rest)))]
        self.progs = {"A": table[a], "B": table[b], "C": table[rest[-1]]}
        self.form = _FORMS[int(self.rng_plan.integers(len(_FORMS)))]
        self.levels = _levels(tl, s.level_shift)
        self.notes: dict[str, list[Note]] = {
            k: []
            for k in (
                "kick",
                "drums",
                "cymbals",
                "perc",
                "bass",
                "keys",
                "pad",
                "lead",
                "double",
                "accent",
            )
        }
        self.chords = [self._bar_chords(b) for b in range(tl.n_bars)]
        starts = tl.grid[tl.bar0 + 4 * np.arange(tl.n_bars)]
        ends = tl.grid[tl.bar0 + 4 * np.arange(1, tl.n_bars + 1)]
        # Below ~92 BPM the off-beat 8ths sit near 180 BPM, a tempo onset-based listeners
        # (and librosa) readily prefer; such bars thin their off-beats.
        self.slow = 240.0 / np.maximum(ends - starts, 1e-3) < _SLOW_BPM

    # -- helpers -------------------------------------------------------------------------
    def section(self, bar: int) -> str:
        return self.form[(bar // PHRASE_BARS) % len(self.form)]

    def _bar_chords(self, bar: int) -> tuple[Chord, Chord]:
        prog = self.progs[self.section(bar)]
        pb = bar % PHRASE_BARS
        out = []
        for half in (0.0, 0.5):
            slot = int((pb + half) // self.style.chord_bars) % len(prog)
            out.append(_build_chord(self.scale, prog[slot], self.style.chord_size))
        return out[0], out[1]

    def u(self, bar: int, step: float) -> float:
        """Grid position of 16th ``step`` of ``bar``, with swing."""
        st = self.style
        return self.tl.bar_start(bar) + swing_offset(step / 4.0, swing=st.swing, unit=st.swing_unit)

    def vel(self, v: int, bar: int, spread: int = 5) -> int:
        scale = (0.8 + 0.07 * self.levels[bar]) * self.style.velocity
        jitter = int(self.rng_human.integers(-spread, spread + 1)) if spread else 0
        return int(np.clip(round(v * scale) + jitter, 1, 127))

    def offbeat(self, bar: int, step: int, v: int) -> int | None:
        """Velocity for a hit on ``step``; off-beat 8ths in slow bars are softened or dropped."""
        if step % 4 != 2 or not self.slow[bar]:
            return v
        return None if v <= dr.VELOCITY["g"] else dr.VELOCITY["g"]

    def add(self, part: str, bar: int, step: float, dur_steps: float, key: int, v: int) -> None:
        if part == "drums":
            # Kick, cymbals and the rest of the kit are mixed apart: GM kits' snares are loud
            # and bright beside kick and hats, which would make beats 2 and 4 (snare) so much
            # stronger than 1 and 3 (kick) that the pulse reads at half tempo.
            part = "kick" if key in dr.KICKS else "cymbals" if key in dr.CYMBALS else "drums"
        start = self.u(bar, step)
        end = self.u(bar, step + dur_steps) if dur_steps > 0 else start + 0.05
        self.notes[part].append((start, max(end - start, 0.05), int(key), int(v)))

    # -- parts ---------------------------------------------------------------------------
    def drums(self) -> None:
        st = self.style
        pattern = dr.PATTERNS[st.drums]
        perc = dr.PERCUSSION[st.perc]
        for bar in range(self.tl.n_bars):
            lv = self.levels[bar]
            fill = bar % PHRASE_BARS == PHRASE_BARS - 1 and lv >= 1
            alt = bar % 4 == 3
            for line in pattern.lines:
                if line.level > lv:
                    continue
                pat = line.alt if (alt and line.alt) else line.main
                for s, v in dr.steps_of(pat):
                    if fill and s >= 12:
                        continue
                    if v <= dr.VELOCITY["g"] and self.rng_human.random() > st.density:
                        continue  # sparser styles drop some ghost notes
                    v = self.offbeat(bar, s, v)
                    if v is not None:
                        self.add("drums", bar, s, 1, line.key, self.vel(v, bar))
            if fill:
                for line in pattern.fill:
                    for s, v in dr.steps_of(line.main):
                        self.add("drums", bar, s, 1, line.key, self.vel(v, bar))
            if bar % PHRASE_BARS == 0 and lv >= 1 and bar > 0:
                self.add("drums", bar, 0, 8, dr.CRASH, self.vel(100, bar))
            for line in perc:
                if line.level <= lv:
                    for s, v in dr.steps_of(line.main):
                        v = self.offbeat(bar, s, v)
                        if v is not None:
                            self.add("perc", bar, s, 1, line.key, self.vel(v, bar))

    def bass(self) -> None:
        st = self.style
        sparse, busy = BASS[st.bass]
        prev_root = None
        for bar in range(self.tl.n_bars):
            lv = self.levels[bar]
            variants = busy if lv >= 2 else sparse
            pick = int(self.rng_bass.integers(len(variants)))
            pat = variants[pick] if bar % 4 == 3 else variants[0]
            nxt = self.chords[bar + 1][0] if bar + 1 < len(self.chords) else self.chords[bar][0]
            i = 0
            while i < 16:
                c = pat[i]
                if c in "-.":
                    i += 1
                    continue
                j = i + 1
                while j < 16 and pat[j] == "-":
                    j += 1
                chord = self.chords[bar][0 if i < 8 else 1]
                root = bass_pitch(chord.root_pc)
                if prev_root is not None and abs(root - prev_root) > 7:
                    root += -12 if root > prev_root else 12
                    if root < 28:
                        root += 12
                key = self._bass_tone(c.upper(), root, chord, nxt)
                accent = self.offbeat(bar, i, (104 if i % 4 == 0 else 90) if c.isupper() else 54)
                dur = (j - i) * (0.92 if st.bass != "walking" else 0.98)
                while key < _BASS_LOW:  # keep lines playable on a real bass
                    key += 12
                if accent is not None:
                    self.add("bass", bar, i, dur, key, self.vel(accent, bar))
                prev_root = root if c == "R" else prev_root
                i = j

    def _bass_tone(self, c: str, root: int, chord: Chord, nxt: Chord) -> int:
        pcs = chord.pcs
        if c == "R":
            return root
        if c == "O":
            return root + 12
        if c == "F":
            return root + ((pcs[2] - pcs[0]) % 12 if len(pcs) > 2 else 7)
        if c == "T":
            return root + (pcs[1] - pcs[0]) % 12
        if c == "S":
            return root + ((pcs[3] - pcs[0]) % 12 if len(pcs) > 3 else 12)
        # "A": a neighbour of the next root, nearest this root: chromatic in walking lines,
        # the scale step below or above elsewhere.
        target = root + ((nxt.root_pc - chord.root_pc + 6) % 12) - 6
        up = self.rng_bass.random() < 0.5
        if self.style.bass == "walking":
            return target + (1 if up else -1)
        pcs = self.scale.pitch_classes()
        for d in (1, 2) if up else (-1, -2):
            if (target + d) % 12 in pcs:
                return target + d
        return target

    def keys_and_pad(self) -> None:
        st = self.style
        sparse, busy = COMP[st.comp]
        voicing: tuple[int, ...] | None = None
        pad_voicing: tuple[int, ...] | None = None
        arp_idx = 0
        for bar in range(self.tl.n_bars):
            lv = self.levels[bar]
            variants = busy if lv >= 2 else sparse
            pat = variants[int(self.rng_comp.integers(len(variants)))] if bar % 2 else variants[0]
            low, high = (55, 79) if st.comp in ("chank", "disco", "skank") else (50, 74)
            i = 0
            while i < 16:
                c = pat[i]
                if c in "=.":
                    i += 1
                    continue
                j = i + 1
                while j < 16 and pat[j] == "=":
                    j += 1
                chord = self.chords[bar][0 if i < 8 else 1]
                voicing = voice_chord(chord, voicing, low=low, high=high)
                dur = (j - i) * 0.9 if j - i > 1 else 0.6
                v0 = self.offbeat(bar, i, dr.VELOCITY[c])
                if v0 is None:
                    i = j
                    continue
                v = self.vel(v0, bar)
                if st.comp == "arp":
                    order = list(voicing) + [voicing[0] + 12]
                    key = order[arp_idx % len(order)]
                    arp_idx += 1
                    self.add("keys", bar, i, max(dur, 2.0), key, v)
                else:
                    for k in voicing:
                        self.add("keys", bar, i, dur, k, v)
                i = j
            if st.pad_program is None:
                continue
            for half in (0, 1):
                chord = self.chords[bar][half]
                prev = self.chords[bar][0] if half else (self.chords[bar - 1][1] if bar else None)
                if half and chord == prev:
                    continue
                span = 8 if (half or self.chords[bar][1] != chord) else 16
                pad_voicing = voice_chord(chord, pad_voicing, low=52, high=76)
                for k in pad_voicing:
                    self.add("pad", bar, 8 * half, span, k, self.vel(78, bar, 3))

    def lead(self) -> None:
        st = self.style
        params = LEAD_STYLES[st.lead]
        n = self.tl.n_bars
        # One seed per section label: repeated sections replay their tune.
        motif_rngs = dict(zip("ABC", self.motif_seeds.spawn(3), strict=True))
        for p0 in range(0, n, PHRASE_BARS):
            sec = self.section(p0)
            chords = [self.chords[min(p0 + k, n - 1)] for k in range(PHRASE_BARS)]
            mel = write_phrase(
                motif_rng=np.random.default_rng(motif_rngs[sec]),
                var_rng=self.rng_var,
                chords=chords,
                scale=self.scale,
                octave=st.lead_octave,
                params=params,
                density=st.density,
                base_vel=96,
            )
            for b4 in range(p0, min(p0 + PHRASE_BARS, n), 4):
                lv = self.levels[b4 : b4 + 4]
                intro = b4 < 4 and n >= 12
                play = not intro and lv.mean() >= st.lead_level - 0.25
                if not play:
                    continue
                double = st.double_program is not None and lv.mean() >= 2.75
                for off, dur, key, v in mel:
                    bar = p0 + int(off // 4)
                    if not b4 <= bar < b4 + 4 or bar >= n:
                        continue
                    step = (off - 4 * (bar - p0)) * 4
                    vv = self.vel(v, bar, 0)
                    self.add("lead", bar, step, dur * 4, key, vv)
                    if double:
                        self.add("double", bar, step, dur * 4, key + 12, int(vv * 0.85))

    def accents(self) -> None:
        st = self.style
        for u in _accents(self.tl):
            bar = int((u - self.tl.bar0) // 4)
            if bar >= self.tl.n_bars or self.levels[bar] < 1:
                continue
            step = (u - self.tl.bar_start(bar)) * 4
            if step % 4 == 0:
                self.add("drums", bar, step, 8, dr.CRASH2, self.vel(104, bar))
            if st.accent_program is not None:
                chord = self.chords[bar][0 if step < 8 else 1]
                for k in voice_chord(chord, None, low=58, high=80):
                    self.add("accent", bar, step, 1.5, k, self.vel(108, bar))

    def specs(self) -> dict[str, PartSpec]:
        st = self.style
        rv = st.reverb
        out = {
            "kick": PartSpec(st.kit, True, _KICK_DB, 0.5, 0.0),
            "drums": PartSpec(st.kit, True, _SNARE_DB, 0.5, 0.06),
            "cymbals": PartSpec(st.kit, True, _CYMBAL_DB, 0.58, 0.1),
            "perc": PartSpec(st.kit, True, -27.0, 0.22, 0.12),
            "bass": PartSpec(st.bass_program, False, -20.0, 0.5, 0.02),
            "keys": PartSpec(st.keys_program, False, -25.0, 0.3, rv),
            "pad": PartSpec(st.pad_program or 0, False, -29.0, 0.62, rv * 1.4),
            "lead": PartSpec(st.lead_program, False, -22.5, 0.56, rv),
            "double": PartSpec(st.double_program or 0, False, -30.0, 0.8, rv * 1.2),
            "accent": PartSpec(st.accent_program or 0, False, -24.0, 0.72, rv),
        }
        return out


def arrange(*, style: Style, timeline: Timeline, seed_seq: np.random.SeedSequence) -> Arrangement:
    """Compose all parts.

    Parameters
    ----------
    style : Style
    timeline : Timeline
    seed_seq : np.random.SeedSequence
        Root of every random choice (key, form, melody, variations, humanisation).

    Returns
    -------
    Arrangement
    """
    comp = _Composer(style, timeline, seed_seq)
    comp.drums()
    comp.bass()
    comp.keys_and_pad()
    comp.lead()
    comp.accents()
    notes = {k: sorted(v) for k, v in comp.notes.items() if v}
    specs = comp.specs()
    return Arrangement(
        notes=notes,
        specs={k: specs[k] for k in notes},
        levels=comp.levels,
        scale=comp.scale,
        chords=comp.chords,
    )
