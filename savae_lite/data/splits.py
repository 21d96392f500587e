"""The batched splits of one run, whatever the data set: what the trainer consumes.

Chapter: *SA-VAE* (the training loop). Built by :func:`savae_lite.build.build_data`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch


@dataclass
class Splits:
    """Batched data for one run. ``train_batches(generator)`` re-shuffles (and, for images, re-binarises)
    with the given generator; valid/test batches are fixed. ``vocab`` is set for text."""

    train_batches: Callable[[torch.Generator], list[torch.Tensor]]
    valid: list[torch.Tensor]
    test: list[torch.Tensor]
    kind: str
    vocab: Any = None
    info: dict | None = None
