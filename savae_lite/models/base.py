"""The one interface every latent-variable model in savae-lite implements.

Chapter: *The amortization gap* introduces it; every later chapter re-uses it.

A model is an ``nn.Module`` with

* ``latent_dim`` — the size Z of z;
* ``encode(x) -> (mu, logvar)`` — the inference network q_phi(z | x); both (B, Z);
* ``neg_log_lik(x, z) -> (B,)`` — -log p_theta(x | z) per example, summed over tokens or pixels;
* ``num_targets(x) -> (B,)`` — how many predicted symbols each example has (tokens incl. ``</s>``, or pixels),
  used for perplexity.
* ``decoder_parameters()`` — the generative parameters theta (what SVI differentiates besides lambda);
* ``encoder_parameters()`` — the inference parameters phi.

``x`` is always a tensor whose first dimension is the batch, so ``x.repeat_interleave(S, 0)`` gives S copies
of each example (used by importance sampling). Objectives, SVI, differentiable SVI, metrics and saliency are
written once against this interface.

An ``autoreg`` model (LSTM LM, plain PixelCNN) implements the same interface with ``latent_dim == 0``:
``neg_log_lik(x, None)`` ignores z and ``encode`` is not available.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn


class LatentVariableModel(nn.Module):
    """Base class: subclasses set ``latent_dim`` and implement the methods below."""

    latent_dim: int = 0

    @property
    def is_latent(self) -> bool:
        """Whether the model has a latent variable (``latent_dim > 0``; False for ``autoreg``)."""
        return self.latent_dim > 0

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, ...) -> mu (B, Z), logvar (B, Z)."""
        raise NotImplementedError

    def neg_log_lik(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """x (B, ...), z (B, Z) or None -> (B,) = -log p(x | z)."""
        raise NotImplementedError

    def num_targets(self, x: torch.Tensor) -> torch.Tensor:
        """(B, ...) -> (B,) number of predicted symbols per example (float)."""
        raise NotImplementedError

    def encoder_parameters(self) -> Iterator[nn.Parameter]:
        """The inference network's parameters phi (those of ``self.encoder``;
        none without one)."""
        enc = getattr(self, "encoder", None)
        return iter(()) if enc is None else enc.parameters()

    def decoder_parameters(self) -> Iterator[nn.Parameter]:
        """The generative parameters theta: every parameter not in
        :meth:`encoder_parameters` (what SVI differentiates besides lambda)."""
        enc_ids = {id(p) for p in self.encoder_parameters()}
        return (p for p in self.parameters() if id(p) not in enc_ids)
