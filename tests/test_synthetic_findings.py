"""Chapter 4's readings of the synthetic record (savae_lite.records.synthetic_findings) on made-up summaries and
on the committed record: the ranking sentence says no number twice, the paper's claims get a plain verdict, and
the tables carry their units."""
from pathlib import Path

import pytest

pytest.importorskip("pandas")

from savae_lite import records  # noqa: E402
from savae_lite.records import synthetic_findings as F  # noqa: E402

MODES = ("vae", "svi", "vae+svi", "vae+svi+kl", "savae")
RECORD = Path(__file__).resolve().parent.parent / "book" / "results" / "synthetic.json"


def record(oracle: dict, learned: dict, sd: float | None = 0.02) -> dict:
    """A record with the given mean test bounds per mode (every mode trained, one sd for all)."""
    summary = [{"setting": setting, "mode": m, "bound": b, "bound_sd": sd, "epochs_run": 3, "train_s": 0.4,
                "train_s_sd": 0.04}
               for setting, bounds in (("Oracle Gen", oracle), ("Learned Gen", learned)) for m, b in bounds.items()]
    return {"summary": summary, "true_nll": {"true_nll": 10.0}}


def bounds(**by_mode) -> dict:
    out = dict.fromkeys(MODES, 20.0)
    out.update({k.replace("_", "+"): v for k, v in by_mode.items()})
    return out


def frame(oracle=None, learned=None, sd=0.02):
    return F.summary_frame(record(oracle or bounds(), learned or bounds(), sd))


def test_the_ranking_sentence_names_savae_bound_once():
    s = frame(oracle=bounds(vae_svi_kl=11.40, savae=11.41))
    text = F.ranking_sentence(F.ranking(s, "Oracle Gen"))
    assert text.count("11.41") == 1 and "SA-VAE's mean bound" not in text
    s = frame(learned=bounds(vae_svi=18.08, svi=18.09, savae=18.18))
    text = F.ranking_sentence(F.ranking(s, "Learned Gen"))
    assert text.count("18.18") == 1 and text.endswith("SA-VAE's mean bound is 18.18 ± 0.02.")


@pytest.mark.parametrize("learned, sd, holds, words", [
    (bounds(savae=18.0, vae_svi=18.2), 0.02, True, "It holds in our run"),
    (bounds(savae=18.0, vae_svi=18.02), 0.02, True, "It holds only for the means"),
    (bounds(savae=18.18, vae_svi=18.08), 0.14, False, "within the seeds' spread, so our seeds do not show"),
    (bounds(savae=18.5, vae_svi=18.08), 0.02, False, "more than twice the seeds' spread"),
    (bounds(savae=18.5, vae_svi=18.08), None, None, "cannot judge"),
])
def test_the_best_bound_claim_is_answered_plainly(learned, sd, holds, words):
    claim = F.best_bound_claim(frame(learned=learned, sd=sd))
    assert claim["holds"] is holds and words in claim["sentence"]
    if holds is False:
        assert claim["sentence"].startswith("It does not hold") and claim["rival"] == "vae+svi"
        assert "the 2nd lowest of the 5 means" in claim["sentence"]


def test_a_place_has_an_ordinal_or_is_the_highest():
    claim = F.best_bound_claim(frame(learned=bounds(savae=18.1, vae_svi=18.0, svi=18.05)))
    assert "the 3rd lowest of the 5 means" in claim["sentence"]
    claim = F.best_bound_claim(frame(learned=bounds(savae=21.0, vae_svi=18.0)))
    assert "the highest of the 5 means" in claim["sentence"]


@pytest.mark.parametrize("oracle, refine, savae, lead", [
    (bounds(vae=12.0, svi=13.0, vae_svi=11.4, savae=11.41), True, True, "Both hold"),
    (bounds(vae=12.0, svi=13.0, vae_svi=11.4, savae=11.6), True, False, "The first holds"),
    (bounds(vae=11.41, svi=13.0, vae_svi=11.4, savae=11.3), False, True, "The second holds"),
])
def test_the_oracle_claims(oracle, refine, savae, lead):
    out = F.oracle_claims(frame(oracle=oracle))
    assert (out["refine_holds"], out["savae_holds"]) == (refine, savae) and out["sentence"].startswith(lead)


def test_bound_columns_carry_their_unit_and_train_time_a_decimal():
    for key in ("bound", "gap", "bound_no_refine", "iw_nll", "kl", "mi"):
        assert "nats" in F.COLUMNS[key]
    s = frame()
    shown = records.frame(s, F.table_columns(s), decimals=F.TABLE_DECIMALS)
    assert set(shown["train time (s)"]) == {"0.4 ± 0.0"}


@pytest.mark.skipif(not RECORD.exists(), reason="no committed record")
def test_the_committed_record_says_where_the_learned_gen_claim_fails():
    f = F.findings(records.load(RECORD))
    assert f["learned_claim"].startswith("It does not hold in our run: vae+svi's")
    assert f["oracle_ranking"].count(str(f["oracle_savae_bound"])) == 1
    assert f["syn_data"].startswith("5,000 sentences") and f["syn_seeds"] == "3 seeds" and f["syn_k"] == 10
