"""The documents study's readings (savae_lite.records.documents_findings) and chapter 5's sweep readings
(savae_lite.records.collapse_findings: K = 10 with one seed or three, aggressive training with its MI check every
3,125 updates), on the committed records and on made-up copies of them with the rows still to run (made up here,
in memory or in a temporary folder; never committed)."""
import copy
import json
from pathlib import Path

import pytest

pytest.importorskip("pandas")
pytest.importorskip("jinja2")  # pandas' Styler

from savae_lite import records  # noqa: E402
from savae_lite.records import collapse_findings, documents_findings  # noqa: E402

BOOK = Path(__file__).resolve().parents[1] / "book" / "results"


def committed(name):
    return json.loads((BOOK / f"{name}.json").read_text())


def with_rows(obj, new_rows, missing=()):
    """A copy of record ``obj`` with ``new_rows`` added, its summary recomputed and its completeness updated."""
    out = copy.deepcopy(obj)
    out["rows"] = out["rows"] + new_rows
    out["summary"] = records.summarize(out["rows"])
    out["missing_units"] = list(missing)
    out["complete"] = not missing
    return records.from_dict(out, source="made up")


def made_up_row(template, setting, mode, seed, iw_nll, kl, mi=None, au=1, epochs=None, shift_bound=0.1):
    """A row shaped like ``template`` (a committed row of a latent-variable setting) with other numbers."""
    row = copy.deepcopy(template)
    row.update(setting=setting, mode=mode, seed=seed, unit=f"{setting.replace('+', '_')}-s{seed}", iw_nll=iw_nll,
               kl=kl, mi=kl if mi is None else mi, au=au, nll_bound=iw_nll + shift_bound)
    row["test"]["iw"].update(iw_nll=iw_nll, nll_bound_same_examples=iw_nll + shift_bound)
    if epochs is not None:
        row["epochs_run"] = epochs
    return row


# ------------------------------------------------------------------------------------- documents study
def test_documents_record_loads_and_is_complete():
    rec = records.load(BOOK / "documents.json")
    assert rec["complete"] is True and not rec.provenance.missing
    # the study's units trained on a GPU, the original-backward audit units on one CPU thread and aggressive
    # training's first 6 epochs on two
    assert {r["unit"]: (r["device"], r["environment"]["cpu_threads"]) for r in rec.rows if r["device"] != "cuda"} \
        == {"savae-original-s1": ("cpu", 1), "savae-original-long-s1": ("cpu", 1), "aggressive_anneal-s1": ("cpu", 2)}


