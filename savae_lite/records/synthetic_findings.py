"""What the synthetic experiment's record answers (chapter *SA-VAE: training through SVI*): with the oracle's
decoder fixed (Oracle Gen) and learned (Learned Gen), which mode reaches the lowest test bound, by more than the
seeds' spread or not, and how far every mode stays from the oracle's true NLL.

Each function returns numbers (:class:`~savae_lite.records.tables.Num`, :class:`~savae_lite.records.tables.PM`)
and short verdict words that the chapter glues into its prose; :func:`oracle_claims` and :func:`best_bound_claim`
say plainly whether the paper's qualitative claims hold in the record.
"""
from __future__ import annotations

import textwrap

import pandas as pd

from savae_lite.records.comparisons import ONE_SEED, compare
from savae_lite.records.tables import PM, Num, counted

#: the summary's columns as the chapter's table shows them (bounds, NLLs, KL and MI in nats per sentence)
COLUMNS = {"bound": "test bound (nats)", "gap": "bound − true NLL (nats)", "kl": "KL (nats)", "mi": "MI (nats)",
           "bound_no_refine": "bound without SVI (nats)", "iw_nll": "model's own NLL (IW, nats)",
           "epochs_run": "epochs", "train_s": "train time (s)"}
#: Decimals of the chapter's tables where they differ from the book's rule (training times of a quick run are a
#: second or less, which whole seconds would show as "0 ± 0").
TABLE_DECIMALS = {"train_s": 1}
#: the mode whose claims the chapter checks, and its name in the prose
SAVAE, SAVAE_NAME = "savae", "SA-VAE"


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


def ranking_sentence(r: dict) -> str:
    """The sentence that reads a :func:`ranking`: the two lowest mean bounds and the verdict between them, and
    SA-VAE's mean bound only when it is neither of the two (so that no number is said twice)."""
    text = (f"the lowest mean bound is {r['best']}'s ({r['best_bound']} nats), then {r['second']}'s "
            f"({r['second_bound']}): the first against the second is {r['words']}")
    if SAVAE not in (r["best"], r["second"]):
        text += f"; {SAVAE_NAME}'s mean bound is {r['savae_bound']}"
    return text + "."


def _place(rank: int, n: int) -> str:
    """Where a mean ranks among ``n`` from the lowest: "the lowest", "the 2nd lowest", ..., "the highest"."""
    if rank == 1:
        return "the lowest"
    if rank == n:
        return "the highest"
    suffix = "th" if 10 <= rank % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(rank % 10, "th")
    return f"the {rank}{suffix} lowest"


def best_bound_claim(s: pd.DataFrame, setting: str = "Learned Gen", mode: str = SAVAE,
                     name: str = SAVAE_NAME) -> dict:
    """Does ``mode`` give the lowest (best) mean test bound of ``setting``, and by more than the seeds' spread?

    Returns ``holds`` (True when its mean is the lowest, False when another mode's is, None when the record has
    one seed and cannot judge), ``rival`` (the lowest of the other modes), ``diff`` (the rival's mean bound minus
    ``mode``'s, in nats), ``words`` (:func:`~savae_lite.records.comparisons.separated` of ``mode`` against the
    rival) and ``sentence``, the plain answer the chapter glues."""
    sub = s.loc[setting].sort_values("bound")
    n, rank = len(sub), list(sub.index).index(mode) + 1
    rival = next(m for m in sub.index if m != mode)
    c = compare(sub.loc[mode], sub.loc[rival], "bound")
    gap, place = Num(abs(float(c.diff)), c.diff.decimals), f"{_place(rank, n)} of the {n} means"
    if c.words == ONE_SEED:
        holds = None
        sentence = f"Our record cannot judge it: with one seed there is no spread; {name}'s mean bound is {place}."
    elif rank == 1:
        holds = True
        sentence = (f"It holds in our run: {name}'s mean bound is the lowest, {gap} nats below {rival}'s, more "
                    f"than twice the seeds' spread." if c.resolved else
                    f"It holds only for the means: {name}'s mean bound is the lowest, but only {gap} nats below "
                    f"{rival}'s, within the seeds' spread.")
    else:
        holds = False
        sentence = f"It does not hold in our run: {rival}'s mean bound is {gap} nats below {name}'s"
        sentence += (f", more than twice the seeds' spread, and {name}'s is {place}." if c.resolved else
                     f", and {name}'s is {place}; the difference is within the seeds' spread, so our seeds do not "
                     f"show {name} worse either.")
    return {"holds": holds, "rival": rival, "diff": Num(-float(c.diff), c.diff.decimals), "words": c.words,
            "sentence": sentence}


