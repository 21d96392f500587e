"""What the text study's records answer (chapter *Text VAEs and posterior collapse*): does each VAE collapse,
does SA-VAE keep its KL and reach the best IW-NLL, how do the sweeps compare (K = 10 with one seed or three,
aggressive training with its MI check at He et al.'s update scale).

Each function returns numbers (:class:`~savae_lite.records.tables.Num`, :class:`~savae_lite.records.tables.PM`)
and short verdict words that the chapter glues into its prose; the tests in ``tests/test_records_layer.py`` and
``tests/test_documents_findings.py`` check them on small records.
"""
from __future__ import annotations

import statistics

import pandas as pd

from savae_lite.records.collapse_sweeps import (  # noqa: F401 (the sweeps' names: importable here too)
    AGGRESSIVE_SWEEP,
    K_SWEEP,
    REFERENCE,
    aggressive_reading,
    k_reading,
    sweep_against_lm,
    sweep_frame,
)
from savae_lite.records.collapsed import COLLAPSED_KL, collapsed, phase_end, use  # noqa: F401
from savae_lite.records.comparisons import compare, rank, yes_no
from savae_lite.records.tables import PM, Num, missing


def _mean_sd(values: list) -> tuple[float | None, float | None]:
    vals = [float(v) for v in values if not missing(v)]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


def same_examples(rec) -> pd.DataFrame:
    """The test numbers on the examples they were computed on, one row per setting (record order): the bound
    on the IW-NLL's subset (``bound_iw``; the exact NLL for a model without z) and the IW-NLL on it, the bound
    on the whole test split (``nll_bound``), each as mean and ``*_sd`` over seeds, and how many examples each
    covers (``iw_examples``, ``test_examples``; a setting whose rows disagree raises ``ValueError``)."""
    out = {}
    for name in dict.fromkeys(r["setting"] for r in rec["rows"]):
        mine = [r for r in rec["rows"] if r["setting"] == name]
        tests = [r.get("test") or {} for r in mine]
        iw = [t.get("iw") or {} for t in tests]
        exact = [r["mode"] == "autoreg" or "exact" in t for r, t in zip(mine, tests)]
        bound_iw = [s.get("iw_nll") if e else s.get("nll_bound_same_examples") for s, e in zip(iw, exact)]
        whole = [(t.get("refine") or t.get("no_refine") or t.get("exact") or {}).get("examples") for t in tests]
        counts = {"iw_examples": {s.get("examples") for s in iw}, "test_examples": set(whole)}
        for key, found in counts.items():
            if len(found) > 1:
                raise ValueError(f"same_examples: the rows of {name!r} have different {key}: {sorted(found)}")
        entry = {"seeds": len(mine), "iw_examples": next(iter(counts["iw_examples"])),
                 "test_examples": next(iter(counts["test_examples"]))}
        for key, values in (("bound_iw", bound_iw), ("iw_nll", [r.get("iw_nll") for r in mine]),
                            ("nll_bound", [r.get("nll_bound") for r in mine])):
            entry[key], entry[f"{key}_sd"] = _mean_sd(values)
        out[name] = entry
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.index.name = "setting"
    return frame


def example_count(frame: pd.DataFrame, key: str) -> int | None:
    """The one number of examples that every row of :func:`same_examples` has in ``key`` (``iw_examples``,
    ``test_examples``); ``None`` when no row says; ``ValueError`` when rows differ."""
    found = {int(v) for v in frame[key] if not missing(v)}
    if len(found) > 1:
        raise ValueError(f"example_count: the settings' {key} differ: {sorted(found)}")
    return next(iter(found), None)


def bound_headers(frame: pd.DataFrame, unit: str = "sentences") -> dict:
    """Column headers that say which examples each number is on: ``{"bound_iw": "bound (500 sentences)",
    "iw_nll": "IW-NLL (same 500)", "nll_bound": "bound (all 1,929 test sentences)"}``."""
    n_iw, n_test = example_count(frame, "iw_examples"), example_count(frame, "test_examples")
    iw = f"{n_iw:,}" if n_iw else "?"
    return {"bound_iw": f"bound ({iw} {unit})", "iw_nll": f"IW-NLL (same {iw})",
            "nll_bound": f"bound (all {n_test:,} test {unit})" if n_test else "bound (whole test split)"}


