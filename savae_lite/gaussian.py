"""The variational family: a diagonal Gaussian q(z; lambda), lambda = (mu, logvar), and the prior N(0, I).

Chapter: *The amortization gap* (definitions) and *SVI* (lambda as free parameters).
"""
from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def sample(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """Reparameterised draw z = mu + exp(logvar / 2) * eps; mu, logvar (..., Z) -> z (..., Z)."""
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Closed-form KL(N(mu, diag exp(logvar)) || N(0, I)); (B, Z) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last dimension; broadcasts; (..., Z) -> (...)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def log_prior(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I); (..., Z) -> (...)."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)

