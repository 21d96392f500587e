"""Differentiable SVI — Algorithm 1 of Kim et al. (2018).

Chapter: *Differentiable SVI* (the derivation, both HVP back-ends and their cost).

SA-VAE trains on the *total* derivative of f(lambda_K, theta) where lambda_K comes from K SVI steps (see
:mod:`savae_lite.svi`) started at lambda_0 = enc_phi(x). Reverse-mode differentiation of those K steps needs,
per step, one Hessian-vector product of f at lambda_k::

    lam_bar = grad_lambda f(lambda_K), theta_bar = grad_theta f(lambda_K), v_bar = 0
    for k = K-1 .. 0:
        v_bar     += lr * lam_bar
        u          = J_clip(g_k) v_bar      # exact derivative of the per-example clip
        lam_bar   -= H_{lambda lambda} f(lambda_k) u
        theta_bar -= H_{theta lambda} f(lambda_k) u
        v_bar     *= momentum
    return lam_bar (= d f / d lambda_0) and theta_bar

Two back-ends for the Hessian-vector products:

* ``'fd'`` — one-sided finite differences, H u ~ [grad f(lambda_k + r u) - grad f(lambda_k)] / r, re-using the
  gradient of the forward pass, so each step costs one extra gradient evaluation: 2K + 1 gradient evaluations
  in all, the floor for exact unrolled differentiation. Memory does not grow with K:

  - the lambda-part of grad f(lambda_k) is cached per step (B x Z numbers, plus the generator state);
  - the theta-part is *not* cached. One step size r is used for every step, so the theta-update sums to
    ``theta_bar -= (sum_k grad_theta f(lambda_k + r u_k) - sum_k grad_theta f(lambda_k)) / r``: the forward
    pass adds each grad_theta f(lambda_k) into one buffer and the reverse pass subtracts the perturbed
    gradients from it — one extra copy of theta instead of K. (Summing before differencing costs no accuracy
    that matters: in float32, K = 20, the theta-gradient's error against the exact back-end is the same as
    with per-step differences, about 1e-5 relative.)
  - r is set at the first reverse step so that the perturbation ``r u`` has norm ``fd_eps * sqrt(dim lambda)``
    there; the other steps' perturbations differ from that by the ratio ||u_k|| / ||u_{K-1}|| (reported in
    :attr:`UnrolledOutput.fd_perturbation`: within a factor of 2 of 1 with the default settings; smaller on
    early steps where the per-example clip is active, which makes them no less accurate in practice).

  Two numbers are copied to the host per call (the finiteness of lambda_K, and ||u_{K-1}|| to set r): there
  is no per-step synchronisation.
* ``'exact'`` — autograd double-backward through each step's graph (kept alive until the reverse pass, so
  memory grows with K).

Clipping: the forward pass clips each example's gradient; the reverse pass applies the clip's exact Jacobian
(:func:`savae_lite.svi.clip_jvp`), so the result is the true derivative of the clipped procedure — the same
number as brute-force autograd through the K steps (:func:`unrolled_loss_autograd`).

Noise: each step's generator state is captured before evaluating f and replayed in the reverse pass, so the
same eps and the same dropout masks are used.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch

from savae_lite import rng
from savae_lite.objectives import elbo_terms, grads_or_zeros
from savae_lite.original_backward import unrolled_svi_original
from savae_lite.svi import HVP_BACKENDS, SVIConfig, clip_jvp, clip_per_example


@dataclass
class UnrolledOutput:
    """Result of :func:`unrolled_svi`. Gradients are of ``sum_i f_i(lambda_K)`` (sum over the batch)."""

    loss: torch.Tensor  # scalar, detached: sum over the batch of f(lambda_K)
    nll: torch.Tensor  # (B,) at lambda_K, detached
    kl: torch.Tensor  # (B,) at lambda_K, detached
    mu: torch.Tensor  # (B, Z) lambda_K
    logvar: torch.Tensor  # (B, Z)
    grad_mu0: torch.Tensor  # (B, Z) d f(lambda_K) / d mu_0
    grad_logvar0: torch.Tensor  # (B, Z)
    grad_theta: list[torch.Tensor]  # same order as ``params``
    # fd only: per step k = 0..K-1, ||r u_k|| / (fd_eps * sqrt(dim lambda)) -- 1 at the last step (device tensor)
    fd_perturbation: torch.Tensor | None = None
    # original only: per step k = 0..K-1, whether the joint clip of the perturbed gradients fired (K,) bool
    clip_fired: torch.Tensor | None = None


def _objective(model, x, mu, logvar, kl_weight):
    terms = elbo_terms(model, x, mu, logvar)
    return terms.loss(kl_weight).sum(), terms


def _accumulate(acc: list, grads, sign: float = 1.0) -> None:
    """acc[i] += sign * grads[i] in place (acc in a wider dtype); None gradients (unused parameters) are skipped."""
    pairs = [(a, g) for a, g in zip(acc, grads) if g is not None]
    if pairs:
        a, g = zip(*pairs)
        torch._foreach_add_(list(a), list(g), alpha=sign)


def default_fd_eps(dtype: torch.dtype) -> float:
    """Per-element size of the finite-difference perturbation: 1e-3 in float32, 1e-6 in float64."""
    return 1e-6 if dtype == torch.float64 else 1e-3


def unrolled_svi(model, x: torch.Tensor, mu0: torch.Tensor, logvar0: torch.Tensor, cfg: SVIConfig, *,
                 hvp: str | None = None, kl_weight: float = 1.0, params: list[torch.nn.Parameter] | None = None,
                 fd_eps: float | None = None) -> UnrolledOutput:
    """Run K SVI steps from (mu0, logvar0) (B, Z) and differentiate f(lambda_K) back to lambda_0 and theta.

    ``params`` defaults to the model's decoder parameters that require grad. Nothing is written to ``.grad``:
    the caller decides how to scale and where to send the gradients (see :mod:`savae_lite.modes`).
    ``hvp`` overrides ``cfg.hvp`` (the back-end: ``'fd'``, ``'exact'``, or ``'original'``: the original code's
    clipped finite differences, :func:`savae_lite.original_backward.unrolled_svi_original`, not the derivative).
    Raises ``FloatingPointError`` when the SVI iterates become NaN or infinite (one check, after the K steps).
    """
    hvp = cfg.hvp if hvp is None else hvp
    if hvp not in HVP_BACKENDS:
        raise ValueError(f"hvp: unknown back-end {hvp!r}; choose one of {HVP_BACKENDS}")
    if params is None:
        params = [p for p in model.decoder_parameters() if p.requires_grad]
    if hvp == "original":
        return UnrolledOutput(**unrolled_svi_original(model, x, mu0, logvar0, cfg, kl_weight=kl_weight,
                                                      params=params))
    device = mu0.device
    lr_mu, lr_lv, beta, clip = cfg.lr_mu, cfg.lr_logvar, cfg.momentum, cfg.clip
    mu, lv = mu0.detach(), logvar0.detach()
    v_mu, v_lv = torch.zeros_like(mu), torch.zeros_like(lv)
    exact = hvp == "exact"
    # cuDNN's RNN has no double backward; the exact back-end falls back to the native kernels.
    on_gpu = exact and device.type == "cuda"
    no_cudnn = torch.backends.cudnn.flags(enabled=False) if on_gpu else contextlib.nullcontext()
    cache = []
    # fd: sum_k grad_theta f(lambda_k) - sum_k grad_theta f(lambda_k + r u_k), in one buffer (see above)
    theta_acc: list[torch.Tensor] = []
    with torch.enable_grad(), no_cudnn:
        # ---- forward: K momentum steps, caching what the reverse pass needs -------------------------
        for _ in range(cfg.steps):
            mu_k = mu.detach().requires_grad_(True)
            lv_k = lv.detach().requires_grad_(True)
            if exact:
                f, _ = _objective(model, x, mu_k, lv_k, kl_weight)
                g_mu, g_lv = torch.autograd.grad(f, [mu_k, lv_k], create_graph=True)
                c_mu, c_lv = clip_per_example(g_mu, clip), clip_per_example(g_lv, clip)
                cache.append((mu_k, lv_k, c_mu, c_lv))
                c_mu, c_lv = c_mu.detach(), c_lv.detach()
            else:
                state = rng.capture(device)
                f, _ = _objective(model, x, mu_k, lv_k, kl_weight)
                g_mu, g_lv, *g_theta = torch.autograd.grad(f, [mu_k, lv_k, *params], allow_unused=True)
                if theta_acc:
                    _accumulate(theta_acc, g_theta)
                else:  # the buffer starts as a copy of the first step's gradients (never aliasing them)
                    theta_acc = [torch.zeros_like(p) if g is None else g.clone(memory_format=torch.contiguous_format)
                                 for g, p in zip(g_theta, params)]
                del g_theta
                cache.append((mu_k.detach(), lv_k.detach(), g_mu, g_lv, state))
                c_mu, c_lv = clip_per_example(g_mu, clip), clip_per_example(g_lv, clip)
            with torch.no_grad():
                v_mu = beta * v_mu - c_mu
                v_lv = beta * v_lv - c_lv
                mu = mu + lr_mu * v_mu
                lv = lv + lr_lv * v_lv
        # ---- the loss at lambda_K and its direct gradients ----------------------------------------
        if cfg.steps > 0 and not bool(torch.isfinite(mu).all() & torch.isfinite(lv).all()):
            raise FloatingPointError(f"non-finite SVI iterate: lambda_K has NaN/inf after {cfg.steps} SVI steps")
        mu_K = mu.detach().requires_grad_(True)
        lv_K = lv.detach().requires_grad_(True)
        f_K, terms = _objective(model, x, mu_K, lv_K, kl_weight)
        lam_mu, lam_lv, *theta_bar = grads_or_zeros(f_K, [mu_K, lv_K, *params])
        # ---- reverse pass -----------------------------------------------------------------------------
        vb_mu, vb_lv = torch.zeros_like(mu), torch.zeros_like(lv)
        eps = fd_eps if fd_eps is not None else default_fd_eps(mu.dtype)
        target = eps * math.sqrt(mu.numel() + lv.numel())  # norm of the perturbation r u at the first step
        r = None
        sizes = []
        for k in reversed(range(cfg.steps)):
            vb_mu = vb_mu + lr_mu * lam_mu
            vb_lv = vb_lv + lr_lv * lam_lv
            if exact:
                mu_k, lv_k, c_mu, c_lv = cache[k]
                h_mu, h_lv, *h_theta = torch.autograd.grad(
                    [c_mu, c_lv], [mu_k, lv_k, *params], grad_outputs=[vb_mu, vb_lv], allow_unused=True)
                h_mu = torch.zeros_like(mu_k) if h_mu is None else h_mu
                h_lv = torch.zeros_like(lv_k) if h_lv is None else h_lv
                _accumulate(theta_bar, h_theta, -1.0)
            else:
                mu_k, lv_k, g_mu, g_lv, state = cache[k]
                u_mu, u_lv = clip_jvp(g_mu, vb_mu, clip), clip_jvp(g_lv, vb_lv, clip)
                u_norm = torch.sqrt(u_mu.pow(2).sum() + u_lv.pow(2).sum())
                if r is None:  # the one host synchronisation; u = 0 (e.g. lr = 0) gives H u = 0 for any r
                    norm = float(u_norm)
                    r = target / norm if norm > 0 and math.isfinite(norm) else 1.0
                sizes.append(u_norm * (r / target))
                with rng.replay(state):
                    mu_p = (mu_k + r * u_mu).requires_grad_(True)
                    lv_p = (lv_k + r * u_lv).requires_grad_(True)
                    f_p, _ = _objective(model, x, mu_p, lv_p, kl_weight)
                    gp_mu, gp_lv, *gp_theta = torch.autograd.grad(f_p, [mu_p, lv_p, *params], allow_unused=True)
                h_mu, h_lv = (gp_mu - g_mu) / r, (gp_lv - g_lv) / r
                _accumulate(theta_acc, gp_theta, -1.0)
                del gp_theta
            cache[k] = None  # free this step's graph / gradients
            lam_mu = lam_mu - h_mu
            lam_lv = lam_lv - h_lv
            vb_mu, vb_lv = beta * vb_mu, beta * vb_lv
        if theta_acc:
            torch._foreach_div_(theta_acc, r)
            torch._foreach_add_(theta_bar, theta_acc)
            del theta_acc
    fd_size = torch.stack(sizes[::-1]) if sizes else None
    return UnrolledOutput(loss=f_K.detach(), nll=terms.nll.detach(), kl=terms.kl.detach(), mu=mu_K.detach(),
                          logvar=lv_K.detach(), grad_mu0=lam_mu, grad_logvar0=lam_lv, grad_theta=theta_bar,
                          fd_perturbation=fd_size)


def unrolled_loss_autograd(model, x, mu0, logvar0, cfg: SVIConfig, kl_weight: float = 1.0) -> torch.Tensor:
    """Reference implementation: the same K steps built as one autograd graph (``create_graph=True``).

    Returns the scalar sum_i f_i(lambda_K), differentiable w.r.t. mu0, logvar0 and the model's parameters.
    Memory grows with K (every step's graph is kept); used by tests and the book to check Algorithm 1.
    """
    mu, lv = mu0, logvar0
    v_mu, v_lv = torch.zeros_like(mu), torch.zeros_like(lv)
    for _ in range(cfg.steps):
        f, _ = _objective(model, x, mu, lv, kl_weight)
        g_mu, g_lv = torch.autograd.grad(f, [mu, lv], create_graph=True)
        v_mu = cfg.momentum * v_mu - clip_per_example(g_mu, cfg.clip)
        v_lv = cfg.momentum * v_lv - clip_per_example(g_lv, cfg.clip)
        mu = mu + cfg.lr_mu * v_mu
        lv = lv + cfg.lr_logvar * v_lv
    f, _ = _objective(model, x, mu, lv, kl_weight)
    return f
