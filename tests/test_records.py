"""Every committed run record (results/*.json, book/results/*.json) is consistent with itself and with the
maths: no training here, only reading the files.

Invariants: written at a clean git commit; for every evaluation, bound = recon + KL, MI <= KL (+ tolerance),
PPL = exp(NLL * examples / tokens), IW-NLL <= bound + 3 standard errors, and a subset names its selection; for
the synthetic experiment, the summary is the mean over the seeds' rows.
"""
import json
import math
import statistics
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECORDS = sorted([*REPO.glob("results/*.json"), *REPO.glob("book/results/*.json")])
# nats. MI is a Monte-Carlo estimate (one z per example), KL is closed-form: on 500 examples of a 2-d latent
# with posterior std 0.37 (the synthetic experiment) the MI estimate's standard deviation is 0.03 nats
# (30 repeats), so 0.1 is about three standard deviations.
MI_TOL = 0.1


def commits(obj):
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("git_commit", "git_commits"):
                yield from (value if isinstance(value, list) else [value])
            else:
                yield from commits(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from commits(value)


def evaluations(obj, where=""):
    """Every dict that holds one ELBO evaluation (an ``nll_bound``, a ``kl`` and its ``examples``), with its path
    (tables derived from several evaluations, e.g. a study's summary, have no ``examples``)."""
    if isinstance(obj, dict):
        if "nll_bound" in obj and "kl" in obj and "examples" in obj:
            yield where, obj
        for key, value in obj.items():
            yield from evaluations(value, f"{where}/{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from evaluations(value, f"{where}[{i}]")


def test_there_are_records():
    assert RECORDS, "no committed records found"


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: str(p.relative_to(REPO)))
def test_record_was_written_at_a_clean_commit(path):
    found = list(commits(json.loads(path.read_text())))
    assert found, f"{path.name}: no git commit recorded"
    for sha in found:
        assert len(sha) == 40 and all(c in "0123456789abcdef" for c in sha), f"{path.name}: commit {sha!r}"


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: str(p.relative_to(REPO)))
def test_evaluations_are_consistent(path):
    for where, m in evaluations(json.loads(path.read_text())):
        label = f"{path.name}{where}"
        if "recon" in m:
            assert m["nll_bound"] == pytest.approx(m["recon"] + m["kl"], abs=2e-5), label
        if "mi" in m:
            assert m["mi"] <= m["kl"] + MI_TOL, label
        if "ppl_bound" in m and m.get("tokens"):
            assert m["ppl_bound"] == pytest.approx(math.exp(m["nll_bound"] * m["examples"] / m["tokens"]),
                                                   rel=1e-4), label
        if "iw_nll" in m:
            se = m.get("bound_minus_iw_se")
            assert se is not None, f"{label}: IW-NLL without the standard error of its gap"
            assert m["iw_nll"] <= m["nll_bound"] + 3 * se + 1e-6, label


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: str(p.relative_to(REPO)))
def test_subsets_say_how_they_were_chosen(path):
    record = json.loads(path.read_text())
    for test in [record.get("test", {}), *(r.get("test", {}) for r in record.get("rows", []))]:
        iw = test.get("iw")
        if iw is None:
            continue
        whole = (test.get("refine") or test["exact"])["examples"]
        assert iw["selection"] and (iw["examples"] == whole) == (iw["selection"] == "the whole split")
        if "nll_bound_same_examples" in iw:
            assert iw["iw_nll"] <= iw["nll_bound_same_examples"] + 3 * iw["bound_minus_iw_se"] + 1e-6


@pytest.mark.parametrize("path", [p for p in RECORDS if p.name.startswith("collapse")], ids=lambda p: p.name)
def test_collapse_summary_is_the_mean_over_seeds_on_the_same_sentences(path):
    record = json.loads(path.read_text())
    rows = record["rows"]
    assert record["complete"] == (not record["missing_units"])
    for entry in record["summary"]:
        mine = [r for r in rows if r["setting"] == entry["setting"]]
        assert entry["seeds"] == len(mine)
        for key in ("iw_nll", "kl", "mi"):
            assert entry[key] == pytest.approx(statistics.fmean(r[key] for r in mine), abs=1e-9)
    for r in rows:
        assert r["mi"] <= r["kl"] + MI_TOL, r["unit"]
        assert r["test"]["iw"]["examples"] == rows[0]["test"]["iw"]["examples"], r["unit"]
    if record["complete"] and not record["quick"]:
        for s in record["settings"]:
            assert len([r for r in rows if r["setting"] == s["name"]]) == s["seeds"]


@pytest.mark.parametrize("path", [p for p in RECORDS if p.name.startswith("synthetic")],
                         ids=lambda p: p.name)
def test_synthetic_summary_is_the_mean_over_seeds(path):
    record = json.loads(path.read_text())
    rows = record["rows"]
    for entry in record["summary"]:
        mine = [r for r in rows if (r["setting"], r["mode"]) == (entry["setting"], entry["mode"])]
        assert entry["seeds"] == len(mine) >= 3 or record.get("quick")
        assert entry["bound"] == pytest.approx(statistics.fmean(r["bound"] for r in mine), abs=1e-3)
        for r in mine:
            assert r["mi"] <= r["kl"] + MI_TOL, r
            assert r["bound"] == pytest.approx(r["recon"] + r["kl"], abs=2e-3), r
            if "iw_nll" in r:  # a learned model's own -log p(x) cannot exceed its bound by much
                assert r["iw_nll"] <= r["bound"] + 0.1, r
    true = record["true_nll"]
    assert true["true_nll_se"] > 0 and "upper-biased" in true["estimator"]
    for r in rows:
        if r["setting"] == "Oracle Gen":  # bounds under the true generator lie above its NLL
            assert r["bound"] >= true["true_nll"] - 3 * true["true_nll_se"], r
