"""What the saliency record answers against the paper's Section 5.4 (chapter *What the latent encodes*): are
content words more salient than function words, `</s>` among the highest, earlier tokens higher; does a collapsed
VAE's saliency vanish; is the saliency a real dependence on z or estimation noise.

Each function returns numbers (:class:`~savae_lite.records.tables.Num`) and short verdict words that the chapter
glues into its prose.
"""
from __future__ import annotations

import math

import pandas as pd

from savae_lite.records.collapsed import COLLAPSED_KL
from savae_lite.records.tables import Num, counted, pct

#: the paper's nine part-of-speech classes (Figure 4), content words first
PAPER_POS = ["NN", "JJ", "VB", "CD", "</s>", "CC", "DT", "IN", "TO"]
HIGH, LOW = PAPER_POS[:5], PAPER_POS[5:]
NAMES = {"savae": "SA-VAE", "vae+anneal": "VAE (annealed)"}
MIN_COUNT = 20  # tokens: a class or position with fewer is not shown on its own


def test_metrics(model: dict) -> dict:
    """A model's own test record (chapter 5) with its refined test-time posterior, when recorded (else ``{}``)."""
    test = (model.get("record") or {}).get("test") or {}
    return test.get("refine") or test.get("no_refine") or {}


def panel(rec, model: str, name: str, value: str = "output_saliency") -> pd.DataFrame:
    """Saliency ``value`` of ``model`` by the groups of one panel (``"coarse tag"``, ``"position"``, ...):
    ``count``, ``mean``, ``ci_low``, ``ci_high`` indexed by group."""
    col = rec["config"]["panels"][name]
    t = pd.DataFrame(rec["models"][model]["tables"][value][name]).rename(columns={col: "group"})
    return t.set_index("group")


def pos_order(t: pd.DataFrame, min_count: int = MIN_COUNT) -> list:
    """The paper's classes (those present), then every other class with at least ``min_count`` tokens by
    descending mean."""
    rest = [g for g in t.sort_values("mean", ascending=False).index
            if g not in PAPER_POS and t.loc[g, "count"] >= min_count]
    return [g for g in PAPER_POS if g in t.index] + rest


def group_mean(t: pd.DataFrame, groups: list[str]) -> float:
    """Token-weighted mean saliency over several classes (those present)."""
    t = t.loc[[g for g in groups if g in t.index]]
    return float((t["mean"] * t["count"]).sum() / t["count"].sum())


def agreement(above: int, pairs: int) -> str:
    """"agrees" when every (content, function) pair of classes is ordered as in the paper, "agrees in part" for
    more than half, "disagrees" otherwise."""
    return "agrees" if above == pairs else "agrees in part" if above > pairs / 2 else "disagrees"


def position_trend(rho: float, p: float, alpha: float = 0.01) -> str:
    """Words for the Spearman correlation of saliency with position."""
    if p < alpha and rho < 0:
        return "earlier tokens higher, as in the paper"
    if p < alpha and rho > 0:
        return "later tokens higher, unlike the paper"
    return "no clear trend with position"


def vanishes(ratio: float) -> str:
    """Words for the collapsed VAE's mean saliency over SA-VAE's."""
    return "it nearly vanishes" if ratio < 0.1 else "smaller, but it does not vanish"


