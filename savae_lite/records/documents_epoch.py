"""The documents study's runs that were cut short, read beside the others at the same epoch (chapter *Text VAEs
and posterior collapse*, section *Documents: giving z something to carry*; the study is
:mod:`savae_lite.documents`).

Two units train fewer epochs than the rest, to fit a working session on one machine: ``savae-original`` (SA-VAE on
the original code's backward pass, its first epochs; ``savae-original-long`` continues it) and
``aggressive+anneal`` (He et al.'s aggressive training, whose encoder-only phase makes an epoch far dearer than a
VAE's). Their test numbers come from shorter training than the others', so they are compared on the validation
split instead: the reading at their last epoch against the other settings' seeds at the same epoch of their
history (the same schedule up to there, the same documents, the whole split). :func:`epoch_frame` is that table,
:func:`aggressive_reading` the answer for aggressive training; ``documents_findings`` uses :func:`cut_short` and
:func:`at_epoch` for the original-backward audit too.
"""
from __future__ import annotations

import pandas as pd

from savae_lite.records.collapsed import collapsed, phase_end
from savae_lite.records.comparisons import separated
from savae_lite.records.documents_runs import AGGRESSIVE, LM, ORIGINAL, SAVAE, VAE
from savae_lite.records.tables import PM, Num

#: the settings of the same-epoch table, in order (``savae-original-long`` shares its first epochs with
#: ``savae-original``, so it has no row of its own)
EPOCH_SETTINGS = (LM, VAE, SAVAE, AGGRESSIVE, ORIGINAL)


def cut_short(rec, row: dict) -> bool:
    """``row`` trained fewer epochs than every SA-VAE seed: compare validation at its last epoch, not test."""
    savae = [int(r["epochs_run"]) for r in rec["rows"] if r["setting"] == SAVAE]
    return bool(savae) and int(row["epochs_run"]) < min(savae)


def cut_short_row(rec, setting: str) -> dict | None:
    """The first row of ``setting`` in ``rec`` when that run was cut short (:func:`cut_short`), else None."""
    row = next((r for r in rec.get("rows", []) if r["setting"] == setting), None)
    return row if row is not None and cut_short(rec, row) else None


def at_epoch(rec, setting: str, epoch: int) -> dict:
    """The validation readings of ``setting``'s rows at ``epoch`` (their training history): ``nll_bound`` (the
    language model's exact NLL, its ``nll``), ``kl``, ``mi`` and ``au`` as mean and ``*_sd`` over the seeds that
    reached it, and ``seeds``. Empty when none did."""
    found = [{**h, "nll_bound": h.get("nll_bound") if h.get("nll_bound") is not None else h.get("nll")}
             for r in rec["rows"] if r["setting"] == setting for h in r.get("history", []) if h["epoch"] == epoch]
    if not found:
        return {}
    frame = pd.DataFrame(found)[["nll_bound", "kl", "mi", "au"]].astype(float)
    out = {"seeds": len(found), **frame.mean().to_dict()}
    if len(found) > 1:
        out.update({f"{k}_sd": v for k, v in frame.std(ddof=1).to_dict().items()})
    return out


def short_epochs(rec) -> int | None:
    """The epoch at which the cut-short runs are read: the last epoch of the shortest of them, or None when the
    record holds none."""
    short = [cut_short_row(rec, name) for name in (AGGRESSIVE, ORIGINAL)]
    return min((int(r["epochs_run"]) for r in short if r is not None), default=None)


def where_training_stood(rec, row: dict) -> str:
    """Where the schedule stood at ``row``'s last epoch, in words: "annealing done, learning rate not yet
    halved" (the KL warm-up is counted in epochs; a halving shows as a second learning rate in its history)."""
    n, warmup = int(row["epochs_run"]), int(rec["config"]["train"].get("kl_warmup_epochs", 0))
    lrs = {h["lr"] for h in row.get("history", [])}
    return (f"annealing {'done' if n >= warmup else 'not yet done'}, learning rate "
            f"{'not yet halved' if len(lrs) <= 1 else 'already halved'}")


