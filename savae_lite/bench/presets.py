"""Sizes of a benchmark run: :class:`BenchConfig` and the three presets ``full``, ``quick`` and ``tiny``.

Chapter: *Differentiable SVI* (the cost of Algorithm 1).

* ``full`` — the specified sizes (small text model on PTB sentences of 22 tokens in batches of 32, small image
  model on Omniglot in batches of 50), K in 5, 10, 20; tens of minutes on a CPU.
* ``quick`` — what the book records: the same models on sentences of 10 tokens and random binary images in
  batches of 6, IW-NLL on 2 sentences; 4 to 6 rounds per cell. Six to eight minutes on 2 CPU cores shared with
  two other CPU-bound jobs (load average 3 to 4.5), which slow every computation down by 1.3 to 2 times; about
  half that on a quiet machine, where fewer cells need extra rounds.
* ``tiny`` — the tiny models, K in 1, 2 (seconds): a smoke test for CI.

The ``sharing_*`` fields size the machine-sharing measurement (:mod:`~savae_lite.bench.sharing`): ``full`` times
4 steps of the README recipe (``ptb-small``) per measurement in 5 rounds of 4 policies x (alone, loaded), about
6 minutes on a quiet 2-core machine; ``quick`` 3 policies, 2 steps in 3 rounds (about 2 minutes); ``tiny`` one
step of ``ptb-quick``, one round, two policies (seconds, most of them starting the two worker processes). On a
loaded machine the old policy's steps take several times longer.

The ``mode_steps_*`` fields size the per-mode training-step timing (:mod:`~savae_lite.bench.mode_steps`, run only
with ``--only mode_steps``): the training preset timed (``--recipe`` overrides it; ``omniglot-paper``, the paper's
12-layer gated PixelCNN, except ``tiny``: ``omniglot-study-quick``) and the timed steps per mode after one
warm-up step (3; ``tiny`` 1).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BenchConfig:
    """Sizes and repeat counts of one benchmark run."""

    preset: str
    ks: tuple[int, ...] = (5, 10, 20)  # SVI steps K of the SA-VAE step
    repeats: int = 5  # interleaved rounds per (model, hvp, K): each round times one step
    max_repeats: int = 9  # extra rounds, only for cells whose ratio is not yet stable, up to this many
    stable_rel_iqr: float = 0.03  # a cell is stable when IQR / median of its ratio to the floor is at most this
    grad_evals_per_block: int = 4  # gradient evaluations timed between two consecutive steps
    text_model: str = "small"  # TextModelConfig preset
    text_len: int = 22  # tokens per sentence, <s> and </s> included (all sentences of a batch have this length)
    text_batch: int = 32
    text_data: str = "ptb"  # 'ptb' (embedded) or 'random'
    image_model: str = "small"  # ImageModelConfig preset
    image_batch: int = 50
    image_data: str = "omniglot"  # 'omniglot' (when available, else random) or 'random' binary images
    train_batches: int = 4  # batches per chunk in loop-vs-bare
    train_rounds: int = 10  # timed chunks per side (after one untimed warm-up chunk each), alternating
    iw_sentences: int = 32
    iw_samples: int = 500
    iw_max_rows: tuple[int, ...] = (250, 1000)
    iw_repeats: int = 3  # timed IW-NLL calls per max_rows setting, interleaved
    memory_limit_gb: float = 6.0  # skip an exact-HVP configuration whose extrapolated memory exceeds this
    sharing_recipe: str = "ptb-small"  # training preset timed alone and next to a busy process (README recipe)
    sharing_steps: int = 4  # optimiser steps per measurement
    sharing_rounds: int = 5  # interleaved rounds (every policy alone and loaded once per round)
    # bench.sharing.POLICIES
    sharing_policies: tuple[str, ...] = ("default", "passive", "old", "one-thread", "brief-spin")
    mode_steps_recipe: str = "omniglot-paper"  # training preset whose step is timed per mode (--recipe overrides)
    mode_steps_rounds: int = 3  # timed steps per mode, one per interleaved round (after one warm-up step each)


PRESETS = {
    "full": BenchConfig("full"),
    "quick": BenchConfig("quick", repeats=4, max_repeats=6, text_len=10, image_batch=6, image_data="random",
                         train_batches=2, train_rounds=12, iw_sentences=2, iw_max_rows=(1000,), sharing_steps=2,
                         sharing_rounds=3, sharing_policies=("default", "old", "one-thread")),
    "tiny": BenchConfig("tiny", ks=(1, 2), repeats=3, max_repeats=3, grad_evals_per_block=2, text_model="tiny",
                        text_len=6, text_batch=4, text_data="random", image_model="tiny", image_batch=4,
                        image_data="random", train_batches=2, train_rounds=2, iw_sentences=2, iw_samples=20,
                        iw_max_rows=(40,), iw_repeats=2, memory_limit_gb=1.0, sharing_recipe="ptb-quick",
                        sharing_steps=1, sharing_rounds=1, sharing_policies=("default", "old"),
                        mode_steps_recipe="omniglot-study-quick", mode_steps_rounds=1),
}