def test_documents_answers_on_the_committed_record():
    rec = records.load(BOOK / "documents.json")
    a = documents_findings.answers(rec)
    assert a["doc_train"] == "6,000" and a["doc_max_tokens"] == 70 and str(a["doc_mean_tokens"]) == "57"
    assert a["doc_k"] == 10 and a["doc_iw_examples"] == "300" and a["doc_test_examples"] == "1,445"
    assert a["doc_vae_keeps"] == "No"  # KL 0.003: the annealed VAE collapses on documents
    assert a["doc_vae_use"].startswith("KL 0.003")
    # +2.85 nats worse than the LM on the same 300 documents, but within 2 sd (3.69) of the seeds
    assert str(a["doc_vae_diff"]) == "+2.85" and a["doc_vae_vs_lm"] == "within the seeds' spread"
    assert a["doc_vae_better"] == "Not told apart" and str(a["doc_vae_yardstick"]) == "3.69"
    # SA-VAE (3 seeds, K = 10, on the H200): 267.06 +- 0.92 against the LM's 267.70 +- 1.84 on the same 300
    # documents, -0.64 nats: within 2 sd of the seeds; it keeps z in use (KL 3.57)
    assert a["doc_savae_beats_lm"] == "Not told apart" and a["doc_savae_vs_lm"] == "within the seeds' spread"
    assert a["doc_savae_answer"].startswith("Not told apart: SA-VAE's IW-NLL 267.06 ± 0.92 against the language "
                                            "model's 267.70 ± 1.84 on the same 300 documents, -0.64 nats")
    assert "KL 3.573 ± 0.094" in a["doc_savae_answer"]
    # and beats the collapsed annealed VAE (270.55 +- 0.91) by 3.50 nats, more than 2 sd (1.85)
    assert a["doc_savae_vs_vae"] == ("Yes: 267.06 ± 0.92 against the annealed VAE's 270.55 ± 0.91 on the same "
                                     "documents, -3.50 nats (better by more than 2 sd).")
    # the step cost comes from the committed benchmark record (SA-VAE 1.98 s per step, 18.3 times the VAE's)
    assert a["doc_savae_cost"].startswith("1.98 s per training step on 1 CPU thread, 18.3 times the VAE's")
    # aggressive training, its first 6 epochs (phase on throughout): z in use (validation KL 2.837, AU 11) but
    # its bound 305.62 is worse than every other setting's at epoch 6, the LM's exact NLL 282.76 +- 4.45 included
    assert a["doc_aggressive"].startswith("Yes: after 6 epochs (its encoder-only phase on throughout) its validation "
                                          "KL is 2.837 (MI 1.265, AU 11); its validation bound 305.62 against, at "
                                          "the same epoch, the language model's exact NLL 282.76 ± 4.45 (+22.86 "
                                          "nats, worse by more than 2 sd)")
    assert a["doc_missing"] == "none" and a["doc_status"] == "The record is complete."
    # the original's backward pass, 15 epochs on one CPU thread (6 as savae-original, 9 more as -long): z
    # collapses at test (KL 0.005 against SA-VAE's 3.573), IW-NLL 265.84 against 267.06 +- 0.92 on the same 300
    # documents, within 2 sd; at epoch 6 it stood apart (validation KL 0.300 against 3.950 +- 0.376)
    assert a["doc_original_length"].startswith("It trained 15 epochs in all (6, then 9 more from that run's final "
                                               "checkpoint), until its validation stopped improving")
    assert a["doc_original"].startswith("Yes: with the original's backward pass *z* collapses (KL 0.005, MI -0.001, "
                                        "AU 0 over 1 seed; SA-VAE: KL 3.573 ± 0.094); its IW-NLL 265.84 against "
                                        "SA-VAE's 267.06 ± 0.92, -1.22 nats (within the seeds' spread")
    # collapsed, it is in effect a language model: the LM's seeds stand beside it (267.70 +- 1.84)
    assert "(within the seeds' spread; the sd is SA-VAE's). With *z* unused it is in effect a language model; the " \
        "language model's seeds read 267.70 ± 1.84 on the same documents. Early in training it stood apart: " \
        "after 6 epochs with the original's backward pass its validation KL is 0.300" in a["doc_original"]
    assert "lower by more than 2 sd" in a["doc_original"] and "+5.44 nats, worse by more than 2 sd" in \
        a["doc_original"]
    # between SA-VAE and the annealed VAE, whose epoch 6 reads KL 0.164 +- 0.038, bound 285.10 +- 0.67
    assert a["doc_original"].endswith("For comparison, the annealed VAE at epoch 6: KL 0.164 ± 0.038, bound "
                                      "285.10 ± 0.67.")


def test_documents_table_labels_examples_and_leaves_what_is_missing_empty():
    rec = records.load(BOOK / "documents.json")
    frame = documents_findings.table_frame(rec)
    assert list(frame.index) == ["autoreg", "vae+anneal", "savae", "aggressive+anneal", "savae-original",
                                 "savae-original-long"]
    assert frame.loc["savae-original-long", "seeds"] == 1 and frame.loc["savae-original-long", "epochs_run"] == 15
    assert frame.loc["aggressive+anneal", "seeds"] == 1 and frame.loc["savae", "seeds"] == 3
    assert frame.loc["aggressive+anneal", "epochs_run"] == 6
    assert frame.loc["savae-original", "seeds"] == 1 and frame.loc["savae-original", "device"] == "cpu"
    # the LM's number on the IW subset is its exact NLL there; it has no KL
    assert frame.loc["autoreg", "bound_iw"] == pytest.approx(frame.loc["autoreg", "iw_nll"])
    assert records.missing(frame.loc["autoreg", "kl"])
    vae = [r for r in rec.rows if r["setting"] == "vae+anneal"]
    assert frame.loc["vae+anneal", "bound_iw"] == pytest.approx(
        sum(r["test"]["iw"]["nll_bound_same_examples"] for r in vae) / 3)
    headers = collapse_findings.bound_headers(collapse_findings.same_examples(rec), unit="documents")
    assert headers == {"bound_iw": "bound (300 documents)", "iw_nll": "IW-NLL (same 300)",
                       "nll_bound": "bound (all 1,445 test documents)"}
    html = records.html(frame, columns={"seeds": "seeds", **headers})
    assert "300 documents" in html


