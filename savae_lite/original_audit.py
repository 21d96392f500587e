"""How often the original code's joint clip fires, and what the encoder then receives, as the model grows (ours,
beyond the paper: ``savae-lite experiment original-backward``).

Chapter: *Differentiable SVI*, section "What the original code computes", reads the record written by
``savae-lite experiment original-backward --out book/results/original-backward.json``.

For each model, on the same batches of the documents study's training set (``ptb-documents``: the first four full
batches, 32 documents of consecutive PTB sentences each, K = 10, the original's SVI settings), one SA-VAE gradient
is computed three ways from the same lambda_0 and the same noise: the total derivative (``hvp='fd'``, checked
against double backward and brute force in the tests), the original code's backward pass (``hvp='original'``,
:mod:`savae_lite.original_backward`) and the plain VAE gradient grad_lambda f(lambda_0). Per model:

* ``fired``: the share of reverse steps whose joint clip fired (mean over batches; per batch in ``fired_batches``);
* ``cos_original_total`` / ``cos_original_vae`` / ``cos_total_vae``: cosines between the encoder's gradients
  d f / d lambda_0 (the batch's B x 2Z numbers as one vector), mean over batches;
* ``norm_original_over_total``, ``norm_total_over_vae``: ratios of their norms;
* ``joint_norm``: the norm of (grad_lambda F, grad_theta F) at lambda_0 on the original's batch-mean scale, the
  quantity its clip compares with 5 (the perturbed gradients are within 1e-5 of it);
* ``cos_theta_original_total``: cosine between the decoder's gradients.

Models: at initialisation (the original's uniform(-0.1, 0.1)) with LSTMs of ``SIZES`` units (embeddings half
as wide; 1,024 is the paper's, 128 the book's), the documents' 5,000-word vocabulary; and the text study's trained
SA-VAE (``book/checkpoints/collapse-savae-s1.pt``, single sentences, K = 5) on its own training batches.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from savae_lite import results

SIZES = (128, 256, 512, 1024)  # LSTM units; embeddings half as wide
QUICK_SIZES = (16, 32)
TRAINED = "book/checkpoints/collapse-savae-s1.pt"


def _flat(*ts: torch.Tensor) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in ts])


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-30))


def measure_batch(model, x: torch.Tensor, cfg, seed: int) -> dict:
    """The three gradients of one batch x (B, T) from the same lambda_0 = enc(x) and noise (see the module
    docstring); ``cfg``: the SVIConfig (its clip is the original's max norm)."""
    from savae_lite.objectives import elbo_terms, grads_or_zeros
    from savae_lite.unrolled import unrolled_svi

    params = [p for p in model.decoder_parameters() if p.requires_grad]
    with torch.no_grad():
        mu0, lv0 = model.encode(x)
    out = {}
    for hvp in ("original", "fd"):
        torch.manual_seed(seed)
        out[hvp] = unrolled_svi(model, x, mu0, lv0, cfg, hvp=hvp, params=params)
    torch.manual_seed(seed)
    with torch.enable_grad():
        mu, lv = mu0.clone().requires_grad_(True), lv0.clone().requires_grad_(True)
        F = elbo_terms(model, x, mu, lv).loss(1.0).sum() / x.shape[0]
        g_mu, g_lv, *g_theta = grads_or_zeros(F, [mu, lv, *params])
    joint = torch.sqrt(sum(g.pow(2).sum() for g in (g_mu, g_lv, *g_theta)))
    o, t = out["original"], out["fd"]
    enc_o, enc_t, vae = _flat(o.grad_mu0, o.grad_logvar0), _flat(t.grad_mu0, t.grad_logvar0), _flat(g_mu, g_lv)
    vae = vae * x.shape[0]  # the batch-sum scale of the other two
    return {"fired": float(o.clip_fired.float().mean()), "cos_original_total": _cos(enc_o, enc_t),
            "cos_original_vae": _cos(enc_o, vae), "cos_total_vae": _cos(enc_t, vae),
            "norm_original_over_total": float(enc_o.norm() / enc_t.norm()),
            "norm_total_over_vae": float(enc_t.norm() / vae.norm()), "joint_norm": float(joint),
            "cos_theta_original_total": _cos(_flat(*o.grad_theta), _flat(*t.grad_theta))}


def measure_model(model, batches, cfg, label: str, seed: int) -> dict:
    """Mean of :func:`measure_batch` over ``batches`` (the model in training mode: dropout on, as in training)."""
    model.train()
    t0 = time.perf_counter()
    per = [measure_batch(model, x, cfg, seed + i) for i, x in enumerate(batches)]
    row = {"setting": label, "mode": "savae", "parameters": sum(p.numel() for p in model.parameters()),
           "batches": len(per),
           "batch_shapes": [list(x.shape) for x in batches], "K": cfg.steps, "clip": cfg.clip}
    for key in per[0]:
        row[key] = sum(p[key] for p in per) / len(per)
    row["fired_batches"] = [p["fired"] for p in per]
    row["seconds"] = round(time.perf_counter() - t0, 2)
    return row


def _first_batches(splits, n: int, seed: int) -> list[torch.Tensor]:
    """The first ``n`` full batches (as many examples as the largest batch) of the seeded training order: the
    batches hold examples of one length, and the last of each length is smaller."""
    batches = list(splits.train_batches(torch.Generator().manual_seed(seed)))
    full = max(x.shape[0] for x in batches)
    return [x for x in batches if x.shape[0] == full][:n]


def run(quick: bool = False, seed: int = 3435, device: str = "auto", n_batches: int | None = None,
        trained: str | Path | None = TRAINED) -> dict:
    """The record: one row per model (``rows``, named by ``setting``; ``mode`` is ``savae``, the mode whose
    gradient is audited), with the set-up (``config``), provenance and wall time.
    ``quick``: two tiny sizes, 2 batches, K = 3, no trained model."""
    from savae_lite import pretrained
    from savae_lite.build import build_data, build_model
    from savae_lite.presets import derive, preset
    from savae_lite.runtime import pick_device

    dev = pick_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(1)
    started, t0 = results.stamp(), time.perf_counter()
    base = preset("ptb-documents-quick" if quick else "ptb-documents")
    n = n_batches or (2 if quick else 4)
    splits = build_data(base)
    batches = [x.to(dev) for x in _first_batches(splits, n, seed)]
    rows = []
    for h in QUICK_SIZES if quick else SIZES:
        torch.manual_seed(seed)
        cfg = derive(base, model={**base.model, "enc_hidden": h, "dec_hidden": h, "emb_dim": h // 2})
        model = build_model(cfg, len(splits.vocab)).to(dev)
        rows.append({**measure_model(model, batches, cfg.train.svi, f"initialisation, LSTM {h}", seed),
                     "hidden": h, "data": "documents"})
    if trained is not None and not quick and Path(trained).exists():
        pre = pretrained.load(trained)
        tb = [x.to(dev) for x in _first_batches(build_data(pre.config), n, seed)]
        rows.append({**measure_model(pre.model.to(dev), tb, pre.config.train.svi,
                                     f"trained SA-VAE ({Path(trained).name})", seed),
                     "hidden": pre.model.cfg.dec_hidden if hasattr(pre.model, "cfg") else None,
                     "data": "sentences", "checkpoint": str(trained)})
    return {"experiment": "original-backward", "quick": quick, "started": started, "finished": results.stamp(),
            "environment": results.environment(dev), "seed": seed, "git_commit": results.git_commit(),
            "config": base.to_dict(), "dataset": splits.info, "rows": rows,
            "wall_time_s": round(time.perf_counter() - t0, 2)}
