"""The synthetic experiment's runs: every mode trained on the package's loop, evaluated by its evaluator.

Chapter: *SA-VAE* (the experiment and its results). The set-up is described in :mod:`savae_lite.synthetic`.
"""
from __future__ import annotations

import copy
import math
import time
from typing import Callable

import torch

from savae_lite.evaluate import evaluate
from savae_lite.loop import TrainingLoop
from savae_lite.models.text import TextVAE
from savae_lite.modes import MODES, get_mode
from savae_lite.runtime import pick_device, set_seed
from savae_lite.synthetic.config import SyntheticConfig
from savae_lite.synthetic.oracle import FIRST_WORD, batches_of, make_oracle, sample_corpus, true_nll

SYNTHETIC_MODES = ("vae", "svi", "vae+svi", "vae+svi+kl", "savae")


def fit(model, mode: str, train: torch.Tensor, valid_batches, cfg: SyntheticConfig, *, train_generator: bool,
        seed: int, log: Callable[[str], None] | None = None) -> dict:
    """Train ``model`` with ``mode`` for ``cfg.epochs`` epochs on the package's training loop; keep the parameters
    with the best validation bound (the mode's own test-time q). ``train_generator=False`` trains only the
    inference network (Oracle Gen).

    The KL weight rises linearly from ``cfg.kl_start`` to 1 over ``cfg.kl_warmup_epochs`` (validation always uses
    weight 1). Returns {"history": [...per epoch...], "train_s": seconds, "best_epoch": e}; the model ends at its
    best state.
    """
    m = get_mode(mode)
    # Oracle Gen: the generator is left out of the optimiser. Its parameters keep requires_grad (the training
    # steps of vae+svi(+kl) and savae back-propagate into them); the loop discards those gradients.
    params = None if train_generator else list(model.encoder_parameters())
    steps_per_epoch = math.ceil(train.shape[0] / cfg.batch_size)
    loop = TrainingLoop(model, m, cfg.svi, optimizer=cfg.optimizer, lr=cfg.lr, grad_clip=cfg.grad_clip,
                        kl_start=cfg.kl_start, kl_warmup_steps=int(round(cfg.kl_warmup_epochs * steps_per_epoch)),
                        params=params)
    gen = torch.Generator().manual_seed(seed)
    history, best, best_state, best_epoch, train_s = [], math.inf, None, 0, 0.0
    for epoch in range(1, cfg.epochs + 1):
        totals = loop.run_epoch(batches_of(train, cfg.batch_size, gen))
        train_s += totals.time
        val = evaluate(model, valid_batches, init=m.init, refine=cfg.svi if m.refines else None)
        history.append({"epoch": epoch, "kl_weight": round(loop.kl_weight(), 4), "train_loss": totals.means()["loss"],
                        "train_kl": totals.means()["kl"], "valid_bound": val["nll_bound"], "valid_kl": val["kl"],
                        "train_s": round(train_s, 2)})
        if log:
            log(f"  epoch {epoch}: train {totals.means()['loss']:.3f}  valid bound {val['nll_bound']:.3f}  "
                f"kl {val['kl']:.3f}  ({train_s:.0f} s)")
        if val["nll_bound"] < best:
            best, best_epoch = val["nll_bound"], epoch
            best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return {"history": history, "train_s": round(train_s, 2), "best_epoch": best_epoch}


def test_metrics(model, batches, mode: str, cfg: SyntheticConfig, *, refine: bool = True, iw_samples: int = 0) -> dict:
    """Test metrics with ``mode``'s test-time q (refined when ``refine`` and the mode refines): ``bound``
    (-ELBO with ``cfg.elbo_samples`` draws), ``recon``, ``kl``, ``mi``, ``au`` and, with ``iw_samples``, ``iw_nll``."""
    m = get_mode(mode)
    res = evaluate(model, batches, init=m.init, refine=cfg.svi if refine and m.refines else None,
                   samples=cfg.elbo_samples, iw_samples=iw_samples, iw_max_rows=2000)
    out = {"bound": res["nll_bound"], "recon": res["recon"], "kl": res["kl"], "mi": res["mi"], "au": res["au"]}
    if iw_samples > 0:
        out["iw_nll"] = res["iw_nll"]
    return out


def _round(d: dict, nd: int = 4) -> dict:
    return {k: (round(v, nd) if isinstance(v, float) else v) for k, v in d.items()}


