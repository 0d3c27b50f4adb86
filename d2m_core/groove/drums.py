"""Drum and percussion patterns: one bar of 16 steps per line, written as strings.

Step characters give the velocity: ``X`` accent, ``x`` normal, ``o`` medium, ``g`` ghost,
``-`` very soft, ``.`` rest. Beats sit on steps 0, 4, 8 and 12.

Every pattern keeps kick or snare and a hi-hat (or ride) on each quarter note even at the
quietest arrangement level, while off-beat cymbals are soft and come in with energy: onset
detectors work on log-spectral flux, where even soft hits in otherwise empty high bands count
nearly as much as loud ones, so the quarter-note pulse must dominate by construction for a
beat tracker to hear the dance's tempo rather than twice or half of it.
"""

from __future__ import annotations

from dataclasses import dataclass

VELOCITY = {"X": 118, "x": 100, "o": 80, "g": 50, "-": 28}

# General MIDI percussion keys (channel 10).
KICK, KICK2, RIM, SNARE, CLAP, ESNARE = 36, 35, 37, 38, 39, 40
CHH, PHH, OHH = 42, 44, 46
TOM_LF, TOM_HF, TOM_L, TOM_LM, TOM_HM, TOM_H = 41, 43, 45, 47, 48, 50
CRASH, RIDE, RIDE_BELL, TAMB, COWBELL, CRASH2 = 49, 51, 53, 54, 56, 57
KICKS = frozenset({KICK, KICK2})
CYMBALS = frozenset({CHH, PHH, OHH, CRASH, RIDE, RIDE_BELL, CRASH2, 52, 55, 59})
BONGO_H, BONGO_L, CONGA_MH, CONGA_OH, CONGA_L = 60, 61, 62, 63, 64
TIMBALE_H, AGOGO, CABASA, MARACAS, CLAVES, WOOD_H = 65, 67, 69, 70, 75, 76


@dataclass(frozen=True)
class Line:
    """One instrument's bar: ``main`` pattern, optional ``alt`` for variation bars, and the
    lowest arrangement level (0..3) at which it plays."""

    key: int
    main: str
    alt: str | None = None
    level: int = 0


@dataclass(frozen=True)
class DrumPattern:
    """A drum groove: its lines and the fill that replaces the last beat of a phrase."""

    lines: tuple[Line, ...]
    fill: tuple[Line, ...]


# A generic fill for the last beat (steps 12..15): snare or toms, kick kept on the beat.
_TOM_FILL = (
    Line(KICK, "............X..."),
    Line(SNARE, "............x.o."),
    Line(TOM_HM, ".............o.."),
    Line(TOM_LF, "...............x"),
)
_SNARE_FILL = (
    Line(KICK, "............X..."),
    Line(SNARE, "............xgox"),
)
_SOFT_FILL = (
    Line(KICK, "............o..."),
    Line(SNARE, "............o-g-"),
)

