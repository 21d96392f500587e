"""A word <-> id vocabulary with four special tokens.

Ids 0..3 are always ``<pad>``, ``<unk>``, ``<s>``, ``</s>``; real words follow, most frequent first (ties
broken alphabetically, so the same corpus always gives the same ids). The datasets' own unknown-word tokens
(PTB's ``<unk>``, Yahoo's ``_UNK``) map to our ``<unk>`` id.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from savae_lite.data.download import DataError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS)
#: Tokens that datasets use for an unknown word; all map to the ``<unk>`` id.
UNK_ALIASES: frozenset[str] = frozenset({UNK, "_UNK"})


class Vocab:
    """A list of tokens ``itos`` (id -> string) and its inverse ``stoi``; ``itos[:4] == SPECIALS``."""

    def __init__(self, itos: Sequence[str]) -> None:
        itos = list(itos)
        if tuple(itos[:len(SPECIALS)]) != SPECIALS:
            raise DataError(f"vocabulary must start with the special tokens {SPECIALS}, got {itos[:4]}")
        if len(set(itos)) != len(itos):
            raise DataError("vocabulary has duplicate tokens")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(itos)}
        for alias in UNK_ALIASES:
            self.stoi.setdefault(alias, self.unk_idx)

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], max_size: int | None = None,
              min_count: int = 1) -> Vocab:
        """Count the words of ``sentences`` (lists of tokens) and keep the frequent ones.

        ``max_size`` bounds ``len(vocab)`` *including* the 4 specials (None: no bound); ``min_count`` drops
        words seen fewer times. Special tokens and unknown-word aliases in the data are not counted as words.
        """
        if max_size is not None and max_size < len(SPECIALS):
            raise DataError(f"max_size must be at least {len(SPECIALS)} (the special tokens), got {max_size}")
        counts: Counter[str] = Counter()
        for sentence in sentences:
            counts.update(sentence)
        skip = set(SPECIALS) | UNK_ALIASES
        words = sorted((w for w, c in counts.items() if c >= min_count and w not in skip),
                       key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[:max_size - len(SPECIALS)]
        return cls(list(SPECIALS) + words)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, first={self.itos[4:9]})"

    def encode(self, words: Iterable[str]) -> list[int]:
        """Token strings -> ids (unknown words -> ``unk_idx``). No ``<s>``/``</s>`` are added."""
        unk = self.unk_idx
        return [self.stoi.get(w, unk) for w in words]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids (ints or a 1-D tensor) -> token strings."""
        return [self.itos[int(i)] for i in ids]

    def to_dict(self) -> dict[str, list[str]]:
        """A plain JSON-able dict (for checkpoints); :meth:`from_dict` inverts it."""
        return {"itos": list(self.itos)}

    @classmethod
    def from_dict(cls, d: dict[str, list[str]]) -> Vocab:
        """The vocabulary saved by :meth:`to_dict` (``{'itos': [...]}``); :class:`~savae_lite.data.download.DataError`
        otherwise."""
        if not isinstance(d, dict) or "itos" not in d:
            raise DataError("a vocabulary dict must have the key 'itos'")
        return cls(d["itos"])

    @property
    def pad_idx(self) -> int:
        """The id of ``<pad>`` (0)."""
        return 0

    @property
    def unk_idx(self) -> int:
        """The id of ``<unk>`` (1)."""
        return 1

    @property
    def bos_idx(self) -> int:
        """The id of ``<s>`` (2)."""
        return 2

    @property
    def eos_idx(self) -> int:
        """The id of ``</s>`` (3)."""
        return 3
