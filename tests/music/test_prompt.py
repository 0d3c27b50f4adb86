"""Prompt parsing around @ and *: defaults, word bank, and every validation message."""

import pytest

from d2m_core.errors import D2MError
from d2m_core.music.prompt import DEFAULT_PROMPT, WordBank, parse_prompt


def test_default_prompt():
    p = parse_prompt(DEFAULT_PROMPT)
    assert p.has_rhythm and p.has_genre and p.warnings == [] and p.words == []


def test_user_words_sorted_by_category():
    p = parse_prompt("a @ music with * as the rhythm, jazzy Piano, upbeat, kazoo")
    assert p.known == {"moods": ["jazzy"], "instruments": ["piano"], "energy": ["upbeat"]}
    assert p.unknown == ["kazoo"]
    assert any("kazoo" in w for w in p.warnings)
    assert p.text == "a @ music with * as the rhythm, jazzy Piano, upbeat, kazoo"


def test_missing_star_warns_but_works():
    p = parse_prompt("a @ music, calm piano")
    assert not p.has_rhythm
    assert "will not follow the dance" in p.warnings[0]


def test_genre_placeholder_optional():
    p = parse_prompt("piano music with * as the rhythm")
    assert p.has_rhythm and not p.has_genre and p.warnings == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("* and * again", r"\* 2 times"),
        ("@ @ music with *", "@ 2 times"),
        ("a @music with * as the rhythm", "must stand alone"),
        ("a @ music with *rhythm", "must stand alone"),
        ("a " * 70 + "*", "words"),
        ("x" * 400, "characters"),
    ],
)
def test_invalid_prompts(text, message):
    with pytest.raises(D2MError, match=message):
        parse_prompt(text)


def test_punctuation_next_to_pseudo_words_is_fine():
    p = parse_prompt("music for @, with *.")
    assert p.has_genre and p.has_rhythm


def test_user_can_extend_the_word_bank():
    bank = WordBank()
    bank.add("instruments", ["Kazoo"])
    p = parse_prompt("* with kazoo", word_bank=bank)
    assert p.known == {"instruments": ["kazoo"]} and p.unknown == []


def test_fill_spells_out_pseudo_words():
    p = parse_prompt("a @ music with * as the rhythm, piano")
    assert p.fill(genre_words="house", rhythm_words="a 120 BPM") == (
        "a house music with a 120 BPM as the rhythm, piano"
    )