def without_savae():
    """The committed documents record without its SA-VAE rows, the original-backward units' and aggressive
    training's included (made-up ones replace them)."""
    obj = committed("documents")
    obj["rows"] = [r for r in obj["rows"] if r["setting"] not in ("savae", "savae-original",
                                                                      "savae-original-long", "aggressive+anneal")]
    return obj


def complete_documents(savae_nll, ag_kl=0.5, original_nll=275.0, original_kl=0.01):
    obj = without_savae()
    vae = next(r for r in obj["rows"] if r["setting"] == "vae+anneal")
    rows = [made_up_row(vae, "savae", "savae", s, savae_nll + 0.3 * (s - 2), kl=2.0) for s in (1, 2, 3)]
    rows.append(made_up_row(vae, "aggressive+anneal", "aggressive", 1, 269.0, kl=ag_kl))
    rows.append(made_up_row(vae, "savae-original", "savae", 1, original_nll, kl=original_kl))
    rows.append(made_up_row(vae, "savae-original-long", "savae", 1, original_nll, kl=original_kl))
    return with_rows(obj, rows)


@pytest.mark.parametrize("savae_nll, verdict, words", [
    (260.0, "Yes", "better by more than 2 sd"),   # 7.7 nats below the LM, 2 sd = 3.69
    (275.0, "No", "worse by more than 2 sd"),
    (268.5, "Not told apart", "within the seeds' spread"),
])
def test_documents_answers_give_the_verdict_once_savae_has_run(savae_nll, verdict, words):
    a = documents_findings.answers(complete_documents(savae_nll))
    assert a["doc_complete"] == "Yes" and a["doc_missing"] == "none"
    assert a["doc_savae_beats_lm"] == verdict and a["doc_savae_vs_lm"] == words
    assert a["doc_savae_answer"].startswith(f"{verdict}: SA-VAE's IW-NLL") and "same 300 documents" in \
        a["doc_savae_answer"]
    assert a["doc_aggressive"].startswith("Yes: KL 0.500")
    frame = documents_findings.table_frame(complete_documents(savae_nll))
    assert frame.loc["savae", "seeds"] == 3


def test_original_backward_answer():
    """The original's backward pass: collapsed and 5 nats worse (Yes, it changes what is learned); in use and
    within 2 sd of SA-VAE's seeds (No)."""
    a = documents_findings.answers(complete_documents(270.0))
    assert a["doc_original_length"].startswith("It trained 15 epochs, until its validation stopped improving")
    assert a["doc_original"].startswith("Yes: with the original's backward pass *z* collapses (KL 0.010")
    assert "+5.00 nats (worse by more than 2 sd; the sd is SA-VAE's)" in a["doc_original"]
    b = documents_findings.answers(complete_documents(270.0, original_nll=270.1, original_kl=3.0))
    assert b["doc_original"].startswith("No: with the original's backward pass it keeps *z* in use (KL 3.000")
    assert "(within the seeds' spread; the sd is SA-VAE's)" in b["doc_original"]
    assert "in effect a language model" in a["doc_original"] and "language model" not in b["doc_original"]


def shorter_original(kl, bound):
    """The committed record with a made-up 6-epoch savae-original row: a copy of savae-s1 cut after epoch 6,
    whose epoch-6 validation reads KL ``kl`` and bound ``bound``."""
    obj = committed("documents")
    obj["rows"] = [r for r in obj["rows"] if r["setting"] not in ("savae-original", "savae-original-long")]
    row = copy.deepcopy(next(r for r in obj["rows"] if r["unit"] == "savae-s1"))
    row["history"] = row["history"][:6]
    row["history"][-1].update(kl=kl, mi=kl / 2, au=0 if kl < 0.05 else 16, nll_bound=bound)
    row.update(setting="savae-original", unit="savae-original-s1", epochs_run=6, best_epoch=6)
    return with_rows(obj, [row])


