"""The record of a study (:mod:`savae_lite.study`): each finished unit becomes a row (test metrics with and without
refinement, cost, provenance, the validation history), the rows of a setting are summarized as mean and sample
standard deviation over seeds, and :func:`collect` writes the study's JSON record from its rows.

Chapters: *Text VAEs and posterior collapse* (:mod:`savae_lite.collapse`) and *Image VAEs with a gated PixelCNN
decoder* (:mod:`savae_lite.latent_use`); the records layer (:mod:`savae_lite.records`) reads these records.
"""
from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from savae_lite import results
from savae_lite.modes import get_mode

if TYPE_CHECKING:
    from savae_lite.config import RunConfig
    from savae_lite.study import Setting, Study


def unit_name(setting: "Setting", seed: int) -> str:
    """The unit's folder name: ``vae+anneal``, seed 2 -> ``vae_anneal-s2``."""
    return f"{setting.name.replace('+', '_')}-s{seed}"


def plain(overrides: dict) -> dict:
    """A setting's overrides as JSON values (an :class:`~savae_lite.svi.SVIConfig` as its dict of fields)."""
    return {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in overrides.items()}


def lm_on_iw_subset(folder: Path) -> dict:
    """The exact NLL of the model without z in ``folder/best.pt`` on the test examples of the IW-NLL (computed
    when the study is collected, for records whose test report did not have it yet)."""
    from savae_lite.build import build_data
    from savae_lite.evaluate import evaluate, spread_subset
    from savae_lite.pretrained import load

    lm = load(Path(folder) / "best.pt")
    test = build_data(lm.config).test
    sub = evaluate(lm.model, spread_subset(test, lm.config.train.iw_max_examples))
    return {"iw_nll": sub["nll"], "ppl_iw": sub["ppl"], "iw_samples": 0, "examples": sub["examples"],
            "selection": "spread evenly over the split", "proposal": "none: the exact NLL of a model without z",
            "computed": "when the suite was collected, from best.pt"}


def unit_row(setting, seed: int, rec: dict, folder: Path | None = None) -> dict:
    """One finished unit (``setting``: its :class:`~savae_lite.study.Setting`) in the record: test metrics (with
    and without refinement), cost, provenance and the validation history (KL, MI, AU per epoch)."""

    test = rec["test"]
    if "exact" in test and "iw" not in test:  # a record written before test_report added the subset
        test = {**test, "iw": lm_on_iw_subset(folder)}
    row = {"unit": unit_name(setting, seed), "setting": setting.name, "mode": setting.mode, "seed": seed,
           "best_epoch": rec["best_epoch"], "environment": rec["environment"],
           "epochs_run": len(rec["epochs"]), "train_time_per_epoch_s": rec["train_time_per_epoch_s"],
           "wall_time_s": rec["wall_time_s"], "git_commit": rec["environment"]["git_commit"],
           "device": rec["environment"].get("device"), "parameters": rec["parameters"], "test": test,
           "dataset": rec["dataset"],
           "history": [{"epoch": e["epoch"], "lr": e["lr"], "kl_weight": e["kl_weight"],
                        "train_time_s": e["train_time_s"], "train_kl": e["train"]["kl"],
                        **{k: e["valid"].get(k) for k in ("nll_bound", "kl", "mi", "au", "ppl_bound", "nll")},
                        **({"aggressive": e["aggressive"]["active"]} if "aggressive" in e else {})}
                       for e in rec["epochs"]]}
    row.update(headline(test, setting.mode))
    return row


def headline(test: dict, mode: str) -> dict:
    """The table's numbers from a unit's test report: ``nll_bound``, ``kl``, ``mi``, ``au``, ``ppl_bound`` with
    the mode's own test-time q (refined by SVI for the modes that refine, the encoder's otherwise), the encoder's q
    alone (``*_no_refine``) and refined (``*_refine``) where there is an encoder, and ``iw_nll`` / ``ppl_iw``."""
    if "exact" in test:  # iw_nll: the exact NLL on the examples of the latent models' IW-NLL
        e, sub = test["exact"], test.get("iw", {})
        return {"nll_bound": e["nll"], "ppl_bound": e["ppl"], "iw_nll": sub.get("iw_nll"),
                "ppl_iw": sub.get("ppl_iw"), "kl": 0.0, "mi": 0.0, "au": 0}
    keys = ("nll_bound", "kl", "mi", "au", "ppl_bound")
    own = test["refine"] if get_mode(mode).refines else test["no_refine"]
    out = {k: own[k] for k in keys}
    for variant in ("no_refine", "refine"):
        if variant in test:
            out.update({f"{k}_{variant}": test[variant][k] for k in keys})
    if "iw" in test:
        out.update(iw_nll=test["iw"]["iw_nll"], ppl_iw=test["iw"]["ppl_iw"])
    return out


SUMMARY_KEYS = ("nll_bound", "iw_nll", "ppl_bound", "ppl_iw", "kl", "mi", "au", "nll_bound_no_refine",
                "kl_no_refine", "mi_no_refine", "nll_bound_refine", "kl_refine", "mi_refine",
                "train_time_per_epoch_s", "epochs_run", "best_epoch")


def summarize(rows: list[dict], baseline: str | None = None) -> list[dict]:
    """Mean and sample standard deviation (None for one seed) over seeds, one entry per setting, in table order;
    ``devices``: the kinds of device its rows trained on; ``time_vs_vae``: each setting's epoch time over the
    ``baseline`` setting's, when the baseline is among the rows and trained on the same kind of device (a GPU
    epoch over a CPU epoch is no cost ratio)."""
    out = []
    for name in dict.fromkeys(r["setting"] for r in rows):
        group = [r for r in rows if r["setting"] == name]
        devices = sorted({str(r.get("device")).split(":")[0] for r in group})
        entry = {"setting": name, "mode": group[0]["mode"], "seeds": len(group), "devices": devices}
        for key in SUMMARY_KEYS:
            vals = [r[key] for r in group if r.get(key) is not None]
            if not vals:
                continue
            entry[key] = statistics.fmean(vals)
            entry[f"{key}_sd"] = statistics.stdev(vals) if len(vals) > 1 else None
        out.append(entry)
    ref = next((e for e in out if e["setting"] == baseline), None)
    for e in out:  # cost relative to the baseline VAE's epoch (He et al. report SA-VAE at 9.9x on Yahoo)
        if ref and ref.get("train_time_per_epoch_s") and e["devices"] == ref["devices"]:  # same kind of device
            e["time_vs_vae"] = e["train_time_per_epoch_s"] / ref["train_time_per_epoch_s"]
    return out


def collect(study: Study, base: RunConfig, rows: list[dict], missing: list[str], quick: bool) -> dict:
    """The study's record from its finished rows; ``complete`` is False while ``missing_units`` remain."""

    names = {r["setting"] for r in rows}
    return {"experiment": study.name, "quick": quick, "complete": not missing, "missing_units": missing,
            "config": base.to_dict(), "dataset": rows[0].get("dataset"),
            "settings": [{"name": s.name, "mode": s.mode, "seeds": s.seeds, "train": plain(s.train),
                          "model": s.model, "note": s.note} for s in study.settings if s.name in names],
            "rows": rows, "summary": summarize(rows, study.baseline),
            "compute_time_s": round(sum(r["wall_time_s"] for r in rows), 1),
            "git_commits": sorted({r["git_commit"] for r in rows}), "environment": rows[0]["environment"],
            "collected": results.stamp(), "collect_commit": results.git_commit()}