def without_z(summary: pd.DataFrame, keys: tuple[str, ...] = ("kl", "mi", "au")) -> pd.DataFrame:
    """A copy of a summary frame (with a ``mode`` column) whose latent-use columns (``keys`` and their ``_sd``)
    are empty for the models without z (mode ``autoreg``): they have no KL, MI or AU, shown as "–"."""
    out = summary.copy()
    cols = [c for k in keys for c in (k, f"{k}_sd") if c in out]
    out[cols] = out[cols].astype(float)
    out.loc[out["mode"] == "autoreg", cols] = float("nan")
    return out


def set_up(rec, sweeps=None) -> dict:
    """The study's scale as the prose quotes it (``cfg_*``): sentence length, training sentences, vocabulary,
    LSTM and latent sizes, K, the learning-rate schedule, annealing, the IW-NLL's samples and examples, and the
    annealing sweeps' first halving epoch (``cfg_sweep_decay``, with ``sweeps``)."""
    data, model, train = rec["config"]["data"], rec["config"]["model"], rec["config"]["train"]
    out = {"cfg_max_len": data["max_len"], "cfg_sentences": f"{data['max_sentences']:,}",
           "cfg_vocab": f"{data['vocab_size']:,}", "cfg_hidden": model["enc_hidden"],
           "cfg_latent": model["latent_dim"], "cfg_k": train["svi"]["steps"],
           "cfg_decay_start": train["decay_start_epoch"], "cfg_epochs": train["epochs"],
           "cfg_warmup": f"{train['kl_warmup_epochs']:g}", "cfg_iw_samples": f"{train['iw_samples']:,}",
           "cfg_iw_examples": f"{train['iw_max_examples']:,}"}
    if sweeps:
        decay = [s["train"].get("decay_start_epoch") for s in sweeps["settings"] if s["mode"] == "savae"]
        out["cfg_sweep_decay"] = next((d for d in decay if d), "–")
    return out


def _sweep_diff(r) -> str:
    seeds = "" if r["seeds"] == 1 else f"mean of {r['seeds']} seeds against {r['its seeds']}; "
    return f"{r['sweep']} {Num(r['difference'], signed=True)} nats ({seeds}KL {Num(r['KL'], 3)}, AU {r['AU']:g})"


def answers(rec, sweeps=None) -> dict:
    """The chapter's answers, as numbers and words keyed by the names the page glues."""
    S = pd.DataFrame(rec["summary"]).set_index("setting")
    nll = S["iw_nll"].to_dict()
    order = sorted(nll, key=nll.get)
    best, sv, ag, lm = order[0], "savae", "aggressive", "autoreg"
    rival = best if best != sv else order[1]
    out = {
        "vae_collapses": yes_no(collapsed(S.loc["vae"])), "vae_use": use(S.loc["vae"]),
        "anneal_collapses": yes_no(collapsed(S.loc["vae+anneal"])), "anneal_use": use(S.loc["vae+anneal"]),
        "savae_keeps": yes_no(not collapsed(S.loc[sv])), "savae_use": use(S.loc[sv]),
        "savae_best": yes_no(best == sv), "best": best, "best_nll": PM.of(S.loc[best], "iw_nll"),
        "savae_nll": PM.of(S.loc[sv], "iw_nll"), "savae_rank": rank(nll, sv), "settings": len(order),
        "rival": rival, "rival_nll": PM.of(S.loc[rival], "iw_nll"),
        "savae_vs_rival": compare(S.loc[sv], S.loc[rival], "iw_nll").words,
        "savae_epoch_s": Num(S.loc[sv].get("train_time_per_epoch_s"), 0),
        "ag_use": use(S.loc[ag]), "ag_nll": PM.of(S.loc[ag], "iw_nll"), "ag_rank": rank(nll, ag),
        "ag_phase_end": ", ".join(phase_end(r).replace("never", "–") for r in rec["rows"] if r["setting"] == ag),
        "lm_nll": PM.of(S.loc[lm], "iw_nll"),
        "lm_diffs": ", ".join(f"{n} {Num(nll[n] - nll[lm], signed=True)}" for n in order if n != lm),
    }
    frame = sweep_frame(rec, sweeps)
    if len(frame):
        # the largest sd over seeds of the runs compared: the main table's and the sweeps' with several seeds
        sds = [S.loc[n, "iw_nll_sd"] for n in REFERENCE.values() if n in S.index]
        yard = max(float(v) for v in [*sds, *frame["IW-NLL_sd"]] if v is not None and not pd.isna(v))
        out["sweep_diffs"] = "; ".join(_sweep_diff(r) for _, r in frame.iterrows())
        out["sweep_yardstick"] = Num(yard)
        out["sweep_vs_lm"] = sweep_against_lm(rec, sweeps, frame)
        out.update(k_reading(rec, sweeps))
        out.update(aggressive_reading(rec, sweeps))
    return out
