"""Named set-ups of a run (``savae-lite train --preset NAME``): the README's CPU recipe, the chapters' study
scales and the paper's own set-ups, each a function returning a fresh :class:`~savae_lite.config.RunConfig`.

Chapter: *Introduction* (how to run things). ``*-quick`` variants are tiny runs for tests, CI and ``--quick``.
Every preset names its values explicitly; the records of finished runs store the config, and a preset must keep
comparing equal to it (``tests/test_records.py``). ``savae_lite.config`` re-exports :func:`preset`,
:data:`PRESETS`, :func:`derive` and :func:`original_svi` for older imports.
"""
from __future__ import annotations

import dataclasses

from savae_lite.config import DataConfig, RunConfig, TrainConfig
from savae_lite.svi import SVIConfig


def derive(cfg: RunConfig, *, data: dict | None = None, train: dict | None = None, **top) -> RunConfig:
    """A variant of ``cfg``: ``data`` and ``train`` override fields of those sections, ``top`` fields of the
    RunConfig itself (e.g. ``model``, ``model_preset``). ``cfg`` is not modified."""
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **(data or {})),
                               train=dataclasses.replace(cfg.train, **(train or {})), **top)


def preset(name: str) -> RunConfig:
    """Named set-ups. ``ptb-small``: the README's CPU recipe. ``yahoo-paper`` / ``omniglot-paper``: the
    original sizes and schedules. ``*-quick``: tiny runs for tests, CI and ``--quick``."""
    if name not in PRESETS:
        raise ValueError(f"--preset: unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()


def original_svi(batch_size: int, steps: int = 20) -> SVIConfig:
    """The original code's SVI as per-example steps: lr 1 on a batch *mean* is lr 1/B per example (1/32 for
    text, 1/50 for images), momentum 0.5, gradient clip 5 (per example here, whole batch there)."""
    return SVIConfig(steps=steps, lr_mu=1.0 / batch_size, lr_logvar=1.0 / batch_size, momentum=0.5, clip=5.0)


def _ptb_small() -> RunConfig:
    """The README's CPU recipe: 3,000 PTB sentences of <= 30 words, the small LSTM, K = 5, three epochs
    (minutes on a laptop CPU). The paper's KL annealing (0.1 -> 1) runs over the first two epochs."""
    return RunConfig(
        data=DataConfig(name="ptb", batch_size=32, max_len=30, max_sentences=3000),
        train=TrainConfig(mode="savae", epochs=3, lr=1.0, decay_start_epoch=2, kl_start=0.1, kl_warmup_epochs=2,
                          svi=original_svi(32, steps=5), iw_samples=500, iw_max_examples=100,
                          out_dir="runs/ptb-small"),
        model_kind="text", model_preset="small")


def _ptb_quick() -> RunConfig:
    return derive(_ptb_small(), data=dict(max_sentences=256, max_len=20), model_preset="tiny",
                  model={"emb_dim": 32, "enc_hidden": 32, "dec_hidden": 32, "latent_dim": 4},
                  train=dict(epochs=2, svi=original_svi(32, steps=3), iw_samples=10, iw_max_examples=64,
                             max_steps_per_epoch=20, decay_start_epoch=0, kl_warmup_epochs=1,
                             out_dir="runs/ptb-quick"))


def _ptb_collapse() -> RunConfig:
    """The text chapter's scale (``savae-lite experiment collapse``): the first 10,000 PTB training sentences of
    <= 20 words (all such validation and test sentences), the 5,000 most frequent words, an LSTM of 128 units with
    embeddings of 64 and z of 16, K = 5, SGD lr 1 with the original halving rule from epoch 8, at most 25 epochs,
    KL weight 0.1 -> 1 over 5 epochs; test: 500-sample IW-NLL on 500 sentences. A few CPU minutes per VAE.
    Aggressive training checks validation MI at every epoch's end (313 updates; the study was run that way, and
    the sweep ``aggressive-every3125`` checks at He et al.'s scale)."""
    return RunConfig(
        data=DataConfig(name="ptb", batch_size=32, max_len=20, vocab_size=5000, max_sentences=10_000),
        train=TrainConfig(mode="savae", epochs=25, lr=1.0, decay_start_epoch=8, kl_start=0.1, kl_warmup_epochs=5,
                          svi=original_svi(32, steps=5), iw_samples=500, iw_max_examples=500,
                          aggressive_mi_every=0, out_dir="runs/ptb-collapse"),
        model_kind="text", model_preset="small",
        model={"emb_dim": 64, "enc_hidden": 128, "dec_hidden": 128, "latent_dim": 16})


def _ptb_collapse_quick() -> RunConfig:
    """The text chapter's quick mode: the same corpus cut to 1,000 sentences, a tiny LSTM, 3 short epochs."""
    return derive(_ptb_collapse(), data=dict(max_sentences=1000, vocab_size=2000),
                  model={"emb_dim": 32, "enc_hidden": 32, "dec_hidden": 32, "latent_dim": 4},
                  train=dict(epochs=3, max_steps_per_epoch=15, decay_start_epoch=0, kl_warmup_epochs=2,
                             svi=original_svi(32, steps=3), iw_samples=20, iw_max_examples=100,
                             out_dir="runs/ptb-collapse-quick"))


def _ptb_documents() -> RunConfig:
    """The documents study's scale (``savae-lite experiment documents``; ours, not the paper's): consecutive PTB
    sentences joined into documents of at most 70 tokens (about 57 on average, the end-of-sentence words
    included: the length of the paper's Yahoo answers rather than of single sentences), the first 6,000
    training documents and the first 600 validation and test documents, the text study's vocabulary size and
    LSTM (5,000 words, 128 units, z of 16), K = 10 SVI steps (the paper 20), SGD lr 1 halving from epoch 8, at
    most 25 epochs, KL weight 0.1 -> 1 over 5 epochs; aggressive training checks MI every 3,125 updates (He et
    al.'s Yahoo epoch); test: 500-sample IW-NLL on 300 documents spread over the test split."""
    return derive(_ptb_collapse(), data=dict(doc_words=70, max_len=None, max_sentences=6000),
                  train=dict(svi=original_svi(32, steps=10), iw_max_examples=300, aggressive_mi_every=3125,
                             out_dir="runs/ptb-documents"))


def _ptb_documents_quick() -> RunConfig:
    """The documents study in quick mode: 300 documents of at most 30 tokens, a tiny LSTM, 3 short epochs."""
    return derive(_ptb_documents(), data=dict(max_sentences=300, doc_words=30, vocab_size=2000),
                  model={"emb_dim": 32, "enc_hidden": 32, "dec_hidden": 32, "latent_dim": 4},
                  train=dict(epochs=3, max_steps_per_epoch=10, decay_start_epoch=0, kl_warmup_epochs=2,
                             svi=original_svi(32, steps=3), iw_samples=20, iw_max_examples=40,
                             aggressive_mi_every=10, out_dir="runs/ptb-documents-quick"))


def _yahoo_paper() -> RunConfig:
    """The original text set-up (train_text.py): Yahoo, batches of 32, LSTM 1024, z 32, uniform(-0.1, 0.1)
    initialisation, SGD lr 1 with the original halving schedule from epoch 15 (stop below 0.03), <= 30 epochs,
    KL weight 0.1 -> 1 (--warmup 10), global clip 5, K = 20 SVI steps of lr 1/32 per example."""
    return RunConfig(
        data=DataConfig(name="yahoo", batch_size=32, max_len=200, vocab_size=20_000),
        train=TrainConfig(mode="savae", epochs=30, optimizer="sgd", lr=1.0, lr_schedule="original",
                          decay_start_epoch=15, lr_decay=0.5, min_lr=0.03, grad_clip=5.0, kl_start=0.1,
                          kl_warmup_epochs=9.0, svi=original_svi(32, steps=20), iw_samples=500,
                          out_dir="runs/yahoo-paper"),
        model_kind="text", model_preset="paper")


def _omniglot_paper() -> RunConfig:
    """The original image set-up (train_img.py): Omniglot 28 x 28, batches of 50, Adam 1e-3, 100 epochs, no
    learning-rate decay, KL weight 0.1 -> 1 (--warmup 10), global clip 5, K = 20 SVI steps of lr 1/50."""
    return RunConfig(
        data=DataConfig(name="omniglot", batch_size=50),
        train=TrainConfig(mode="savae", epochs=100, optimizer="adam", lr=1e-3, decay_start_epoch=0,
                          grad_clip=5.0, kl_start=0.1, kl_warmup_epochs=9.0, svi=original_svi(50, steps=20),
                          iw_samples=500, out_dir="runs/omniglot-paper"),
        model_kind="image", model_preset="paper")


def _omniglot_small() -> RunConfig:
    # kl_warmup_epochs: the paper's warm-up would never reach weight 1 in five epochs
    return derive(_omniglot_paper(), model_preset="small",
                  train=dict(epochs=5, kl_warmup_epochs=2.0, svi=original_svi(50, steps=5), iw_max_examples=500,
                             out_dir="runs/omniglot-small"))


def _omniglot_quick() -> RunConfig:
    return derive(_omniglot_small(), model_preset="tiny", model={"image_size": 28}, data=dict(max_images=200),
                  train=dict(epochs=2, kl_warmup_epochs=1.0, svi=original_svi(50, steps=3), iw_samples=10,
                             iw_max_examples=50, max_steps_per_epoch=10, out_dir="runs/omniglot-quick"))


def _omniglot_study() -> RunConfig:
    """The image chapter's scale (``savae-lite experiment latent-use``), for one CPU thread per worker.

    Kept from ``omniglot-paper``: 28 x 28 Omniglot (the loader's default source, Lake et al.'s background /
    evaluation split; training images re-binarised every batch),
    batches of 50, Adam 1e-3 without decay, global clip 5, z of 32 dimensions, 4 conditioning maps, the original's
    linear KL warm-up from 0.1 and its SVI (momentum 0.5, lr 1/50 per example, clip 5). Reduced:

    * data: the first 5,000 training images (of 17,280), the 2,000 validation images, the first 5,000 test
      images (of 13,180);
    * encoder: a 16-channel ResNet (paper 64); decoder: 4 gated layers of 16 channels, kernels 7, 5, 5, 3
      (paper 12 layers of 32 channels, kernels 9, 9, 9, 7, 7, 7, 5, 5, 5, 3, 3, 3): a logit sees 8 pixels to
      its left and 9 rows up within 8 columns, not the whole image -- the depth sweep varies exactly this;
    * 12 epochs of 100 steps (paper 100 epochs of 346); the KL weight reaches 1 after 3 epochs, 300 steps
      (paper 9 epochs, about 3,100 steps);
    * K = 5 SVI steps in training and at test (paper 20);
    * test: 100-sample IW-NLL on 500 test images spread over the split (paper 500 samples, the whole split).

    Cost, measured with one thread while two other processes shared the two cores, per step of 50 images: vae
    0.23 s, autoreg 0.17 s, svi 0.77 s, vae+svi 0.94 s, vae+svi+kl 0.99 s, savae 2.5 s; depth 2 / 8: vae 0.15 /
    0.43 s, savae 1.4 / 3.9 s; evaluation 0.06 s per batch (0.67 s refined), IW 0.44 s per image. The study's 16
    units (:mod:`savae_lite.latent_use`): about 9 CPU-thread hours, under 5 hours with two workers.

    (Lists, not tuples, in ``model``: the config must equal itself after a JSON round trip, so that a record's
    rows can be re-used.)
    """
    return derive(_omniglot_paper(), model_preset="small", data=dict(max_images=5000),
                  model={"latent_dim": 32, "enc_channels": 16, "dec_layers": 4, "dec_channels": 16,
                         "kernel_sizes": [7, 5, 5, 3], "cond_maps": 4, "image_size": 28},
                  train=dict(epochs=12, kl_start=0.1, kl_warmup_epochs=3.0, svi=original_svi(50, steps=5),
                             iw_samples=100, iw_max_examples=500, out_dir="runs/omniglot-study"))


def _omniglot_study_quick() -> RunConfig:
    """The image chapter's quick mode (tests, ``--quick``): 200 images per split, a tiny model (z of 4, 2 gated
    layers of 8 channels) on the same 28 x 28 images, 2 epochs of 4 steps,
    K = 2, 10-sample IW-NLL on 20 images. Seconds per unit."""
    return derive(_omniglot_study(), model_preset="tiny", data=dict(max_images=200),
                  model={"latent_dim": 4, "enc_channels": 8, "dec_layers": 2, "dec_channels": 8,
                         "kernel_sizes": [5, 3], "cond_maps": 2, "image_size": 28},
                  train=dict(epochs=2, max_steps_per_epoch=4, kl_warmup_epochs=1.0, svi=original_svi(50, steps=2),
                             iw_samples=10, iw_max_examples=20, out_dir="runs/omniglot-study-quick"))


#: Every preset ``--preset`` accepts: name -> the function that returns its config.
#:
#: :meta hide-value:
PRESETS = {
    "ptb-small": _ptb_small,
    "ptb-quick": _ptb_quick,
    "ptb-collapse": _ptb_collapse,
    "ptb-collapse-quick": _ptb_collapse_quick,
    "ptb-documents": _ptb_documents,
    "ptb-documents-quick": _ptb_documents_quick,
    "yahoo-paper": _yahoo_paper,
    "omniglot-paper": _omniglot_paper,
    "omniglot-small": _omniglot_small,
    "omniglot-quick": _omniglot_quick,
    "omniglot-study": _omniglot_study,
    "omniglot-study-quick": _omniglot_study_quick,
}