def aggressive_length(rec) -> str:
    """How long aggressive training trained, a sentence for the page: its first epochs only (with the cost of
    one, and where the schedule stood), so that its answer reads it at that epoch; or as long as the others."""
    row = next((r for r in rec["rows"] if r["setting"] == AGGRESSIVE), None)
    if row is None:
        return "Aggressive training is still to train."
    n = int(row["epochs_run"])
    if not cut_short(rec, row):
        return f"Aggressive training trained {n} epochs, until its validation stopped improving."
    threads = row.get("environment", {}).get("cpu_threads")
    on = f"on {threads} CPU thread{'s' if threads != 1 else ''}" if row.get("device") == "cpu" else "on a GPU"
    return (f"Aggressive training's encoder-only steps make its epochs the study's dearest "
            f"({Num(row['train_time_per_epoch_s'], 0)} s each {on}), so the record holds its first {n} epochs "
            f"only ({where_training_stood(rec, row)}), and its answer reads it beside the other settings at epoch "
            f"{n} of their validation history.")


def epoch_frame(rec, epoch: int) -> pd.DataFrame:
    """One row per setting of :data:`EPOCH_SETTINGS` that reached ``epoch``: seeds, the validation bound (the
    language model's exact NLL) and KL, MI and AU, as mean and ``*_sd`` over seeds (no KL, MI, AU for the
    language model, which has no z)."""
    rows = []
    for name in EPOCH_SETTINGS:
        r = at_epoch(rec, name, epoch)
        if not r:
            continue
        if name == LM:
            r = {k: v for k, v in r.items() if k.split("_sd")[0] in ("seeds", "nll_bound")}
        rows.append({"setting": name, **r})
    return pd.DataFrame(rows).set_index("setting")


def aggressive_reading(rec, row: dict) -> tuple[bool, str]:
    """Aggressive training's run ``row``, cut short, at its last epoch of validation: whether it keeps z in use
    (:func:`~savae_lite.records.collapsed.collapsed`: its KL), and in words its KL, MI and AU,
    whether the encoder-only phase was still on, and its bound against the language model's exact NLL and
    SA-VAE's and the annealed VAE's bounds at the same epoch, each difference judged against 2 sd of the other
    setting's seeds."""
    epoch = int(row["epochs_run"])
    a = next(h for h in row["history"] if h["epoch"] == epoch)
    off = phase_end(row)
    phase = ("its encoder-only phase on throughout" if off == "never" else
             f"its encoder-only phase first off in epoch {off}")
    parts = []
    for name, label in ((LM, "the language model's exact NLL"), (SAVAE, "SA-VAE's bound"),
                        (VAE, "the annealed VAE's bound")):
        other = at_epoch(rec, name, epoch)
        if other:
            sd = other.get("nll_bound_sd")
            words = separated(a["nll_bound"], sd, other["nll_bound"], sd)
            parts.append(f"{label} {PM.of(other, 'nll_bound')} "
                         f"({Num(a['nll_bound'] - other['nll_bound'], 2, signed=True)} nats, {words})")
    kept = not collapsed(a)
    words = (f"after {epoch} epochs ({phase}) its validation KL is {Num(a['kl'], 3)} (MI {Num(a['mi'], 3)}, AU "
             f"{Num(a['au'], 0)}); its validation bound {Num(a['nll_bound'])} against, at the same epoch, "
             + "; ".join(parts) + " (the yardstick: 2 sd of the other setting's seeds).")
    return kept, words


def aggressive_answer(rec) -> str | None:
    """The answer for aggressive training when its run was cut short (:func:`aggressive_reading`): "Yes" when it
    keeps z in use, "No" when z collapses; None when the record has no cut-short aggressive run."""
    row = cut_short_row(rec, AGGRESSIVE)
    if row is None:
        return None
    kept, words = aggressive_reading(rec, row)
    return f"{'Yes' if kept else 'No'}: {words}"

