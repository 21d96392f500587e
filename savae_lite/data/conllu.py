"""A small reader for CoNLL-U treebanks (Universal Dependencies), keeping words and gold Penn POS tags.

A CoNLL-U file holds sentences separated by blank lines. Comment lines start with ``#`` (we keep
``# sent_id = ...``). Every token line has exactly 10 tab-separated columns:
``ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC``. We keep FORM (the word) and XPOS, which in the
English Web Treebank is the gold Penn Treebank tag (NN, VBZ, ...). Multiword-token lines (ID ``1-2``, e.g.
"didn't" spanning "did" + "n't") and empty nodes (ID ``8.1``) are skipped, so ``words`` are the syntactic
words, aligned one-to-one with ``tags``.

In EWT the genre is the prefix of the sentence id before the first ``-``: ``answers`` (Yahoo! Answers),
``email``, ``newsgroup``, ``reviews``, ``weblog``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from savae_lite.data.download import DataError, decode_utf8


@dataclass
class TaggedSentence:
    """One sentence: its id, its words and their POS tags (``len(words) == len(tags)``)."""

    sent_id: str
    words: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @property
    def genre(self) -> str:
        """The sentence id up to its first ``-`` (``answers-2011...-0001`` -> ``answers``)."""
        return self.sent_id.split("-", 1)[0]


def parse_conllu(text: str, name: str = "<string>") -> list[TaggedSentence]:
    """Parse CoNLL-U ``text``; ``name`` is used in error messages (``name:line: ...``)."""
    sentences: list[TaggedSentence] = []
    current: TaggedSentence | None = None

    def flush() -> None:
        nonlocal current
        if current is not None and current.words:
            if not current.sent_id:
                current.sent_id = f"{Path(name).stem}-{len(sentences) + 1}"
            sentences.append(current)
        current = None

    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            flush()
            continue
        if current is None:
            current = TaggedSentence(sent_id="")
        if line.startswith("#"):
            key, sep, value = line[1:].partition("=")
            if sep and key.strip() == "sent_id":
                current.sent_id = value.strip()
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise DataError(f"{name}:{lineno}: expected 10 tab-separated columns, found {len(cols)}: "
                            f"{line[:60]!r}")
        token_id = cols[0]
        if "-" in token_id or "." in token_id:  # multiword token range or empty node
            continue
        if not token_id.isdigit():
            raise DataError(f"{name}:{lineno}: bad token id {token_id!r}")
        current.words.append(cols[1])
        current.tags.append(cols[4])
    flush()
    return sentences


def read_conllu(path: str | os.PathLike, genre: str | None = None) -> list[TaggedSentence]:
    """Read a CoNLL-U file; with ``genre`` keep only sentences whose id starts ``genre-``.

    Errors (DataError): not UTF-8, a token line without 10 columns (names file and line), no sentence
    at all, or no sentence of the requested genre (lists the genres present).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    sentences = parse_conllu(decode_utf8(path.read_bytes(), str(path)), name=str(path))
    if not sentences:
        raise DataError(f"{path}: no sentences found (empty file?)")
    if genre is not None:
        kept = [s for s in sentences if s.genre == genre]
        if not kept:
            present = sorted({s.genre for s in sentences})
            raise DataError(f"{path}: no sentences of genre {genre!r}; genres present: {present}")
        sentences = kept
    return sentences
