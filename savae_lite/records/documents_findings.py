"""What the documents study's record answers (chapter *Text VAEs and posterior collapse*, section *Documents: giving
z something to carry*; the study is ours, not the paper's: :mod:`savae_lite.documents`).

Does the annealed VAE keep z in use on multi-sentence documents? Is it better or worse than the language model,
by more than 2 sd of the seeds? And does SA-VAE beat the language model when z has something to carry? The last
question is answered "Not measured yet", with the units still to run and their measured cost, for as long as the
record misses any of SA-VAE's seeds; once they are in, :func:`answers` gives the verdict of
:func:`~savae_lite.records.comparisons.separated` instead. Does the original code's gradient change what is
learned (:func:`original_answer`: one seed of ``savae-original`` against SA-VAE's seeds)?
``tests/test_documents_findings.py`` checks each on made-up records.
"""
from __future__ import annotations

import json

import pandas as pd

from savae_lite.records.collapse_findings import collapsed, same_examples, use
from savae_lite.records.comparisons import WITHIN, compare, separated, yes_no
from savae_lite.records.documents_epoch import (
    aggressive_answer,
    aggressive_length,
    at_epoch,
    cut_short,
    short_epochs,
    where_training_stood,
)
from savae_lite.records.documents_runs import (
    AGGRESSIVE,
    LM,
    ORIGINAL,
    ORIGINAL_LONG,
    SAVAE,
    VAE,
    complete,
    missing_seeds,
    missing_units,
    reader_name,
    settings,
)
from savae_lite.records.tables import PM, Num, counted

NOT_MEASURED = "Not measured yet"


#: the benchmark record that measured one training step of every mode at the documents' size
#: (``savae-lite bench --only mode_steps --recipe ptb-documents --device cpu --threads 1``)
STEP_COST_RECORD = "bench-mode-steps-ptb-documents-cpu"


def scale(rec) -> dict:
    """The study's scale, for the prose: training documents, their length limit and mean length, K, the IW
    subset and the whole test split (numbers of documents), the IW samples, the MI check's interval, how long
    the original-backward audit unit and aggressive training trained (:func:`original_length`,
    :func:`~savae_lite.records.documents_epoch.aggressive_length`), the epoch at which the runs cut short are
    read and the number of validation documents."""
    ds, train = rec["dataset"], rec["config"]["train"]
    frame = same_examples(rec)
    return {"doc_train": f"{ds['sentences']['train']:,}", "doc_max_tokens": ds["documents_of_at_most"],
            "doc_mean_tokens": Num(ds["mean_tokens"]["train"], 0), "doc_k": train["svi"]["steps"],
            "doc_iw_examples": f"{int(frame['iw_examples'].iloc[0]):,}",
            "doc_test_examples": f"{int(frame['test_examples'].iloc[0]):,}",
            "doc_iw_samples": f"{train['iw_samples']:,}", "doc_mi_every": f"{train['aggressive_mi_every']:,}",
            "doc_original_length": original_length(rec), "doc_aggressive_length": aggressive_length(rec),
            "doc_short_epoch": short_epochs(rec) or "–", "doc_valid_examples": f"{ds['sentences']['valid']:,}"}


def original_row(rec) -> dict | None:
    """The longest run of the original-backward audit in ``rec``: ``savae-original-long``'s row when the record
    has it, else ``savae-original``'s (its first epochs), else None."""
    rows = {r["setting"]: r for r in rec["rows"] if r["setting"] in (ORIGINAL, ORIGINAL_LONG)}
    return rows.get(ORIGINAL_LONG, rows.get(ORIGINAL))