def answers(rec) -> dict:
    """The comparison with the paper, as numbers and words keyed by the names the page glues."""
    M = rec["models"]
    sa, va = M["savae"]["summary"], M["vae+anneal"]["summary"]
    t = panel(rec, "savae", "coarse tag")
    hi, lo = group_mean(t, HIGH), group_mean(t, LOW)
    pairs = [(h, lo_) for h in HIGH for lo_ in LOW if h in t.index and lo_ in t.index]
    above = sum(bool(t.loc[h, "mean"] > t.loc[lo_, "mean"]) for h, lo_ in pairs)
    nine = t.loc[[g for g in PAPER_POS if g in t.index]].sort_values("mean", ascending=False)
    others = t[(~t.index.isin(PAPER_POS)) & (t["count"] >= MIN_COUNT)].sort_values("mean", ascending=False)
    rel = panel(rec, "savae", "relative position")
    rho, p = sa["spearman_position"], sa["spearman_position_p"]
    end, overall = t.loc["</s>", "mean"], sa["output_saliency_mean"]
    kl = {n: test_metrics(m).get("kl", math.nan) for n, m in M.items()}
    ratio = va["output_saliency_mean"] / sa["output_saliency_mean"]
    ll, fr = panel(rec, "savae", "log-likelihood"), panel(rec, "savae", "word frequency")
    return {
        "content_verdict": agreement(above, len(pairs)), "content_mean": Num(hi, 2), "function_mean": Num(lo, 2),
        "content_ratio": Num(hi / lo), "pairs_above": above, "pairs": len(pairs),
        "nine_ranked": ", ".join(f"`{g}` {Num(r['mean'], 4)}" for g, r in nine.iterrows()),
        "others_top3": ", ".join(f"`{g}` {Num(r['mean'], 4)}" for g, r in others.head(3).iterrows()),
        "end_mean": Num(end, 4), "overall_mean": Num(overall, 4),
        "end_side": "above" if end > overall else "below",
        "rho": Num(rho, 3, signed=True), "rho_p": f"{p:.2g}", "position_trend": position_trend(rho, p),
        "first_tenth": Num(rel["mean"].iloc[0], 4), "last_tenth": Num(rel["mean"].iloc[-1], 4),
        "vae_out": Num(va["output_saliency_mean"], 4), "savae_out": Num(sa["output_saliency_mean"], 4),
        "vae_kl": Num(kl["vae+anneal"], 3), "savae_kl": Num(kl["savae"], 3), "out_ratio": Num(ratio, 3),
        "vanish": vanishes(ratio), "vae_in": Num(va["input_saliency_mean"], 4),
        "savae_in": Num(sa["input_saliency_mean"], 4), "vae_rho": Num(va["spearman_position"], 3, signed=True),
        "rare_mean": Num(fr["mean"].iloc[0], 4), "rare_group": str(fr.index[0]),
        "frequent_mean": Num(fr["mean"].iloc[-1], 4), "frequent_group": str(fr.index[-1]),
        "unlikely_mean": Num(ll["mean"].iloc[0], 4), "unlikely_group": str(ll.index[0]),
        "likely_mean": Num(ll["mean"].iloc[-1], 4), "likely_group": str(ll.index[-1]),
    }


def noise_share(fall: float, pure: float) -> float:
    """The share of estimation noise in the mean saliency at the fewest samples, from how far it falls to the most
    samples (``fall``) against the fall ``pure`` of pure noise (the square root of the ratio of sample counts).
    A mean saliency is about :math:`\\sqrt{m^2 + \\sigma^2/S}` (a real dependence :math:`m`, noise of standard
    deviation :math:`\\sigma`, :math:`S` samples), so the noise's share :math:`(\\sigma^2/S)/(m^2 + \\sigma^2/S)`
    at the fewest samples is
    :math:`(1 - 1/\\mathrm{fall}^2) / (1 - 1/\\mathrm{pure}^2)`, clipped to [0, 1]: 0 when it does not fall,
    1 when it falls as pure noise does."""
    if pure <= 1 or fall <= 0:
        return math.nan
    return min(1.0, max(0.0, (1 - 1 / fall**2) / (1 - 1 / pure**2)))


def noise_kind(fall: float, pure: float) -> str:
    """Words for how far a mean saliency falls from the fewest to the most posterior samples, against the fall
    ``pure`` of pure estimation noise: by the noise's share at the fewest samples (:func:`noise_share`), "mostly
    noise" above 3/4, "a real dependence on z, not noise" below 1/4, "part noise, part a real dependence on z"
    between."""
    share = noise_share(fall, pure)
    if math.isnan(share):
        return "not measured"
    if share > 0.75:
        return "mostly noise"
    if share < 0.25:
        return "a real dependence on z, not noise"
    return "part noise, part a real dependence on z"


