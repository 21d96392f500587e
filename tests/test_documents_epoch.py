"""The documents study's runs cut short, read at the same epoch (savae_lite.records.documents_epoch): aggressive
training's first epochs against the other settings' validation history, on made-up copies of the committed
record (in memory; never committed)."""
import copy
import json
from pathlib import Path

import pytest

pytest.importorskip("pandas")

from savae_lite import records  # noqa: E402
from savae_lite.records import documents_epoch, documents_findings, reproduced  # noqa: E402

BOOK = Path(__file__).resolve().parents[1] / "book" / "results"


def with_aggressive(kl, epochs=6, off_from=None, bound=283.0, seconds=900.0, threads=2):
    """The committed documents record with a made-up aggressive run of ``epochs`` epochs (a copy of the annealed
    VAE's seed 1 cut there) whose last validation reads KL ``kl`` and bound ``bound``, its phase off from epoch
    ``off_from`` (on throughout when None), trained on ``threads`` CPU threads at ``seconds`` per epoch."""
    obj = json.loads((BOOK / "documents.json").read_text())
    obj["rows"] = [r for r in obj["rows"] if r["setting"] != "aggressive+anneal"]
    row = copy.deepcopy(next(r for r in obj["rows"] if r["unit"] == "vae_anneal-s1"))
    row["history"] = row["history"][:epochs]
    for h in row["history"]:
        h["aggressive"] = off_from is None or h["epoch"] < off_from
    row["history"][-1].update(kl=kl, mi=kl / 2, au=0 if kl < 0.05 else 5, nll_bound=bound)
    row.update(setting="aggressive+anneal", mode="aggressive", unit="aggressive_anneal-s1", epochs_run=epochs,
               best_epoch=epochs, device="cpu", train_time_per_epoch_s=seconds,
               environment={**row["environment"], "cpu_threads": threads})
    obj["rows"].append(row)
    obj["summary"] = records.summarize(obj["rows"])
    obj["missing_units"], obj["complete"] = [], True
    return records.from_dict(obj, source="made up")


def lm_at(rec, epoch):
    """The language model's validation NLL at ``epoch``, mean over its seeds, read from the record by hand."""
    nll = [h["nll"] for r in rec["rows"] if r["setting"] == "autoreg" for h in r["history"] if h["epoch"] == epoch]
    return sum(nll) / len(nll)


def test_a_cut_short_aggressive_run_is_read_at_its_epoch():
    rec = with_aggressive(1.5)
    assert documents_epoch.cut_short(rec, next(r for r in rec["rows"] if r["setting"] == "aggressive+anneal"))
    a = documents_findings.answers(rec)
    assert a["doc_aggressive"].startswith("Yes: after 6 epochs (its encoder-only phase on throughout) its "
                                          "validation KL is 1.500 (MI 0.750, AU 5); its validation bound 283.00 "
                                          "against, at the same epoch, the language model's exact NLL ")
    lm = documents_epoch.at_epoch(rec, "autoreg", 6)
    assert lm["nll_bound"] == pytest.approx(lm_at(rec, 6)) and lm["seeds"] == 3  # the LM's exact NLL, not NaN
    assert f"{283.0 - lm['nll_bound']:+.2f} nats" in a["doc_aggressive"]
    assert "SA-VAE's bound" in a["doc_aggressive"] and "the annealed VAE's bound" in a["doc_aggressive"]
    assert a["doc_aggressive_length"] == (
        "Aggressive training's encoder-only steps make its epochs the study's dearest (900 s each on 2 CPU threads), "
        "so the record holds its first 6 epochs only (annealing done, learning rate not yet halved), and its answer "
        "reads it beside the other settings at epoch 6 of their validation history.")
    assert a["doc_short_epoch"] == 6 and a["doc_valid_examples"] == "1,296"


def test_a_collapsed_or_switched_off_aggressive_run_says_so():
    a = documents_findings.answers(with_aggressive(0.01))["doc_aggressive"]
    assert a.startswith("No: after 6 epochs (its encoder-only phase on throughout) its validation KL is 0.010")
    b = documents_findings.answers(with_aggressive(1.5, off_from=4))["doc_aggressive"]
    assert b.startswith("Yes: after 6 epochs (its encoder-only phase first off in epoch 4)")
    c = documents_findings.answers(with_aggressive(1.5, epochs=3))  # annealing (5 epochs) not yet done
    assert "its first 3 epochs only (annealing not yet done, learning rate not yet halved)" in \
        c["doc_aggressive_length"]


def test_the_same_epoch_table_compares_every_setting_at_that_epoch():
    rec = with_aggressive(1.5)
    frame = documents_epoch.epoch_frame(rec, documents_epoch.short_epochs(rec))
    assert list(frame.index) == ["autoreg", "vae+anneal", "savae", "aggressive+anneal", "savae-original"]
    assert list(frame["seeds"]) == [3, 3, 3, 1, 1]
    assert records.missing(frame.loc["autoreg", "kl"])  # no z in the language model
    assert frame.loc["aggressive+anneal", "kl"] == 1.5 and frame.loc["aggressive+anneal", "nll_bound"] == 283.0
    assert frame.loc["autoreg", "nll_bound"] == pytest.approx(lm_at(rec, 6))
    assert documents_epoch.short_epochs(with_aggressive(1.5, epochs=4)) == 4  # the shortest cut-short run


def test_the_reproduced_row_reads_a_cut_short_run_on_validation():
    collapse = records.load(BOOK / "collapse.json")
    doc = reproduced.aggressive(collapse, None, with_aggressive(1.5))[1]
    assert doc["verdict"] == reproduced.REPRODUCED
    assert doc["ours"].startswith("documents (ours): MI checked every 3,125 updates; its first 6 epochs only, "
                                  "validation KL 1.500, bound 283.00 (LM at epoch 6: ")
    assert reproduced.aggressive(collapse, None, with_aggressive(0.01))[1]["verdict"] == reproduced.NOT
