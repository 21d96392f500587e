"""The names a run's config chooses from: training modes, optimisers, learning-rate schedules, HVP back-ends and
data sets, each listed once.

Chapter: *Introduction* (how to run things). This module imports nothing but the standard library, so the config
(:mod:`savae_lite.config`), its checks and the command line read these names without importing a trainer or a
model. The modules that implement the names keep their own tables (``modes.MODES``, ``loop.OPTIMIZERS``,
``schedule.LR_POLICIES``); ``tests/test_registry.py`` checks that each holds exactly the names listed here.

A data set is one :class:`DataSet` entry naming the function that reads it (``"module:function"``, imported only
when the data set is loaded). Adding a data set means writing that function in its own module and adding its
entry to :data:`DATA_SETS`; the config's choices, the ``--data`` help text, the loader and the checks follow.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

MODE_NAMES = ("autoreg", "vae", "svi", "vae+svi", "vae+svi+kl", "savae", "aggressive")
PAPER_MODES = MODE_NAMES[:6]  # the six modes compared by Kim et al. (2018), in the paper's order
OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("original", "plateau")
ON_NAN = ("stop", "skip")
HVP_BACKENDS = ("fd", "exact", "original")  # original: the original code's clipped differences (an audit)
MODEL_KINDS = ("text", "image")
MODEL_PRESETS = ("paper", "small", "tiny")
MODEL_SIZES = ("vocab_size", "emb_dim", "enc_hidden", "dec_hidden", "latent_dim", "enc_channels", "dec_layers",
               "dec_channels", "cond_maps", "image_size")  # model config fields that count units (all >= 1)
OMNIGLOT_SOURCES = ("npz", "zip", "mat")


@dataclass(frozen=True)
class DataSet:
    """One data set: its ``--data`` name, its kind and where its reader lives.

    ``kind`` is ``"text"`` or ``"image"`` and fixes the reader's signature. A text reader is
    ``read(root, *, genre, download, checksums) -> {"train": [[word, ...], ...], "valid": ..., "test": ...}``
    (:func:`savae_lite.data.text.load_text` builds the vocabulary, filters and numbers the words); an image
    reader is called like :func:`savae_lite.data.images.load_omniglot` and returns an ``ImageData``.
    ``genres``: whether ``--genre`` applies to it.
    """

    name: str
    kind: str
    reader: str  # "package.module:function"
    about: str  # a few words for --help
    genres: bool = False

    def read_function(self) -> Callable:
        """The reader itself (its module is imported now, not when the registry is)."""
        module, _, function = self.reader.partition(":")
        return getattr(importlib.import_module(module), function)


#: Every data set a run can name (``--data``), by name.
#:
#: :meta hide-value:
DATA_SETS: dict[str, DataSet] = {d.name: d for d in (
    DataSet("ptb", "text", "savae_lite.data.text:read_ptb", "Penn Treebank, embedded"),
    DataSet("yahoo", "text", "savae_lite.data.text:read_yahoo", "Yahoo Answers"),
    DataSet("ewt", "text", "savae_lite.data.text:read_ewt", "UD English-EWT", genres=True),
    DataSet("omniglot", "image", "savae_lite.data:load_omniglot", "28 x 28 images"),
)}


def data_sets(kind: str | None = None) -> tuple[str, ...]:
    """The names of the data sets (of one ``kind`` when given), in registry order."""
    return tuple(name for name, d in DATA_SETS.items() if kind is None or d.kind == kind)


def data_set_help() -> str:
    """The ``--data`` help text, written from the registry: ``ptb (Penn Treebank, embedded), ...``."""
    return ", ".join(f"{d.name} ({d.about})" for d in DATA_SETS.values())