def test_a_shorter_original_run_is_compared_at_its_epoch():
    """A savae-original unit of 6 epochs is set beside SA-VAE's seeds at epoch 6 of their validation history,
    not beside their test numbers after 13 to 15 epochs."""
    a = documents_findings.answers(shorter_original(0.19, 290.0))["doc_original"]
    assert a.startswith("Yes: after 6 epochs with the original's backward pass its validation KL is 0.190 "
                        "(MI 0.095, AU 16) against SA-VAE's ")
    assert "3 seeds at epoch 6), lower by more than 2 sd" in a and "nats, worse by more than 2 sd" in a
    sa6 = documents_findings.at_epoch(shorter_original(0.01, 290.0), "savae", 6)
    b = documents_findings.answers(shorter_original(sa6["kl"], 290.0))["doc_original"]  # same KL, worse bound
    assert b.startswith("Yes") and "within the seeds' spread, and" in b and "worse by more than 2 sd" in b
    c = documents_findings.answers(shorter_original(sa6["kl"], sa6["nll_bound"]))["doc_original"]
    assert c.startswith("No: after 6 epochs") and " 0.00 nats, within the seeds' spread" in c
    d = documents_findings.answers(shorter_original(sa6["kl"] + 5, sa6["nll_bound"]))["doc_original"]
    assert d.startswith("Yes") and "higher by more than 2 sd" in d  # more KL, same bound: still a change


def test_documents_aggressive_collapse_and_incomplete_savae():
    a = documents_findings.answers(complete_documents(260.0, ag_kl=0.01))
    assert a["doc_aggressive"].startswith("No: KL 0.010")
    obj = without_savae()
    vae = next(r for r in obj["rows"] if r["setting"] == "vae+anneal")
    one = with_rows(obj, [made_up_row(vae, "savae", "savae", 1, 250.0, kl=2.0)],
                    missing=["savae-s2", "savae-s3", "aggressive_anneal-s1"])
    b = documents_findings.answers(one)  # one seed of three: no verdict yet
    assert b["doc_savae_beats_lm"] == documents_findings.NOT_MEASURED
    assert b["doc_savae_vs_vae"] == documents_findings.NOT_MEASURED
    assert "holds 1 of SA-VAE's seeds; still to train: seeds 2 and 3." in b["doc_savae_answer"]


# ------------------------------------------------------------------------------- chapter 5's sweeps
def sweeps_with(k10_nlls=None, aggressive=None, tmp_path=None):
    """The committed sweeps record with made-up seeds 2 and 3 of savae-K10 (IW-NLLs ``k10_nlls``) and/or a
    made-up aggressive-every3125 row (``aggressive``: its KL and first epoch with the phase off), written to
    ``tmp_path`` when given and loaded back from there."""
    obj = committed("collapse-sweeps")
    obj["rows"] = [r for r in obj["rows"] if not (r["setting"] == "savae-K10" and r["seed"] != 1)]  # seed 1 only
    if aggressive is not None:  # the made-up row replaces the committed one
        obj["rows"] = [r for r in obj["rows"] if r["setting"] != "aggressive-every3125"]
    k10 = next(r for r in obj["rows"] if r["setting"] == "savae-K10")
    rows = []
    for seed, nll in zip((2, 3), k10_nlls or ()):
        rows.append(made_up_row(k10, "savae-K10", "savae", seed, nll, kl=1.1, au=2, epochs=15))
    if k10_nlls:
        for r in obj["rows"]:
            if r["setting"] == "savae-K10":
                r["iw_nll"] = k10_nlls[2]
        for s in obj["settings"]:
            if s["name"] == "savae-K10":
                s["seeds"] = 3
    if aggressive is not None:
        kl, off = aggressive
        rec = committed("collapse")
        template = next(r for r in rec["rows"] if r["setting"] == "aggressive" and r["seed"] == 1)
        row = made_up_row(template, "aggressive-every3125", "aggressive", 1, 67.2, kl=kl, au=2)
        row["history"] = [{**h, "aggressive": h["epoch"] < off} for h in row["history"]]
        rows.append(row)
    rec = with_rows(obj, rows)
    if tmp_path is None:
        return rec
    path = tmp_path / "collapse-sweeps.json"
    path.write_text(json.dumps(rec.data))
    return records.load(path)


def test_k_reading_with_one_seed_says_so_and_names_the_confound():
    rec = records.load(BOOK / "collapse.json")
    a = collapse_findings.answers(rec, sweeps_with())  # the sweep's first seed alone
    assert a["k_seeds"] == 1 and a["k_helps"] == "Not judged (one seed)" and str(a["k_extra_epochs"]) == "2"
    assert "one seed" in a["k_reading"] and "15 epochs against 13" in a["k_reading"]
    assert "confounded" in a["k_reading"] and "lever" not in a["k_reading"]
    # the committed aggressive sweep: its phase never switched off in 13 epochs of either seed; KL 0.220 ± 0.046
    assert "phase stayed on through all 13 epochs in each of its 2 seeds (with the per-epoch check it was first " \
           "switched off in epoch 2 in seed 1 and in epoch 3 in seed 2)" in a["ag_sweep"]
    assert "with *z* in use (KL 0.220 ± 0.046" in a["ag_sweep"] and a["ag_sweep_keeps"] == "Yes"
    obj = committed("collapse-sweeps")
    obj["rows"] = [r for r in obj["rows"] if r["setting"] != "aggressive-every3125"]
    b = collapse_findings.answers(rec, with_rows(obj, []))
    assert "still to run" in b["ag_sweep"] and "3,125" in b["ag_sweep"]
    assert b["ag_sweep_keeps"] == "Not measured yet"