def oracle_claims(s: pd.DataFrame, setting: str = "Oracle Gen") -> dict:
    """The paper's two claims with the generator fixed: (1) starting SVI at the encoder's guess (``vae+svi``)
    beats the encoder alone (``vae``) and SVI alone (``svi``), by more than the seeds' spread; (2) training
    through the refinement (``savae``) does at least as well as ``vae+svi`` (not worse by more than the spread).

    Returns ``refine_holds`` and ``savae_holds`` (None where one seed cannot judge) and ``sentence``."""
    sub = s.loc[setting]
    c_vae, c_svi = (compare(sub.loc["vae+svi"], sub.loc[m], "bound") for m in ("vae", "svi"))
    c_sa = compare(sub.loc[SAVAE], sub.loc["vae+svi"], "bound")
    detail = (f"vae+svi's bound against the encoder alone (vae) is {c_vae.words} and against SVI alone (svi) "
              f"{c_svi.words}; savae's against vae+svi's is {c_sa.words}.")
    if ONE_SEED in (c_vae.words, c_svi.words, c_sa.words):
        return {"refine_holds": None, "savae_holds": None,
                "sentence": f"Our record cannot judge them (one seed): {detail}"}
    refine = all(c.resolved and float(c.diff) < 0 for c in (c_vae, c_svi))
    at_least = not (c_sa.resolved and float(c_sa.diff) > 0)
    lead = {(True, True): "Both hold in our run", (True, False): "The first holds in our run, the second does not",
            (False, True): "The second holds in our run, the first does not",
            (False, False): "Neither holds in our run"}[(refine, at_least)]
    return {"refine_holds": refine, "savae_holds": at_least, "sentence": f"{lead}: {detail}"}


def data_words(rec) -> str:
    """The record's training data in words: "5,000 sentences of 5 words and a vocabulary of 1,000 words"."""
    C = rec["config"]
    n = rec["dataset"]["sentences"]
    n = n.get("train", C.get("n_train")) if isinstance(n, dict) else n
    return f"{n:,} sentences of {C['length']} words and a vocabulary of {C['vocab_size'] - 4:,} words"


def findings(rec) -> dict:
    """Everything the chapter quotes, by glue name (``oracle_*``, ``learned_*``): the rankings and their sentences
    (:func:`ranking_sentence`), the paper's claims (:func:`oracle_claims`, :func:`best_bound_claim`), the gaps and
    KLs, and the record's data, K and seeds."""
    s, t = summary_frame(rec), rec["true_nll"]
    o, lg = s.loc["Oracle Gen"], s.loc["Learned Gen"]
    rank_o, rank_l = ranking(s, "Oracle Gen"), ranking(s, "Learned Gen")
    out = {f"oracle_{k}": v for k, v in rank_o.items()}
    out.update({f"learned_{k}": v for k, v in rank_l.items()})
    out.update({"oracle_ranking": ranking_sentence(rank_o), "learned_ranking": ranking_sentence(rank_l),
                "oracle_claims": oracle_claims(s)["sentence"], "learned_claim": best_bound_claim(s)["sentence"],
                "syn_data": data_words(rec), "syn_k": rec["config"]["svi"]["steps"],
                "syn_seeds": counted(rec["config"]["seeds"], "seed")})
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
