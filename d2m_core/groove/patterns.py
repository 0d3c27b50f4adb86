"""Bass-line and chord-comping rhythms, one bar of 16 steps per string.

Bass strings name the chord tone to play: ``R`` root, ``O`` root an octave up, ``F`` fifth,
``T`` third, ``S`` seventh, ``A`` a neighbour of the next chord's root (lower case: the same,
played softly); ``-`` holds the previous note, ``.`` is a rest. Comping strings mark chord
hits with a velocity character (``X x o g -`` as for drums), ``=`` holds the previous hit,
``.`` rests.
Each family has a sparse variant (arrangement levels 0-1) and a busy one (levels 2-3).
Off-beat 8ths are soft or absent so that the quarter-note pulse stays the dominant
periodicity even at slow tempi, where a beat tracker would otherwise lock onto the 8ths.
"""

from __future__ import annotations

BASS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "funk": (
        ("R-..R-.oR-....f.", "R-..R-..R-..O-s."),
        ("R-r.O-r.R-r.F-o.", "R-r.R-o.R-r.O-s."),
    ),
    "synth_funk": (
        ("R-..R-.oR-..R-..", "R-..R-..R-..F-o."),
        ("R-r.R-o.R-r.F-o.", "R-o.R-r.R-o.F-t."),
    ),
    "follow": (
        ("R------.R-r-----", "R-----.-R-r-----"),
        ("R-----.rR-r---.a", "R------rR-r-f-.a"),
    ),
    "sub": (
        ("R-------R-r-----", "R-------R-------"),
        ("R-------R-r---o-", "R--r----R-r---fa"),
    ),
    "house": (
        ("R-.rR-.rR-.rR-.r", "R-.rR-.rR-.rO-.r"),
        ("R-.rR-.oR-.rR-.o", "R-.rR-.oR-.rO-.a"),
    ),
    "offbeat": (
        ("..R-..R-..R-..R-", "..R-..R-..R-..O-"),
        ("..R-..RO..R-..R-", "..R-..R-..RO.AR-"),
    ),
    "octave": (
        ("R.o.R.o.R.o.R.o.", "R.o.R.o.R.o.F.o."),
        ("R.orR.o.R.orR.oa", "R.o.R.orR.o.F.oa"),
    ),
    "walking": (
        ("R---T---F---A---", "R---F---O---A---"),
        ("R---T---F---A---", "R---S---F---A---"),
    ),
    "roots": (
        ("R-------F-------", "R-------O-------"),
        ("R-----f-O---F---", "R-------F---T---"),
    ),
}

COMP: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "chank": (
        ("X...g...X...g...", "X...g...X...g..g"),
        ("Xg..g...Xg..g..g", "Xg..gg..Xg..g..."),
    ),
    "stab": (
        ("x=......x=......", "x=.....ox=......"),
        ("x=g.x=..x=g.x=..", "x=..x=g.x=..x=g."),
    ),
    "rhodes": (
        ("x===============", "x=======o======="),
        ("x=======o=======", "x=====g=o======="),
    ),
    "sustain": (
        ("x===============", "x==============="),
        ("x=======o=======", "x=======x=====o="),
    ),
    "house_stab": (
        ("x===....x===....", "x===......o=...."),
        ("x=o.x=..x=o.x=..", "x=o.x=o.x=..x=.."),
    ),
    "disco": (
        ("x.g.x.g.x.g.x.g.", "x.g.x...x.g.x.g."),
        ("xg-.x.-.xg-.x.-.", "x.-.xg-.x.-.xg-."),
    ),
    "charleston": (
        ("x=....o=........", "x=......o=......"),
        ("x=....o=....o=..", "..o=..x=......o="),
    ),
    "arp": (
        ("x===o===x===o===", "x===o===o===o==="),
        ("x=-=x=-=x=-=x=-=", "x=-=o=-=x=-=o=-="),
    ),
    "skank": (
        ("..o...o...o...o.", "..o...o...o...o."),
        ("..o...o...o...o.", "..o..-o...o..-o."),
    ),
}

LEAD_STYLES: dict[str, dict[str, float]] = {
    # grid: smallest step used (1 = 16ths, 2 = 8ths); notes: mean onsets per bar;
    # artic: fraction of the gap to the next onset that the note sounds; leap: leap chance.
    "riff": {"grid": 1, "notes": 5.5, "artic": 0.55, "leap": 0.25, "span": 9},
    "hook": {"grid": 2, "notes": 4.0, "artic": 0.85, "leap": 0.2, "span": 9},
    "sparse": {"grid": 2, "notes": 2.5, "artic": 0.95, "leap": 0.3, "span": 8},
    "swing": {"grid": 2, "notes": 5.0, "artic": 0.8, "leap": 0.2, "span": 10},
    "legato": {"grid": 2, "notes": 3.0, "artic": 1.0, "leap": 0.15, "span": 9},
}