def original_length(rec) -> str:
    """How long the original-backward audit (:func:`original_row`) trained, a sentence for the page: as long as
    SA-VAE's seeds (its answer then compares test numbers), or only its first epochs, with where training stood
    then (annealing done or not, learning rate halved or not; its answer then compares validation at the same
    epoch)."""
    row = original_row(rec)
    if row is None:
        return "It is still to run."
    n = int(row["epochs_run"])
    if not cut_short(rec, row):
        first = next((int(r["epochs_run"]) for r in rec["rows"] if r["setting"] == ORIGINAL), None)
        how = (f" in all ({first}, then {n - first} more from that run's final checkpoint)"
               if row["setting"] == ORIGINAL_LONG and first and first < n else "")
        return (f"It trained {n} epochs{how}, until its validation stopped improving, like SA-VAE's seeds, so its "
                "answer compares test numbers on the same documents.")
    return (f"The record holds its first {n} epochs only ({where_training_stood(rec, row)}), a run cut short to "
            "fit one CPU thread's budget, so its answer compares it with SA-VAE's seeds at the same epoch of their "
            "validation history, not with their test numbers.")


def table_frame(rec) -> pd.DataFrame:
    """One row per setting of the study (all of ``savae_lite.documents.SETTINGS``, in order): seeds ("not
    run yet" for a setting without rows), the kind of device, the bound on the IW subset (the exact NLL for the
    language model) and the IW-NLL on the same documents, the bound on the whole test split, KL, MI, AU, epochs
    and seconds per epoch, each as mean and ``*_sd`` over seeds."""
    same = same_examples(rec)
    summary = {e["setting"]: e for e in rec["summary"]}
    rows = []
    for s in settings():
        e = summary.get(s.name)
        if e is None or s.name not in same.index:
            rows.append({"setting": s.name, "seeds": "not run yet"})
            continue
        devices = sorted({str(r.get("device") or "cpu").split(":")[0] for r in rec["rows"] if r["setting"] == s.name})
        row = {"setting": s.name, "seeds": int(same.loc[s.name, "seeds"]), "device": " and ".join(devices)}
        for key in ("bound_iw", "iw_nll", "nll_bound"):
            row[key], row[f"{key}_sd"] = same.loc[s.name, key], same.loc[s.name, f"{key}_sd"]
        for key in ("kl", "mi", "au", "epochs_run", "train_time_per_epoch_s"):
            latent = key in ("kl", "mi", "au")
            if not (latent and s.mode == "autoreg"):  # a model without z has no KL, MI or AU: "–"
                row[key], row[f"{key}_sd"] = e.get(key), e.get(f"{key}_sd")
        rows.append(row)
    return pd.DataFrame(rows).set_index("setting")


def _verdict(words: str) -> str:
    if words.startswith("better"):
        return "Yes"
    if words.startswith("worse"):
        return "No"
    return "Not told apart"


def step_cost(bench: dict | None = None) -> str:
    """SA-VAE's measured step cost at the documents' size, from the benchmark record (:data:`STEP_COST_RECORD`,
    read from the results folder when ``bench`` is None): seconds per step and the ratio to the VAE's step."""
    if bench is None:
        from savae_lite.records.loading import record_path

        bench = json.loads(record_path(STEP_COST_RECORD).read_text())
    ms = bench["mode_steps"]
    by = {m["mode"]: m for m in ms["modes"]}
    sa = by["savae"]
    threads = bench.get("environment", {}).get("cpu_threads")
    where = f"on {threads} CPU thread{'s' if threads != 1 else ''}" if ms["device"] == "cpu" else f"on {ms['device']}"
    return (f"{Num(sa['step_s'])} s per training step {where}, {Num(sa['ratio_to_vae'], 1)} times the VAE's "
            f"(a batch of {ms['batch_shape'][0]} documents of {ms['batch_shape'][1]} tokens, K = {ms['K']})")


