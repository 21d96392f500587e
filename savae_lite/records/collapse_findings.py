"""What the text study's records answer (chapter *Text VAEs and posterior collapse*): does each VAE collapse,
does SA-VAE keep its KL and reach the best IW-NLL, how do the sweeps compare (K = 10 with one seed or three,
aggressive training with its MI check at He et al.'s update scale).

Each function returns numbers (:class:`~savae_lite.records.tables.Num`, :class:`~savae_lite.records.tables.PM`)
and short verdict words that the chapter glues into its prose; the tests in ``tests/test_records_layer.py`` and
``tests/test_documents_findings.py`` check them on small records.
"""
from __future__ import annotations

import re
import statistics

import pandas as pd

from savae_lite.records.comparisons import compare, rank, yes_no
from savae_lite.records.tables import PM, Num, missing

COLLAPSED_KL = 0.1  # nats per sentence: below this the posterior has collapsed
#: the main table's setting each sweep's mode is measured against (its seed-1 run, or its mean over seeds for a
#: sweep with several seeds)
REFERENCE = {"autoreg": "autoreg", "vae": "vae+anneal", "savae": "savae", "aggressive": "aggressive"}
#: the sweep of SA-VAE with more SVI steps (K = 10 instead of the study's 5)
K_SWEEP = "savae-K10"
#: the sweep of aggressive training with its MI check every 3,125 updates (He et al.'s Yahoo epoch)
AGGRESSIVE_SWEEP = "aggressive-every3125"


def use(row) -> str:
    """How much a setting uses z: ``KL 0.931 ± 0.188, MI 0.912 ± 0.187, AU 1.3 ± 0.6 over 3 seed(s)``."""
    return (f"KL {PM.of(row, 'kl', 3)}, MI {PM.of(row, 'mi', 3)}, AU {PM.of(row, 'au', 1)} "
            f"over {int(row['seeds'])} seed(s)")


def collapsed(row, threshold: float = COLLAPSED_KL) -> bool:
    """True when the setting's mean KL is below ``threshold`` (nats): its posterior has collapsed."""
    return float(row["kl"]) < threshold


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


def _summary(rec) -> dict:
    return {e["setting"]: e for e in rec["summary"]}


def _seed1(rec) -> dict:
    first = {}
    for r in sorted(rec["rows"], key=lambda r: r.get("seed", 0)):
        first.setdefault(r["setting"], r)
    return first


def sweep_frame(rec, sweeps) -> pd.DataFrame:
    """One row per sweep: its change, its seeds, the main table's setting of the same mode it stands against
    (:data:`REFERENCE`) and that setting's seeds (its seed-1 run for a one-seed sweep, its mean over seeds for a
    sweep with several), both IW-NLLs (``*_sd`` where there are seeds) and their difference, its KL, AU and
    epochs. Empty without ``sweeps``."""
    cols = ["sweep", "change", "seeds", "against", "its seeds", "IW-NLL", "its IW-NLL", "difference", "KL", "AU",
            "epochs"]
    if not sweeps:
        return pd.DataFrame(columns=cols)
    seed1, main = _seed1(rec), _summary(rec)
    notes = {s["name"]: s.get("note", "") for s in sweeps["settings"]}
    out = []
    for e in sweeps["summary"]:
        name = REFERENCE.get(e.get("mode") or next(r["mode"] for r in sweeps["rows"] if r["setting"] == e["setting"]))
        if name is None or name not in main:
            continue
        many = int(e["seeds"]) > 1
        ref = main[name] if many else seed1[name]
        ref_seeds = int(main[name]["seeds"]) if many else 1
        out.append({"sweep": e["setting"], "change": notes.get(e["setting"], ""), "seeds": int(e["seeds"]),
                    "against": name, "its seeds": ref_seeds, "IW-NLL": e["iw_nll"], "IW-NLL_sd": e.get("iw_nll_sd"),
                    "its IW-NLL": ref["iw_nll"], "its IW-NLL_sd": ref.get("iw_nll_sd") if many else None,
                    "difference": e["iw_nll"] - ref["iw_nll"], "KL": e["kl"], "KL_sd": e.get("kl_sd"),
                    "AU": e["au"], "epochs": e["epochs_run"]})
    frame = pd.DataFrame(out)
    return frame if len(frame) else pd.DataFrame(columns=cols)


def _schedule(setting: dict) -> tuple:
    return setting["train"].get("decay_start_epoch"), setting["model"]


