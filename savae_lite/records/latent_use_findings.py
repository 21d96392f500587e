"""What the image study's record answers (chapter *Image VAEs with a gated PixelCNN decoder*): does SA-VAE use
the latent more than the VAE, at a better or equal NLL; how the decoder's depth and longer training change it;
how far the runs were from convergence; and why the chapter's NLLs (validation bound, test bound, IW-NLL on a
subset of the test images) differ in level.

Each function returns numbers (:class:`~savae_lite.records.tables.Num`, :class:`~savae_lite.records.tables.PM`)
and short verdict words that the chapter glues into its prose.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from savae_lite.latent_use import STUDY, reach
from savae_lite.records.comparisons import compare, trend, yes_no
from savae_lite.records.tables import PM, Num, missing

#: Below this mean KL (nats per image) a model does not use z.
USED_KL = 0.1
#: the column of :func:`convergence` that says how much the validation bound still fell per epoch
GAIN = "gain per epoch, last 3 (nats)"
#: Omniglot draws every character 20 times (20 drawers); the images of a split are in character, drawer order
DRAWERS = 20

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


def config_differences(paper, ours) -> pd.DataFrame:
    """Every set-up field (:data:`NOT_SET_UP` aside) where ``ours`` differs from ``paper``, both as text."""
    a, b = resolved(paper), resolved(ours)
    return pd.DataFrame([(k, str(a.get(k)), str(b.get(k))) for k in b if k not in NOT_SET_UP and a.get(k) != b.get(k)],
                        columns=["field", "omniglot-paper", "ours"]).set_index("field")


def use(row) -> str:
    """``KL 3.279 ± 0.312, MI 2.885 ± 0.250, AU 32.0 ± 0.0 over 3 seed(s)``."""
    return (f"KL {PM.of(row, 'kl', 3)}, MI {PM.of(row, 'mi', 3)}, AU {PM.of(row, 'au', 1)} "
            f"over {int(row['seeds'])} seed(s)")


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


def depth_reading(summary: pd.DataFrame, depths: pd.DataFrame) -> dict:
    """The depth sweep in numbers and words: each mode's KL trend with depth, whether SA-VAE's KL is above the
    VAE's at every depth, the range of the IW-NLL differences, and the main table's spread as yardstick."""
    pairs = savae_vs_vae(depths)
    d = pairs["IW-NLL diff"]
    S = summary
    return {"depths": ", ".join(str(n) for n in sorted(depths.index.get_level_values("layers").unique())),
            "vae_kl_trend": trend(list(depths.loc["vae"]["KL"])),
            "savae_kl_trend": trend(list(depths.loc["savae"]["KL"])),
            "kl_above": "above" if (pairs["KL ratio"] > 1).all() else "not above", "depth_count": len(pairs),
            "depth_diff_min": Num(d.min(), signed=True), "depth_diff_max": Num(d.max(), signed=True),
            "yard_vae_kl": PM.of(S.loc["vae"], "kl", 3), "yard_vae_nll": PM.of(S.loc["vae"], "iw_nll"),
            "yard_savae_kl": PM.of(S.loc["savae"], "kl", 3), "yard_savae_nll": PM.of(S.loc["savae"], "iw_nll")}


def convergence(rec) -> pd.DataFrame:
    """Per run: epochs, best epoch, whether the best epoch was the last, and how much the validation bound still
    fell per epoch over the last three epochs (:data:`GAIN`; positive: still improving)."""
    out = []
    for row in rec["rows"]:
        h = pd.DataFrame(row["history"])
        v = (h["nll_bound"].fillna(h["nll"]) if "nll" in h else h["nll_bound"]).astype(float)  # autoreg: exact NLL
        back = min(3, len(v) - 1)
        gain = (v.iloc[-1 - back] - v.iloc[-1]) / back if back > 0 else math.nan
        out.append({"setting": row["setting"], "epochs": row["epochs_run"], "best epoch": row["best_epoch"],
                    "at the last epoch": row["best_epoch"] == row["epochs_run"], GAIN: gain})
    return pd.DataFrame(out)


def convergence_table(conv: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """:func:`convergence` per setting, in ``order``: runs, mean best epoch, runs best at the last epoch, mean
    gain."""
    table = conv.groupby("setting", sort=False).agg(
        runs=("epochs", "size"), **{"best epoch (mean)": ("best epoch", "mean"),
                                    "runs best at the last epoch": ("at the last epoch", "sum"), GAIN: (GAIN, "mean")})
    return table.loc[[n for n in order if n in table.index]]


def iw_check(folder: str | Path) -> pd.DataFrame:
    """The IW-NLL of each ``<run>-iw<samples>.json`` in ``folder`` by run (columns: the sample counts), with
    ``500 − 100`` where both were measured, the bound with the run's own test-time q on the same images
    (``bound, same images``; the same in both files) and their number (``images``). Empty when there are none."""
    from savae_lite.modes import get_mode

    rows = []
    for f in sorted(Path(folder).glob("*-iw*.json")):
        e = json.loads(f.read_text())
        unit, samples = f.stem.rsplit("-iw", 1)
        mode = e.get("config", {}).get("train", {}).get("mode")
        q = e.get("refine" if mode is None or get_mode(mode).refines else "no_refine", {})
        rows.append({"run": unit, "samples": int(samples), "IW-NLL": e["iw"]["iw_nll"],
                     "bound, same images": q.get("nll_bound"), "images": e["iw"]["examples"]})
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    iw = df.pivot(index="run", columns="samples", values="IW-NLL")
    iw.columns = list(iw.columns)
    if {100, 500} <= set(iw.columns):
        iw["500 − 100"] = iw[500] - iw[100]
    first = df.groupby("run").first()
    iw["bound, same images"] = first["bound, same images"]
    iw["images"] = first["images"].astype(int)
    return iw


def _iw(row: dict) -> dict:
    """A record row's IW-NLL entry (``test.iw``: the IW-NLL, its images and the bound on them); {} without."""
    return (row.get("test") or {}).get("iw") or {}


