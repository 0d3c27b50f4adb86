"""A word-level tokenizer built offline, for tiny models (the debug MusicGen, tests, benches).

Real backbones bring their own tokenizer (T5's SentencePiece for MusicGen); this one exists
because none can be downloaded here. It splits on whitespace and punctuation (so ``@`` and
``*`` are tokens of their own), lower-cases, appends ``</s>`` like T5, and saves / loads with
``save_pretrained`` / ``AutoTokenizer.from_pretrained`` like any Hugging Face tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable

SPECIALS = ("<pad>", "</s>", "<unk>")

#: Words the debug model knows: the training prompt, genres, and common prompt words.
BASE_WORDS: tuple[str, ...] = (
    "a", "an", "the", "music", "song", "track", "with", "as", "rhythm", "beat", "and", "of",
    "in", "style", "dance", "@", "*", ",", ".",
)  # fmt: skip


def word_tokenizer(words: Iterable[str], *, model_max_length: int = 128):
    """A ``PreTrainedTokenizerFast`` over ``words`` (plus ``<pad>``, ``</s>``, ``<unk>``).

    Parameters
    ----------
    words : iterable of str
        Vocabulary, in id order after the three special tokens; duplicates are dropped.
    model_max_length : int
        Longest prompt, tokens.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for w in (*SPECIALS, *words):
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=model_max_length,
    )