def sweep_against_lm(rec, sweeps, frame: pd.DataFrame) -> str:
    """Every SA-VAE sweep against the language model trained the same way (same decoder, same learning-rate
    schedule; the main table's ``autoreg`` for a sweep that changes neither): seed 1 against seed 1 for a
    one-seed sweep (``savae-K10 -0.05 against autoreg (seed 1)``), mean against mean with the verdict of
    :func:`~savae_lite.records.comparisons.separated` for a sweep with several seeds (``savae-K10 -0.05 against
    autoreg (3 seeds each: within the seeds' spread)``)."""
    spec = {s["name"]: s for s in sweeps["settings"]}
    sweep_summary = _summary(sweeps)
    iw = dict(zip(frame["sweep"], frame["IW-NLL"]))
    seed1, main = _seed1(rec), _summary(rec)
    parts = []
    for name in frame[frame["against"] == "savae"]["sweep"]:
        same = [n for n, s in spec.items() if s["mode"] == "autoreg" and _schedule(s) == _schedule(spec[name])]
        entry = sweep_summary[name]
        if _schedule(spec[name]) == (None, {}):
            lm = "autoreg"
            lm_entry = main[lm] if int(entry["seeds"]) > 1 else seed1[lm]
        elif same and same[0] in iw:
            lm, lm_entry = same[0], sweep_summary[same[0]]
        else:
            parts.append(f"{name}: its language model is not in the record")
            continue
        if int(entry["seeds"]) > 1:
            c = compare(entry, lm_entry, "iw_nll")
            seeds = (f"{int(entry['seeds'])} seeds each" if int(lm_entry.get("seeds", 1)) == int(entry["seeds"])
                     else f"{int(entry['seeds'])} and {int(lm_entry.get('seeds', 1))} seeds")
            parts.append(f"{name} {c.diff} against {lm} ({seeds}: {c.words})")
        else:
            parts.append(f"{name} {Num(iw[name] - lm_entry['iw_nll'], signed=True)} against {lm} (seed 1)")
    return "; ".join(parts)


def _svi_steps(train: dict | None) -> int | None:
    svi = (train or {}).get("svi")
    if isinstance(svi, dict):
        return svi.get("steps")
    found = re.search(r"steps=(\d+)", str(svi or ""))
    return int(found.group(1)) if found else None


def k_reading(rec, sweeps) -> dict:
    """SA-VAE with more SVI steps (:data:`K_SWEEP`) against the language model and against SA-VAE with the main
    table's K, as a sentence for the page (``k_reading``) and its parts. With one seed the sweep is not judged
    (and its training length, in epochs, is set beside the reference's: the two are confounded); with several,
    both differences are judged by :func:`~savae_lite.records.comparisons.separated` against the main table's
    mean over its seeds. ``k_helps``: "Yes" (better than SA-VAE by more than 2 sd), "No" (within the spread or
    worse) or "Not judged (one seed)"."""
    sweep = _summary(sweeps).get(K_SWEEP) if sweeps else None
    spec = {s["name"]: s for s in sweeps["settings"]} if sweeps else {}
    if sweep is None:
        return {"k_reading": "The sweep with more SVI steps is not in the record yet.", "k_seeds": 0,
                "k_helps": "Not measured yet"}
    main, seed1 = _summary(rec), _seed1(rec)
    k = _svi_steps(spec.get(K_SWEEP, {}).get("train")) or K_SWEEP
    k0 = _svi_steps((rec.get("config") or {}).get("train")) or "the main table's K"
    n = int(sweep["seeds"])
    if n == 1:
        row = next(r for r in sweeps["rows"] if r["setting"] == K_SWEEP)
        sv, lm = seed1["savae"], seed1["autoreg"]
        extra = row["epochs_run"] - sv["epochs_run"]
        length = (f"It also trained {row['epochs_run']:g} epochs against {sv['epochs_run']:g} for K = {k0}, so "
                  "more SVI steps and longer training are confounded" if extra else
                  f"Both trained {row['epochs_run']:g} epochs")
        text = (f"SA-VAE with K = {k} is one seed so far: IW-NLL {Num(row['iw_nll'])}, "
                f"{Num(row['iw_nll'] - lm['iw_nll'], signed=True)} nats against the language model's seed 1 and "
                f"{Num(row['iw_nll'] - sv['iw_nll'], signed=True)} against SA-VAE's seed 1 with K = {k0}. "
                f"{length}, and a single seed has no spread to judge a difference by: whether K helps SA-VAE "
                "is not settled by this run.")
        return {"k_reading": text, "k_seeds": 1, "k_helps": "Not judged (one seed)",
                "k_extra_epochs": Num(extra, 0)}
    vs_lm, vs_sv = compare(sweep, main["autoreg"], "iw_nll"), compare(sweep, main["savae"], "iw_nll")
    helps = vs_sv.words.startswith("better")
    extra = sweep["epochs_run"] - main["savae"]["epochs_run"]
    length = (f" It trained {Num(sweep['epochs_run'], 1)} epochs on average against "
              f"{Num(main['savae']['epochs_run'], 1)} for K = {k0}, a difference in training length "
              "that stays confounded with K."
              if abs(extra) >= 0.5 else "")
    text = (f"SA-VAE with K = {k} over {n} seeds: IW-NLL {vs_lm.a} against the language model's {vs_lm.b} "
            f"({vs_lm.diff} nats, {vs_lm.words}) and against SA-VAE's {vs_sv.b} with K = {k0} ({vs_sv.diff}, "
            f"{vs_sv.words}). "
            + ("More SVI steps improve SA-VAE beyond the seeds' spread." if helps else
               "More SVI steps do not improve SA-VAE beyond the seeds' spread.") + length)
    return {"k_reading": text, "k_seeds": n, "k_helps": yes_no(helps), "k_vs_lm": vs_lm.words,
            "k_vs_savae": vs_sv.words, "k_extra_epochs": Num(extra, 1)}


