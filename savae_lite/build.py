"""From a :class:`~savae_lite.config.RunConfig` to the objects a run needs: the data splits and the model.

Chapter: *Introduction* (the data flow config -> data -> model -> mode -> trainer -> results).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from savae_lite.data.splits import Splits
from savae_lite.registry import DATA_SETS, data_sets

if TYPE_CHECKING:  # for the annotations only: the config imports the validation, which imports this module
    from savae_lite.config import RunConfig


def build_data(cfg: RunConfig) -> Splits:
    """Load and batch the data set named in ``cfg.data`` (no download unless ``cfg.data.download``); the
    registry (``savae_lite.registry.DATA_SETS``) says whether it is text or images and which function reads it."""
    from savae_lite import data

    dc = cfg.data
    if dc.name not in DATA_SETS:
        raise ValueError(f"--data: unknown data set {dc.name!r}; choose one of {', '.join(data_sets())}")
    if DATA_SETS[dc.name].kind == "text":
        corpus = data.load_text(dc.name, dc.data_dir, max_len=dc.max_len, vocab_size=dc.vocab_size,
                                max_sentences=dc.max_sentences, genre=dc.genre, download=dc.download,
                                doc_words=dc.doc_words)
        pad = corpus.vocab.pad_idx

        def batches(sents, gen=None, shuffle=False):
            return data.text_batches(sents, dc.batch_size, pad_idx=pad, by_length=dc.by_length, shuffle=shuffle,
                                     generator=gen)

        info = {"dataset": dc.name, "vocab_size": len(corpus.vocab),
                "sentences": {s: len(getattr(corpus, s)) for s in ("train", "valid", "test")}}
        if dc.doc_words is not None:  # the examples are documents: say so, with their mean length in tokens
            info.update(documents_of_at_most=dc.doc_words, mean_tokens={
                s: round(sum(len(x) - 2 for x in getattr(corpus, s)) / len(getattr(corpus, s)), 2)
                for s in ("train", "valid", "test")})
        return Splits(lambda g: batches(corpus.train, g, True), batches(corpus.valid), batches(corpus.test),
                      "text", corpus.vocab, info)
    read_images = DATA_SETS[dc.name].read_function()
    images = read_images(dc.data_dir, source=dc.omniglot_source, max_images=dc.max_images, download=dc.download)
    seed = cfg.train.seed

    def fixed(x, split_seed):  # binarised once, each split from its own seed
        return list(data.image_batches(x, dc.batch_size, binarize="fixed", seed=split_seed))

    info = {"dataset": dc.name, "source": dc.omniglot_source,
            "images": {s: int(getattr(images, s).shape[0]) for s in ("train", "valid", "test")}}
    return Splits(lambda g: list(data.image_batches(images.train, dc.batch_size, shuffle=True, generator=g,
                                                    binarize="dynamic")),
                  fixed(images.valid, seed), fixed(images.test, seed + 1), "image", None, info)


def model_config(cfg: RunConfig, vocab_size: int | None = None):
    """The model's dataclass config: the named preset, then ``cfg.model`` overrides (unknown keys rejected)."""
    if cfg.model_kind == "text":
        from savae_lite.models.text import TextModelConfig

        make = getattr(TextModelConfig, cfg.model_preset)
        base = make(vocab_size) if vocab_size else make()
    elif cfg.model_kind == "image":
        from savae_lite.models.image import ImageModelConfig

        base = getattr(ImageModelConfig, cfg.model_preset)()
    else:
        raise ValueError(f"model_kind: unknown {cfg.model_kind!r}; choose text or image")
    names = {f.name for f in dataclasses.fields(base)}
    bad = sorted(set(cfg.model) - names)
    if bad:
        raise ValueError(f"--model: unknown field(s) {bad} for {type(base).__name__}; valid: {sorted(names)}")
    return dataclasses.replace(base, **cfg.model)


def build_model(cfg: RunConfig, vocab_size: int | None = None):
    """A fresh model for ``cfg`` (an autoregressive one for mode ``autoreg``)."""
    mc = model_config(cfg, vocab_size)
    autoreg = cfg.train.mode == "autoreg"
    if cfg.model_kind == "text":
        from savae_lite.models.text import LSTMLanguageModel, TextVAE

        return LSTMLanguageModel(mc) if autoreg else TextVAE(mc)
    from savae_lite.models.image import ImageVAE, PixelCNNLM

    return PixelCNNLM(mc) if autoreg else ImageVAE(mc)
