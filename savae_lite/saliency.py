"""Saliency of the latent variable (Kim et al. 2018, Section 5.4 and Figures 3-4): which tokens z helps to predict
(output saliency) and which input words move z (input saliency), as gradients. The token tables and grouped means
with confidence intervals are in :mod:`savae_lite.saliency_tables`, the Figure 3 HTML rendering in
:mod:`savae_lite.saliency_render`; their names are importable from here too.

Chapter: *What the latent encodes*.

For a text VAE (:class:`savae_lite.models.text.TextVAE`) and a batch x (B, T) of ``<s> w_1 .. w_n </s> <pad>..``,
with lambda = (mu, logvar) the test-time posterior (the encoder's lambda_0, refined by SVI when ``refine`` is
given) and z_s = mu + sigma * eps_s, s = 1..S (reparameterised samples):

* output saliency of target x_t (t = 1..T-1, ``</s>`` included): || (1/S) sum_s d log p(x_t | x_<t, z_s) / dz_s ||_2,
  shape (B, T-1), 0 at padding. All T-1 per-token gradients come from two batched backward passes, not a loop
  over tokens: log p(x_t | .) depends on z only through the vector u_t entering the decoder's vocabulary layer
  (``decoder.out``), so G = d(sum_t log p_t)/du (one backward) gives each token's dlog p_t/du_t, and one backward
  batched over t (``is_grads_batched``) with cotangents G masked to step t gives every dlog p_t/dz.
* input saliency of token x_t (t = 0..T-1): || (1/S) sum_s d ||z_s||^2 / dw_t ||_2, w_t the encoder's embedding
  output at step t; shape (B, T), 0 at padding; one backward for all tokens (each example's z depends on its own
  words only). By default (``through_svi=True``) the gradient is the total derivative through the K SVI steps
  (lambda_K depends on w through lambda_0 = enc(w); SVI itself sees x only as discrete decoder tokens): it is the
  derivative of the z actually used at test time, and the path SA-VAE's training differentiates. ``False``
  treats the SVI correction lambda_K - lambda_0 as a constant (straight-through: the encoder's sensitivity,
  evaluated at the refined posterior; K times cheaper, no second derivatives). Without ``refine`` both are the
  plain encoder gradient.

Noise: eps comes from ``generator`` (or is given as ``eps`` (S, B, Z)); the SVI steps draw from the global
generator, fixed by ``seed``. The model is put in eval mode (no dropout) and restored.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping

import torch

from savae_lite.evaluate import test_time_q
from savae_lite.objectives import elbo_terms
from savae_lite.saliency_render import SaliencyHTML, render_html  # noqa: F401 (re-exported: importable from here)
from savae_lite.saliency_tables import (  # noqa: F401 (re-exported: importable from here)
    FIGURE4,
    FREQ_EDGES,
    LOGLIK_EDGES,
    REL_EDGES,
    aggregate,
    figure4_tables,
    token_table,
    word_counts,
)
from savae_lite.svi import SVIConfig, clip_per_example, svi

# ------------------------------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _eval_mode(model):
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


def seeded(seed: int | None, device: torch.device | str = "cpu"):
    """A context in which the global generators start from ``seed`` (restored afterwards); None: no change."""
    if seed is None:
        return contextlib.nullcontext()
    device = torch.device(device)

    @contextlib.contextmanager
    def ctx():
        idx = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else []
        with torch.random.fork_rng(devices=idx):
            torch.manual_seed(seed)
            yield
    return ctx()


def draw_eps(samples: int, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal eps (S, B, Z) for mu ``like`` (B, Z), from ``generator`` (global when None)."""
    if samples < 1:
        raise ValueError(f"saliency: samples must be >= 1, got {samples}")
    eps = torch.randn((samples, *like.shape), generator=generator, dtype=like.dtype,
                      device=generator.device if generator is not None else like.device)
    return eps.to(like.device)


