"""The one evaluator: ELBO bound, IW-NLL, KL, MI, active units and perplexity of a model on a data split,
with or without test-time refinement of lambda_0 by K SVI steps; and the final test report of a trained run.

Chapter: *SA-VAE* (the synthetic experiment's evaluation) and every later chapter's results tables.
"""
from __future__ import annotations

import math
from typing import Iterable

import torch

from savae_lite import objectives
from savae_lite.modes import Mode, get_mode
from savae_lite.svi import SVIConfig, svi


def spread_subset(batches: list[torch.Tensor], n: int | None) -> list[torch.Tensor]:
    """At most ``n`` examples taken evenly across all batches (batches sorted by length stay representative of
    the length distribution, unlike the first n). Returns sub-batches; ``n=None`` returns ``batches``."""
    total = sum(int(x.shape[0]) for x in batches)
    if n is None or n >= total:
        return list(batches)
    wanted = {int(i * total / n) for i in range(n)}
    out, offset = [], 0
    for x in batches:
        rows = [i - offset for i in range(offset, offset + x.shape[0]) if i in wanted]
        if rows:
            out.append(x[torch.tensor(rows)])
        offset += x.shape[0]
    return out


@torch.no_grad()
def test_time_q(model, x: torch.Tensor, init: str = "encoder", refine: SVIConfig | None = None):
    """lambda used at test time: lambda_0 from the encoder (``init='encoder'``) or zeros (``'zeros'``), then
    ``refine``'s SVI steps when given. x (B, ...) -> (mu, logvar), each (B, Z)."""
    if init == "encoder":
        mu, logvar = model.encode(x)
    else:
        like = next(model.parameters())
        mu = torch.zeros(x.shape[0], model.latent_dim, device=like.device, dtype=like.dtype)
        logvar = torch.zeros_like(mu)
    if refine is not None and refine.steps > 0:
        mu, logvar = svi(model, x, mu, logvar, refine)
    return mu, logvar


def bound_terms(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, samples: int = 1):
    """E_q[-log p(x | z)] estimated with ``samples`` draws per example, and KL(q || p); each (B,).

    Their sum is -ELBO. One draw is the single-sample estimate of the original code's evaluation.
    """
    if samples == 1:
        terms = objectives.elbo_terms(model, x, mu, logvar)
        return terms.nll, terms.kl
    B = x.shape[0]
    terms = objectives.elbo_terms(model, x.repeat_interleave(samples, 0), mu.repeat_interleave(samples, 0),
                                  logvar.repeat_interleave(samples, 0))
    return terms.nll.view(B, samples).mean(1), terms.kl.view(B, samples)[:, 0]


@torch.no_grad()
def evaluate(model, batches: Iterable[torch.Tensor], *, refine: SVIConfig | None = None, init: str = "encoder",
             samples: int = 1, iw_samples: int = 0, iw_max_rows: int = 1000,
             device: torch.device | None = None) -> dict:
    """Average per-example metrics over ``batches`` (each (B, ...)); the model is put in eval mode.

    ``refine``: run these SVI steps from lambda_0 before measuring (None: use lambda_0 as is).
    ``init``: lambda_0 = the encoder's output (``'encoder'``) or zeros (``'zeros'``, for models trained by SVI).
    ``samples``: z draws per example for the bound's reconstruction term (1: the single-sample bound).
    ``iw_samples``: > 0 adds the importance-weighted NLL with that many samples (q(lambda) as proposal).
    Returned keys: ``nll_bound`` (-ELBO, nats/example), ``recon``, ``kl``, ``iw_nll``, ``ppl_bound``,
    ``ppl_iw``, ``bound_minus_iw_se`` (standard error of the per-example difference bound - IW-NLL), ``mi`` (over
    the whole split), ``au``, ``examples``, ``tokens``. For a model without z: ``nll`` and ``ppl`` (exact).
    Raises ``ValueError`` when ``batches`` hold no example.
    """
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    tot = {"recon": 0.0, "kl": 0.0, "iw": 0.0, "n": 0, "tokens": 0.0}
    means, logvars, gaps = [], [], []
    for x in batches:
        x = x.to(device)
        n = x.shape[0]
        tot["n"] += n
        tot["tokens"] += float(model.num_targets(x).sum())
        if not model.is_latent:
            tot["recon"] += float(model.neg_log_lik(x, None).sum())
            continue
        mu, logvar = test_time_q(model, x, init, refine)
        recon, kl = bound_terms(model, x, mu, logvar, samples)
        tot["recon"] += float(recon.sum())
        tot["kl"] += float(kl.sum())
        means.append(mu.cpu())
        logvars.append(logvar.cpu())
        if iw_samples > 0:
            iw = objectives.iw_nll(model, x, mu, logvar, iw_samples, iw_max_rows)
            tot["iw"] += float(iw.sum())
            gaps.append((recon + kl - iw).double().cpu())
    model.train(was_training)
    if tot["n"] == 0:  # no metric of nothing: NLL 0 / PPL 1 would read as a perfect score
        raise ValueError("evaluate: there are no examples to evaluate (an empty split, or a subset of 0 examples "
                         "such as --max-examples / --iw-max-examples below 1)")
    n, tokens = tot["n"], tot["tokens"]
    if not model.is_latent:
        return {"nll": tot["recon"] / n, "ppl": objectives.perplexity(tot["recon"], tokens), "examples": tot["n"],
                "tokens": tokens}
    out = {
        "nll_bound": (tot["recon"] + tot["kl"]) / n,
        "recon": tot["recon"] / n,
        "kl": tot["kl"] / n,
        "ppl_bound": objectives.perplexity(tot["recon"] + tot["kl"], tokens),
        "mi": objectives.mutual_information(torch.cat(means), torch.cat(logvars)) if means else 0.0,
        "au": objectives.active_units(torch.cat(means))[0] if means else 0,
        "examples": tot["n"],
        "tokens": tokens,
    }
    if iw_samples > 0:
        out["iw_nll"] = tot["iw"] / n
        out["ppl_iw"] = objectives.perplexity(tot["iw"], tokens)
        out["iw_samples"] = iw_samples
        gap = torch.cat(gaps)  # bound - IW-NLL per example: >= 0 in expectation
        out["bound_minus_iw_se"] = float(gap.std() / math.sqrt(gap.numel())) if gap.numel() > 1 else None
    return {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for k, v in out.items()}