@pytest.mark.parametrize("nlls, helps, vs_lm", [
    ((66.80, 66.85, 66.83), "Yes", "within the seeds' spread"),  # 0.58 below K = 5 (2 sd 0.31); LM sd 0.29
    ((67.30, 67.45, 67.40), "No", "worse by more than 2 sd"),
])
def test_k_reading_with_three_seeds_compares_with_separated(tmp_path, nlls, helps, vs_lm):
    rec = records.load(BOOK / "collapse.json")
    sweeps = sweeps_with(nlls, tmp_path=tmp_path)
    assert len([r for r in sweeps.rows if r["setting"] == "savae-K10"]) == 3
    a = collapse_findings.answers(rec, sweeps)
    assert a["k_seeds"] == 3 and a["k_helps"] == helps and a["k_vs_lm"] == vs_lm
    assert "over 3 seeds" in a["k_reading"]
    frame = collapse_findings.sweep_frame(rec, sweeps)
    k10 = frame.set_index("sweep").loc["savae-K10"]
    assert k10["seeds"] == 3 and k10["its seeds"] == 3 and k10["IW-NLL_sd"] > 0
    assert "savae-K10" in a["sweep_vs_lm"] and "3 seeds each" in a["sweep_vs_lm"]
    records.html(frame.set_index("sweep"))  # the table renders with mean ± sd cells


@pytest.mark.parametrize("kl, keeps", [(0.8, "with *z* in use"), (0.004, "collapsed")])
def test_aggressive_sweep_reading_when_its_row_exists(kl, keeps):
    rec = records.load(BOOK / "collapse.json")
    a = collapse_findings.answers(rec, sweeps_with(aggressive=(kl, 10)))
    assert "first switched off in epoch 10" in a["ag_sweep"]
    assert "per-epoch check it was first switched off in epoch 2" in a["ag_sweep"]
    assert f"ended {keeps}" in a["ag_sweep"] and "every 3,125 updates" in a["ag_sweep"]
    assert a["ag_sweep_keeps"] == ("Yes" if kl > 0.1 else "No")
    frame = collapse_findings.sweep_frame(rec, sweeps_with(aggressive=(kl, 10)))
    assert frame.set_index("sweep").loc["aggressive-every3125", "against"] == "aggressive"


def test_same_examples_on_the_text_study():
    rec = records.load(BOOK / "collapse.json")
    frame = collapse_findings.same_examples(rec)
    assert collapse_findings.example_count(frame, "iw_examples") == 500
    assert collapse_findings.example_count(frame, "test_examples") == 1929
    assert frame.loc["autoreg", "bound_iw"] == pytest.approx(frame.loc["autoreg", "iw_nll"])
    assert (frame["iw_nll"] <= frame["bound_iw"] + 1e-9).all()  # IW-NLL below the bound on the same sentences
    answers = collapse_findings.answers(rec)
    assert str(answers["savae_epoch_s"]) == "161"


def test_without_z_empties_the_language_models_latent_columns():
    rec = records.load(BOOK / "collapse.json")
    frame = collapse_findings.without_z(rec.summary_frame())
    assert records.missing(frame.loc["autoreg", "kl"]) and records.missing(frame.loc["autoreg", "au_sd"])
    assert frame.loc["savae", "kl"] == pytest.approx(0.931, abs=1e-3)
    assert "–" in records.html(frame, columns=["kl"])


def test_set_up_quotes_the_config():
    rec = records.load(BOOK / "collapse.json")
    s = collapse_findings.set_up(rec, records.load(BOOK / "collapse-sweeps.json"))
    assert (s["cfg_max_len"], s["cfg_sentences"], s["cfg_vocab"], s["cfg_k"]) == (20, "10,000", "5,000", 5)
    assert (s["cfg_decay_start"], s["cfg_epochs"], s["cfg_warmup"], s["cfg_sweep_decay"]) == (8, 25, "5", 12)
    assert s["cfg_iw_examples"] == s["cfg_iw_samples"] == "500"


