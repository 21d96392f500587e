"""The data layer: text corpora (PTB, Yahoo, EWT), Omniglot images, their batching, and their downloads.

Everything reads from one data directory (:func:`~savae_lite.data.download.data_dir`: argument >
``$SAVAE_LITE_DATA`` > ``~/.cache/savae-lite``), which may be read-only; files are checked against the checksums in
:data:`~savae_lite.data.download.SOURCES` and downloaded only when ``download=True`` is passed. Bad or missing data
raises :class:`~savae_lite.data.download.DataError`, whose message names the file (and line).

Shapes: a text corpus is lists of id lists ``[<s>, w1..wn, </s>]``; :func:`~savae_lite.data.text.text_batches`
gives LongTensors (B, T). Images are float32 (N, 1, 28, 28) in [0, 1] (1 = ink);
:func:`~savae_lite.data.images.image_batches` gives {0, 1} batches.

Each name is documented in its module (the package re-exports them: ``from savae_lite.data import Vocab``).
"""
from savae_lite.data.conllu import TaggedSentence, read_conllu
from savae_lite.data.download import SOURCES, DataError, data_dir, fetch, verify
from savae_lite.data.images import ImageData, binarize_fixed, image_batches, load_omniglot
from savae_lite.data.splits import Splits
from savae_lite.data.text import TextCorpus, load_text, read_ptb_file, text_batches
from savae_lite.data.vocab import Vocab

__all__ = [
    "data_dir", "DataError", "fetch", "verify", "SOURCES", "Vocab", "TextCorpus", "load_text", "read_ptb_file",
    "text_batches", "read_conllu", "TaggedSentence", "ImageData", "load_omniglot", "image_batches",
    "binarize_fixed", "Splits",
]