def _z(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z (S, B, Z) = mu + exp(logvar / 2) * eps, mu and logvar (B, Z), eps (S, B, Z)."""
    if eps.dim() != 3 or eps.shape[1:] != mu.shape:
        raise ValueError(f"saliency: eps must have shape (S, {mu.shape[0]}, {mu.shape[1]}), got {tuple(eps.shape)}")
    return mu.unsqueeze(0) + torch.exp(0.5 * logvar).unsqueeze(0) * eps


def refine_differentiable(model, x: torch.Tensor, mu0: torch.Tensor, logvar0: torch.Tensor,
                          cfg: SVIConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`savae_lite.svi.svi`'s K steps kept in one autograd graph (``create_graph``), so lambda_K (B, Z) is
    differentiable w.r.t. lambda_0 (and what it depends on). Same noise draws, in the same order, as ``svi``:
    with the same generator state both return the same lambda_K."""
    mu, lv = (t if t.requires_grad else t.detach().requires_grad_(True) for t in (mu0, logvar0))
    v_mu, v_lv = torch.zeros_like(mu), torch.zeros_like(lv)
    for _ in range(cfg.steps):
        f = elbo_terms(model, x, mu, lv).loss(1.0).sum()
        g_mu, g_lv = torch.autograd.grad(f, [mu, lv], create_graph=True)
        v_mu = cfg.momentum * v_mu - clip_per_example(g_mu, cfg.clip)
        v_lv = cfg.momentum * v_lv - clip_per_example(g_lv, cfg.clip)
        mu = mu + cfg.lr_mu * v_mu
        lv = lv + cfg.lr_logvar * v_lv
    return mu, lv


# ------------------------------------------------------------------------------------------ output saliency


def token_log_lik_jacobian(model, x: torch.Tensor, z: torch.Tensor,
                           method: str = "head") -> tuple[torch.Tensor, torch.Tensor]:
    """d log p(x_t | x_<t, z) / dz for every target token: x (N, T), z (N, Z) -> (J (N, T-1, Z), ll (N, T-1)).

    ``method='head'``: two batched backward passes through the position-wise vocabulary layer ``decoder.out``
    (see the module docstring; needs a decoder whose log p_t depends on z only through ``out``'s input at step t,
    true for both ``z_at`` settings of :class:`~savae_lite.models.text.TextDecoder`). ``'direct'``: one backward
    batched over the T-1 one-hot cotangents of ll (generic, but materialises T-1 copies of the (N, T-1, V) logit
    gradient). Gradients are not accumulated into the parameters.
    """
    z = z.detach().requires_grad_(True)
    with torch.enable_grad():
        if method == "head":
            captured: dict[str, torch.Tensor] = {}
            hook = model.decoder.out.register_forward_hook(lambda m, inp, out: captured.__setitem__("u", inp[0]))
            try:
                ll = -model.token_nll(x, z)
            finally:
                hook.remove()
            u = captured["u"]  # (N, T-1, H)
            g = torch.autograd.grad(ll.sum(), u, retain_graph=True)[0]
            steps = ll.shape[1]
            eye = torch.eye(steps, dtype=g.dtype, device=g.device)
            cot = eye[:, None, :, None] * g.unsqueeze(0)  # (T-1, N, T-1, H): step t's cotangent only
            jac = torch.autograd.grad(u, z, cot, is_grads_batched=True)[0]  # (T-1, N, Z)
        elif method == "direct":
            ll = -model.token_nll(x, z)
            steps = ll.shape[1]
            eye = torch.eye(steps, dtype=ll.dtype, device=ll.device)
            cot = eye[:, None, :].expand(steps, ll.shape[0], steps)
            jac = torch.autograd.grad(ll, z, cot, is_grads_batched=True)[0]
        else:
            raise ValueError(f"token_log_lik_jacobian: method must be 'head' or 'direct', got {method!r}")
    return jac.transpose(0, 1).detach(), ll.detach()


def output_saliency(model, x: torch.Tensor, refine: SVIConfig | None = None, *, samples: int = 1,
                    lam: tuple[torch.Tensor, torch.Tensor] | None = None, eps: torch.Tensor | None = None,
                    generator: torch.Generator | None = None, seed: int | None = None, method: str = "head",
                    return_log_lik: bool = False):
    """Output saliency || E_q[d log p(x_t | x_<t, z) / dz] ||_2 of the targets x[:, 1:]: x (B, T) -> (B, T-1),
    0 at padding; the expectation is the mean over ``samples`` reparameterised draws.

    lambda: ``lam`` = (mu, logvar), each (B, Z), when given; otherwise the encoder's output refined by ``refine``'s
    SVI steps (None: not refined), the SVI noise seeded by ``seed``. ``eps`` (S, B, Z) fixes the draws (else from
    ``generator``). ``return_log_lik``: also return E_q[log p(x_t | x_<t, z)] (B, T-1) (0 at padding).
    """
    with _eval_mode(model):
        if lam is None:
            with seeded(seed, x.device):
                lam = test_time_q(model, x, "encoder", refine)
        mu, logvar = (t.detach() for t in lam)
        eps = draw_eps(samples, mu, generator) if eps is None else eps
        z = _z(mu, logvar, eps)  # (S, B, Z)
        S, B, Z = z.shape
        jac, ll = token_log_lik_jacobian(model, x.repeat(S, 1), z.reshape(S * B, Z), method)
        mask = (x[:, 1:] != model.cfg.pad_idx).to(jac.dtype)
        sal = jac.view(S, B, -1, Z).mean(0).norm(dim=-1) * mask
    if return_log_lik:
        return sal, ll.view(S, B, -1).mean(0) * mask
    return sal


# ------------------------------------------------------------------------------------------- input saliency


def input_saliency(model, x: torch.Tensor, refine: SVIConfig | None = None, *, samples: int = 1,
                   through_svi: bool = True, eps: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, seed: int | None = None) -> torch.Tensor:
    """Input saliency || E_q[d ||z||^2 / dw_t] ||_2 of every token of x (B, T) -> (B, T) (``<s>`` and ``</s>``
    included, 0 at padding), w_t the output of ``model.encoder.emb`` at step t.

    lambda is the encoder's lambda_0 refined by ``refine`` (None: not refined; SVI noise seeded by ``seed``).
    ``through_svi`` (default True): differentiate through the K SVI steps (exact total derivative; costs K
    double-backward steps); False: straight-through (lambda_K - lambda_0 held constant). See the module docstring.
    """
    captured: dict[str, torch.Tensor] = {}

    def leaf(module, inp, out):  # replace the embedding output by a leaf we can differentiate w.r.t.
        captured["w"] = out.detach().requires_grad_(True)
        return captured["w"]

    with _eval_mode(model), torch.enable_grad():
        hook = model.encoder.emb.register_forward_hook(leaf)
        try:
            mu0, lv0 = model.encode(x)
        finally:
            hook.remove()
        mu, lv = mu0, lv0
        if refine is not None and refine.steps > 0:
            with seeded(seed, x.device):
                if through_svi:
                    mu, lv = refine_differentiable(model, x, mu0, lv0, refine)
                else:
                    mu_k, lv_k = svi(model, x, mu0, lv0, refine)
                    mu, lv = mu0 + (mu_k - mu0).detach(), lv0 + (lv_k - lv0).detach()
        eps = draw_eps(samples, mu, generator) if eps is None else eps
        objective = _z(mu, lv, eps).pow(2).sum(-1).mean(0).sum()  # sum over the batch of E_q ||z||^2
        grad = torch.autograd.grad(objective, captured["w"])[0]  # (B, T, E)
    return grad.norm(dim=-1) * (x != model.cfg.pad_idx).to(grad.dtype)


@torch.no_grad()
def saliency_table(model, batches: Iterable[torch.Tensor], vocab, refine: SVIConfig | None = None, *,
                   samples: int = 1, counts: Mapping[str, int] | None = None, tagger: str | None = "spacy",
                   with_input: bool = True, through_svi: bool = True, generator: torch.Generator | None = None,
                   seed: int | None = None, placeholders: Mapping[str, str] | None = None):
    """Run output (and input) saliency over ``batches`` (each (B, T)) and return
    :func:`~savae_lite.saliency_tables.token_table`'s frame.

    ``vocab`` decodes ids (:class:`~savae_lite.data.vocab.Vocab`); ``tagger``: :func:`savae_lite.pos.tag`'s tagger, or
    None for no tags. The input saliency of a row is that of the same token x_t (``<s>``'s is not in the table).
    Sentence ids count the examples in order. Batch k's SVI noise is seeded by ``seed + k`` (a random seed when
    None), the same for both saliencies, so both use the same lambda.
    """
    # imported here, not at the top: savae_lite.saliency re-exports this module's names

    words, out_sal, lls, in_sal = [], [], [], []
    with _eval_mode(model):
        for k, x in enumerate(batches):
            # one seed per batch, so both saliencies see the same SVI run (the same lambda)
            s = seed + k if seed is not None else int(torch.randint(2**62, (1,)))
            with seeded(s, x.device):
                lam = test_time_q(model, x, "encoder", refine)
            o, ll = output_saliency(model, x, lam=lam, samples=samples, generator=generator, return_log_lik=True)
            i = input_saliency(model, x, refine, samples=samples, through_svi=through_svi, generator=generator,
                               seed=s) if with_input else None
            _rows(model, vocab, x, o, ll, i, words, out_sal, lls, in_sal)
    tags = None
    if tagger is not None:
        from savae_lite.pos import tag
        tags = tag(words, tagger, placeholders)
    return token_table(words, out_sal, log_lik=lls, input_saliency=in_sal, tags=tags, counts=counts)


def _rows(model, vocab, x, o, ll, i, words, out_sal, lls, in_sal) -> None:
    """Append the unpadded targets of batch x (B, T) and their values to the lists."""
    for b in range(x.shape[0]):
        n = int((x[b, 1:] != model.cfg.pad_idx).sum())
        words.append(vocab.decode(x[b, 1:n + 1]))
        out_sal.append(o[b, :n].tolist())
        lls.append(ll[b, :n].tolist())
        in_sal.append(i[b, 1:n + 1].tolist() if i is not None else [math.nan] * n)