def test_aggressive_sweep_reading_with_two_seeds():
    """A second seed of the aggressive sweep: the phase is told per seed, and the IW-NLL is a mean over both."""
    rec = records.load(BOOK / "collapse.json")
    obj = committed("collapse-sweeps")
    obj["rows"] = [r for r in obj["rows"] if r.get("unit") != "aggressive-every3125-s2"]  # a made-up seed 2
    s1 = next(r for r in obj["rows"] if r["setting"] == "aggressive-every3125")
    s2 = copy.deepcopy(s1)
    s2.update(seed=2, unit="aggressive-every3125-s2", iw_nll=s1["iw_nll"] + 0.2)
    both = collapse_findings.answers(rec, with_rows(obj, [s2]))["ag_sweep"]
    assert "phase stayed on through all 13 epochs in each of its 2 seeds" in both
    assert "over 2 seeds" in both
    s2["history"] = [{**h, "aggressive": h["epoch"] < 5} for h in s2["history"]]
    mixed = collapse_findings.answers(rec, with_rows(obj, [s2]))["ag_sweep"]
    assert "phase stayed on in seed 1 and was first switched off in epoch 5 in seed 2" in mixed
    s1 = copy.deepcopy(s1)
    s1["history"] = [{**h, "aggressive": h["epoch"] < 3} for h in s1["history"]]
    obj["rows"] = [r for r in obj["rows"] if r["setting"] != "aggressive-every3125"]
    both_off = collapse_findings.answers(rec, with_rows(obj, [s1, s2]))["ag_sweep"]
    assert "phase was first switched off in epoch 3 in seed 1 and in epoch 5 in seed 2" in both_off


def test_original_long_run_is_read_at_test_with_its_first_epochs_beside():
    """savae-original-long (the committed 6-epoch run continued to 15 epochs, made up): its answer compares test
    IW-NLLs on the same documents and keeps the early reading at epoch 6; the length sentence names both parts."""
    obj = committed("documents")
    obj["rows"] = [r for r in obj["rows"] if r["setting"] != "savae-original-long"]
    short = next(r for r in obj["rows"] if r["setting"] == "savae-original")
    long = made_up_row(short, "savae-original-long", "savae", 1, 267.5, kl=3.0, au=8, epochs=15)
    rec = with_rows(obj, [long], missing=["aggressive_anneal-s1"])
    a = documents_findings.answers(rec)
    assert a["doc_original_length"].startswith("It trained 15 epochs in all (6, then 9 more from that run's final "
                                               "checkpoint), until its validation stopped improving")
    assert a["doc_original"].startswith("No: with the original's backward pass it keeps *z* in use (KL 3.000")
    assert "IW-NLL 267.50 against SA-VAE's 267.06 ± 0.92, +0.44 nats (within the seeds' spread" in \
        a["doc_original"]
    assert "Early in training it stood apart: after 6 epochs with the original's backward pass its validation " \
           "KL is 0.300" in a["doc_original"]
    gone = made_up_row(short, "savae-original-long", "savae", 1, 272.0, kl=0.01, epochs=15)
    b = documents_findings.answers(with_rows(obj, [gone], missing=["aggressive_anneal-s1"]))
    assert b["doc_original"].startswith("Yes: with the original's backward pass *z* collapses (KL 0.010")


def test_missing_units_get_the_names_the_page_uses():
    """Single-seed settings by name, multi-seed ones with their seed; a name not of the study is left alone."""
    assert documents_findings.reader_name("aggressive_anneal-s1") == "aggressive training"
    assert documents_findings.reader_name("savae-s2") == "SA-VAE, seed 2"
    assert documents_findings.reader_name("vae_anneal-s3") == "the annealed VAE, seed 3"
    assert documents_findings.reader_name("savae-original-long-s1").endswith("backward pass, continued")
    assert documents_findings.reader_name("savae-s9") == "savae-s9"


def test_missing_seeds_in_words():
    """A setting's seeds among the missing units: one, two, three, or none."""
    from savae_lite.records.documents_runs import missing_seeds

    assert missing_seeds("savae", ["savae-s2", "aggressive_anneal-s1"]) == "seed 2"
    assert missing_seeds("savae", ["savae-s3", "savae-s2"]) == "seeds 2 and 3"
    assert missing_seeds("savae", ["savae-s1", "savae-s2", "savae-s3"]) == "seeds 1, 2 and 3"
    assert missing_seeds("savae", ["vae_anneal-s2"]) == ""
