"""What the audit of the original code's backward pass found (chapter *Differentiable SVI*, section "What the
original code computes"; ours, beyond the paper), read from the record of ``savae-lite experiment
original-backward`` (:mod:`savae_lite.original_audit`).

:func:`table_frame` is the section's table (one row per model); :func:`answers` the numbers and words its prose
glues (prefix ``ob_``). ``tests/test_original_findings.py`` checks both on made-up records.
"""
from __future__ import annotations

import pandas as pd

from savae_lite.records.tables import Num

#: A cosine above this means that the two gradients point the same way.
SAME_DIRECTION = 0.99


def table_frame(rec) -> pd.DataFrame:
    """One row per model of the record (``_label``): parameters (millions), the share of reverse steps whose
    joint clip fired (percent), the cosines of the encoder's gradient from the original's backward pass with the
    total derivative and with the plain VAE gradient, and the cosine of the total derivative with the VAE
    gradient."""
    rows = [{"model": _label(r), "parameters (M)": r["parameters"] / 1e6, "clip fired (%)": 100 * r["fired"],
             "cos(original, total)": r["cos_original_total"], "cos(original, VAE)": r["cos_original_vae"],
             "cos(total, VAE)": r["cos_total_vae"]} for r in rec["rows"]]
    return pd.DataFrame(rows).set_index("model")


def _label(r) -> str:
    """A short row name: "LSTM 1024, initial" or "LSTM 128, trained (sentences)"."""
    state = "initial" if r["setting"].startswith("initialisation") else f"trained ({r.get('data', '?')})"
    return f"LSTM {r['hidden']}, {state}" if r.get("hidden") else r["setting"]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def answers(rec) -> dict:
    """The prose's numbers: the set-up (batches, K, the clip's bound), for the book's size and the paper's (the
    smallest and the largest LSTM at initialisation) the share of fired clips and the cosines, for the trained
    model (when the record has one) its share, and a one-line verdict on whether the encoder's gradient follows
    the total derivative or the VAE gradient at the paper's size."""
    init = [r for r in rec["rows"] if r["setting"].startswith("initialisation")]
    small, large = min(init, key=lambda r: r["hidden"]), max(init, key=lambda r: r["hidden"])
    trained = next((r for r in rec["rows"] if r["setting"].startswith("trained")), None)
    out = {"ob_batches": small["batches"], "ob_k": small["K"], "ob_clip": Num(small["clip"], 0),
           "ob_small_hidden": f"{small['hidden']:,}", "ob_large_hidden": f"{large['hidden']:,}",
           "ob_small_fired": _pct(small["fired"]), "ob_large_fired": _pct(large["fired"]),
           "ob_small_cos_total": Num(small["cos_original_total"], 3),
           "ob_large_cos_total": Num(large["cos_original_total"], 3),
           "ob_large_cos_vae": Num(large["cos_original_vae"], 3),
           "ob_large_total_vae": Num(large["cos_total_vae"], 3),
           "ob_large_joint_norm": Num(large["joint_norm"], 1), "ob_small_joint_norm": Num(small["joint_norm"], 1),
           "ob_trained_fired": _pct(trained["fired"]) if trained else "–",
           "ob_trained_cos_total": Num(trained["cos_original_total"], 3) if trained else "–"}
    if large["cos_original_vae"] > SAME_DIRECTION and large["cos_original_total"] < SAME_DIRECTION:
        verdict = (f"At the paper's size the encoder receives the VAE gradient's direction, not the total "
                   f"derivative (cosines {out['ob_large_cos_vae']} and {out['ob_large_cos_total']}).")
    elif large["cos_original_total"] > SAME_DIRECTION:
        verdict = (f"At the largest size the original's gradient still follows the total derivative (cosine "
                   f"{out['ob_large_cos_total']}).")
    else:
        verdict = (f"At the largest size the original's gradient follows neither the total derivative (cosine "
                   f"{out['ob_large_cos_total']}) nor the VAE gradient ({out['ob_large_cos_vae']}).")
    out["ob_verdict"] = verdict
    return out
