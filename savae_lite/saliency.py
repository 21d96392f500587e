"""Saliency of the latent variable (Kim et al. 2018, Section 5.4 and Figures 3-4): which tokens z helps to predict
(output saliency) and which input words move z (input saliency); token tables, grouped means with confidence
intervals, and the Figure 3 HTML rendering.

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
import html
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch

from savae_lite.evaluate import test_time_q
from savae_lite.objectives import elbo_terms
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


# ------------------------------------------------------------------------------------- token table, buckets

REL_EDGES = tuple(i / 10 for i in range(11))  # relative position (position / length) in (0, 1], 10 buckets
FREQ_EDGES = (0, 1, 10, 100, 1_000, 10_000, 100_000, math.inf)  # training count, half-open [lo, hi)
LOGLIK_EDGES = (-math.inf, -10, -8, -6, -5, -4, -3, -2, -1, -0.5, 0)  # log p(x_t | .) in nats, (lo, hi]


def word_counts(sentences: Iterable[Sequence[str]]) -> Counter:
    """Training-corpus word counts for the frequency buckets; ``</s>`` counted once per sentence."""
    counts: Counter = Counter()
    for words in sentences:
        counts.update(words)
        counts["</s>"] += 1
    return counts


def _freq_label(lo: float, hi: float) -> str:
    if lo == 0:
        return "0"
    return f"{int(lo):,}+" if math.isinf(hi) else f"{int(lo):,}-{int(hi) - 1:,}"


def token_table(words: Sequence[Sequence[str]], output_saliency: Sequence[Sequence[float]], *,
                log_lik: Sequence[Sequence[float]] | None = None,
                input_saliency: Sequence[Sequence[float]] | None = None,
                tags: Sequence[Sequence[str]] | None = None, counts: Mapping[str, int] | None = None,
                sent_ids: Sequence | None = None):
    """One row per predicted token, as a pandas DataFrame; the aggregations are group-bys of it.

    ``words[i]``: the targets of sentence i (its words, then ``</s>``), n_i + 1 of them; the other sequences are
    aligned with it (``output_saliency``, ``log_lik``, ``input_saliency`` of the same tokens, ``tags``).
    Columns: ``sentence`` (``sent_ids[i]`` or i), ``position`` (1-based among the targets), ``length`` (n_i + 1),
    ``rel_position`` (position / length, ``</s>`` = 1), ``word``, ``tag``, ``frequency`` (``counts[word]``, 0 when
    absent), ``log_lik``, ``output_saliency``, ``input_saliency`` (NaN when not given), and the buckets
    ``rel_bucket``, ``freq_bucket``, ``loglik_bucket`` (ordered categoricals; edges ``REL_EDGES``,
    ``FREQ_EDGES``, ``LOGLIK_EDGES``).
    """
    import pandas as pd

    rows = []
    for i, ws in enumerate(words):
        n = len(ws)
        for name, seq in (("output_saliency", output_saliency), ("log_lik", log_lik),
                          ("input_saliency", input_saliency), ("tags", tags)):
            if seq is not None and len(seq[i]) != n:
                raise ValueError(f"token_table: sentence {i} has {n} words but {len(seq[i])} {name}")
        for t, w in enumerate(ws):
            rows.append((sent_ids[i] if sent_ids is not None else i, t + 1, n, (t + 1) / n, w,
                         tags[i][t] if tags is not None else None,
                         int(counts.get(w, 0)) if counts is not None else np.nan,
                         float(log_lik[i][t]) if log_lik is not None else np.nan,
                         float(output_saliency[i][t]),
                         float(input_saliency[i][t]) if input_saliency is not None else np.nan))
    df = pd.DataFrame(rows, columns=["sentence", "position", "length", "rel_position", "word", "tag", "frequency",
                                     "log_lik", "output_saliency", "input_saliency"])
    rel_labels = [f"{a:.1f}-{b:.1f}" for a, b in zip(REL_EDGES[:-1], REL_EDGES[1:])]
    df["rel_bucket"] = pd.cut(df["rel_position"], REL_EDGES, labels=rel_labels, include_lowest=True)
    freq_labels = [_freq_label(a, b) for a, b in zip(FREQ_EDGES[:-1], FREQ_EDGES[1:])]
    df["freq_bucket"] = pd.cut(df["frequency"], FREQ_EDGES, labels=freq_labels, right=False)
    ll_labels = [f"({a:g}, {b:g}]" for a, b in zip(LOGLIK_EDGES[:-1], LOGLIK_EDGES[1:])]
    df["loglik_bucket"] = pd.cut(df["log_lik"], LOGLIK_EDGES, labels=ll_labels)
    return df


def aggregate(table, by: str, value: str = "output_saliency", *, ci: str = "t", level: float = 0.95,
              n_boot: int = 2000, seed: int = 0):
    """Mean of ``value`` per group of column ``by``: a DataFrame with columns ``by``, ``count``, ``mean``,
    ``ci_low``, ``ci_high`` (a ``level`` confidence interval for the mean: Student t, or the percentile
    bootstrap with ``n_boot`` resamples; NaN for a group of one). Empty categories are dropped, rows with a
    missing ``value`` are not counted, so ``count`` sums to the number of tokens with a value."""
    import pandas as pd
    from scipy import stats

    if ci not in ("t", "bootstrap"):
        raise ValueError(f"aggregate: ci must be 't' or 'bootstrap', got {ci!r}")
    rng = np.random.default_rng(seed)
    out = []
    for key, vals in table.dropna(subset=[value]).groupby(by, observed=True, sort=True)[value]:
        v = vals.to_numpy(dtype=float)
        n, m = len(v), float(v.mean())
        lo = hi = math.nan
        if n > 1 and ci == "t":
            half = stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n)
            lo, hi = m - half, m + half
        elif n > 1:
            means = v[rng.integers(0, n, size=(n_boot, n))].mean(1)
            lo, hi = (float(q) for q in np.quantile(means, [0.5 - level / 2, 0.5 + level / 2]))
        out.append((key, n, m, lo, hi))
    return pd.DataFrame(out, columns=[by, "count", "mean", "ci_low", "ci_high"])


FIGURE4 = {"tag": "tag", "position": "position", "relative position": "rel_bucket",
           "word frequency": "freq_bucket", "log-likelihood": "loglik_bucket"}


def figure4_tables(table, value: str = "output_saliency", **kw) -> dict:
    """The five panels of Figure 4 (``FIGURE4``: panel name -> grouping column) as :func:`aggregate` tables."""
    return {name: aggregate(table, col, value, **kw) for name, col in FIGURE4.items()}


@torch.no_grad()
def saliency_table(model, batches: Iterable[torch.Tensor], vocab, refine: SVIConfig | None = None, *,
                   samples: int = 1, counts: Mapping[str, int] | None = None, tagger: str | None = "spacy",
                   with_input: bool = True, through_svi: bool = True, generator: torch.Generator | None = None,
                   seed: int | None = None, placeholders: Mapping[str, str] | None = None):
    """Run output (and input) saliency over ``batches`` (each (B, T)) and return :func:`token_table`'s frame.

    ``vocab`` decodes ids (:class:`~savae_lite.data.vocab.Vocab`); ``tagger``: :func:`savae_lite.pos.tag`'s tagger, or
    None for no tags. The input saliency of a row is that of the same token x_t (``<s>``'s is not in the table).
    Sentence ids count the examples in order. Batch k's SVI noise is seeded by ``seed + k`` (a random seed when
    None), the same for both saliencies, so both use the same lambda.
    """
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


# ------------------------------------------------------------------------------------------ Figure 3 (HTML)


class SaliencyHTML(str):
    """An HTML string that Jupyter (and a Jupyter Book page) displays as HTML."""

    def _repr_html_(self) -> str:
        return str(self)


def render_html(words: Sequence[str], saliency: Sequence[float], samples: Sequence[str | Sequence[str]] | None = None,
                *, vmax: float | None = None, rgb: tuple[int, int, int] = (214, 39, 40),
                title: str | None = None) -> SaliencyHTML:
    """Figure 3: ``words`` shaded by ``saliency`` (one value each; opacity saliency / ``vmax``, default the
    maximum), each value in the word's tooltip; ``samples`` (sentences, strings or token lists) listed below as
    posterior samples. Inline CSS only, no script: readable offline."""
    if len(words) != len(saliency):
        raise ValueError(f"render_html: {len(words)} words but {len(saliency)} saliency values")
    vals = [float(s) for s in saliency]
    top = vmax if vmax is not None else max(vals, default=0.0)
    r, g, b = rgb
    spans = []
    for w, s in zip(words, vals):
        alpha = min(max(s / top, 0.0), 1.0) if top > 0 else 0.0
        fg = "#fff" if alpha > 0.6 else "#000"
        spans.append(f'<span title="{s:.4g}" style="background:rgba({r},{g},{b},{alpha:.3f});color:{fg};'
                     f'padding:1px 3px;margin:1px;border-radius:3px;display:inline-block">{html.escape(w)}</span>')
    parts = ['<div class="savae-saliency" style="font-family:sans-serif;line-height:1.9;margin:0.5em 0">']
    if title:
        parts.append(f'<div style="font-weight:bold">{html.escape(title)}</div>')
    parts.append("<div>" + " ".join(spans) + "</div>")
    if samples:
        items = "".join(f"<li>{html.escape(s if isinstance(s, str) else ' '.join(s))}</li>" for s in samples)
        parts.append('<div style="font-size:90%;color:#444">Posterior samples:<ul style="margin:0.2em 0">'
                     f"{items}</ul></div>")
    parts.append("</div>")
    return SaliencyHTML("".join(parts))