PATTERNS: dict[str, DrumPattern] = {
    # House / techno: four on the floor, clap on 2 and 4, off-beat open hats.
    "four_floor": DrumPattern(
        lines=(
            Line(KICK, "X...X...X...X..."),
            Line(CLAP, "....x.......x..."),
            Line(CHH, "x...o...x...o..."),
            Line(OHH, "..-...-...-...-.", level=2),
            Line(CHH, ".-.-.-.-.-.-.-.-", level=3),
        ),
        fill=_SNARE_FILL,
    ),
    # Disco / waacking: four on the floor, snare and clap backbeat, busy hats.
    "disco": DrumPattern(
        lines=(
            Line(KICK, "X...X...X...X..."),
            Line(SNARE, "....x.......x..."),
            Line(CLAP, "....o.......o...", level=2),
            Line(CHH, "x...o...x...o..."),
            Line(PHH, "..-...-...-...-.", "..-...-...-...g.", level=1),
            Line(CHH, ".-.-.-.-.-.-.-.-", level=3),
        ),
        fill=_TOM_FILL,
    ),
    # Funk (locking): syncopated kick, backbeat with ghost notes, 8th hats.
    "funk": DrumPattern(
        lines=(
            Line(KICK, "X.....o.X.....o.", "X.....o.X.o....."),
            Line(SNARE, "....x..-.-..x..-", "....x..-.-..x.-."),
            Line(CHH, "x...o...x...o..."),
            Line(CHH, "..-...-...-...-.", level=1),
            Line(OHH, "..............g.", level=2),
        ),
        fill=_SNARE_FILL,
    ),
    # Electro-funk (popping): TR-808 feel, straight and punchy.
    "electro": DrumPattern(
        lines=(
            Line(KICK, "X.....o.X.......", "X.....o.X.o....."),
            Line(CLAP, "....X.......X..."),
            Line(SNARE, "....o.......o...", level=2),
            Line(CHH, "x...o...x...o..."),
            Line(CHH, "..-...-...-...-.", level=1),
            Line(CHH, ".-.-.-.-.-.-.-.-", level=3),
        ),
        fill=_SNARE_FILL,
    ),
    # Breakbeat (breaking): funky break with a kick on beat 3 kept for the pulse.
    "breakbeat": DrumPattern(
        lines=(
            Line(KICK, "X.......X.g.....", "X.....g.X......."),
            Line(SNARE, "....x..-.g..x..-", "....x..-.g..x..-"),
            Line(CHH, "x...o...x...o..."),
            Line(CHH, "..-...-...-...-.", level=1),
            Line(OHH, "......-.........", level=2),
        ),
        fill=_TOM_FILL,
    ),
    # Boom bap (middle-school hip-hop): kick on 1 and 3 with pushes, hard snare, swung hats.
    "boom_bap": DrumPattern(
        lines=(
            Line(KICK, "X......-X.o.....", "X.....o.X.o....."),
            Line(SNARE, "....X.......X...", "....X.......X..-"),
            Line(CHH, "x...o...x...o..."),
            Line(CHH, "..-...-...-...-.", level=1),
            Line(OHH, "..............g.", level=2),
        ),
        fill=_SNARE_FILL,
    ),
    # West-coast / LA hip-hop: 808 kick, clap backbeat, soft 16th hats.
    "west_coast": DrumPattern(
        lines=(
            Line(KICK, "X..-....X.o.....", "X..-....X.....o."),
            Line(CLAP, "....X.......X..."),
            Line(SNARE, "....o.......o...", level=2),
            Line(CHH, "x...o...x...o..."),
            Line(CHH, ".-.-.-.-.-.-.-.-", level=1),
        ),
        fill=_SNARE_FILL,
    ),
    # Krump: heavy kicks with a half-time lurch, snare and clap slam on 2 and 4.
    "heavy": DrumPattern(
        lines=(
            Line(KICK, "X..o..o.X.......", "X..o....X..o...."),
            Line(SNARE, "....X.......X..."),
            Line(CLAP, "....x.......x...", level=1),
            Line(CHH, "x...o...x...o..."),
            Line(TOM_LF, "..........g.....", level=3),
        ),
        fill=_TOM_FILL,
    ),
    # Jazz: ride with swung skip notes, feathered kick, backbeat snare, hi-hat foot on 2 & 4.
    "jazz": DrumPattern(
        lines=(
            Line(KICK, "x.......x......."),
            Line(SNARE, "....x.......x...", "....x.......x..-"),
            Line(RIDE, "x...o...x...o..."),
            Line(RIDE, "......g.......g.", level=1),
            Line(PHH, "....-.......-...", level=1),
        ),
        fill=_SOFT_FILL,
    ),
    # Soft brush kit for ballet jazz: light kick on 1 and 3, brushed backbeat.
    "brush": DrumPattern(
        lines=(
            Line(KICK, "x.......x......."),
            Line(SNARE, "....x.......x..."),
            Line(RIDE, "x...o...x...o..."),
            Line(PHH, "..-...-...-...-.", level=2),
        ),
        fill=_SOFT_FILL,
    ),
    # Rock: kick 1 and 3 with a push, snare 2 and 4, 8th hats.
    "rock": DrumPattern(
        lines=(
            Line(KICK, "X.......X.o.....", "X.....o.X.o....."),
            Line(SNARE, "....X.......X..."),
            Line(CHH, "x...o...x...o..."),
            Line(CHH, "..-...-...-...-.", level=1),
            Line(CRASH, "X...............", level=3),
        ),
        fill=_TOM_FILL,
    ),
    # Trap: 808 kick, clap on 2 and 4, rolling 16th hats (soft).
    "trap": DrumPattern(
        lines=(
            Line(KICK, "X.....o.X..g....", "X.......X.o...o."),
            Line(CLAP, "....X.......X..."),
            Line(CHH, "x...o...x...o..."),
            Line(CHH, ".-g-.-g-.-g-.-g-", ".-g-.-g-.-g-.---", level=1),
        ),
        fill=_SNARE_FILL,
    ),
}

# Auxiliary percussion played on a second kit channel when the arrangement is fuller.
PERCUSSION: dict[str, tuple[Line, ...]] = {
    # Hand percussion stays mostly on the beats: a steady stream of soft 16ths in otherwise
    # empty high bands reads to an onset detector as strongly as loud hits do.
    "shaker": (
        Line(MARACAS, "o...o...o...o...", level=2),
        Line(MARACAS, "..-...-...-...-.", level=3),
    ),
    "tambourine": (
        Line(TAMB, "....o.......o...", level=2),
        Line(TAMB, "..-...-...-...-.", level=3),
    ),
    "congas": (
        Line(CONGA_MH, "o...o...o...o...", level=2),
        Line(CONGA_OH, "......o.......o.", level=2),
        Line(CONGA_L, "..........-.....", level=3),
    ),
    "bongos": (
        Line(BONGO_H, "o...o...o...o...", level=2),
        Line(BONGO_L, "......o.......o.", level=3),
    ),
    "cowbell": (
        Line(COWBELL, "o.......o.......", level=2),
        Line(COWBELL, "......-.......-.", level=3),
    ),
    "latin": (
        Line(CLAVES, "o..o..o...o.o...", level=1),
        Line(CONGA_MH, "o...o...o...o...", level=2),
        Line(CONGA_OH, "......o.......o.", level=2),
        Line(COWBELL, "o...o...o...o...", level=3),
    ),
    "timbale": (
        Line(TIMBALE_H, "............o.o.", level=3),
        Line(CABASA, "o...o...o...o...", level=2),
    ),
    "none": (),
}


def steps_of(pattern: str) -> list[tuple[int, int]]:
    """(step, velocity) pairs of a 16-step pattern string."""
    if len(pattern) != 16:
        raise ValueError(f"drum pattern must have 16 steps: {pattern!r}")
    return [(i, VELOCITY[c]) for i, c in enumerate(pattern) if c != "."]
