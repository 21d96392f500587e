"""The image study's long runs and the images its NLLs are measured on (chapter *Image VAEs with a gated PixelCNN
decoder*): the IW-NLL with more samples on the same images (:func:`iw_check`), the bound on the IW-NLL's own test
images (:func:`same_examples`), which images those are (:func:`iw_subset`) and how much ink they carry
(:func:`subset_ink`), why the chapter's NLLs differ in level (:func:`nll_levels`), and the runs trained longer
(:func:`long_runs`, :func:`long_reading`, :func:`retrace`). The main table and the depth readings are in
:mod:`savae_lite.records.latent_use_findings`.

Each function returns numbers (:class:`~savae_lite.records.tables.Num`, :class:`~savae_lite.records.tables.PM`)
and short verdict words that the chapter glues into its prose.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from savae_lite.records.collapsed import COLLAPSED_KL
from savae_lite.records.tables import Num, missing

#: Omniglot draws every character 20 times (20 drawers); the images of a split are in character, drawer order
DRAWERS = 20


#: Below this mean KL in nats per image a model does not use z (the text chapter's threshold for collapse).
USED_KL = COLLAPSED_KL
#: the column of :func:`convergence` that says how much the validation bound still fell per epoch
GAIN = "gain per epoch, last 3 (nats)"


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
    ``<mode>-long``): each run's device (``<mode>_long_where``: where it and its shorter run trained) and whether
    it retraces its shorter run (``<mode>_retrace``, sentences; same device: :func:`retrace`; another device: a
    separate run, with the gap of their validation bounds); the changes of IW-NLL, KL, MI and AU with training;
    which mode has the lower IW-NLL at each length and whether that order changes (one seed: not judged,
    :func:`rank_change`; the main table's seed sd as scale); whether ``a`` still uses z more (KL, MI and AU
    higher); whether either collapses (KL below :data:`~savae_lite.records.latent_use_runs.USED_KL`). Empty
    when a long run is missing."""
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
        out[f"{p}_long_where"] = (f"trained on {device_of(g)}, as `{m}`'s seed-1 run did" if same_device else
                                  f"trained on {device_of(g)}, while `{m}`'s seed-1 run trained on {device_of(s)}")
        if same_device:
            out[f"{p}_retrace"] = (f"It retraces the {last}-epoch run: its validation bounds over those epochs are "
                                   f"{r['retrace_words']} (largest difference {r['retrace_gap']} nats).")
        else:
            out[f"{p}_retrace"] = (f"It does not retrace the {last}-epoch run: another device draws other random "
                                   f"numbers, so it is a second run with the same seed and set-up. Their "
                                   f"validation bounds differ by up to {r['retrace_gap']} nats over the first "
                                   f"{last} epochs ({out[f'{p}_gap_last']} at epoch {last}). Its seconds per epoch "
                                   f"were timed on that device and are not compared with the other runs' times.")
    nll12 = {m: short[m]["iw_nll"] for m in (a, b)}
    nll30 = {m: long[m]["iw_nll"] for m in (a, b)}
    lower12, lower30 = _lower(nll12, a, b), _lower(nll30, a, b)
    out.update(long_lower_short=lower12, long_lower_long=lower30,
               long_diff_short=Num(nll12[a] - nll12[b], signed=True),
               long_diff_long=Num(nll30[a] - nll30[b], signed=True),
               long_rank_changes=rank_change(lower12, lower30),
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
    out["long_still_falling"] = ("still falling for both" if len(falling) == 2 else "no longer falling for either"
                                 if not falling else f"still falling for `{falling[0]}` only")
    collapsed = [m for m in (a, b) if long[m]["kl"] < USED_KL]
    out["long_collapse"] = ("No" if not collapsed else "Yes: " + " and ".join(f"`{m}`" for m in collapsed))
    return out


def rank_change(lower_short: str, lower_long: str) -> str:
    """The verdict on whether longer training changes which mode has the lower IW-NLL, from the lower one at each
    length (``"`vae`"``, ``"`savae`"`` or ``"neither"``): with one seed per run it is not judged; the words say
    only whether the order of the two runs changed."""
    return ("The order of the two flips, but one seed per run cannot settle it" if lower_short != lower_long
            else "The order of the two holds, on one seed per run")


def retrace(short: dict, long: dict) -> dict:
    """How closely a longer run retraces a shorter one of the same seed: the largest difference between their
    validation bounds over the shorter run's epochs (``retrace_gap``; 0: exactly), and its words."""
    a = pd.DataFrame(short["history"]).set_index("epoch")["nll_bound"]
    b = pd.DataFrame(long["history"]).set_index("epoch")["nll_bound"]
    gap = float((b.loc[a.index] - a).abs().max())
    return {"retrace_epochs": len(a), "retrace_gap": Num(gap),
            "retrace_words": "identical in every recorded digit" if gap == 0 else "close, not identical"}


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