def same_examples(rec) -> pd.DataFrame:
    """Per setting, in the record's order: the bound on the IW-NLL's own test images (``bound_iw``, mean over
    seeds, and ``bound_iw_sd``; NaN for a model without z, whose IW-NLL column is already its exact NLL on them)
    and the number of those images (``iw_examples``). Join it to the summary to show both on the same images."""
    rows = [{"setting": r["setting"], "bound_iw": _iw(r).get("nll_bound_same_examples"),
             "iw_examples": _iw(r).get("examples")} for r in rec["rows"]]
    df = pd.DataFrame(rows)
    df["bound_iw"] = pd.to_numeric(df["bound_iw"], errors="coerce")
    g = df.groupby("setting", sort=False)
    return pd.DataFrame({"bound_iw": g["bound_iw"].mean(), "bound_iw_sd": g["bound_iw"].std(),
                         "iw_examples": g["iw_examples"].max()})


def iw_subset(rec) -> dict:
    """Which test images the record's IW-NLLs use: ``iw_examples`` of ``test_examples``, taken every
    ``iw_every``-th image; the images are in character, drawer order (:data:`DRAWERS` per character), so that
    ``iw_drawers`` lists the drawers the subset holds, of ``test_characters`` characters. Raises ``ValueError``
    when the rows do not all use the same images."""
    picks = {(_iw(r).get("examples"), _iw(r).get("selection")) for r in rec["rows"]}
    if len(picks) != 1:
        raise ValueError(f"iw_subset: the rows' IW-NLLs use different test images: {sorted(map(str, picks))}")
    (n, selection), = picks
    total = rec["dataset"]["images"]["test"]
    every = total // n if n and total % n == 0 else None
    drawers = sorted({int(i * total / n) % DRAWERS for i in range(n)}) if n else []
    return {"iw_examples": f"{n:,}", "test_examples": f"{total:,}", "iw_selection": selection,
            "iw_every": every if every else "–", "iw_drawers": " and ".join(map(str, drawers)),
            "test_characters": f"{total // DRAWERS:,}"}