def _selection(subset: dict, whole: dict, part_of_split: bool) -> str:
    if part_of_split or subset["examples"] != whole["examples"]:
        return "spread evenly over the split"
    return "the whole split"


def test_report(model, batches: list[torch.Tensor], mode: str | Mode, refine: SVIConfig, *, iw_samples: int = 0,
                iw_max_examples: int | None = None, device: torch.device | None = None,
                part_of_split: bool = False) -> dict:
    """The final report of a trained model on a split, as the trainer and ``savae-lite eval`` write it.

    Keys: ``exact`` (a model without z; with ``iw_samples`` > 0 also ``iw``: its exact NLL on the examples the
    latent models' IW-NLL uses); otherwise ``no_refine`` (lambda_0 from the encoder, when the mode has
    one), ``refine`` (lambda_0 refined by ``refine.steps`` SVI steps) and, with ``iw_samples`` > 0, ``iw``: the
    IW-NLL on ``iw_max_examples`` examples spread evenly over the split, with the mode's own test-time q
    (refined for the modes that refine) as proposal. ``part_of_split``: ``batches`` are already a subset spread
    over the split (``savae-lite eval --max-examples``), so no selection is labelled "the whole split".
    """
    m = get_mode(mode)
    if not model.is_latent:  # exact; also on the IW-NLL's examples, so that it compares with the latent models
        out = {"exact": evaluate(model, batches, device=device)}
        if iw_samples > 0:
            subset = evaluate(model, spread_subset(batches, iw_max_examples), device=device)
            out["iw"] = {"iw_nll": subset["nll"], "ppl_iw": subset["ppl"], "iw_samples": 0,
                         "examples": subset["examples"], "selection": _selection(subset, out["exact"], part_of_split),
                         "proposal": "none: the exact NLL of a model without z"}
        return out
    out = {}
    if m.encoder:
        out["no_refine"] = evaluate(model, batches, init=m.init, device=device)
    out["refine"] = evaluate(model, batches, refine=refine, init=m.init, device=device)
    out["refine"]["svi_steps"] = refine.steps
    if iw_samples > 0:
        subset = spread_subset(batches, iw_max_examples)
        iw = evaluate(model, subset, refine=refine if m.refines else None, init=m.init, iw_samples=iw_samples,
                      device=device)
        out["iw"] = {"iw_nll": iw["iw_nll"], "ppl_iw": iw["ppl_iw"], "iw_samples": iw_samples,
                     "examples": iw["examples"],
                     "selection": _selection(iw, out["refine"], part_of_split),
                     "proposal": "refined" if m.refines else "encoder",
                     "nll_bound_same_examples": iw["nll_bound"], "bound_minus_iw_se": iw["bound_minus_iw_se"]}
    return out
