"""Pseudo-word injection: replace the token embeddings of ``@`` and ``*`` by encoder outputs.

How it works
------------
1. :func:`pseudo_token_ids` makes sure each pseudo-word is exactly one token of the backbone's
   tokenizer (adding it as a new token when the tokenizer would split it or map it to
   ``<unk>``, as textual inversion does) and returns its id.
2. A prompt batch is tokenised with padding; the pseudo-words' positions are where
   ``input_ids`` equals their ids (at most once per prompt; absent is fine, e.g. no ``@``).
3. The text encoder's token embeddings ``(B, S, D)`` are looked up, the rows at those positions
   are replaced by the encoders' ``(B, D)`` outputs (:func:`inject`: nothing else changes, bit
   for bit), and the text transformer runs on the result.

Step 3 differs per text encoder, so it lives in a small conditioner class:

- :class:`InputsEmbedsConditioner`: for encoders whose forward takes ``inputs_embeds``
  (T5 in MusicGen).
- :class:`EmbeddingHookConditioner`: for encoders that only take ``input_ids`` (CLIP in
  Riffusion, CLAP-text in AudioLDM under transformers 5): a forward hook on
  ``get_input_embeddings()`` overwrites the rows while the encoder runs.

A new backbone picks one of these (or subclasses :class:`TextConditioner` and implements
``_forward``). Added tokens may have ids past the embedding table (no resize is needed: their
rows are always replaced), so lookups clamp ids first.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import nn

from d2m_core.music.prompt import GENRE_TOKEN, RHYTHM_TOKEN

PSEUDO_WORDS: tuple[str, ...] = (GENRE_TOKEN, RHYTHM_TOKEN)


def _word_ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _single_token(tokenizer, word: str) -> int | None:
    """The word's id if it is one token alone and in context, and not ``<unk>``."""
    ids = _word_ids(tokenizer, word)
    if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
        return None
    ctx = _word_ids(tokenizer, f"a {word} b")
    if ctx.count(ids[0]) != 1 or len(ctx) != len(_word_ids(tokenizer, "a b")) + 1:
        return None
    return ids[0]


def pseudo_token_ids(tokenizer, words: Sequence[str] = PSEUDO_WORDS) -> dict[str, int]:
    """One token id per pseudo-word, adding words the tokenizer splits.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        Modified in place when a word has to be added.
    words : sequence of str
        The pseudo-words (default ``@`` and ``*``).

    Returns
    -------
    dict[str, int]
        Word -> token id; ids are distinct.
    """
    from transformers import AddedToken

    out: dict[str, int] = {}
    for w in words:
        tid = _single_token(tokenizer, w)
        # First as a plain added token; then, for byte-level BPE (Roberta in CLAP), which
        # folds the space before a word into its token (`a @` -> `a`, `Ġ@`), as one that
        # absorbs that space (lstrip): the bare word's id, no new embedding row.
        for lstrip in (False, True):
            if tid is not None:
                break
            tokenizer.add_tokens([AddedToken(w, lstrip=lstrip, normalized=False)])
            tid = _single_token(tokenizer, w)
        if tid is None:
            raise RuntimeError(f"could not make the pseudo-word {w!r} a single token")
        out[w] = tid
    if len(set(out.values())) != len(out):
        raise RuntimeError(f"pseudo-words share a token id: {out}")
    return out


def inject(
    embeds: torch.Tensor, input_ids: torch.Tensor, replacements: Mapping[int, torch.Tensor]
) -> torch.Tensor:
    """Token embeddings with the rows of given token ids replaced.

    Parameters
    ----------
    embeds : torch.Tensor [shape=(B, S, D)]
        Token embeddings (before the text transformer).
    input_ids : torch.Tensor [shape=(B, S)]
    replacements : mapping token id -> torch.Tensor [shape=(B, D)]
        Row ``b`` replaces every position of that id in prompt ``b``.

    Returns
    -------
    torch.Tensor [shape=(B, S, D)]
        Equal to ``embeds`` everywhere else; differentiable in the replacements.
    """
    out = embeds
    for tid, vec in replacements.items():
        if vec.shape != (embeds.shape[0], embeds.shape[2]):
            raise ValueError(
                f"replacement for token {tid} has shape {tuple(vec.shape)},"
                f" expected {(embeds.shape[0], embeds.shape[2])}"
            )
        where = (input_ids == tid).unsqueeze(-1)
        out = torch.where(where, vec.to(out.dtype).unsqueeze(1), out)
    return out


