"""The sweeps beside the text study's main table (chapter *Text VAEs and posterior collapse*): each sweep
against the main table's setting of its mode (:func:`sweep_frame`) and against the language model trained the same
way (:func:`sweep_against_lm`), SA-VAE with more SVI steps (:func:`k_reading`) and aggressive training with its MI
check at He et al.'s update scale (:func:`aggressive_reading`). The sweeps themselves are defined in
``savae_lite.collapse.SWEEPS``; :func:`savae_lite.records.collapse_findings.answers` glues these readings
with the main table's.

Each function returns numbers (:class:`~savae_lite.records.tables.Num`, :class:`~savae_lite.records.tables.PM`)
and short verdict words; the tests in ``tests/test_records_layer.py`` and ``tests/test_documents_findings.py``
check them on small records.
"""
from __future__ import annotations

import re

import pandas as pd

from savae_lite.records.collapsed import collapsed, phase_end, use
from savae_lite.records.comparisons import compare, yes_no
from savae_lite.records.tables import PM, Num

#: the main table's setting each sweep's mode is measured against (its seed-1 run, or its mean over seeds for a
#: sweep with several seeds)
REFERENCE = {"autoreg": "autoreg", "vae": "vae+anneal", "savae": "savae", "aggressive": "aggressive"}
#: the sweep of SA-VAE with more SVI steps (K = 10 instead of the study's 5)
K_SWEEP = "savae-K10"
#: the sweep of aggressive training with its MI check every 3,125 updates (He et al.'s Yahoo epoch)
AGGRESSIVE_SWEEP = "aggressive-every3125"


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


def _phase(rows) -> str:
    """When the aggressive phase of ``rows`` (one per seed) was first switched off, in words: "stayed on through
    all 13 epochs" (in each seed, with several), or per seed "was first switched off in epoch 2 in seed 1 and in
    epoch 3 in seed 2" or "stayed on in seed 1 and was first switched off in epoch 5 in seed 2"."""
    ends = [phase_end(r) for r in rows]
    if all(e == "never" for e in ends):
        epochs = sorted({int(r["epochs_run"]) for r in rows})
        span = (f"all {epochs[0]} epochs" if len(epochs) == 1 else
                f"all of its epochs ({', '.join(str(int(r['epochs_run'])) for r in rows)})")
        return f"stayed on through {span}" + (f" in each of its {len(rows)} seeds" if len(rows) > 1 else "")
    if len(rows) == 1:
        return f"was first switched off in epoch {ends[0]}"
    # "was first switched off" is said once: "... in epoch 2 in seed 1 and in epoch 3 in seed 2"
    parts, said = [], False
    for r, e in zip(rows, ends):
        if e == "never":
            parts.append(f"stayed on in seed {r.get('seed')}")
        else:
            parts.append(("in" if said else "was first switched off in") + f" epoch {e} in seed {r.get('seed')}")
            said = True
    return " and ".join(parts)


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
            f"phase {_phase(rows)} (with the per-epoch check it {_phase(ref_rows[:len(rows)])}); it ended "
            + ("with *z* in use" if keeps else "collapsed") + f" ({use(sweep)}), IW-NLL "
            f"{PM.of(sweep, 'iw_nll')}, {Num(diff, signed=True)} nats against the per-epoch check ({against}).")
    return {"ag_sweep": text, "ag_sweep_keeps": yes_no(keeps)}