def mean_ink(images, n: int | None = None) -> float:
    """Pixels set per image, on average, in ``images`` (a list of batches (B, 1, H, W), or one tensor), or in the
    ``n`` of them that :func:`~savae_lite.evaluate.spread_subset` takes (the IW-NLL's images)."""
    import torch

    from savae_lite.evaluate import spread_subset

    batches = [images] if isinstance(images, torch.Tensor) else list(images)
    return float(torch.cat(spread_subset(batches, n)).flatten(1).sum(1).float().mean())


def subset_ink(images, n: int) -> float:
    """How much more ink the ``n`` images :func:`~savae_lite.evaluate.spread_subset` takes from ``images`` carry
    than the average image of all of them (:func:`mean_ink`): 0.06 is 6 % more
    (:func:`~savae_lite.records.tables.pct` writes it so)."""
    return mean_ink(images, n) / mean_ink(images) - 1


def _span(values, decimals: int = 2) -> str:
    values = [float(v) for v in values if not missing(v)]
    if not values:
        return "–"
    lo, hi = Num(min(values), decimals), Num(max(values), decimals)
    return str(lo) if str(lo) == str(hi) else f"{lo}–{hi}"


def nll_levels(rec, settings: tuple[str, ...] = ("vae", "savae"), check: pd.DataFrame | None = None) -> dict:
    """Why the chapter's NLLs differ in level, over every run of ``settings``: the validation bound at the best
    epoch (``level_valid``), the test bound on the whole test split (``level_test``), the bound and the IW-NLL
    on the IW-NLL's images (``level_subset_bound``, ``level_iw``), how far the subset's bound sits above the
    whole split's (``level_subset_excess``) and the IW-NLL below its own bound (``level_iw_below``), each as
    ``lo–hi``; with ``check`` (:func:`iw_check`) the check's IW-NLL and bound on its images (``level_check_iw``,
    ``level_check_bound``) and how many images it takes, every how many (``level_check_images``,
    ``level_check_every``)."""
    rows = [r for r in rec["rows"] if r["setting"] in settings]
    valid = [r["history"][r["best_epoch"] - 1]["nll_bound"] for r in rows]
    test = [r["nll_bound"] for r in rows]
    sub = [_iw(r).get("nll_bound_same_examples") for r in rows]
    iw = [r["iw_nll"] for r in rows]
    out = {"level_runs": len(rows), "level_settings": " and ".join(f"`{n}`" for n in settings),
           "level_valid": _span(valid), "level_test": _span(test), "level_subset_bound": _span(sub),
           "level_iw": _span(iw), "level_subset_excess": _span([a - b for a, b in zip(sub, test)]),
           "level_iw_below": _span([a - b for a, b in zip(sub, iw)]),
           "level_valid_images": f"{rec['dataset']['images']['valid']:,}"}
    if check is not None and len(check):
        out.update(level_check_iw=_span(check.drop(columns=["500 − 100", "bound, same images", "images"],
                                                   errors="ignore").stack()),
                   level_check_bound=_span(check["bound, same images"]),
                   level_check_images=f"{int(check['images'].max()):,}",
                   level_check_every=rec["dataset"]["images"]["test"] // int(check["images"].max()))
    return out


def device_of(row: dict) -> str:
    """Where a record row trained, in words: ``an NVIDIA H200 GPU`` or ``one CPU thread``."""
    env = row.get("environment") or {}
    if row.get("device", env.get("device")) == "cpu":
        threads = env.get("cpu_threads")
        return "one CPU thread" if threads == 1 else f"{threads} CPU threads" if threads else "a CPU"
    return f"an {env['gpu']} GPU" if env.get("gpu") else f"a GPU ({row.get('device')})"


def long_runs(rec, modes: tuple[str, ...] = ("vae", "savae")) -> pd.DataFrame:
    """The seed-1 runs of each mode at the preset's length and trained longer (``<mode>-long``), indexed by
    setting: device (``CPU`` or ``<name> GPU``), epochs, best epoch, IW-NLL, bound on the same images and on the
    whole test split, KL, MI, AU, seconds per epoch (a time of its own device)."""
    seed1 = _seed1(rec)
    out = []
    for mode in modes:
        for name in (mode, f"{mode}-long"):
            if name not in seed1:
                continue
            r = seed1[name]
            gpu = (r.get("environment") or {}).get("gpu")
            kind = "CPU" if r.get("device", "cpu") == "cpu" else f"{gpu} GPU" if gpu else "GPU"
            out.append({"setting": name, "device": kind, "epochs_run": r["epochs_run"],
                        "best_epoch": r["best_epoch"], "iw_nll": r["iw_nll"],
                        "bound_iw": _iw(r).get("nll_bound_same_examples"), "nll_bound": r["nll_bound"],
                        "kl": r["kl"], "mi": r["mi"], "au": r["au"],
                        "train_time_per_epoch_s": r["train_time_per_epoch_s"]})
    return pd.DataFrame(out).set_index("setting")


def _seed1(rec) -> dict:
    """The first seed's row of every setting (a :class:`~savae_lite.records.schema.Record` or a plain dict)."""
    first = {}
    for row in sorted(rec["rows"], key=lambda r: r.get("seed", 0)):
        first.setdefault(row["setting"], row)
    return first


def _lower(nll: dict, a: str, b: str) -> str:
    return f"`{a}`" if nll[a] < nll[b] else f"`{b}`" if nll[b] < nll[a] else "neither"


def long_reading(rec, a: str = "savae", b: str = "vae") -> dict:
    """The two-sided long run in numbers and words (seed 1 of ``a`` and ``b``, each at the preset's length and as
    ``<mode>-long``): each run's device and whether it retraces its shorter run (same device: :func:`retrace`;
    another device: a separate run, with the gap of their validation bounds); the changes of IW-NLL, KL, MI and
    AU with training; which mode has the lower IW-NLL at each length and whether that order changes (one seed:
    words, not a test; the main table's seed sd as scale); whether ``a`` still uses z more (KL, MI and AU
    higher); whether either collapses (KL below :data:`USED_KL`). Empty when a long run is missing."""
    seed1 = _seed1(rec)
    if not {a, b, f"{a}-long", f"{b}-long"} <= set(seed1):
        return {}
    S = pd.DataFrame(rec["summary"]).set_index("setting")
    short = {m: seed1[m] for m in (a, b)}
    long = {m: seed1[f"{m}-long"] for m in (a, b)}
    out = {"long_epochs": long[a]["epochs_run"], "short_epochs": short[a]["epochs_run"]}
    for m in (a, b):
        s, g = short[m], long[m]
        p = m.replace("+", "_")
        out[f"{p}_long_device"] = device_of(g)
        out[f"{p}_short_device"] = device_of(s)
        out[f"{p}_long_best"] = g["best_epoch"]
        for k, d in (("iw_nll", 2), ("kl", 3), ("mi", 3), ("au", 0)):
            q = k.replace("iw_nll", "nll")
            out[f"{p}_long_{q}"], out[f"{p}_short_{q}"] = Num(g[k], d), Num(s[k], d)
            out[f"{p}_long_{q}_change"] = Num(g[k] - s[k], d, signed=True)
        same_device = (s.get("device") == g.get("device")
                       and (s.get("environment") or {}).get("gpu") == (g.get("environment") or {}).get("gpu"))
        r = retrace(s, g)
        out[f"{p}_retrace_gap"] = r["retrace_gap"]
        last = r["retrace_epochs"]
        hs = pd.DataFrame(s["history"]).set_index("epoch")["nll_bound"]
        hg = pd.DataFrame(g["history"]).set_index("epoch")["nll_bound"]
        out[f"{p}_gap_last"] = Num(abs(float(hg.loc[last] - hs.loc[last])))
        if same_device:
            out[f"{p}_retrace"] = (f"it retraces the {last}-epoch run: its validation bounds over those epochs are "
                                   f"{r['retrace_words']} (largest difference {r['retrace_gap']} nats)")
        else:
            out[f"{p}_retrace"] = (f"it does not retrace the {last}-epoch run: another device draws other random "
                                   f"numbers, so it is a second run with the same seed and set-up; their "
                                   f"validation bounds differ by up to "
                                   f"{r['retrace_gap']} nats over the first {last} epochs "
                                   f"({out[f'{p}_gap_last']} at epoch {last})")
    nll12 = {m: short[m]["iw_nll"] for m in (a, b)}
    nll30 = {m: long[m]["iw_nll"] for m in (a, b)}
    lower12, lower30 = _lower(nll12, a, b), _lower(nll30, a, b)
    out.update(long_lower_short=lower12, long_lower_long=lower30,
               long_diff_short=Num(nll12[a] - nll12[b], signed=True),
               long_diff_long=Num(nll30[a] - nll30[b], signed=True),
               long_rank_changes="Yes, on one seed" if lower12 != lower30 else "No, on one seed",
               long_sd_a=Num(S.loc[a, "iw_nll_sd"]) if "iw_nll_sd" in S and a in S.index else Num(None),
               long_sd_b=Num(S.loc[b, "iw_nll_sd"]) if "iw_nll_sd" in S and b in S.index else Num(None))
    higher = {k: long[a][k] > long[b][k] for k in ("kl", "mi", "au")}
    n = sum(higher.values())
    out.update(long_more_latent="Yes" if n == 3 else "No" if n == 0 else "Partly",
               long_which_higher=", ".join(f"{k.upper()} {'higher' if v else 'not higher'}"
                                           for k, v in higher.items()),
               long_kl_ratio=Num(long[a]["kl"] / long[b]["kl"], 1) if long[b]["kl"] else Num(None),
               short_kl_ratio=Num(short[a]["kl"] / short[b]["kl"], 1) if short[b]["kl"] else Num(None))
    yard = [float(out["long_sd_a"]), float(out["long_sd_b"])]
    diffs = [abs(float(out["long_diff_short"])), abs(float(out["long_diff_long"]))]
    out["long_scale_words"] = ("larger than either difference" if not any(map(math.isnan, yard))
                               and max(diffs) < min(yard) else "not larger than both differences")
    gains = convergence({"rows": list(long.values())}).set_index("setting")[GAIN]
    falling = [m for m in (a, b) if gains[f"{m}-long"] > 0]
    out["long_gain_a"], out["long_gain_b"] = Num(gains[f"{a}-long"]), Num(gains[f"{b}-long"])
    out["long_still_falling"] = ("both still falling" if len(falling) == 2 else "neither still falling"
                                 if not falling else f"still falling for `{falling[0]}` only")
    collapsed = [m for m in (a, b) if long[m]["kl"] < USED_KL]
    out["long_collapse"] = ("No" if not collapsed else "Yes: " + " and ".join(f"`{m}`" for m in collapsed))
    return out


def retrace(short: dict, long: dict) -> dict:
    """How closely a longer run retraces a shorter one of the same seed: the largest difference between their
    validation bounds over the shorter run's epochs (``retrace_gap``; 0: exactly), and its words."""
    a = pd.DataFrame(short["history"]).set_index("epoch")["nll_bound"]
    b = pd.DataFrame(long["history"]).set_index("epoch")["nll_bound"]
    gap = float((b.loc[a.index] - a).abs().max())
    return {"retrace_epochs": len(a), "retrace_gap": Num(gap),
            "retrace_words": "identical in every recorded digit" if gap == 0 else "close, not identical"}


def answers(rec, main: list[str], depths: pd.DataFrame, conv: pd.DataFrame, iw: pd.DataFrame,
            latent_dim: int) -> dict:
    """The chapter's answers, as numbers and words keyed by the names the page glues. ``main``: the main table's
    settings; ``depths``: :func:`depth_frame`; ``conv``: :func:`convergence`; ``iw``: :func:`iw_check`."""
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
