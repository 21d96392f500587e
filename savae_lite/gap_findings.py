"""What the toy runs of chapters 1 and 2 say, in the numbers and words their prose glues: computed on the page
from that page's own runs (the toy models train in seconds), by these tested functions rather than by hidden
notebook code. The comparisons' words come from :func:`savae_lite.gap.compare_gaps` and its neighbours.

Chapters: *The amortization gap* (:func:`inference_gaps`, :func:`capacity`, :func:`joint_training`) and *SVI*
(:func:`momentum`, :func:`training_modes`). ``tests/test_gap_findings.py`` checks each on made-up tables.
"""
from __future__ import annotations

import pandas as pd
import torch

from savae_lite.gap import catch_up, compare_gaps, how_many, with_fixed_decoder

#: chapter 1's encoder with one hidden tanh unit (its row name in the gap table)
NARROW = "narrow (1 tanh unit)"


def _nats(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def inference_gaps(summary: pd.DataFrame) -> dict:
    """Chapter 1's gap table (one row per encoder: ``linear``, :data:`NARROW`, ...; columns ``approximation
    gap`` and ``amortization gap``, nats): the linear and narrow encoders' amortization gaps, the approximation
    gap, and whether the narrow encoder's amortization gap is "larger than" or "smaller than" it."""
    narrow = summary.loc[NARROW]
    larger = narrow["amortization gap"] > narrow["approximation gap"]
    return {"ag_linear_gap": _nats(summary.loc["linear", "amortization gap"]),
            "ag_narrow_gap": _nats(narrow["amortization gap"], 2),
            "ag_approx_gap": _nats(narrow["approximation gap"], 2),
            "ag_narrow_vs_approx": "larger than" if larger else "smaller than"}


def encoder_parameters(decoder, width: int) -> int:
    """The number of parameters of chapter 1's encoder with ``width`` tanh units (0: linear) for ``decoder``."""
    return sum(p.numel() for p in with_fixed_decoder(decoder, enc_hidden=width).encoder.parameters())


def capacity(sweep: pd.DataFrame, decoder, *, n_train: int, n_small: int = 50) -> dict:
    """Chapter 1's capacity sweep (one row per encoder and seed: ``n_train``, ``enc_hidden`` (0 = linear),
    ``train gap``, ``test gap``, nats), averaged over seeds: the held-out gaps of the widths that matter (1, the
    best tanh width, the widest), the best width against the linear encoder, the linear against the widest with
    ``n_train`` and with ``n_small`` training points, how many encoders overfit the small set (held-out gap above
    the training gap) and the widest's held-out gap on the small set against the large one."""
    by_size = sweep.groupby(["n_train", "enc_hidden"])[["train gap", "test gap"]].mean()
    big, small = by_size.loc[n_train, "test gap"], by_size.loc[n_small, "test gap"]
    widest = int(big.index.max())
    best = int(big.drop(0).idxmin())  # the tanh width of the smallest held-out gap
    overfit = int((small > by_size.loc[n_small, "train gap"]).sum())
    return {"ag_width1_gap": _nats(big[1], 2), "ag_best_width": str(best),
            "ag_best_width_gap": _nats(big[best]), "ag_best_vs_linear": compare_gaps(big[best], big[0]),
            "ag_widest": str(widest), "ag_linear_params": f"{encoder_parameters(decoder, 0):,}",
            "ag_wide_params": f"{encoder_parameters(decoder, widest):,}",
            "ag_linear_test_gap": _nats(big[0]), "ag_wide_test_gap": _nats(big[widest]),
            "ag_linear_vs_wide": compare_gaps(big[0], big[widest]),
            "ag_linear_small_gap": _nats(small[0]), "ag_wide_small_gap": _nats(small[widest]),
            "ag_linear_vs_wide_small": compare_gaps(small[0], small[widest]),
            "ag_overfit": how_many(overfit, len(big), "encoder"),
            "ag_wide_small_vs_big": compare_gaps(small[widest], big[widest])}


def column_cosine(W: torch.Tensor) -> float:
    """The cosine between the two columns of a decoder's ``W`` (shape ``(data_dim, 2)``)."""
    return float(torch.nn.functional.cosine_similarity(W[:, 0], W[:, 1], dim=0))


def joint_training(compare: pd.DataFrame, joint_W: torch.Tensor, true_W: torch.Tensor) -> dict:
    """Chapter 1's comparison of the true decoder (first row) with one learned jointly with its encoder (second
    row; columns ``approximation gap`` and ``log p(x)``, nats): both approximation gaps, how much ``lower`` or
    ``higher`` the learned model's log p(x) is, and the cosine between each decoder's two columns."""
    true_row, joint_row = compare.iloc[0], compare.iloc[1]
    d = true_row["log p(x)"] - joint_row["log p(x)"]
    return {"ag_joint_approx": _nats(joint_row["approximation gap"]),
            "ag_true_approx": _nats(true_row["approximation gap"]),
            "ag_joint_logp_diff": _nats(abs(d)),
            "ag_joint_logp": f"{_nats(abs(d))} nats {'lower' if d > 0 else 'higher'}",
            "ag_joint_cos": f"{column_cosine(joint_W):.2f}", "ag_true_cos": f"{column_cosine(true_W):.2f}"}


def momentum(moms: pd.DataFrame) -> dict:
    """Chapter 2's momentum curves (index: SVI steps; columns ``β = 0.0``, ``β = 0.5``, ``β = 0.9``: the gap to
    the optimum, nats) at their last step: the three gaps, β = 0.9 against β = 0.5, and whether β = 0 has caught
    up with β = 0.5."""
    end = moms.iloc[-1]
    return {"svi_mom_K": str(moms.index[-1]), "svi_mom_end_09": _nats(end["β = 0.9"]),
            "svi_mom_end_05": _nats(end["β = 0.5"]), "svi_mom_end_0": _nats(end["β = 0.0"]),
            "svi_mom_09_vs_05": compare_gaps(end["β = 0.9"], end["β = 0.5"]),
            "svi_mom_0_vs_05": catch_up(end["β = 0.0"], end["β = 0.5"])}


def training_modes(table: pd.DataFrame) -> dict:
    """Chapter 2's training modes (rows ``vae``, ``svi``, ``vae+svi``; columns ``log p(x)``, ``encoder ELBO``,
    ``ELBO, 20 SVI steps from encoder``, nats on held-out points): each SVI mode's log p(x) "below" or "above"
    the VAE's and by how much, and the VAE's encoder ELBO before and after 20 SVI steps."""
    def versus_vae(mode: str) -> str:
        d = table.loc[mode, "log p(x)"] - table.loc["vae", "log p(x)"]
        return f"{_nats(abs(d))} nats {'below' if d < 0 else 'above'} the VAE's"

    return {"svi_logp_svi": versus_vae("svi"), "svi_logp_vaesvi": versus_vae("vae+svi"),
            "svi_vae_enc_elbo": _nats(table.loc["vae", "encoder ELBO"]),
            "svi_vae_svi_elbo": _nats(table.loc["vae", "ELBO, 20 SVI steps from encoder"])}
