"""Objectives and metrics, written once against the model interface of :mod:`savae_lite.models.base`.

Chapter: *The amortization gap* (ELBO, IW-NLL) and *SA-VAE* (MI, active units; perplexity for text).

Conventions: every per-example quantity is a (B,) tensor in nats; ``neg_elbo`` is the loss f(lambda, theta; x)
minimised by every training mode, with an optional KL weight (annealing).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from savae_lite import gaussian


@dataclass
class ElboTerms:
    """Per-example terms of one reparameterised ELBO evaluation, each (B,)."""

    nll: torch.Tensor  # -log p(x | z), one sample of z
    kl: torch.Tensor  # KL(q(z; lambda) || N(0, I)), closed form

    def loss(self, kl_weight: float = 1.0) -> torch.Tensor:
        """f = nll + kl_weight * kl, (B,). With kl_weight = 1 this is -ELBO."""
        return self.nll + kl_weight * self.kl


def elbo_terms(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> ElboTerms:
    """One-sample reparameterised estimate of the two ELBO terms at lambda = (mu, logvar), each (B, Z)."""
    z = gaussian.sample(mu, logvar)
    return ElboTerms(nll=model.neg_log_lik(x, z), kl=gaussian.kl_to_standard_normal(mu, logvar))


def neg_elbo(model, x, mu, logvar, kl_weight: float = 1.0) -> torch.Tensor:
    """f(lambda, theta; x) = E_q[-log p(x|z)] + kl_weight * KL, one-sample estimate, (B,)."""
    return elbo_terms(model, x, mu, logvar).loss(kl_weight)


def grads_or_zeros(f: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """The gradients of the scalar ``f`` with respect to ``inputs``, zeros for an input ``f`` does not use (e.g. a
    decoder parameter outside the graph). Chapter: *Differentiable SVI* (both reverse passes use it)."""
    gs = torch.autograd.grad(f, inputs, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(gs, inputs)]


def kl_weight_at(step: int, start: float, warmup_steps: int) -> float:
    """Linear KL annealing: ``start`` at step 0 rising to 1 at ``warmup_steps`` (1 throughout if warmup is 0)."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, start + (1.0 - start) * step / warmup_steps)


@torch.no_grad()
def log_importance_weights(model, x, mu, logvar, num_samples: int, chunk: int) -> torch.Tensor:
    """log w_s = log p(x|z_s) + log p(z_s) - log q(z_s; lambda), z_s ~ q; returns (B, S).

    Samples are evaluated ``chunk`` at a time as one batch of B * chunk rows (no Python loop over samples
    inside a chunk), which bounds memory.
    """
    B, Z = mu.shape
    out = []
    done = 0
    while done < num_samples:
        s = min(chunk, num_samples - done)
        eps = torch.randn(B, s, Z, device=mu.device, dtype=mu.dtype)
        z = mu.unsqueeze(1) + torch.exp(0.5 * logvar).unsqueeze(1) * eps  # (B, s, Z)
        xs = x.repeat_interleave(s, 0)
        nll = model.neg_log_lik(xs, z.reshape(B * s, Z)).view(B, s)
        logw = -nll + gaussian.log_prior(z) - gaussian.log_density(z, mu.unsqueeze(1), logvar.unsqueeze(1))
        out.append(logw)
        done += s
    return torch.cat(out, 1)


def iw_nll(model, x, mu, logvar, num_samples: int = 500, max_rows: int = 1000) -> torch.Tensor:
    """Importance-weighted estimate of -log p(x) with q(z; lambda) as proposal (Burda et al. 2016), (B,).

    -log (1/S sum_s w_s); with S = 1 it equals -ELBO in expectation, and it decreases towards -log p(x) as S
    grows. ``max_rows`` bounds B * (samples per chunk).
    """
    chunk = max(1, max_rows // x.shape[0])
    logw = log_importance_weights(model, x, mu, logvar, num_samples, chunk)
    return -(torch.logsumexp(logw, 1) - math.log(num_samples))


@torch.no_grad()
def mutual_information(mu: torch.Tensor, logvar: torch.Tensor, chunk: int = 256) -> float:
    """Monte-Carlo estimate of I(x; z) under q (He et al. 2019), over a whole data set.

    I = E_x E_q(z|x)[log q(z|x) - log q(z)], with the aggregate posterior q(z) approximated by the mixture of all
    N posteriors given (He et al. use one mini-batch; the whole set is less biased). One draw z_i ~ q(z|x_i) per
    example, and both log-densities are evaluated at the same z_i: their noise cancels, so a collapsed posterior
    (q(z|x) = q(z)) gives exactly 0 rather than a noisy number. Rows are processed ``chunk`` at a time
    (memory O(chunk * N * Z)). mu, logvar (N, Z) -> a float (nats).
    """
    N = mu.shape[0]
    z = gaussian.sample(mu, logvar)  # (N, Z)
    diffs = []
    for start in range(0, N, chunk):
        zc = z[start:start + chunk]
        log_q_all = gaussian.log_density(zc.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))  # (c, N)
        log_q_own = gaussian.log_density(zc, mu[start:start + chunk], logvar[start:start + chunk])
        diffs.append(log_q_own - (torch.logsumexp(log_q_all, 1) - math.log(N)))
    return float(torch.cat(diffs).mean())


def active_units(means: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """Active units (Burda et al. 2016): dimensions whose Cov_x(E_q[z]) exceeds ``threshold``.

    means (N, Z) = posterior means over a data set -> (count, per-dimension variance (Z,)).
    """
    var = means.var(0, unbiased=False)
    return int((var > threshold).sum()), var


def perplexity(total_nll: float, total_tokens: float) -> float:
    """PPL = exp(total NLL / total predicted tokens), tokens counting ``</s>`` but not ``<s>``.

    Never raises: a per-token NLL beyond what a float can exponentiate (about 709.8 nats) gives ``math.inf``,
    a NaN gives NaN, so a diverging run is reported by its loss checks, not by an ``OverflowError`` here.
    """
    exponent = float(total_nll) / max(float(total_tokens), 1.0)
    try:
        return math.exp(exponent)
    except OverflowError:
        return math.inf
