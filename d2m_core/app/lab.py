"""The prompt lab: every generation of a browser session, listed, playable and comparable A/B.

A lab entry is a small JSON-ready dict (:func:`lab_record`) that the page keeps in the
browser's storage, so the list survives a reload. What comes back from a browser is never
trusted: :func:`valid_entries` keeps only well-formed entries whose files still exist inside
the pipeline's output folder (outputs expire after an hour), and every string is escaped
before it reaches the page. No Gradio here: ``app.py`` puts these strings into components.

Conventions: an entry's ``id`` is unique per generation; ``made_at`` is a UNIX time, seconds;
files are served by Gradio's file route (``gradio_api/file=<path>``, relative so the page also
works under a proxy's sub-path), which the app allows for the output folder only.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from d2m_core.app.page import beats_hit
from d2m_core.app.pipeline import GenerateOutput

__all__ = [
    "LAB_SIZE",
    "ab_choices",
    "ab_player_html",
    "add_entries",
    "file_url",
    "lab_record",
    "lab_table_html",
    "valid_entries",
]

#: Most generations a session keeps (the oldest go first).
LAB_SIZE = 24
_FILE_KEYS = ("video", "audio", "report")
_TEXT_KEYS = ("id", "prompt", "genre", "backbone")
_NUMBER_KEYS = ("seed", "length_s", "hit", "total", "seconds", "made_at", "bpm")


def lab_record(out: GenerateOutput, *, made_at: float | None = None) -> dict:
    """One generation as a lab entry.

    Parameters
    ----------
    out : GenerateOutput
    made_at : float, optional
        UNIX time of the generation (default: now).

    Returns
    -------
    dict
        ``id``, ``prompt``, ``genre`` (the dance style's label), ``backbone``, ``seed``,
        ``length_s`` (music length, seconds), ``bpm`` (the music's tempo), ``hit`` / ``total``
        (the dance's beats with a music beat within the hit window), ``seconds`` (time to make
        it), ``made_at``, and the ``video`` / ``audio`` / ``report`` paths.
    """
    r = out.report
    hit, total = beats_hit(out.result.analysis.tempo.beats_s, out.result.alignment.music_beats_s)
    return {
        "id": out.video_mp4.stem,
        "prompt": r["prompt"],
        "genre": r["genre_label"],
        "backbone": r["backbone"],
        "seed": int(r["seed"]),
        "length_s": round(float(r["music_duration_s"]), 2),
        "bpm": round(float(r["music_tempo_bpm"]), 1),
        "hit": hit,
        "total": total,
        "seconds": round(float(out.seconds), 2),
        "made_at": round(time.time() if made_at is None else float(made_at), 3),
        "video": str(out.video_mp4),
        "audio": str(out.audio_wav),
        "report": str(out.report_json),
    }


def _inside(path: Any, root: Path) -> bool:
    """Whether ``path`` is an existing file under ``root`` (no way out through ``..``)."""
    try:
        p = Path(str(path)).resolve()
        return p.is_file() and p.is_relative_to(root.resolve())
    except (OSError, ValueError):
        return False


def _well_formed(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    texts = all(isinstance(entry.get(k), str) for k in _TEXT_KEYS)
    numbers = all(
        isinstance(entry.get(k), (int, float)) and not isinstance(entry.get(k), bool)
        for k in _NUMBER_KEYS
    )
    return texts and numbers and all(isinstance(entry.get(k), str) for k in _FILE_KEYS)


def valid_entries(entries: Any, *, root: Path) -> list[dict]:
    """The entries of a stored lab that can still be played, newest last.

    Parameters
    ----------
    entries : Any
        What the browser sent back (a list of entries, or anything else: then none).
    root : Path
        The folder the entries' files must lie in (the pipeline's output folder).

    Returns
    -------
    list of dict
        Well-formed entries whose files all exist under ``root``, one per ``id``, at most
        :data:`LAB_SIZE`.
    """
    if not isinstance(entries, list):
        return []
    kept: dict[str, dict] = {}
    for e in entries:
        if _well_formed(e) and all(_inside(e[k], root) for k in _FILE_KEYS):
            kept[e["id"]] = {k: e[k] for k in (*_TEXT_KEYS, *_NUMBER_KEYS, *_FILE_KEYS)}
    return list(kept.values())[-LAB_SIZE:]


def add_entries(entries: Any, new: list[dict], *, root: Path) -> list[dict]:
    """The lab with ``new`` entries added at the end (checked like the stored ones)."""
    current = entries if isinstance(entries, list) else []
    return valid_entries([*current, *new], root=root)


def file_url(path: str | Path) -> str:
    """The page's link to a file Gradio serves (relative: works under a proxy's sub-path)."""
    return "gradio_api/file=" + quote(str(path), safe="/")


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _label(index: int, e: dict) -> str:
    # Short: the A and B menus are one phone-width line each.
    return f"#{index} · {e['backbone']} · seed {e['seed']} · {e['hit']}/{e['total']} hit"


def ab_choices(entries: list[dict]) -> list[tuple[str, str]]:
    """(label, id) of each entry for the A and B menus, newest first."""
    numbered = list(enumerate(entries, start=1))
    return [(_label(i, e), e["id"]) for i, e in reversed(numbered)]


def lab_table_html(entries: list[dict], *, expired: int = 0) -> str:
    """The lab as a table: number, prompt, style, seed, backbone, length, beats hit, time.

    Parameters
    ----------
    entries : list of dict
        From :func:`valid_entries`.
    expired : int
        Entries dropped because their files are gone (said in a line under the table).
    """
    if not entries:
        return "<p class='d2m-lab-empty'><em>Your generations will be listed here.</em></p>"
    rows = []
    for i, e in reversed(list(enumerate(entries, start=1))):
        made = time.strftime("%H:%M:%S", time.localtime(e["made_at"]))
        rows.append(
            "<tr>"
            f"<td>#{i}</td><td class='d2m-lab-prompt'>{html.escape(e['prompt'])}</td>"
            f"<td>{html.escape(e['genre'])}</td><td>{e['seed']}</td>"
            f"<td>{html.escape(e['backbone'])}</td><td>{e['length_s']:.1f} s</td>"
            f"<td>{e['hit']}/{e['total']}</td><td>{e['seconds']:.1f} s at {made}</td>"
            f"<td><a href='{_attr(file_url(e['video']))}' download>video</a> · "
            f"<a href='{_attr(file_url(e['audio']))}' download>music</a></td>"
            "</tr>"
        )
    head = (
        "<tr><th>#</th><th>prompt</th><th>dance style</th><th>seed</th><th>backbone</th>"
        "<th>length</th><th>beats hit</th><th>made in</th><th>files</th></tr>"
    )
    note = (
        f"<p><small>{expired} earlier result(s) are no longer on the server and left"
        " the list.</small></p>"
        if expired
        else ""
    )
    return "<div class='d2m-lab'><table>" + head + "".join(rows) + "</table></div>" + note


def _side(entries: list[dict], entry_id: str | None, name: str) -> dict | None:
    numbered = {e["id"]: (i, e) for i, e in enumerate(entries, start=1)}
    if not entry_id or entry_id not in numbered:
        return None
    i, e = numbered[entry_id]
    return {"url": file_url(e["audio"]), "label": f"{name} · {_label(i, e)}", "video": e["video"]}


def ab_player_html(entries: list[dict], a_id: str | None, b_id: str | None) -> str:
    """The A/B player: the dance's video once, with A's or B's music, switched at once.

    Both pieces of music follow the same video (A's file, its own soundtrack muted), so a
    switch keeps the position and compares the music alone.
    """
    a = _side(entries, a_id, "A")
    b = _side(entries, b_id, "B") if b_id != a_id else None
    if a is None and b is not None:
        a, b = {**b, "label": b["label"].replace("B · ", "A · ", 1)}, None
    if a is None:
        return "<p><em>Pick a generation for A (and one for B) to compare them.</em></p>"
    data = {
        "video": file_url(a["video"]),
        "a": {"url": a["url"], "label": a["label"]},
        "b": None if b is None else {"url": b["url"], "label": b["label"]},
    }
    payload = html.escape(json.dumps(data, separators=(",", ":")), quote=True)
    return f'<div class="d2m-ab" data-ab="{payload}"></div>'
