"""Numerical checks shared by the tests and the book's chapters: one relative error and one maker of random
sentences, so that a chapter's "agrees to 1e-10" and a test's tolerance measure the same thing.

Chapter: *Differentiable SVI* (Algorithm 1 against brute-force autograd, the finite-difference sweep).
"""
from __future__ import annotations

from typing import Sequence, Union

import torch

Tensors = Union[torch.Tensor, Sequence[torch.Tensor]]

BOS_IDX, EOS_IDX, FIRST_WORD_IDX = 2, 3, 4  # <s>, </s> and the first ordinary word (after <pad>, <unk>)


def _as_list(t: Tensors, name: str) -> list[torch.Tensor]:
    if isinstance(t, torch.Tensor):
        return [t]
    items = list(t)
    for i, item in enumerate(items):
        if not isinstance(item, torch.Tensor):
            raise TypeError(f"relative_error: {name}[{i}] is a {type(item).__name__}, not a tensor")
    return items


def relative_error(got: Tensors, ref: Tensors) -> float:
    """||got - ref|| / ||ref||, the Euclidean norms taken over all the tensors together (accumulated in float64).

    ``got`` and ``ref`` are tensors or equally long sequences of tensors with matching shapes, e.g. the
    gradients w.r.t. ``(mu_0, logvar_0, *theta)`` from two methods. A length or shape mismatch raises
    ``ValueError`` (nothing is silently left out of the comparison). When ``ref`` is all zeros the result is 0.0
    if ``got`` is too, else ``inf``.
    """
    a, b = _as_list(got, "got"), _as_list(ref, "ref")
    if len(a) != len(b):
        raise ValueError(f"relative_error: {len(a)} tensors against {len(b)} reference tensors")
    num = den = 0.0
    for i, (x, y) in enumerate(zip(a, b)):
        if x.shape != y.shape:
            raise ValueError(f"relative_error: tensor {i} has shape {tuple(x.shape)}, its reference "
                             f"{tuple(y.shape)}")
        x, y = x.detach().to(torch.float64), y.detach().to(device=x.device, dtype=torch.float64)
        num += float((x - y).pow(2).sum())
        den += float(y.pow(2).sum())
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return (num / den) ** 0.5


def random_sentences(n: int, length: int, vocab_size: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """A LongTensor (n, length) of sentences ``<s> w_1 .. w_{length-2} </s>`` with words drawn uniformly from
    [4, vocab_size) (ids 0-3 are ``<pad>``, ``<unk>``, ``<s>``, ``</s>``, as in
    :class:`~savae_lite.data.vocab.Vocab`).

    The words come from one ``torch.randint`` draw of the full (n, length) shape with ``generator`` (the global
    CPU generator when None); the first and last column are then set to ``<s>`` = 2 and ``</s>`` = 3.
    """
    if n < 1 or length < 2:
        raise ValueError(f"random_sentences: need n >= 1 and length >= 2 (<s> and </s>), got n={n}, "
                         f"length={length}")
    if vocab_size <= FIRST_WORD_IDX:
        raise ValueError(f"random_sentences: vocab_size must exceed {FIRST_WORD_IDX} (ids 0-3 are special), "
                         f"got {vocab_size}")
    x = torch.randint(FIRST_WORD_IDX, vocab_size, (n, length), generator=generator)
    x[:, 0], x[:, -1] = BOS_IDX, EOS_IDX
    return x
