"""Prompts around the pseudo-words `@` (the dance's genre) and `*` (its rhythm).

Conventions
-----------
- The paper's training prompt is :data:`DEFAULT_PROMPT`; users add their own words around it
  ("a @ music with * as the rhythm, jazzy piano, upbeat").
- ``*`` must appear exactly once for the music to follow the dance (a prompt without it is
  allowed, with a warning); ``@`` at most once. Each is a standalone token: ``a*b`` is not.
- Words are matched case-insensitively against the :class:`WordBank` (instruments, moods,
  genres, energy); unknown words stay in the prompt as free text (neural backbones read them,
  the offline backbone ignores them) and are reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from d2m_core.errors import D2MError

GENRE_TOKEN = "@"
RHYTHM_TOKEN = "*"
DEFAULT_PROMPT = "a @ music with * as the rhythm"
MAX_PROMPT_CHARS = 300
MAX_PROMPT_WORDS = 60  # well inside CLIP's 77-token window, the tightest of the backbones

#: Descriptive music terms offered in the UI and understood by the offline backbone.
DEFAULT_WORD_BANK: dict[str, tuple[str, ...]] = {
    "instruments": (
        "piano", "guitar", "bass", "strings", "violin", "synth", "brass", "sax", "organ",
        "bells", "flute", "drums", "percussion", "pads", "trumpet", "marimba",
    ),
    "moods": (
        "happy", "bright", "sad", "dark", "melancholic", "calm", "soft", "chill", "epic",
        "dreamy", "funky", "groovy", "jazzy", "romantic",
    ),
    "energy": (
        "energetic", "intense", "upbeat", "driving", "powerful", "minimal", "sparse",
        "laid-back", "relaxed", "gentle",
    ),
    "genres": (
        "jazz", "funk", "disco", "techno", "rock", "lofi", "latin", "hiphop", "trap", "edm",
        "classical", "soul", "reggae", "ambient",
    ),
}  # fmt: skip

_WORD_RE = re.compile(r"[a-z][a-z'-]*|[@*]")


class WordBank:
    """Categories of descriptive words; users can add their own.

    Parameters
    ----------
    categories : mapping of category name -> words, optional
        Defaults to :data:`DEFAULT_WORD_BANK`.
    """

    def __init__(self, categories: Mapping[str, Iterable[str]] | None = None) -> None:
        src = DEFAULT_WORD_BANK if categories is None else categories
        self.categories: dict[str, list[str]] = {k: [w.lower() for w in v] for k, v in src.items()}

    def add(self, category: str, words: Iterable[str]) -> None:
        """Add words to a category (created if new)."""
        bucket = self.categories.setdefault(category, [])
        for w in words:
            w = w.strip().lower()
            if w and w not in bucket:
                bucket.append(w)

    def category_of(self, word: str) -> str | None:
        for cat, words in self.categories.items():
            if word in words:
                return cat
        return None

    def all_words(self) -> list[str]:
        return [w for words in self.categories.values() for w in words]


@dataclass
class ParsedPrompt:
    """A validated prompt.

    Attributes
    ----------
    text : str
        The prompt, whitespace-normalised (what a neural backbone's tokenizer sees).
    has_rhythm, has_genre : bool
        Whether ``*`` / ``@`` appear.
    words : list[str]
        Lowercase words other than the pseudo-words and stop words, in order.
    known : dict[str, list[str]]
        Words found in the word bank, by category.
    unknown : list[str]
        Words not in the word bank (kept as free text).
    warnings : list[str]
        Things the user should know (no ``*``: the music will not follow the dance).
    """

    text: str
    has_rhythm: bool
    has_genre: bool
    words: list[str]
    known: dict[str, list[str]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def fill(self, *, genre_words: str, rhythm_words: str = "the dance's") -> str:
        """The prompt with the pseudo-words spelled out (for backbones without encoders)."""
        text = re.sub(r"(?<!\S)@(?!\S)", genre_words, self.text)
        return re.sub(r"(?<!\S)\*(?!\S)", rhythm_words, text)


_STOP = frozenset(
    "a an the with as and of in on for to at by its it is music song track rhythm beat "
    "style sound like feel".split()
)


def parse_prompt(text: str, *, word_bank: WordBank | None = None) -> ParsedPrompt:
    """Validate a prompt and sort its words.

    Parameters
    ----------
    text : str
        The user's prompt.
    word_bank : WordBank, optional
        Defaults to :data:`DEFAULT_WORD_BANK`.

    Raises
    ------
    D2MError
        Empty, over-long, several ``*`` or ``@``, or a pseudo-word glued to other characters.
    """
    bank = word_bank or WordBank()
    norm = " ".join((text or "").split())
    if not norm:
        raise D2MError(f"the prompt is empty: try '{DEFAULT_PROMPT}'")
    if len(norm) > MAX_PROMPT_CHARS:
        raise D2MError(f"the prompt has {len(norm)} characters; keep it under {MAX_PROMPT_CHARS}")
    for tok, what in ((RHYTHM_TOKEN, "rhythm"), (GENRE_TOKEN, "genre")):
        glued = re.findall(rf"\S*\{tok}\S*", norm)
        bad = [g for g in glued if g.strip(",.;:!?") != tok]
        if bad:
            raise D2MError(
                f"'{bad[0]}': the {what} pseudo-word {tok} must stand alone, with spaces around it"
            )
        n = sum(1 for g in glued if g.strip(",.;:!?") == tok)
        if n > 1:
            raise D2MError(f"the prompt has {tok} {n} times; use the {what} pseudo-word {tok} once")
    tokens = _WORD_RE.findall(norm.lower())
    words = [t for t in tokens if t not in (GENRE_TOKEN, RHYTHM_TOKEN) and t not in _STOP]
    if len(tokens) > MAX_PROMPT_WORDS:
        raise D2MError(f"the prompt has {len(tokens)} words; keep it under {MAX_PROMPT_WORDS}")
    known: dict[str, list[str]] = {}
    unknown: list[str] = []
    for w in words:
        cat = bank.category_of(w)
        if cat is None:
            unknown.append(w)
        elif w not in known.setdefault(cat, []):
            known[cat].append(w)
    has_rhythm = RHYTHM_TOKEN in tokens
    warnings = []
    if not has_rhythm:
        warnings.append(
            "the prompt has no * (the dance's rhythm): the music will not follow the dance;"
            " add '* as the rhythm'"
        )
    if unknown:
        warnings.append(f"words not in the word bank, kept as free text: {', '.join(unknown)}")
    return ParsedPrompt(
        text=norm,
        has_rhythm=has_rhythm,
        has_genre=GENRE_TOKEN in tokens,
        words=words,
        known=known,
        unknown=unknown,
        warnings=warnings,
    )
