"""What the image study's record answers (chapter *Image VAEs with a gated PixelCNN decoder*): does SA-VAE use
the latent more than the VAE, at a better or equal NLL; how the decoder's depth changes it; and how far the runs
were from convergence. How longer training changes it and why the chapter's NLLs (validation bound, test bound,
IW-NLL on a subset of the test images) differ in level are read in :mod:`savae_lite.records.latent_use_runs`,
whose names this module re-exports.

Each function returns numbers (:class:`~savae_lite.records.tables.Num`, :class:`~savae_lite.records.tables.PM`)
and short verdict words that the chapter glues into its prose.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from savae_lite.latent_use import STUDY, reach
from savae_lite.records.collapsed import use
from savae_lite.records.comparisons import compare, trend, yes_no
from savae_lite.records.latent_use_runs import (  # noqa: F401 (the runs' names: importable here too)
    DRAWERS,
    GAIN,
    USED_KL,
    _iw,
    _seed1,
    convergence,
    device_of,
    iw_check,
    iw_subset,
    long_reading,
    long_runs,
    mean_ink,
    nll_levels,
    rank_change,
    retrace,
    same_examples,
    subset_ink,
)
from savae_lite.records.tables import PM, Num

#: what the loader source of the record's images means for comparing NLLs with the published ones
SPLIT_NOTES = {
    "npz": "The images are Lake et al.'s background / evaluation split (loader source `npz`): the test alphabets "
           "never occur in training. The original code used Burda et al.'s `chardata.mat` (24,345 training and "
           "8,070 test images, every character in both), an easier test set: **our NLLs are not comparable in "
           "level with the published ones.**",
    "zip": "The images are Lake et al.'s background / evaluation split (loader source `zip`): the test alphabets "
           "never occur in training. The original code used Burda et al.'s `chardata.mat`: **our NLLs are not "
           "comparable in level with the published ones.**",
    "mat": "The images are Burda et al.'s `chardata.mat`, the original code's split, but fewer of them.",
}


def split_note(source: str) -> str:
    """The sentence on the record's image split (:data:`SPLIT_NOTES`) for the loader ``source``."""
    return SPLIT_NOTES.get(source, f"Loader source `{source}`.")


