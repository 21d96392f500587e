"""What the audit of the original code's backward pass found (chapter *Differentiable SVI*, section "What the
original code computes"; ours, beyond the paper), read from the record of ``savae-lite experiment
original-backward`` (:mod:`savae_lite.original_audit`).

:func:`table_frame` is the section's table (one row per model); :func:`answers` the numbers and words its prose
glues (prefix ``ob_``). ``tests/test_original_findings.py`` checks both on made-up records.

The same chapter's section "Cost: time and memory against K" reads its live timings with :func:`floor_reading`
(how close the finite-difference back-end comes to the floor of 2K+1 gradient evaluations) and
:func:`backend_words` (double backward against finite differences).
"""
from __future__ import annotations

from typing import Mapping

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


#: A step time at most this many times the floor of 2K+1 gradient evaluations "stays close to" it ...
CLOSE_TO_FLOOR = 1.25
#: ... at most this many times "stays within twice" it; above, it "runs well above" it.
WITHIN_TWICE = 2.0
#: A ratio below this is a step measured faster than its floor (the timings are noise-dominated there, and the
#: words say that the ratios "scatter around" the floor).
BELOW_FLOOR = 0.9


def floor_reading(ratios: Mapping[int, float]) -> dict:
    """How the finite-difference back-end's step time compares with the floor of 2K+1 gradient evaluations.

    ``ratios``: the measured time over (2K+1) gradient evaluations, by K. K = 1 is left out when larger K were
    measured (fixed overheads can dominate one step). Returns ``fd_ratio_range`` ("1.17 to 2.84", or one number)
    and ``fd_floor_words``, chosen from the largest ratio: "stays close to" (at most :data:`CLOSE_TO_FLOOR`),
    "stays within twice" (at most :data:`WITHIN_TWICE`) or "runs well above"; where a ratio is below
    :data:`BELOW_FLOOR` (a noisy measurement), "scatters around" or, above twice the floor, "scatters widely
    around". Each is followed, on the page, by "the floor of 2K+1 gradient evaluations"."""
    kept = {k: float(r) for k, r in ratios.items() if k > 1} or {k: float(r) for k, r in ratios.items()}
    lo, hi = min(kept.values()), max(kept.values())
    span = Num(hi) if f"{lo:.2f}" == f"{hi:.2f}" else f"{Num(lo)} to {Num(hi)}"
    if lo < BELOW_FLOOR:
        words = "scatters around" if hi <= WITHIN_TWICE else "scatters widely around"
    else:
        words = ("stays close to" if hi <= CLOSE_TO_FLOOR else "stays within twice" if hi <= WITHIN_TWICE
                 else "runs well above")
    return {"fd_ratio_range": str(span), "fd_floor_words": words}


def backend_words(exact_over_fd: float) -> str:
    """Double backward's step time against finite differences' (their ratio): "takes longer per step than
    finite differences" above 1.1, "is faster per step than finite differences" below 0.9, "takes about as long
    per step as finite differences" between."""
    if exact_over_fd > 1.1:
        return "takes longer per step than finite differences"
    if exact_over_fd < 0.9:
        return "is faster per step than finite differences"
    return "takes about as long per step as finite differences"


def cost_reading(cost: pd.DataFrame) -> dict:
    """Chapter 3's live cost table, read: :func:`floor_reading` of the finite-difference rows' "ratio to 2K+1
    gradients", plus ``exact_over_fd`` (the median over K > 1, or over every K when only K = 1 was measured, of
    the exact back-end's "time (s)" over the fd back-end's at the same K, one decimal) and its words
    ``exact_vs_fd`` (:func:`backend_words`). ``cost``: one row per (``hvp``, ``K``) with those two columns."""
    by = {h: g.set_index("K") for h, g in cost.groupby("hvp")}
    fd, ex = by["fd"], by["exact"]
    out = floor_reading(fd["ratio to 2K+1 gradients"].to_dict())
    ratio = (ex["time (s)"] / fd["time (s)"]).dropna()
    later = ratio[ratio.index > 1] if (ratio.index > 1).any() else ratio
    exact_over_fd = float(later.median())
    return {**out, "exact_vs_fd": backend_words(exact_over_fd), "exact_over_fd": f"{exact_over_fd:.1f}"}
