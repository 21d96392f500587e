"""The synthetic experiment's runs: every mode trained on the package's loop, evaluated by its evaluator.

Chapter: *SA-VAE* (the experiment and its results). The set-up is described in :mod:`savae_lite.synthetic`.
"""
from __future__ import annotations

import copy
import json
import math
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

from savae_lite import checkpoint, results
from savae_lite.evaluate import evaluate
from savae_lite.keys import facts_key
from savae_lite.loop import TrainingLoop
from savae_lite.models.text import TextVAE
from savae_lite.modes import MODES, get_mode
from savae_lite.registry import PAPER_MODES
from savae_lite.runtime import pick_device, set_seed
from savae_lite.synthetic.config import SyntheticConfig
from savae_lite.synthetic.oracle import FIRST_WORD, batches_of, make_oracle, sample_corpus, true_nll

SYNTHETIC_MODES = tuple(m for m in PAPER_MODES if m != "autoreg")  # Table 1's modes (the LM has no posterior)
SETTINGS = {"oracle": "Oracle Gen", "learned": "Learned Gen"}
METRICS = ("bound", "kl", "mi", "au", "bound_no_refine", "iw_nll", "train_s", "best_epoch", "epochs_run")


def fit(model, mode: str, train: torch.Tensor, valid_batches, cfg: SyntheticConfig, *, train_generator: bool,
        seed: int, log: Callable[[str], None] | None = None) -> dict:
    """Train ``model`` with ``mode`` on the package's training loop until the validation bound (the mode's own
    test-time q) has not improved for ``cfg.patience`` epochs, at most ``cfg.epochs``; the model ends at its best
    epoch. ``train_generator=False`` trains only the inference network (Oracle Gen).

    The KL weight rises linearly from ``cfg.kl_start`` to 1 over ``cfg.kl_warmup_epochs`` (validation always uses
    weight 1). Returns {"history": [...per epoch...], "train_s": seconds, "best_epoch": e, "epochs_run": n}.
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
        means = totals.means()
        history.append({"epoch": epoch, "kl_weight": round(loop.kl_weight(), 4), "train_loss": means["loss"],
                        "train_kl": means["kl"], "valid_bound": val["nll_bound"], "valid_kl": val["kl"],
                        "train_s": round(train_s, 2)})
        if log:
            log(f"  epoch {epoch}: train {means['loss']:.3f}  valid bound {val['nll_bound']:.3f}  "
                f"kl {val['kl']:.3f}  ({train_s:.0f} s)")
        if val["nll_bound"] < best:
            best, best_epoch = val["nll_bound"], epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= cfg.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return {"history": history, "train_s": round(train_s, 2), "best_epoch": best_epoch, "epochs_run": len(history)}


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


def _run_unit(oracle, splits, valid, test, cfg: SyntheticConfig, setting: str, mode: str, run_seed: int,
              shared_encoder: dict | None, dev, log) -> tuple[dict, TextVAE]:
    """Train (if the setting and mode need it) and test one model; returns its row and the model."""
    label = f"{SETTINGS[setting]} / {mode} / seed {run_seed}"
    set_seed(run_seed)
    model = TextVAE(cfg.model_config()).to(dev)
    note, trained_here = "", True
    info = {"history": [], "train_s": 0.0, "best_epoch": None, "epochs_run": 0}
    if setting == "oracle":
        model.decoder.load_state_dict(oracle.decoder.state_dict())
        if mode == "svi":
            trained_here, note = False, "no training: SVI from 0 at test time"
        elif mode == "vae+svi" and shared_encoder is not None:
            model.encoder.load_state_dict(shared_encoder["state"])
            info, trained_here = dict(shared_encoder["info"]), False
            note = "encoder of Oracle Gen / vae (identical training); refined by SVI at test time"
        else:
            log(f"{label}: training the inference network")
            info = fit(model, mode, splits["train"], valid, cfg, train_generator=False, seed=run_seed, log=log)
    else:
        log(f"{label}: training generator and inference network")
        info = fit(model, mode, splits["train"], valid, cfg, train_generator=True, seed=run_seed, log=log)
    set_seed(run_seed + 1)
    t0 = time.perf_counter()
    iw = cfg.learned_iw_samples if setting == "learned" else 0
    res = test_metrics(model, test, mode, cfg, iw_samples=iw)
    if MODES[mode].encoder and MODES[mode].refines:
        res["bound_no_refine"] = test_metrics(model, test, mode, cfg, refine=False)["bound"]
    row = {"setting": SETTINGS[setting], "mode": mode, "seed": run_seed, **_round(res), "train_s": info["train_s"],
           "eval_s": round(time.perf_counter() - t0, 2), "best_epoch": info["best_epoch"],
           "epochs_run": info["epochs_run"], "trained_here": trained_here, "note": note,
           "history": info["history"], "git_commit": results.git_commit()}
    log(f"{label}: bound {res['bound']:.3f}  kl {res['kl']:.3f}"
        + (f"  iw {res['iw_nll']:.3f}" if "iw_nll" in res else "") + f"  ({info['train_s']:.0f} s train)")
    return row, model


def summarize(rows: list[dict]) -> list[dict]:
    """Mean and sample standard deviation over seeds of every metric, one entry per (setting, mode)."""
    out = []
    for setting in SETTINGS.values():
        for mode in SYNTHETIC_MODES:
            mine = [r for r in rows if r["setting"] == setting and r["mode"] == mode]
            if not mine:
                continue
            entry = {"setting": setting, "mode": mode, "seeds": len(mine)}
            for key in METRICS:
                values = [float(r[key]) for r in mine if r.get(key) is not None]
                if values:
                    entry[key] = round(statistics.fmean(values), 4)
                    entry[f"{key}_sd"] = round(statistics.stdev(values), 4) if len(values) > 1 else None
            out.append(entry)
    return out


def run_synthetic(quick: bool = False, seed: int = 3435, device: str | torch.device = "auto",
                  cfg: SyntheticConfig | None = None, log: Callable[[str], None] | None = print,
                  work_dir: str | Path | None = None, seed_indices: list[int] | None = None) -> dict:
    """Run the whole experiment and return a JSON-able dict (see :mod:`savae_lite.experiments`).

    ``cfg`` overrides the preset chosen by ``quick``. Seeds: the oracle from ``seed``, the corpus from
    ``seed + 1``; training seed s = ``seed + 2 + 10 * i`` for i < ``cfg.seeds`` (the same initialisation and
    data order for every mode of that seed). With ``work_dir`` every finished (seed, setting, mode) unit is
    written there, in a folder of its set-up's key (config, oracle seed, quick), and a re-run of the same set-up
    skips it, so the experiment resumes where it was stopped; ``seed_indices`` runs
    only those seeds (e.g. one per process, sharing ``work_dir``: a later full run collects their units).

    ``rows``: one per (seed, setting, mode) with ``bound`` (test -ELBO with the mode's test-time q, nats per
    sentence), ``kl``, ``mi``, ``au``, ``bound_no_refine`` (the encoder's q alone, where there is an encoder),
    ``train_s``, ``eval_s``, ``best_epoch``, ``epochs_run``, ``trained_here`` (False where no training ran:
    Oracle Gen svi, and Oracle Gen vae+svi, which reuses the vae encoder) and, for Learned Gen, ``iw_nll`` (the
    learned model's own -log p(x)). ``summary``: mean and standard deviation over seeds
    (:func:`~savae_lite.synthetic.experiment.summarize`).
    """
    cfg = cfg or (SyntheticConfig.quick() if quick else SyntheticConfig())
    dev = pick_device(device)
    log = log or (lambda s: None)
    # units are kept per set-up: another oracle seed, quick mode or config never reuses them
    work = Path(work_dir) / f"oracle{seed}-{facts_key(config=cfg.to_dict(), seed=seed, quick=quick)}" \
        if work_dir is not None else None
    t_start = time.perf_counter()
    oracle = make_oracle(cfg.model_config(), seed, cfg.oracle_scale, cfg.oracle_recurrent_scale).to(dev)
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
    log(f"oracle: true NLL {truth['true_nll']:.3f} +- {truth['true_nll_se']:.3f} "
        f"(bound of the fitted q {truth['fitted_q_bound']:.3f})")
    rows = []
    for i in (range(cfg.seeds) if seed_indices is None else seed_indices):
        run_seed = seed + 2 + 10 * i
        shared = None
        for setting in SETTINGS:
            for mode in SYNTHETIC_MODES:
                unit = work / f"seed{run_seed}-{setting}-{mode.replace('+', '_')}.json" if work else None
                enc_file = work / f"seed{run_seed}-oracle-vae-encoder.pt" if work else None
                if unit is not None and unit.exists():
                    row = json.loads(unit.read_text())
                    if setting == "oracle" and mode == "vae" and enc_file.exists():
                        shared = {"state": checkpoint.load(enc_file)["encoder"], "info": row["fit"]}
                    rows.append({k: v for k, v in row.items() if k != "fit"})
                    log(f"{SETTINGS[setting]} / {mode} / seed {run_seed}: done earlier ({unit.name})")
                    continue
                row, model = _run_unit(oracle, splits, valid, test, cfg, setting, mode, run_seed, shared, dev, log)
                if setting == "oracle" and mode == "vae":
                    info = {k: row[k] for k in ("history", "train_s", "best_epoch", "epochs_run")}
                    shared = {"state": copy.deepcopy(model.encoder.state_dict()), "info": info}
                    if enc_file is not None:
                        checkpoint.atomic_save({"encoder": shared["state"]}, enc_file)
                if unit is not None:
                    extra = {"fit": shared["info"]} if setting == "oracle" and mode == "vae" else {}
                    results.write_json({**row, **extra}, unit)
                rows.append(row)
    histories = {f"{r['setting']} / {r['mode']} / seed {r['seed']}": r.pop("history") for r in rows}
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
        "summary": summarize(rows),
        "histories": histories,
        "wall_time_s": round(time.perf_counter() - t_start, 2),
    }