def steps_per_epoch(cfg, n_train: int) -> int:
    """Optimiser steps per epoch of a run config on ``n_train`` examples (its ``max_steps_per_epoch`` cut)."""
    full = -(-n_train // cfg.data.batch_size)
    cut = cfg.train.max_steps_per_epoch
    return min(full, cut) if cut else full


def n_parameters(cfg, mode: str) -> int:
    """Parameters of the study's ``mode`` model built from ``cfg``."""
    from savae_lite.build import build_model
    from savae_lite.study import unit_config

    return sum(p.numel() for p in build_model(unit_config(cfg, STUDY.setting(mode), 1, Path("runs"))).parameters())


def describe(cfg, images: dict | None, steps: str) -> dict:
    """A run config's scale as the chapter compares it with the paper's: data, networks, optimiser, SVI, test."""
    from savae_lite.build import model_config

    mc, tr, svi = model_config(cfg), cfg.train, cfg.train.svi
    data = f"{images['train']:,} / {images['valid']:,} / {images['test']:,}" if images else "the whole split"
    return {
        "images (train / valid / test)": data,
        "encoder": f"ResNet, {mc.enc_channels} channels",
        "decoder": f"{mc.dec_layers} gated layers of {mc.dec_channels} channels",
        "kernel sizes (reach)": f"{list(mc.kernel_sizes)} ({reach(list(mc.kernel_sizes))})",
        "latent": f"z of {mc.latent_dim}, {mc.cond_maps} conditioning maps",
        "parameters (vae / autoreg)": f"{n_parameters(cfg, 'vae'):,} / {n_parameters(cfg, 'autoreg'):,}",
        "optimiser": f"{tr.optimizer} {tr.lr:g}, batches of {cfg.data.batch_size}, clip {tr.grad_clip:g}",
        "training": f"{tr.epochs} epochs of {steps}",
        "KL warm-up": f"{tr.kl_start:g} → 1 over {tr.kl_warmup_epochs:g} epochs",
        "SVI": f"K = {svi.steps}, lr {svi.lr_mu:g} per example, momentum {svi.momentum:g}, clip {svi.clip:g}",
        "test": f"{tr.iw_samples}-sample IW-NLL on "
                + (f"{tr.iw_max_examples:,} test images" if tr.iw_max_examples else "all"),
    }


#: config fields that do not describe the set-up (the model is compared field by field, resolved)
NOT_SET_UP = {"train.mode", "train.out_dir", "train.device", "train.progress", "train.threads",
              "train.checkpoint_every", "train.checkpoint_minutes", "data.data_dir", "model_preset", "model"}


def resolved(cfg) -> dict:
    """A run config as one level of dotted keys, with its model config resolved field by field (``model.*``)."""
    import dataclasses

    from savae_lite.build import model_config

    def flat(d, prefix=""):
        return {prefix + k: v for k, v in pd.json_normalize(d).iloc[0].items()}

    mc = dataclasses.asdict(model_config(cfg))
    mc["kernel_sizes"] = list(mc["kernel_sizes"])
    return {**flat(cfg.to_dict()), **flat(mc, "model.")}


def _shown(value) -> str:
    """A config value for the reader: None (a limit not set) as "no limit", a whole float as an integer."""
    if value is None:
        return "no limit"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def config_differences(paper, ours) -> pd.DataFrame:
    """Every set-up field (:data:`NOT_SET_UP` aside) where ``ours`` differs from ``paper``, both as text (None, a
    limit not set, as "no limit"; 9.0 as 9)."""
    a, b = resolved(paper), resolved(ours)
    return pd.DataFrame([(k, _shown(a.get(k)), _shown(b.get(k))) for k in b
                         if k not in NOT_SET_UP and a.get(k) != b.get(k)],
                        columns=["field", "omniglot-paper", "ours"]).set_index("field")



def depth_frame(rec, base_kernels: list[int]) -> pd.DataFrame:
    """The seed-1 runs of ``vae`` and ``savae`` at every decoder depth (the main table's decoder,
    ``base_kernels``, among them), indexed by mode and number of gated layers: the IW-NLL, the bound on the same
    test images (``bound, same images``) and on the whole test split (``bound, whole split``), KL, MI, AU."""
    settings = {s["name"]: s for s in rec["settings"]}
    seed1 = {r["setting"]: r for r in rec["rows"] if r["seed"] == 1}
    rows = []
    for name, s in settings.items():
        r = seed1.get(name)
        if s["mode"] not in ("vae", "savae") or r is None or s["train"]:
            continue
        kernels = s["model"].get("kernel_sizes", base_kernels)
        rows.append({"mode": s["mode"], "layers": len(kernels), "reach": reach(kernels), "run": r["unit"],
                     "IW-NLL": r["iw_nll"], "bound, same images": _iw(r).get("nll_bound_same_examples"),
                     "bound, whole split": r["nll_bound"], "KL": r["kl"], "MI": r["mi"], "AU": r["au"],
                     "s / epoch": r["train_time_per_epoch_s"]})
    return pd.DataFrame(rows).sort_values(["mode", "layers"]).set_index(["mode", "layers"])


def savae_vs_vae(depths: pd.DataFrame) -> pd.DataFrame:
    """At each depth with both modes: SA-VAE's KL over the VAE's and the IW-NLL difference (SA-VAE - VAE)."""
    both = depths.loc["savae"].index.intersection(depths.loc["vae"].index)
    sa, va = depths.loc["savae"].loc[both], depths.loc["vae"].loc[both]
    return pd.DataFrame({"KL ratio": sa["KL"] / va["KL"], "IW-NLL diff": sa["IW-NLL"] - va["IW-NLL"]})


def trends(a: str, a_trend: str, b: str, b_trend: str) -> str:
    """One sentence on how two modes' KL moves as the decoder deepens, from their
    :func:`~savae_lite.records.comparisons.trend` words: "`vae`'s KL falls as the decoder deepens, as does
    `savae`'s" when they agree, "..., while `savae`'s rises" when they do not."""
    head = f"`{a}`'s KL {a_trend} as the decoder deepens"
    if a_trend != b_trend:
        return f"{head}, while `{b}`'s {b_trend}"
    return f"{head}, nor does `{b}`'s" if a_trend.startswith("does not") else f"{head}, as does `{b}`'s"


def depth_reading(summary: pd.DataFrame, depths: pd.DataFrame) -> dict:
    """The depth sweep in numbers and words: each mode's KL trend with depth (and both in one sentence,
    ``kl_trends``: :func:`trends`), whether SA-VAE's KL is above the VAE's at every depth, the range of the
    IW-NLL differences, and the main table's spread as yardstick."""
    pairs = savae_vs_vae(depths)
    d = pairs["IW-NLL diff"]
    S = summary
    vae_trend, savae_trend = trend(list(depths.loc["vae"]["KL"])), trend(list(depths.loc["savae"]["KL"]))
    return {"depths": ", ".join(str(n) for n in sorted(depths.index.get_level_values("layers").unique())),
            "vae_kl_trend": vae_trend, "savae_kl_trend": savae_trend,
            "kl_trends": trends("vae", vae_trend, "savae", savae_trend),
            "kl_above": "above" if (pairs["KL ratio"] > 1).all() else "not above", "depth_count": len(pairs),
            "depth_diff_min": Num(d.min(), signed=True), "depth_diff_max": Num(d.max(), signed=True),
            "yard_vae_kl": PM.of(S.loc["vae"], "kl", 3), "yard_vae_nll": PM.of(S.loc["vae"], "iw_nll"),
            "yard_savae_kl": PM.of(S.loc["savae"], "kl", 3), "yard_savae_nll": PM.of(S.loc["savae"], "iw_nll")}


def cost_note(rec) -> str:
    """The sentence on the runs of the cost table without a ratio to the VAE's epoch (``time_vs_vae`` missing: a
    time of another device than the VAE's), naming each with its device; when every run has its ratio, a sentence
    that says so."""
    S = pd.DataFrame(rec["summary"]).set_index("setting")
    seed1 = _seed1(rec)
    if "time_vs_vae" not in S:
        return "The record gives no ratios."
    odd = [n for n in S.index if pd.isna(S.loc[n, "time_vs_vae"]) and n in seed1]
    if not odd:
        return "Every run in the table has its ratio."
    named = " and ".join(f"`{n}`, timed on {device_of(seed1[n])}" for n in odd)
    one = len(odd) == 1
    return (f"The exception{'' if one else 's'} {'is' if one else 'are'} {named}: "
            f"{'its time is' if one else 'their times are'} not divided by a time of another device, so the table "
            f"gives {'it' if one else 'them'} no ratio.")


def drawings(quick: int, shown: int) -> dict:
    """What the page says about the models it draws, given how many of the ``shown`` models are the quick
    suite's tiny ones (``quick``, labelled *(quick model)*): which models they are (``draw_source``), what to
    expect of their reconstructions (``draw_lead``) and how to compare the rows (``draw_compare``)."""
    if quick == 0:
        return {"draw_source": "The models below are the first-seed runs of every mode, loaded from small "
                               "committed checkpoints.",
                "draw_lead": "Do not expect the reconstructions to look like their inputs.",
                "draw_compare": "Compare the rows by their ink and extent, not their shapes."}
    if quick >= shown:
        return {"draw_source": "The models below are the quick suite's tiny models, one per mode it trains, "
                               "each trained for a few seconds; each label says *(quick model)*. They are not "
                               "the record's models.",
                "draw_lead": "The tiny models have not learnt to draw characters: their rows are close to "
                             "noise. Even the record's models would not draw their inputs back.",
                "draw_compare": "These rows show only that reconstruction and sampling run end to end; they "
                                "say nothing about how much the record's models use *z*."}
    return {"draw_source": "The models below are the first-seed runs of every mode, loaded from small committed "
                           "checkpoints. A mode whose checkpoint is absent is drawn by the quick suite's tiny "
                           "model of the same mode, trained for a few seconds, and its label says *(quick "
                           "model)*.",
            "draw_lead": "Do not expect the reconstructions to look like their inputs; the rows of a quick model "
                         "are close to noise.",
            "draw_compare": "Compare the committed models' rows by their ink and extent, not their shapes; the "
                            "quick models' rows say nothing about the record."}


def convergence_table(conv: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """:func:`~savae_lite.records.latent_use_runs.convergence` per setting, in ``order``: runs, mean best epoch,
    runs best at the last epoch, mean
    gain."""
    table = conv.groupby("setting", sort=False).agg(
        runs=("epochs", "size"), **{"best epoch (mean)": ("best epoch", "mean"),
                                    "runs best at the last epoch": ("at the last epoch", "sum"), GAIN: (GAIN, "mean")})
    return table.loc[[n for n in order if n in table.index]]


def answers(rec, main: list[str], depths: pd.DataFrame, conv: pd.DataFrame, iw: pd.DataFrame,
            latent_dim: int) -> dict:
    """The chapter's answers, as numbers and words keyed by the names the page glues. ``main``: the main table's
    settings; ``depths``: :func:`depth_frame`; ``conv``:
    :func:`~savae_lite.records.latent_use_runs.convergence`; ``iw``:
    :func:`~savae_lite.records.latent_use_runs.iw_check`."""
    S = pd.DataFrame(rec["summary"]).set_index("setting")
    sa, va, lm = S.loc["savae"], S.loc["vae"], S.loc["autoreg"]
    higher = {k: sa[k] > va[k] for k in ("kl", "mi", "au")}
    n_higher = sum(higher.values())
    kl, nll = compare(sa, va, "kl", 3, lower_is_better=False, senses=("higher", "lower")), compare(sa, va, "iw_nll")
    if nll.resolved is None:
        nll_word = ("better" if float(nll.diff) < 0 else "worse") + " (by the means alone)"
    else:
        nll_word = ("better" if float(nll.diff) < 0 else "worse") if nll.resolved else "equal"
    au = {n: S.loc[n, "au"] for n in ("vae", "savae")}
    improving = conv[GAIN] > 0

    def per_depth(mode):
        return ", ".join(f"{d} layers KL {Num(r['KL'], 3)}, AU {r['AU']:g}, IW-NLL {Num(r['IW-NLL'])}"
                         for d, r in depths.loc[mode].iterrows())

    out = {
        "vae_uses": "Yes" if va["kl"] >= USED_KL else "No, it collapses", "vae_use": use(va),
        "more_latent": "Yes" if n_higher == 3 else "No" if n_higher == 0 else "Partly",
        "which_higher": ", ".join(f"{k.upper()} {'higher' if v else 'not higher'}" for k, v in higher.items()),
        "savae_use": use(sa), "kl_diff": kl.diff, "kl_words": kl.words,
        "nll_word": nll_word, "savae_nll": nll.a, "vae_nll": nll.b, "nll_diff": nll.diff, "nll_words": nll.words,
        "vae_mi": Num(va["mi"]), "vae_mi_bits": Num(va["mi"] / math.log(2), 1), "savae_mi": Num(sa["mi"]),
        "savae_mi_bits": Num(sa["mi"] / math.log(2), 1),
        "au_counts": ", ".join(f"{n} {Num(v, 1)}" for n, v in au.items()), "latent_dim": latent_dim,
        "au_saturated": yes_no(min(au.values()) >= 0.9 * latent_dim),
        "lm_nll": PM.of(lm, "iw_nll"),
        "lm_diffs": ", ".join(f"{n} {Num(S.loc[n, 'iw_nll'] - lm['iw_nll'], signed=True)}"
                              for n in main if n != "autoreg"),
        "depth_vae": per_depth("vae"), "depth_savae": per_depth("savae"),
        "depth_pairs": ", ".join(f"{d} layers KL ×{Num(r['KL ratio'], 1)}, IW-NLL {Num(r['IW-NLL diff'], signed=True)}"
                                 for d, r in savae_vs_vae(depths).iterrows()),
        "converged": yes_no(not improving.any()), "improving_runs": int(improving.sum()),
        "runs": len(conv), "median_gain": Num(conv[GAIN].median()),
    }
    if "500 − 100" in iw:
        d = iw["500 − 100"]
        out.update(iw_min=Num(d.min(), 3, signed=True), iw_max=Num(d.max(), 3, signed=True))
    if "time_vs_vae" in S:
        out["cost_ratio"] = Num(sa["time_vs_vae"], 1)
    return out