def _phase_end(row) -> str:
    """The epoch in which a row's aggressive phase was off for the first time ("never" if it stayed on)."""
    for h in row.get("history", []):
        state = h.get("aggressive", True)
        active = state.get("active", True) if isinstance(state, dict) else bool(state)
        if not active:
            return str(h["epoch"])
    return "never"


def aggressive_reading(rec, sweeps) -> dict:
    """Aggressive training with its MI check at He et al.'s update scale (:data:`AGGRESSIVE_SWEEP`) against the
    main table's aggressive training (MI checked at every epoch's end): ``ag_sweep``, a sentence for the page
    (still to run when the record has no such row), and ``ag_sweep_keeps`` ("Yes"/"No"/"Not measured yet")."""
    from savae_lite.collapse import SWEEPS  # the sweep's definition, for its check interval

    every = next((s.train.get("aggressive_mi_every") for s in SWEEPS if s.name == AGGRESSIVE_SWEEP), None)
    check = f"every {every:,} updates" if every else "at He et al.'s update scale"
    sweep = _summary(sweeps).get(AGGRESSIVE_SWEEP) if sweeps else None
    if sweep is None:
        return {"ag_sweep": f"Aggressive training with its MI check {check} (He et al.'s Yahoo epoch) instead "
                            "of at every epoch's end is still to run.", "ag_sweep_keeps": "Not measured yet"}
    rows = [r for r in sweeps["rows"] if r["setting"] == AGGRESSIVE_SWEEP]
    ref_rows = sorted((r for r in rec["rows"] if r["setting"] == "aggressive"), key=lambda r: r.get("seed", 0))
    keeps = not collapsed(sweep)
    ref = _seed1(rec)["aggressive"]
    many = len(rows) > 1
    against = (compare(sweep, _summary(rec)["aggressive"], "iw_nll").words if many else "seed 1 against seed 1")
    diff = sweep["iw_nll"] - (_summary(rec)["aggressive"]["iw_nll"] if many else ref["iw_nll"])
    text = (f"With its MI check {check} instead of at every epoch's end, aggressive training's encoder-only "
            f"phase was first off in epoch {', '.join(_phase_end(r) for r in rows)} (per-epoch check: epoch "
            f"{', '.join(_phase_end(r) for r in ref_rows[:len(rows)])}); it ended "
            + ("with z in use" if keeps else "collapsed") + f" ({use(sweep)}), IW-NLL "
            f"{PM.of(sweep, 'iw_nll')}, {Num(diff, signed=True)} nats against the per-epoch check ({against}).")
    return {"ag_sweep": text, "ag_sweep_keeps": yes_no(keeps)}


def _sweep_diff(r) -> str:
    seeds = "" if r["seeds"] == 1 else f" (mean of {r['seeds']} seeds against {r['its seeds']})"
    return f"{r['sweep']} {Num(r['difference'], signed=True)} nats{seeds} (KL {Num(r['KL'], 3)}, AU {r['AU']:g})"


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
        "ag_phase_end": ", ".join(_phase_end(r).replace("never", "–") for r in rec["rows"] if r["setting"] == ag),
        "lm_nll": PM.of(S.loc[lm], "iw_nll"),
        "lm_diffs": ", ".join(f"{n} {Num(nll[n] - nll[lm], signed=True)}" for n in order if n != lm),
    }
    frame = sweep_frame(rec, sweeps)
    if len(frame):
        yard = max(S.loc[n, "iw_nll_sd"] for n in REFERENCE.values()
                   if n in S.index and not pd.isna(S.loc[n, "iw_nll_sd"]))
        out["sweep_diffs"] = "; ".join(_sweep_diff(r) for _, r in frame.iterrows())
        out["sweep_yardstick"] = Num(yard)
        out["sweep_vs_lm"] = sweep_against_lm(rec, sweeps, frame)
        out.update(k_reading(rec, sweeps))
        out.update(aggressive_reading(rec, sweeps))
    return out