def noise_floor(rec) -> dict:
    """The noise-floor check: the sample counts measured (``s_list``, ``s_low``, ``s_high`` and their ratio
    ``s_ratio``); per model, the factor by which output and input saliency fall from the fewest to the most
    samples, with its words; the fall of pure noise; the input saliency's first and last tenth."""
    M = rec["models"]
    out = {}
    for key, m in (("savae", M["savae"]), ("vae", M["vae+anneal"])):
        rows = sorted(m["noise_floor"], key=lambda r: r["samples"])
        lo, hi = rows[0], rows[-1]
        pure = math.sqrt(hi["samples"] / lo["samples"])
        fall = lo["output_saliency_mean"] / hi["output_saliency_mean"]
        counts = [r["samples"] for r in rows]
        out.update({"s_list": ", ".join(map(str, counts[:-1])) + f" and {counts[-1]}" if len(counts) > 1
                    else str(counts[0]), "s_ratio": Num(hi["samples"] / lo["samples"], 0),
                    "s_low": lo["samples"], "s_high": hi["samples"], "pure_fall": Num(pure, 1),
                    "noise_sentences": lo["sentences"], f"{key}_out_fall": Num(fall, 1),
                    f"{key}_noise": noise_kind(fall, pure),
                    f"{key}_in_fall": Num(lo["input_saliency_mean"] / hi["input_saliency_mean"], 1)})
        t = panel(rec, "savae" if key == "savae" else "vae+anneal", "relative position", "input_saliency")
        out[f"{key}_in_first"], out[f"{key}_in_last"] = Num(t["mean"].iloc[0], 4), Num(t["mean"].iloc[-1], 4)
    return out


def uses_z(kl, au) -> bool:
    """Whether a model's latent carries information: a KL of at least
    :data:`~savae_lite.records.collapsed.COLLAPSED_KL` nats in at least one active unit."""
    try:
        return float(kl) >= COLLAPSED_KL and int(au) > 0
    except (TypeError, ValueError):  # not recorded
        return False


def models_note(rec) -> str:
    """Which two models the record analyses (chapter 5's committed checkpoints, or tiny models trained for quick
    mode) and, from SA-VAE's test KL and active units, whether its z carries anything to analyse."""
    M = rec["models"]
    sa = test_metrics(M["savae"])
    kl, au = Num(sa.get("kl"), 3), sa.get("au")
    if all(m.get("checkpoint") for m in M.values()):
        head = ("We analyse the two committed PTB models of chapter 5, the first seed's annealed VAE "
                "(`vae+anneal`) and SA-VAE, rather than training new ones: these are the models whose collapse "
                "chapter 5 measured.")
    else:
        head = ("This page analyses two tiny PTB models trained here for a few seconds, an annealed VAE "
                "(`vae+anneal`) and an SA-VAE, in place of chapter 5's committed models.")
    use = f"KL {kl} nats in {counted(au, 'active unit')}"
    if uses_z(sa.get("kl"), au):
        return f"{head} SA-VAE's *z* carries some information ({use}); the question is what it is used for."
    return (f"{head} SA-VAE's *z* carries next to no information ({use}), so the saliencies below show how the "
            f"measures behave on collapsed models, not what a latent encodes.")


def channel(kl, au) -> str:
    """What SA-VAE's z can carry, in words, from its test KL and active units: nothing when collapsed
    (:func:`uses_z`), one coarse property with one active unit, a few with more."""
    if not uses_z(kl, au):
        return ("carries next to nothing about a sentence, against the paper's seven nats: its saliencies "
                "measure how the decoder reacts to a *z* that holds no information")
    if int(au) == 1:
        return ("can carry little more than one coarse property of a sentence, so the question is which words "
                "that property helps with, a much narrower channel than the paper's seven nats")
    return ("can carry a few coarse properties of a sentence, so the question is which words they help with, a "
            "narrower channel than the paper's seven nats")


def tagger(rec) -> dict:
    """The tagger and its accuracy on UD English-EWT, as the page quotes them."""
    tg, acc = rec["tagger"], rec["tagger"]["accuracy"]
    return {"tagger_name": f"`{tg['model']}` {tg['model_version']}, spaCy {tg['spacy']}",
            "ewt_size": f"{acc['split']} split, {acc['sentences']:,} sentences, {acc['tokens']:,} tokens",
            "acc_written": f"**{pct(acc['as_written'])}**",
            "acc_norm": f"**{pct(acc['ptb_normalised'])}** ({acc['ptb_normalised_tokens']:,} tokens)",
            "acc_unk": pct(acc["ptb_normalised_unk"]), "unk_ewt": pct(acc["unk_share"]),
            "unk_ptb": pct(rec["models"]["savae"]["summary"]["unk_share"])}
