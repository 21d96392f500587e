"""What the original code differentiates (``hvp='original'``, ours: the paper does not describe it): an emulation
of ``OptimN2N.forward_mom`` and ``OptimN2N.backward_mom`` in ``harvardnlp/sa-vae``'s ``optim_n2n.py``.

Chapter: *Differentiable SVI*, section "What the original code computes".

The original works on the batch **mean** F = (1/B) sum_i f_i, with one step size lr per batch (lr/B per example)
and one norm bound c (``--svi_max_grad_norm``, 5) for every clip::

    forward, k = 0 .. K-1
        g_k = grad_lambda F(lambda_k), mu- and logvar-part each clipped to norm c
        m_k = momentum m_{k-1} - g_k;   lambda_{k+1} = lambda_k + lr m_k
        keep grad_theta F(lambda_k), unclipped
    reverse, k = K-1 .. 0, from lam_bar = grad_lambda F(lambda_K), m_bar = 0
        m_bar += lr lam_bar
        (a, b) = grad_(lambda, theta) F(lambda_k + r m_bar)   r = 1e-5, step k's noise
        (a, b) clipped JOINTLY to norm c       <- lambda and every decoder parameter
        H_theta = (b - grad_theta F(lambda_k)) / r, clipped to norm c
        theta_bar -= H_theta
        lam_bar -= (a - g_k) / r;  lam_bar (mu and logvar together) clipped to norm c
        m_bar *= momentum

Where the joint clip fires (the decoder's gradient norm alone is often above c), ``a`` shrinks by a factor s < 1
and ``(a - g_k) / r`` is about ``-(1 - s) g_k / r``: a huge step along the forward gradient, which the clip of
``lam_bar`` then cuts to norm c. The encoder receives c times the direction of the plain VAE gradient instead of
the total derivative. ``UnrolledOutput.clip_fired`` records, per step, whether that joint clip fired.

Two adaptations, neither of which changes what is computed: lr is taken per example from
:class:`~savae_lite.svi.SVIConfig`
(``lr_mu * B`` on the batch mean, so a batch of the preset's size takes exactly the original's lr 1), and the
outputs are returned in :func:`~savae_lite.unrolled.unrolled_svi`'s scale (gradients of the batch *sum*: the
original's times B). The noise of each step is replayed like the fd back-end's; ``r`` is the original's fixed
1e-5, not scaled to the perturbation.
"""
from __future__ import annotations

import torch

from savae_lite import rng
from savae_lite.objectives import elbo_terms, grads_or_zeros

#: The original's finite-difference step (``--eps`` in ``train_text.py`` / ``train_img.py``).
ORIGINAL_EPS = 1e-5


def clip_jointly(tensors: list[torch.Tensor], max_norm: float | None) -> torch.Tensor:
    """Scale ``tensors`` in place so that their joint 2-norm is at most ``max_norm``, exactly as the original's
    ``OptimN2N.clip_grad_norm`` (coefficient ``max_norm / (norm + 1e-6)``, applied when below 1). Returns a 0-d
    bool tensor: whether the clip fired (no host synchronisation). ``max_norm`` None: nothing is clipped."""
    if max_norm is None or not tensors:
        return torch.zeros((), dtype=torch.bool, device=tensors[0].device if tensors else None)
    total = torch.sqrt(sum(t.pow(2).sum() for t in tensors))
    coef = max_norm / (total + 1e-6)
    for t in tensors:
        t.mul_(torch.clamp(coef, max=1.0))
    return coef < 1


def _mean_objective(model, x, mu, logvar, kl_weight):
    terms = elbo_terms(model, x, mu, logvar)
    return terms.loss(kl_weight).sum() / x.shape[0], terms