class TextConditioner(ABC):
    """A text encoder plus tokenizer that understands the pseudo-words.

    Parameters
    ----------
    tokenizer : transformers tokenizer
    text_model : torch.nn.Module
        The text encoder; must have ``get_input_embeddings()``. Kept frozen by the caller.
    words : sequence of str
        Pseudo-words (default ``@`` and ``*``).
    max_length : int, optional
        Truncate prompts to this many tokens (CLIP: 77).
    """

    def __init__(
        self,
        *,
        tokenizer,
        text_model: nn.Module,
        words: Sequence[str] = PSEUDO_WORDS,
        max_length: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.text_model = text_model
        self.max_length = max_length
        self.token_ids = pseudo_token_ids(tokenizer, words)

    @property
    def table(self) -> nn.Embedding:
        return self.text_model.get_input_embeddings()

    @property
    def width(self) -> int:
        """``D``: the token-embedding width (what the encoders must output)."""
        return int(self.table.embedding_dim)

    @property
    def device(self) -> torch.device:
        return self.table.weight.device

    def embed_scale(self) -> float:
        """Typical size of a token embedding: the element standard deviation of the table."""
        return float(self.table.weight.detach().float().std())

    def word_embedding(self, word: str) -> torch.Tensor:
        """Mean embedding ``(D,)`` of a word's tokens (to initialise a pseudo-word)."""
        ids = [i for i in _word_ids(self.tokenizer, word) if i < self.table.num_embeddings]
        if not ids:
            return torch.zeros(self.width)
        return self.table.weight.detach()[ids].float().mean(0).cpu()

    def tokenize(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``input_ids`` and ``attention_mask``, both ``(B, S)``, padded, on :attr:`device`."""
        enc = self.tokenizer(
            list(prompts),
            padding=True,
            truncation=self.max_length is not None,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    def encode(
        self, prompts: Sequence[str], pseudo: Mapping[str, torch.Tensor | None]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the text encoder with the pseudo-words' embeddings injected.

        Parameters
        ----------
        prompts : sequence of str
            ``B`` prompts (any lengths; pseudo-words may be absent).
        pseudo : mapping word -> torch.Tensor [shape=(B, D)] or None
            Embedding per pseudo-word (e.g. ``{"*": rhythm_emb, "@": genre_emb}``).

        Returns
        -------
        hidden : torch.Tensor [shape=(B, S, W)]
            The text encoder's last hidden states (``W`` its output width).
        mask : torch.Tensor [shape=(B, S)]
            Attention mask (1 = token, 0 = padding).
        """
        ids, mask = self.tokenize(prompts)
        reps: dict[int, torch.Tensor] = {}
        for word, emb in pseudo.items():
            if emb is None:
                continue
            tid = self.token_ids[word]
            if int((ids == tid).sum(1).max()) > 1:
                raise ValueError(f"a prompt has the pseudo-word {word!r} more than once")
            reps[tid] = emb.to(self.device)
        for word, tid in self.token_ids.items():
            if tid not in reps and bool((ids == tid).any()):
                raise ValueError(f"the prompt has {word!r} but no embedding was given for it")
        dtype = self.table.weight.dtype
        # Text encoders run in their own precision, never under autocast (T5 overflows in fp16).
        with _no_autocast(self.device):
            reps = {k: v.to(dtype) for k, v in reps.items()}
            hidden = self._forward(ids, mask, reps)
        return hidden, mask

    def _lookup(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table(ids.clamp(0, self.table.num_embeddings - 1))

    @abstractmethod
    def _forward(
        self, ids: torch.Tensor, mask: torch.Tensor, reps: Mapping[int, torch.Tensor]
    ) -> torch.Tensor:
        """The text encoder's hidden states ``(B, S, W)`` with ``reps`` injected."""


class InputsEmbedsConditioner(TextConditioner):
    """Injection for text encoders that accept ``inputs_embeds`` (T5)."""

    def _forward(self, ids, mask, reps):
        embeds = inject(self._lookup(ids), ids, reps)
        return self.text_model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state


class EmbeddingHookConditioner(TextConditioner):
    """Injection through hooks on the input embeddings (CLIP, CLAP: no ``inputs_embeds``).

    A pre-hook clamps added-token ids into the table; a forward hook overwrites the
    placeholder rows of the lookup's output. Every ``nn.Embedding`` inside the text model that
    shares ``get_input_embeddings()``'s weight is hooked, since some models look tokens up
    through a tied copy (T5 in transformers 5); the call fails loudly if no hook fired.
    Subclasses may override :meth:`_output` to pick something other than
    ``last_hidden_state``.
    """

    def _output(self, out) -> torch.Tensor:
        return out.last_hidden_state

    def _tables(self) -> list[nn.Embedding]:
        w = self.table.weight
        found = [m for m in self.text_model.modules() if isinstance(m, nn.Embedding)]
        return [m for m in found if m.weight is w] or [self.table]

    def _forward(self, ids, mask, reps):
        fired = []

        def clamp_ids(module, args):
            return (args[0].clamp(0, module.num_embeddings - 1), *args[1:])

        def overwrite(_module, _args, output):
            if output.shape[:2] != ids.shape:
                raise RuntimeError("input-embedding hook saw an unexpected token batch")
            fired.append(True)
            return inject(output, ids, reps)

        handles = []
        for table in self._tables():
            handles.append(table.register_forward_pre_hook(clamp_ids))
            handles.append(table.register_forward_hook(overwrite))
        try:
            out = self.text_model(input_ids=ids, attention_mask=mask)
        finally:
            for h in handles:
                h.remove()
        if not fired:
            raise RuntimeError("the text model never called its input embeddings: no injection")
        return self._output(out)


@contextlib.contextmanager
def _no_autocast(device: torch.device) -> Iterator[None]:
    if device.type in ("cuda", "cpu", "xpu", "mps"):
        with torch.autocast(device_type=device.type, enabled=False):
            yield
    else:  # pragma: no cover - other device types
        yield
