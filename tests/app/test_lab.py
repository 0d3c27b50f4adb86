"""The prompt lab's entries: kept, checked when they come back from a browser, shown."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from d2m_core.app import lab


def _entry(root: Path, name: str, **over) -> dict:
    files = {}
    for key, suffix in (("video", ".mp4"), ("audio", ".wav"), ("report", ".json")):
        p = root / f"{name}{suffix}"
        p.write_bytes(b"x")
        files[key] = str(p)
    e = {
        "id": name, "prompt": "a @ music with * as the rhythm, piano", "genre": "House",
        "backbone": "groove", "seed": 1, "length_s": 9.4, "bpm": 96.0, "hit": 18, "total": 23,
        "seconds": 1.2, "made_at": 1_700_000_000.0, **files,
    }  # fmt: skip
    e.update(over)
    return e


def test_valid_entries_keep_only_playable_ones_inside_the_output_folder(tmp_path):
    root = tmp_path / "outputs"
    root.mkdir()
    good = _entry(root, "a")
    gone = _entry(root, "b")
    Path(gone["audio"]).unlink()  # expired
    outside = _entry(tmp_path, "c")  # a browser may send any path: never served
    sneaky = {**_entry(root, "d"), "video": str(root / ".." / "c.mp4")}
    wrong = {**_entry(root, "e"), "seed": "1"}
    kept = lab.valid_entries([good, gone, outside, sneaky, wrong, "junk", None], root=root)
    assert [e["id"] for e in kept] == ["a"]
    assert lab.valid_entries("not a list", root=root) == []
    assert lab.valid_entries({"id": "a"}, root=root) == []


def test_add_entries_keeps_the_newest_and_one_per_id(tmp_path):
    many = [_entry(tmp_path, f"g{i}") for i in range(lab.LAB_SIZE + 3)]
    kept = lab.add_entries(many[:-1], [many[-1], many[-1]], root=tmp_path)
    assert len(kept) == lab.LAB_SIZE
    assert kept[-1]["id"] == many[-1]["id"] and kept[0]["id"] == many[3]["id"]
    assert [e for e in lab.add_entries(None, [many[0]], root=tmp_path)] == [many[0]]


def test_table_lists_every_setting_escaped_newest_first(tmp_path):
    a = _entry(tmp_path, "a", prompt="<b>loud</b> @ with *")
    b = _entry(tmp_path, "b", seed=2)
    out = lab.lab_table_html([a, b], expired=1)
    assert "&lt;b&gt;loud" in out and "<b>loud" not in out
    assert out.index("#2") < out.index("#1")
    gone = "1 earlier result(s) are no longer on the server"
    for text in ("House", "groove", "9.4 s", "18/23", gone):
        assert text in out
    assert out.count("download>") == 4
    assert "no generations" not in out.lower()
    assert "listed here" in lab.lab_table_html([])


def test_ab_player_plays_a_and_b_on_one_video(tmp_path):
    a, b = _entry(tmp_path, "a"), _entry(tmp_path, "b", seed=5)
    out = lab.ab_player_html([a, b], "b", "a")
    data = json.loads(html.unescape(re.search(r'data-ab="([^"]*)"', out).group(1)))
    assert data["video"] == lab.file_url(b["video"])  # A's video carries both
    assert data["a"]["url"] == lab.file_url(b["audio"]) and "seed 5" in data["a"]["label"]
    assert data["b"]["url"] == lab.file_url(a["audio"])
    # One pick only (or the same twice): A alone.
    solo = json.loads(html.unescape(re.search(r'data-ab="([^"]*)"', lab.ab_player_html(
        [a, b], "a", "a")).group(1)))  # fmt: skip
    assert solo["b"] is None
    assert "Pick a generation" in lab.ab_player_html([a], None, None)
    assert lab.ab_choices([a, b])[0] == (
        "#2 · groove · seed 5 · 18/23 hit",
        "b",
    )  # newest first


@pytest.mark.parametrize("path", ["/tmp/x y/a.mp4", "/tmp/a#b.wav"])
def test_file_urls_are_relative_and_quoted(path):
    url = lab.file_url(path)
    assert url.startswith("gradio_api/file=/tmp/")
    assert " " not in url and "#" not in url
