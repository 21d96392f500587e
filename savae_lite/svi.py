"""Stochastic variational inference: K gradient steps with momentum on f(lambda) = -ELBO w.r.t. lambda.

Chapter: *SVI*. The same step is differentiated through in :mod:`savae_lite.unrolled`.

Each example's lambda_i = (mu_i, logvar_i) is optimised on its own objective f_i (the batch objective is a
*sum*, so gradients are per example and independent of the batch size). One step, for k = 0..K-1::

    g_k     = clip(grad_lambda f(lambda_k))    # per example, separately for mu and logvar
    v_{k+1} = momentum * v_k - g_k
    lambda_{k+1} = lambda_k + lr * v_{k+1}     # lr_mu for mu, lr_logvar for logvar
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field

import torch

from savae_lite.fields import option
from savae_lite.objectives import elbo_terms
from savae_lite.registry import HVP_BACKENDS


@dataclass
class SVIConfig:
    """SVI hyper-parameters, shared by plain SVI (:func:`svi`) and differentiable SVI
    (:func:`savae_lite.unrolled.unrolled_svi`).

    ``lr_*`` are per-example step sizes on the per-example objective, so a step does not change with the size
    of a batch (or of the last, smaller bucket). The original code takes lr 1 on a batch *mean*, i.e. lr 1/B
    per example: each preset takes its default from its batch size (1/32 for text, 1/50 for images; see
    ``savae_lite.presets.original_svi``). ``clip`` bounds the per-example gradient norm of mu and of logvar
    separately (None: no clipping). ``hvp`` is how Algorithm 1 differentiates through the steps (``fd``:
    finite differences, ``exact``: double backward, ``original``: the original code's backward pass, see
    :mod:`savae_lite.original_backward`); plain SVI ignores it.
    """

    steps: int = option(20, "SVI steps K while training (test-time K: --test-svi-steps)", flag="train-svi-steps",
                        low=0)
    # lr 0 is allowed: that half of lambda then stays at lambda_0
    lr_mu: float = option(1.0 / 32, "per-example SVI step size for mu", flag="svi-lr-mu", low=0)
    lr_logvar: float = option(1.0 / 32, "per-example SVI step size for log sigma^2", flag="svi-lr-logvar", low=0)
    momentum: float = option(0.5, "SVI momentum", flag="svi-momentum", low=0, high=1, high_open=True)
    clip: float | None = option(5.0, "per-example clip of the SVI gradient norm (mu and logvar separately)",
                                flag="svi-clip", low=0, low_open=True)
    hvp: str = option("fd", "savae: Hessian-vector products by finite differences (fd), double backward (exact), "
                            "or the original code's jointly clipped differences (original: an audit, not the "
                            "derivative)",
                      flag="hvp", choices=HVP_BACKENDS, what="back-end")

    def with_steps(self, steps: int) -> "SVIConfig":
        """The same settings with K = ``steps`` (e.g. a different K at test time)."""
        return dataclasses.replace(self, steps=steps)


def clip_per_example(g: torch.Tensor, max_norm: float | None) -> torch.Tensor:
    """Scale each row of g (B, Z) to norm <= max_norm; differentiable (used inside the unrolled graph)."""
    if max_norm is None:
        return g
    norm = g.norm(dim=-1, keepdim=True)
    return g * torch.clamp(max_norm / norm.clamp_min(1e-12), max=1.0)


def clip_jvp(g: torch.Tensor, u: torch.Tensor, max_norm: float | None) -> torch.Tensor:
    """Jacobian of :func:`clip_per_example` at g applied to u (the Jacobian is symmetric), both (B, Z).

    Rows with ||g|| <= c: u. Rows with ||g|| > c: (c / ||g||) (u - g_hat (g_hat . u)).
    Used by the reverse pass so that clipping is differentiated exactly and biases nothing.
    """
    if max_norm is None:
        return u
    norm = g.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    ghat = g / norm
    clipped = (max_norm / norm) * (u - ghat * (ghat * u).sum(-1, keepdim=True))
    return torch.where(norm > max_norm, clipped, u)


@dataclass
class SVITrace:
    """Per-step diagnostics of one SVI run: mean -ELBO over the batch before each step and at the end."""

    loss: list[float] = field(default_factory=list)


def svi(model, x: torch.Tensor, mu0: torch.Tensor, logvar0: torch.Tensor, cfg: SVIConfig,
        kl_weight: float = 1.0, trace: SVITrace | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``cfg.steps`` SVI steps from lambda_0 = (mu0, logvar0), both (B, Z); returns detached (mu_K, logvar_K).

    No gradient flows to the model's parameters or to lambda_0. Pass zeros for plain SVI, the encoder's output
    for test-time refinement. A model in eval mode on a GPU (test-time refinement) runs its RNNs on PyTorch's
    native kernels here: cuDNN's RNN backward refuses to run in eval mode.
    """
    mu = mu0.detach().clone()
    logvar = logvar0.detach().clone()
    v_mu = torch.zeros_like(mu)
    v_lv = torch.zeros_like(logvar)
    eval_on_gpu = x.is_cuda and not model.training
    no_cudnn = torch.backends.cudnn.flags(enabled=False) if eval_on_gpu else contextlib.nullcontext()
    with torch.enable_grad(), no_cudnn:
        for _ in range(cfg.steps):
            mu.requires_grad_(True)
            logvar.requires_grad_(True)
            f = elbo_terms(model, x, mu, logvar).loss(kl_weight).sum()
            g_mu, g_lv = torch.autograd.grad(f, [mu, logvar])
            if trace is not None:
                trace.loss.append(float(f.detach()) / x.shape[0])
            with torch.no_grad():
                v_mu = cfg.momentum * v_mu - clip_per_example(g_mu, cfg.clip)
                v_lv = cfg.momentum * v_lv - clip_per_example(g_lv, cfg.clip)
                mu = mu + cfg.lr_mu * v_mu
                logvar = logvar + cfg.lr_logvar * v_lv
    if trace is not None:
        with torch.no_grad():
            trace.loss.append(float(elbo_terms(model, x, mu, logvar).loss(kl_weight).sum()) / x.shape[0])
    return mu.detach(), logvar.detach()