def answers(rec, bench: dict | None = None) -> dict:
    """The section's answers, as numbers and words keyed by the names the page glues (prefix ``doc_``);
    ``bench``: the step-cost record (:func:`step_cost`)."""
    S = {e["setting"]: e for e in rec["summary"]}
    same = same_examples(rec)
    lm = same.loc[LM].to_dict()
    out = dict(scale(rec))
    missing = missing_units(rec)
    out["doc_missing"] = ", ".join(reader_name(u) for u in missing) if missing else "none"
    out["doc_complete"] = yes_no(bool(rec.get("complete")) and not missing)
    out["doc_status"] = ("The record is complete." if not missing else
                         f"The record is partial: {counted(len(missing), 'run')} still to train "
                         f"({out['doc_missing']}).")
    out["doc_lm_nll"] = PM.of(lm, "iw_nll")

    vae = S.get(VAE)
    if vae is None:
        out.update(doc_vae_keeps=NOT_MEASURED, doc_vae_use="no row yet", doc_vae_vs_lm=NOT_MEASURED,
                   doc_vae_better=NOT_MEASURED, doc_vae_nll="–", doc_vae_diff="–", doc_vae_yardstick="–",
                   doc_vae_refined_kl="–")
    else:
        c = compare(same.loc[VAE].to_dict(), lm, "iw_nll")
        out.update(doc_vae_keeps=yes_no(not collapsed(vae)), doc_vae_use=use(vae), doc_vae_nll=c.a,
                   doc_vae_diff=c.diff, doc_vae_vs_lm=c.words, doc_vae_better=_verdict(c.words),
                   doc_vae_yardstick=Num(2 * max(c.a.sd or 0, c.b.sd or 0)),
                   doc_vae_refined_kl=PM.of(vae, "kl_refine", 3))

    out["doc_savae_cost"] = step_cost(bench)
    if SAVAE not in same.index or not complete(rec, SAVAE):
        have = int(same.loc[SAVAE, "seeds"]) if SAVAE in same.index else 0
        out.update(doc_savae_beats_lm=NOT_MEASURED, doc_savae_vs_lm=NOT_MEASURED, doc_savae_vs_vae=NOT_MEASURED,
                   doc_savae_answer=(f"{NOT_MEASURED}: the record holds {have} of SA-VAE's seeds; still to "
                                     f"train: {missing_seeds(SAVAE, missing) or 'its remaining seeds'}. "
                                     f"A training step of SA-VAE "
                                     f"takes {out['doc_savae_cost']}."))
    else:
        c = compare(same.loc[SAVAE].to_dict(), lm, "iw_nll")
        verdict = _verdict(c.words)
        out.update(doc_savae_beats_lm=verdict, doc_savae_vs_lm=c.words,
                   doc_savae_answer=(f"{verdict}: SA-VAE's IW-NLL {c.a} against the language model's {c.b} on the "
                                     f"same {out['doc_iw_examples']} documents, {c.diff} nats ({c.words}); "
                                     f"{use(S[SAVAE])}."))
        if VAE in same.index:
            v = compare(same.loc[SAVAE].to_dict(), same.loc[VAE].to_dict(), "iw_nll")
            out["doc_savae_vs_vae"] = (f"{_verdict(v.words)}: {v.a} against the annealed VAE's {v.b} on the same "
                                       f"documents, {v.diff} nats ({v.words}).")
        else:
            out["doc_savae_vs_vae"] = NOT_MEASURED
    out["doc_original"] = original_answer(rec)
    cut = aggressive_answer(rec)  # a run cut short: read at its last epoch beside the others (documents_epoch)
    if cut is not None:
        out["doc_aggressive"] = cut
    elif AGGRESSIVE in same.index and complete(rec, AGGRESSIVE):
        ag = S[AGGRESSIVE]
        ag_nll = PM.of(same.loc[AGGRESSIVE], "iw_nll")
        out["doc_aggressive"] = (f"{yes_no(not collapsed(ag))}: {use(ag)}; IW-NLL {ag_nll} against the language "
                                 f"model's {out['doc_lm_nll']}.")
    else:
        out["doc_aggressive"] = f"{NOT_MEASURED}: its run is still to train."
    return out