def unrolled_svi_original(model, x: torch.Tensor, mu0: torch.Tensor, logvar0: torch.Tensor, cfg, *,
                          kl_weight: float = 1.0, params: list[torch.nn.Parameter] | None = None,
                          eps: float = ORIGINAL_EPS):
    """K SVI steps from (mu0, logvar0) (B, Z) and the original code's reverse pass (see the module docstring).

    Returns the fields of a :class:`~savae_lite.unrolled.UnrolledOutput` as a dict (``unrolled_svi`` builds it),
    in the same scale as the other back-ends (gradients of the batch sum), with ``clip_fired`` (K,) bool: step
    k's joint clip of the perturbed gradients fired.
    Memory: one copy of the decoder's gradient per step (the original keeps them all, and so does this).
    """
    if params is None:
        params = [p for p in model.decoder_parameters() if p.requires_grad]
    B, device, c, beta = x.shape[0], mu0.device, cfg.clip, cfg.momentum
    lr_mu, lr_lv = cfg.lr_mu * B, cfg.lr_logvar * B  # the original's lr on the batch mean
    mu, lv = mu0.detach(), logvar0.detach()
    m_mu, m_lv = torch.zeros_like(mu), torch.zeros_like(lv)
    cache = []
    with torch.enable_grad():
        for _ in range(cfg.steps):
            mu_k, lv_k = mu.detach().requires_grad_(True), lv.detach().requires_grad_(True)
            state = rng.capture(device)
            F, _ = _mean_objective(model, x, mu_k, lv_k, kl_weight)
            g_mu, g_lv, *g_theta = grads_or_zeros(F, [mu_k, lv_k, *params])
            clip_jointly([g_mu], c)  # mu and logvar separately, over the whole batch
            clip_jointly([g_lv], c)
            cache.append((mu_k.detach(), lv_k.detach(), g_mu, g_lv, g_theta, state))
            with torch.no_grad():
                m_mu, m_lv = beta * m_mu - g_mu, beta * m_lv - g_lv
                mu, lv = mu_k.detach() + lr_mu * m_mu, lv_k.detach() + lr_lv * m_lv
        if cfg.steps > 0 and not bool(torch.isfinite(mu).all() & torch.isfinite(lv).all()):
            raise FloatingPointError(f"non-finite SVI iterate: lambda_K has NaN/inf after {cfg.steps} SVI steps")
        mu_K, lv_K = mu.detach().requires_grad_(True), lv.detach().requires_grad_(True)
        F_K, terms = _mean_objective(model, x, mu_K, lv_K, kl_weight)
        lam_mu, lam_lv, *theta_bar = grads_or_zeros(F_K, [mu_K, lv_K, *params])
        p_mu, p_lv = torch.zeros_like(mu), torch.zeros_like(lv)
        fired = []
        for k in reversed(range(cfg.steps)):
            p_mu, p_lv = p_mu + lr_mu * lam_mu, p_lv + lr_lv * lam_lv
            mu_k, lv_k, g_mu, g_lv, g_theta, state = cache[k]
            with rng.replay(state):
                mu_p = (mu_k + eps * p_mu).requires_grad_(True)
                lv_p = (lv_k + eps * p_lv).requires_grad_(True)
                F_p, _ = _mean_objective(model, x, mu_p, lv_p, kl_weight)
                a_mu, a_lv, *b = grads_or_zeros(F_p, [mu_p, lv_p, *params])
            fired.append(clip_jointly([a_mu, a_lv, *b], c))
            h_theta = [(bi - gi) / eps for bi, gi in zip(b, g_theta)]
            clip_jointly(h_theta, c)
            torch._foreach_sub_(theta_bar, h_theta)
            lam_mu, lam_lv = lam_mu - (a_mu - g_mu) / eps, lam_lv - (a_lv - g_lv) / eps
            clip_jointly([lam_mu, lam_lv], c)
            p_mu, p_lv = beta * p_mu, beta * p_lv
            cache[k] = None
    clip_fired = torch.stack(fired[::-1]) if fired else torch.zeros(0, dtype=torch.bool)
    return dict(loss=(F_K * B).detach(), nll=terms.nll.detach(), kl=terms.kl.detach(), mu=mu_K.detach(),
                logvar=lv_K.detach(), grad_mu0=lam_mu * B, grad_logvar0=lam_lv * B,
                grad_theta=[t * B for t in theta_bar], clip_fired=clip_fired)
