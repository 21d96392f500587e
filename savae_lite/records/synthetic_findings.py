"""What the synthetic experiment's record answers (chapter *SA-VAE: training through SVI*): with the oracle's
decoder fixed (Oracle Gen) and learned (Learned Gen), which mode reaches the lowest test bound, by more than the
seeds' spread or not, and how far every mode stays from the oracle's true NLL.

Each function returns numbers (:class:`~savae_lite.records.tables.Num`, :class:`~savae_lite.records.tables.PM`)
and short verdict words that the chapter glues into its prose.
"""
from __future__ import annotations

import textwrap

import pandas as pd

from savae_lite.records.comparisons import compare
from savae_lite.records.tables import PM, Num

#: the summary's columns as the chapter's table shows them
COLUMNS = {"bound": "test bound", "gap": "bound − true NLL", "kl": "KL", "mi": "MI",
           "bound_no_refine": "bound without SVI", "iw_nll": "model's own NLL (IW)", "epochs_run": "epochs",
           "train_s": "train time (s)"}


def summary_frame(rec) -> pd.DataFrame:
    """The summary by (setting, mode) with ``gap`` = bound − the oracle's true NLL; epochs and training time are
    n/a (NaN) where a mode trained nothing (Oracle Gen ``svi``)."""
    s = pd.DataFrame(rec["summary"]).set_index(["setting", "mode"])
    s["gap"], s["gap_sd"] = s["bound"] - rec["true_nll"]["true_nll"], s["bound_sd"]
    untrained = s["epochs_run"] == 0
    for key in ("epochs_run", "train_s"):
        s.loc[untrained, [key, f"{key}_sd"]] = float("nan")
    return s


def table_columns(s: pd.DataFrame) -> dict:
    """:data:`COLUMNS` that the summary has values for."""
    return {k: v for k, v in COLUMNS.items() if k in s and not s[k].isna().all()}


def ranking(s: pd.DataFrame, setting: str) -> dict:
    """The two lowest mean test bounds of a setting: ``best`` and ``second`` with their bounds, whether the best
    is lower by more than twice the seeds' spread (``words``), and SA-VAE's bound."""
    sub = s.loc[setting].sort_values("bound")
    best, second = sub.index[0], sub.index[1]
    return {"best": best, "best_bound": PM.of(sub.loc[best], "bound"), "second": second,
            "second_bound": PM.of(sub.loc[second], "bound"),
            "words": compare(sub.loc[best], sub.loc[second], "bound").words,
            "savae_bound": PM.of(sub.loc["savae"], "bound")}


def findings(rec) -> dict:
    """Everything the chapter quotes, by glue name (``oracle_*``, ``learned_*``)."""
    s, t = summary_frame(rec), rec["true_nll"]
    o, lg = s.loc["Oracle Gen"], s.loc["Learned Gen"]
    out = {f"oracle_{k}": v for k, v in ranking(s, "Oracle Gen").items()}
    out.update({f"learned_{k}": v for k, v in ranking(s, "Learned Gen").items()})
    out.update({
        "oracle_vae_gap": Num(o.loc["vae", "bound"] - t["fitted_q_bound"]),
        "savae_encoder_alone": PM.of(o.loc["savae"], "bound_no_refine"),
        "vae_encoder_alone": PM.of(o.loc["vae"], "bound"),
        "learned_kl": ", ".join(f"{m} {Num(lg.loc[m, 'kl'])}" for m in lg.index),
        "learned_gap": Num(lg["bound"].min() - t["true_nll"]),
        "learned_kl_savae": PM.of(lg.loc["savae"], "kl"), "learned_kl_vae": PM.of(lg.loc["vae"], "kl"),
        "learned_kl_svi": PM.of(lg.loc["svi"], "kl"),
        "learned_iw_gap": Num((lg["bound"] - lg["iw_nll"]).max()),
    })
    return out


def set_up(rec, width: int = 88) -> str:
    """The record's data, model, training and SVI set-up, and the oracle's true NLL, as lines of ``width``."""
    C, S, t = rec["config"], rec["config"]["svi"], rec["true_nll"]
    n = rec["dataset"]["sentences"]
    if isinstance(n, dict):
        n = " / ".join(f"{v:,}" for v in n.values()) + f" ({' / '.join(n)})"
    paragraphs = [
        f"Data: {n} sentences of {C['length']} words, {C['vocab_size'] - 4} words; z at "
        f"the {C['z_at']}; LSTMs of {C['hidden']} units, embeddings {C['emb_dim']}, latent {C['latent_dim']}.",
        f"Training: {C['seeds']} seeds; {C['optimizer']} lr {C['lr']}, batches of {C['batch_size']}, global clip "
        f"{C['grad_clip']}, at most {C['epochs']} epochs, stop after {C['patience']} without improvement; KL weight "
        f"{C['kl_start']} -> 1 over {C['kl_warmup_epochs']} epochs; SVI: K = {S['steps']}, step {S['lr_mu']}, "
        f"momentum {S['momentum']}, per-example clip {S['clip']}; SA-VAE HVPs: {S['hvp']}",
        f"True NLL of the oracle on the test set: {Num(t['true_nll'])} ± {Num(t['true_nll_se'])} (standard error) "
        f"nats per sentence, a {t['estimator']}; proposal: {t['proposal']}. For reference, the bound of that "
        f"fitted Gaussian: {Num(t['fitted_q_bound'])}.",
    ]
    return "\n".join(textwrap.fill(p, width, subsequent_indent="  ") for p in paragraphs)