def run_synthetic(quick: bool = False, seed: int = 3435, device: str | torch.device = "auto",
                  cfg: SyntheticConfig | None = None, log: Callable[[str], None] | None = print) -> dict:
    """Run the whole experiment and return a JSON-able dict (see :mod:`savae_lite.experiments`).

    ``cfg`` overrides the preset chosen by ``quick``. Seeds: the oracle from ``seed``, the corpus from
    ``seed + 1``, every trained model from ``seed + 2`` (same initialisation and data order for every mode).
    Rows: one per (setting, mode) with ``bound`` (test -ELBO with the mode's test-time q, nats per
    sentence), ``kl``, ``bound_no_refine`` (the encoder's q alone, where there is an encoder), ``train_s``,
    ``eval_s``, ``trained_here`` (False where no training ran: Oracle Gen svi, and Oracle Gen vae+svi, whose
    ``train_s`` is that of the shared vae encoder) and, for Learned Gen, ``iw_nll`` (the learned model's own
    -log p(x)).
    """
    cfg = cfg or (SyntheticConfig.quick() if quick else SyntheticConfig())
    dev = pick_device(device)
    log = log or (lambda s: None)
    t_start = time.perf_counter()
    mcfg = cfg.model_config()
    oracle = make_oracle(mcfg, seed, cfg.oracle_scale, cfg.oracle_recurrent_scale).to(dev)
    for p in oracle.parameters():
        p.requires_grad_(False)
    data_gen = torch.Generator().manual_seed(seed + 1)
    splits = {name: sample_corpus(oracle, n, cfg.length, data_gen)
              for name, n in (("train", cfg.n_train), ("valid", cfg.n_valid), ("test", cfg.n_test))}
    valid, test = batches_of(splits["valid"], cfg.batch_size), batches_of(splits["test"], cfg.batch_size)
    set_seed(seed + 3)
    t0 = time.perf_counter()
    truth = true_nll(oracle, test, cfg)
    truth["eval_s"] = round(time.perf_counter() - t0, 2)
    log(f"oracle: true NLL {truth['true_nll']:.3f} (bound of the fitted q {truth['fitted_q_bound']:.3f})")

    rows = []
    histories = {}
    for setting in ("oracle", "learned"):
        shared_vae, shared_vae_info = None, {}
        for mode in SYNTHETIC_MODES:
            label = f"{'Oracle' if setting == 'oracle' else 'Learned'} Gen / {mode}"
            set_seed(seed + 2)
            model = TextVAE(mcfg).to(dev)
            note = ""
            trained_here = True
            info = {"history": [], "train_s": 0.0, "best_epoch": None}
            if setting == "oracle":
                model.decoder.load_state_dict(oracle.decoder.state_dict())
                if mode == "svi":
                    trained_here = False
                    note = "no training: SVI from 0 at test time"
                elif mode == "vae+svi" and shared_vae is not None:
                    model.encoder.load_state_dict(shared_vae.encoder.state_dict())
                    info, trained_here = dict(shared_vae_info), False
                    note = "encoder of Oracle Gen / vae (identical training); refined by SVI at test time"
                else:
                    log(f"{label}: training the inference network")
                    info = fit(model, mode, splits["train"], valid, cfg, train_generator=False,
                               seed=seed + 2, log=log)
            else:
                log(f"{label}: training generator and inference network")
                info = fit(model, mode, splits["train"], valid, cfg, train_generator=True,
                           seed=seed + 2, log=log)
            if setting == "oracle" and mode == "vae":
                shared_vae, shared_vae_info = model, info
            set_seed(seed + 4)
            t0 = time.perf_counter()
            iw = cfg.learned_iw_samples if setting == "learned" else 0
            res = test_metrics(model, test, mode, cfg, iw_samples=iw)
            if MODES[mode].encoder and MODES[mode].refines:
                res["bound_no_refine"] = test_metrics(model, test, mode, cfg, refine=False)["bound"]
            eval_s = time.perf_counter() - t0
            row = {"setting": "Oracle Gen" if setting == "oracle" else "Learned Gen", "mode": mode,
                   **_round(res), "train_s": info["train_s"], "eval_s": round(eval_s, 2),
                   "best_epoch": info["best_epoch"], "trained_here": trained_here, "note": note}
            rows.append(row)
            histories[f"{row['setting']} / {mode}"] = info["history"]
            log(f"{label}: bound {res['bound']:.3f}  kl {res['kl']:.3f}"
                + (f"  iw {res['iw_nll']:.3f}" if "iw_nll" in res else "") + f"  ({info['train_s']:.0f} s train)")
    return {
        "config": cfg.to_dict(),
        "seed": seed,
        "device": str(dev),
        "dataset": {"kind": "sampled from the oracle LSTM", "sentences": {k: int(v.shape[0]) for k, v in
                                                                           splits.items()},
                    "tokens_per_sentence": cfg.length, "vocab_size": cfg.vocab_size,
                    "words": cfg.vocab_size - FIRST_WORD},
        "true_nll": _round(truth),
        "rows": rows,
        "histories": histories,
        "wall_time_s": round(time.perf_counter() - t_start, 2),
    }