def original_answer(rec, with_early: bool = True) -> str:
    """Does training on the original code's backward pass (``hvp='original'``, :mod:`savae_lite.original_backward`)
    change what SA-VAE learns? Its seed against SA-VAE's seeds: when it trained as long as they did, its latent use
    and its IW-NLL on the same documents, the difference judged against 2 sd of SA-VAE's seeds; when it trained
    fewer epochs (``savae-original`` alone, its first epochs), its validation KL, MI, AU and bound at its last epoch
    against SA-VAE's seeds at the same epoch (same schedule up to there), with the annealed VAE's at that epoch
    beside them: "Yes" when its KL or its bound lies more than 2 sd of SA-VAE's seeds away, or one collapses and
    the other does not. "Not measured yet" while either is
    missing. ``with_early=False`` leaves out, for a run that trained as long as SA-VAE's seeds, how its first epochs
    stood (chapter 5 gives it; the closing page keeps the answer short)."""
    same, orig_row = same_examples(rec), original_row(rec)
    if orig_row is None or SAVAE not in same.index or not complete(rec, SAVAE):
        return f"{NOT_MEASURED}: its run is still to train."
    if cut_short(rec, orig_row):
        changed, early = _at_epoch_reading(rec, orig_row)
        return f"{'Yes' if changed else 'No'}: {early}"
    name = orig_row["setting"]
    if name not in same.index:
        return f"{NOT_MEASURED}: its run has no IW-NLL on the test documents."
    S = {e["setting"]: e for e in rec["summary"]}
    orig, sa = same.loc[name].to_dict(), same.loc[SAVAE].to_dict()
    words = separated(orig["iw_nll"], sa.get("iw_nll_sd"), sa["iw_nll"], sa.get("iw_nll_sd"))
    kept = "it keeps *z* in use" if not collapsed(S[name]) else "*z* collapses"
    short = next((r for r in rec["rows"] if r["setting"] == ORIGINAL), None)
    early = (" Early in training it stood apart: " + _at_epoch_reading(rec, short)[1]
             if with_early and short is not None and name == ORIGINAL_LONG and cut_short(rec, short) else "")
    lm = (f" With *z* unused it is in effect a language model; the language model's seeds read "
          f"{PM.of(same.loc[LM].to_dict(), 'iw_nll')} on the same documents."
          if collapsed(S[name]) and LM in same.index else "")  # a collapsed run: the LM beside it
    return (f"{'No' if words == WITHIN and not collapsed(S[name]) else 'Yes'}: with the original's backward "
            f"pass {kept} ({use(S[name])}; SA-VAE: KL {PM.of(S[SAVAE], 'kl', 3)}); its IW-NLL "
            f"{Num(orig['iw_nll'])} against SA-VAE's {PM.of(sa, 'iw_nll')}, "
            f"{Num(orig['iw_nll'] - sa['iw_nll'], 2, signed=True)} nats ({words}; the sd is SA-VAE's).{lm}{early}")


def _at_epoch_reading(rec, row: dict) -> tuple[bool, str]:
    """The original-backward run ``row`` against SA-VAE's seeds at its last epoch of validation: whether its KL
    or bound lies more than 2 sd of SA-VAE's seeds away (or one collapses and the other does not), and the
    reading in words, with the annealed VAE at that epoch beside them."""
    epoch = int(row["epochs_run"])
    o = next(h for h in row["history"] if h["epoch"] == epoch)
    sa = at_epoch(rec, SAVAE, epoch)
    words = separated(o["nll_bound"], sa.get("nll_bound_sd"), sa["nll_bound"], sa.get("nll_bound_sd"))
    kl_words = separated(o["kl"], sa.get("kl_sd"), sa["kl"], sa.get("kl_sd"), lower_is_better=False,
                         senses=("higher", "lower"))
    changed = words != WITHIN or kl_words != WITHIN or collapsed(o) != collapsed(sa)
    vae = at_epoch(rec, VAE, epoch)
    beside = (f" For comparison, the annealed VAE at epoch {epoch}: KL {PM.of(vae, 'kl', 3)}, bound "
              f"{PM.of(vae, 'nll_bound')}." if vae else "")
    return changed, (f"after {epoch} epochs with the original's backward pass its "
                     f"validation KL is {Num(o['kl'], 3)} (MI {Num(o['mi'], 3)}, AU {Num(o['au'], 0)}) against "
                     f"SA-VAE's {PM.of(sa, 'kl', 3)} (AU {PM.of(sa, 'au', 1)}; {sa['seeds']} seeds at epoch "
                     f"{epoch}), {kl_words}, and its validation bound {Num(o['nll_bound'])} against SA-VAE's "
                     f"{PM.of(sa, 'nll_bound')}, {Num(o['nll_bound'] - sa['nll_bound'], 2, signed=True)} nats, "
                     f"{words} (the yardstick is SA-VAE's spread over its seeds; one seed has none).{beside}")
