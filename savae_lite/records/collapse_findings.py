"""What the text study's records answer (chapter *Text VAEs and posterior collapse*): does each VAE collapse,
does SA-VAE keep its KL and reach the best IW-NLL, how do the single-seed sweeps compare.

Each function returns numbers (:class:`~savae_lite.records.tables.Num`, :class:`~savae_lite.records.tables.PM`)
and short verdict words that the chapter glues into its prose; the tests in ``tests/test_records_layer.py``
check them on small records.
"""
from __future__ import annotations

import pandas as pd

from savae_lite.records.comparisons import compare, rank, yes_no
from savae_lite.records.tables import PM, Num

COLLAPSED_KL = 0.1  # nats per sentence: below this the posterior has collapsed
#: the main table's setting each sweep's mode is measured against (its seed-1 run)
REFERENCE = {"autoreg": "autoreg", "vae": "vae+anneal", "savae": "savae"}


def use(row) -> str:
    """How much a setting uses z: ``KL 0.931 ± 0.188, MI 0.912 ± 0.187, AU 1.3 ± 0.6 over 3 seed(s)``."""
    return (f"KL {PM.of(row, 'kl', 3)}, MI {PM.of(row, 'mi', 3)}, AU {PM.of(row, 'au', 1)} "
            f"over {int(row['seeds'])} seed(s)")


def collapsed(row, threshold: float = COLLAPSED_KL) -> bool:
    """True when the setting's mean KL is below ``threshold`` (nats): its posterior has collapsed."""
    return float(row["kl"]) < threshold


def sweep_frame(rec, sweeps) -> pd.DataFrame:
    """One row per sweep: its change, the main table's seed-1 run of the same mode it stands against
    (:data:`REFERENCE`), both IW-NLLs and their difference, its KL, AU and epochs. Empty without ``sweeps``."""
    if not sweeps:
        return pd.DataFrame(columns=["sweep", "change", "against", "IW-NLL", "its IW-NLL", "difference", "KL",
                                     "AU", "epochs"])
    seed1 = {r["setting"]: r for r in rec["rows"] if r["seed"] == 1}
    notes = {s["name"]: s["note"] for s in sweeps["settings"]}
    out = []
    for r in sweeps["rows"]:
        ref = seed1.get(REFERENCE.get(r["mode"], ""))
        if ref is None:
            continue
        out.append({"sweep": r["setting"], "change": notes[r["setting"]], "against": ref["setting"],
                    "IW-NLL": r["iw_nll"], "its IW-NLL": ref["iw_nll"], "difference": r["iw_nll"] - ref["iw_nll"],
                    "KL": r["kl"], "AU": r["au"], "epochs": r["epochs_run"]})
    return pd.DataFrame(out)


def _schedule(setting: dict) -> tuple:
    return setting["train"].get("decay_start_epoch"), setting["model"]


def sweep_against_lm(rec, sweeps, frame: pd.DataFrame) -> str:
    """Every SA-VAE sweep against the language model trained the same way (same decoder, same learning-rate
    schedule; the main table's ``autoreg`` for a sweep that changes neither), seed 1: ``savae-K10 -0.05 against
    autoreg (seed 1); ...``."""
    spec = {s["name"]: s for s in sweeps["settings"]}
    iw = dict(zip(frame["sweep"], frame["IW-NLL"]))
    seed1 = {r["setting"]: r for r in rec["rows"] if r["seed"] == 1}
    parts = []
    for name in frame[frame["against"] == "savae"]["sweep"]:
        same = [n for n, s in spec.items() if s["mode"] == "autoreg" and _schedule(s) == _schedule(spec[name])]
        if _schedule(spec[name]) == (None, {}):
            lm, lm_nll = "autoreg", seed1["autoreg"]["iw_nll"]
        elif same and same[0] in iw:
            lm, lm_nll = same[0], iw[same[0]]
        else:
            parts.append(f"{name}: its language model is not in the record")
            continue
        parts.append(f"{name} {Num(iw[name] - lm_nll, signed=True)} against {lm} (seed 1)")
    return "; ".join(parts)


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
        "ag_use": use(S.loc[ag]), "ag_nll": PM.of(S.loc[ag], "iw_nll"), "ag_rank": rank(nll, ag),
        "ag_phase_end": ", ".join(str(next((h["epoch"] for h in r["history"] if not h.get("aggressive", True)),
                                           "–")) for r in rec["rows"] if r["setting"] == ag),
        "lm_nll": PM.of(S.loc[lm], "iw_nll"),
        "lm_diffs": ", ".join(f"{n} {Num(nll[n] - nll[lm], signed=True)}" for n in order if n != lm),
    }
    frame = sweep_frame(rec, sweeps)
    if len(frame):
        yard = max(S.loc[n, "iw_nll_sd"] for n in REFERENCE.values()
                   if n in S.index and not pd.isna(S.loc[n, "iw_nll_sd"]))
        out["sweep_diffs"] = "; ".join(f"{r['sweep']} {Num(r['difference'], signed=True)} nats "
                                       f"(KL {Num(r['KL'], 3)}, AU {r['AU']:g})" for _, r in frame.iterrows())
        out["sweep_yardstick"] = Num(yard)
        out["sweep_vs_lm"] = sweep_against_lm(rec, sweeps, frame)
    return out
