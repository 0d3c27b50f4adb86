"""Sample-accurate rendering of note lists with a General MIDI soundfont.

Each part is rendered on its own over the whole timeline (no windows, so no seams): the synth
runs between consecutive note events, and events fire on their exact sample.
"""

from __future__ import annotations

import numpy as np

from d2m_core.groove.arrange import Note, PartSpec
from d2m_core.groove.soundfont import borrow_synth
from d2m_core.groove.timeline import Timeline

# Parts whose notes may start before t = 0 and still sound from t = 0 (held harmony).
_HELD_PARTS = ("bass", "keys", "pad")
_DRUM_CHANNEL = 9
_CLAP, _CLAP_LEAD_S = 39, 0.012
# Cymbals and open hats: let them ring.
_LONG_DRUMS = np.array([46, 49, 51, 52, 53, 55, 57, 59])


def _events(
    notes: list[Note], *, timeline: Timeline, sr: int, n: int, held: bool, drum: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sorted note events.

    Returns
    -------
    sample, is_on, key, vel : np.ndarray, shape (E,)
        Event sample index, 1 for note-on / 0 for note-off, MIDI key, velocity 0..1.
        Note-offs come first among events on the same sample.
    """
    if not notes:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, np.zeros(0)
    arr = np.asarray(notes, dtype=np.float64)
    start = np.rint(timeline.time_of(arr[:, 0]) * sr).astype(np.int64)
    end = np.rint(timeline.time_of(arr[:, 0] + arr[:, 1]) * sr).astype(np.int64)
    key = arr[:, 2].astype(np.int64)
    if drum:
        # The GM hand clap is a burst of several slaps that peaks ~35 ms in; it starts early
        # so that its body, not its first faint slap, lands on the beat.
        start -= np.where(key == _CLAP, int(round(_CLAP_LEAD_S * sr)), 0)
    vel = arr[:, 3] / 127.0
    if held:
        start = np.where((start < 0) & (end > 0), 0, start)
    keep = (start >= 0) & (start < n)
    start, end, key, vel = start[keep], end[keep], key[keep], vel[keep]
    if drum:
        # Drums ring out for a fixed time whatever the written length; the note-off still
        # matters: looped kit samples would otherwise hold a voice for the rest of the piece.
        ring = np.where(np.isin(key, _LONG_DRUMS), 2.5, 0.8)
        end = start + np.rint(ring * sr).astype(np.int64)
    # A repeated key must not be cut by the previous note's late note-off.
    order = np.lexsort((start, key))
    s_o, e_o, k_o = start[order], end[order], key[order]
    same = k_o[1:] == k_o[:-1]
    e_o[:-1] = np.where(same, np.minimum(e_o[:-1], s_o[1:]), e_o[:-1])
    end[order] = np.maximum(e_o, s_o + 1)
    samples = np.concatenate([start, end])
    is_on = np.concatenate([np.ones_like(start), np.zeros_like(end)])
    keys = np.concatenate([key, key])
    vels = np.concatenate([vel, np.zeros_like(vel)])
    order = np.lexsort((is_on, samples))
    order = order[samples[order] < n]  # offs after the end are moot
    return samples[order], is_on[order], keys[order], vels[order]


def render_part(
    notes: list[Note], spec: PartSpec, *, name: str, timeline: Timeline, sr: int, n: int
) -> np.ndarray:
    """Render one part.

    Parameters
    ----------
    notes : list of Note
        (grid position, length in beats, key, velocity) tuples.
    spec : PartSpec
        Program, drum flag and pan.
    name : str
        Part name (held parts keep notes that started before t = 0).
    timeline : Timeline
    sr : int
        Sample rate in Hz.
    n : int
        Samples to render.

    Returns
    -------
    np.ndarray, shape (n, 2), float32
    """
    buf = np.zeros((n, 2), dtype=np.float32)
    samples, is_on, keys, vels = _events(
        notes, timeline=timeline, sr=sr, n=n, held=name in _HELD_PARTS, drum=spec.drum
    )
    if samples.size == 0:
        return buf
    mv = memoryview(buf).cast("B")
    frame_bytes = 8  # two float32 channels
    with borrow_synth(sr=sr) as synth:
        ch = _DRUM_CHANNEL if spec.drum else 0
        synth.channel_set_preset_number(ch, int(spec.program), bool(spec.drum))
        synth.channel_set_pan(ch, float(spec.pan))
        pos = 0
        for s, on, k, v in zip(
            samples.tolist(), is_on.tolist(), keys.tolist(), vels.tolist(), strict=True
        ):
            if s > pos:
                synth.render(mv[pos * frame_bytes : s * frame_bytes], False)
                pos = s
            if on:
                synth.channel_note_on(ch, k, v)
            else:
                synth.channel_note_off(ch, k)
        if pos < n:
            synth.render(mv[pos * frame_bytes : n * frame_bytes], False)
    return buf
