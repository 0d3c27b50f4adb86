"""Genre names and the motion-based suggestion."""

import pytest

from d2m_core.dance.synth import synthetic_dance
from d2m_core.errors import D2MError
from d2m_core.music.genres import GENRES, genre_from_aist_name, resolve_genre, suggest_genre


@pytest.mark.parametrize(
    ("name", "genre"),
    [
        ("house", "house"),
        ("House", "house"),
        ("LA hip hop", "la_hiphop"),
        ("gKR", "krump"),
        ("Ballet Jazz", "ballet_jazz"),
        ("popping", "pop"),
        ("middle_hiphop", "middle_hiphop"),
    ],
)
def test_resolve_genre(name, genre):
    assert resolve_genre(name) == genre


def test_unknown_genre_lists_valid_names_and_suggests():
    with pytest.raises(D2MError, match="did you mean 'krump'.*valid genres: break, pop"):
        resolve_genre("krumpp")
    with pytest.raises(D2MError, match="valid genres"):
        resolve_genre("polka")


def test_aist_names():
    assert genre_from_aist_name("gHO_sFM_cAll_d19_mHO0_ch01") == "house"
    assert genre_from_aist_name("x.npz#gJB_sBM_cAll_d08_mJB0_ch01") == "ballet_jazz"
    assert genre_from_aist_name("dance.mp4") is None


def test_suggestion_is_a_distribution_over_genres():
    s = suggest_genre(synthetic_dance(duration_s=6), tempo_bpm=100)
    assert s.genre in GENRES and set(s.scores) == set(GENRES)
    assert abs(sum(s.scores.values()) - 1) < 1e-3
    assert s.scores[s.genre] == max(s.scores.values())
