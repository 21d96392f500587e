"""The posterior-collapse study (collapse.py): its units, their configs, the claim lock that lets two workers
share a suite, resuming (finished units are not trained again) and the record's summary over seeds."""
import json
import statistics
from pathlib import Path

import pytest

import savae_lite.collapse as collapse
from savae_lite.presets import preset
from savae_lite.svi import SVIConfig


def test_units_run_the_main_comparison_first():
    us = collapse.units()
    assert len(us) == sum(s.seeds for s in collapse.SETTINGS)
    many = [s.name for s in collapse.SETTINGS if s.seeds > 1]
    assert {"autoreg", "vae", "savae", "aggressive"} <= set(many)
    assert [(s.name, seed) for s, seed in us[:len(many)]] == [(name, 1) for name in many]
    assert [seed for _, seed in us[:3 * len(many)]] == [1] * len(many) + [2] * len(many) + [3] * len(many)
    assert all(s.seeds == 1 for s, _ in us[3 * len(many):])
    assert len({collapse.unit_name(s, seed) for s, seed in us}) == len(us)
    assert [s.name for s, _ in collapse.units(quick=True)] == ["autoreg", "vae+anneal", "savae", "aggressive"]


def test_unit_config_applies_the_setting(tmp_path):
    base = preset("ptb-collapse")
    by_name = {s.name: s for s in collapse.SETTINGS}
    cfg = collapse.unit_config(base, by_name["vae+word-dropout"], 2, tmp_path)
    assert cfg.train.mode == "vae" and cfg.train.seed == 2 and cfg.model["word_dropout"] == collapse.WORD_DROPOUT
    assert cfg.train.out_dir.startswith(str(tmp_path / "vae_word-dropout-s2-")) and not cfg.train.progress
    plain = collapse.unit_config(base, by_name["vae"], 1, tmp_path)
    assert plain.train.kl_start == 1.0 and base.train.kl_start == 0.1  # the base is not modified
    assert "word_dropout" not in base.model
    cfg.validate()


def test_a_claimed_unit_is_skipped_by_a_second_worker(tmp_path):
    with collapse.claimed(tmp_path / "u") as first:
        with collapse.claimed(tmp_path / "u") as second:
            assert first and not second
    with collapse.claimed(tmp_path / "u") as again:
        assert again


def tiny_base(name):
    cfg = preset("ptb-collapse-quick")
    cfg.data.max_sentences, cfg.data.max_len, cfg.data.vocab_size = 80, 12, 300
    cfg.model = {"emb_dim": 8, "enc_hidden": 8, "dec_hidden": 8, "latent_dim": 2}
    cfg.train.epochs, cfg.train.max_steps_per_epoch = 2, 2
    cfg.train.svi = SVIConfig(steps=2, lr_mu=0.03, lr_logvar=0.03)
    cfg.train.iw_samples, cfg.train.iw_max_examples, cfg.train.device = 3, 8, "cpu"
    return cfg


def test_suite_runs_resumes_and_summarises(tmp_path, monkeypatch):
    monkeypatch.setattr(collapse, "preset", tiny_base)
    keep = {"autoreg", "vae+anneal", "savae"}
    two_seeds = [(s, seed) for seed in (1, 2) for s in collapse.SETTINGS if s.name in keep]
    monkeypatch.setattr(collapse, "units", lambda quick=False: two_seeds)
    rec = collapse.run_collapse(work_dir=tmp_path, log=None)
    assert [r["setting"] for r in rec["rows"]] == [s.name for s, _ in two_seeds]
    json.dumps(rec)  # a JSON record
    vae = [r for r in rec["rows"] if r["setting"] == "vae+anneal"]
    summary = {e["setting"]: e for e in rec["summary"]}
    assert summary["vae+anneal"]["seeds"] == 2
    assert summary["vae+anneal"]["iw_nll"] == pytest.approx(statistics.fmean(r["iw_nll"] for r in vae))
    assert summary["vae+anneal"]["kl_sd"] == pytest.approx(statistics.stdev(r["kl"] for r in vae))
    assert summary["vae+anneal"]["time_vs_vae"] == pytest.approx(1.0)
    lm = [r for r in rec["rows"] if r["setting"] == "autoreg"][0]
    assert summary["autoreg"]["kl"] == 0.0 and lm["iw_nll"] == lm["test"]["iw"]["iw_nll"]
    assert lm["test"]["iw"]["examples"] == vae[0]["test"]["iw"]["examples"]  # the same test sentences
    for r in rec["rows"]:
        assert r["history"] and r["git_commit"] and r["epochs_run"] == 2
        if r["mode"] != "autoreg":
            assert {"nll_bound_no_refine", "nll_bound_refine", "kl_no_refine", "iw_nll", "mi", "au"} <= set(r)
            own = "refine" if r["mode"] == "savae" else "no_refine"  # the mode's own test-time q
            assert r["nll_bound"] == r["test"][own]["nll_bound"] and r["kl"] == r["test"][own]["kl"]

    class NoTraining:  # a re-run only collects: every unit is finished
        def __init__(self, *a, **k):
            raise AssertionError("a finished unit was trained again")

    monkeypatch.setattr("savae_lite.train.Trainer", NoTraining)
    again = collapse.run_collapse(work_dir=tmp_path, log=None)
    assert again["rows"] == rec["rows"]


def test_collect_waits_for_units_held_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setattr(collapse, "preset", tiny_base)
    only = [(s, 1) for s in collapse.SETTINGS if s.name == "vae+anneal"]
    monkeypatch.setattr(collapse, "units", lambda quick=False: only)
    folder = collapse.unit_config(tiny_base("x"), *only[0], tmp_path).train.out_dir
    with collapse.claimed(folder):
        assert collapse.run_collapse(work_dir=tmp_path, log=None) is None


def test_partial_record_and_resume_from_the_record_alone(tmp_path, monkeypatch):
    """train=False writes what has finished (complete: False, the rest listed); a later run whose work folder
    is gone re-uses the record's rows and trains only the missing units; another set-up's rows are not used."""
    monkeypatch.setattr(collapse, "preset", tiny_base)
    two = [(s, 1) for s in collapse.SETTINGS if s.name in ("vae+anneal", "autoreg")]
    monkeypatch.setattr(collapse, "units", lambda quick=False: two[:1])
    first = collapse.run_collapse(work_dir=tmp_path / "w1", log=None)
    monkeypatch.setattr(collapse, "units", lambda quick=False: two)
    part = collapse.run_collapse(work_dir=tmp_path / "w1", log=None, train=False)
    assert not part["complete"] and part["missing_units"] == [collapse.unit_name(*two[1])]
    assert [r["unit"] for r in part["rows"]] == [r["unit"] for r in first["rows"]]
    assert collapse.run_collapse(work_dir=tmp_path / "empty", log=None, train=False) is None

    trained = []
    real = __import__("savae_lite.train", fromlist=["Trainer"]).Trainer

    class Spy(real):
        def fit(self, *a, **k):
            trained.append(self.cfg.train.mode)
            return super().fit(*a, **k)

    monkeypatch.setattr("savae_lite.train.Trainer", Spy)
    full = collapse.run_collapse(work_dir=tmp_path / "w2", log=None, previous=json.loads(json.dumps(part)))
    assert trained == ["vae"] and full["complete"] and len(full["rows"]) == 2
    assert full["rows"][0]["test"] == first["rows"][0]["test"]

    other = tiny_base("x")
    other.train.lr = 0.5  # another set-up: the record's rows are not its units
    assert collapse.reusable_rows(part, other) == {}
    assert set(collapse.reusable_rows(part, tiny_base("x"))) == {collapse.unit_name(*two[0])}


def test_an_older_language_model_record_gets_its_subset_nll_when_collected(tmp_path, monkeypatch):
    """Records written before test_report gave a model without z its NLL on the IW examples: collect computes it
    from best.pt, on the same examples (the whole split's NLL would compare other sentences)."""
    monkeypatch.setattr(collapse, "preset", tiny_base)
    lm_setting = [s for s in collapse.SETTINGS if s.name == "autoreg"]
    monkeypatch.setattr(collapse, "units", lambda quick=False: [(lm_setting[0], 1)])
    rec = collapse.run_collapse(work_dir=tmp_path, log=None)
    folder = Path(collapse.unit_config(tiny_base("x"), lm_setting[0], 1, tmp_path).train.out_dir)
    saved = json.loads((folder / "results.json").read_text())
    new_iw = saved["test"].pop("iw")
    (folder / "results.json").write_text(json.dumps(saved))
    again = collapse.run_collapse(work_dir=tmp_path, log=None, train=False)
    got = again["rows"][0]["test"]["iw"]
    assert got["iw_nll"] == pytest.approx(new_iw["iw_nll"]) and got["examples"] == new_iw["examples"]
    assert again["rows"][0]["iw_nll"] == pytest.approx(rec["rows"][0]["iw_nll"])


def test_sweeps_change_one_thing_each_against_the_main_study():
    """Each sweep unit is the main study's seed-1 unit of its mode with only the named change, so its row stands
    beside that unit's; folder names stay plain."""
    base = preset("ptb-collapse")
    assert collapse.SWEEP_STUDY.base().to_dict() == base.to_dict()
    main = {s.mode: s for s in collapse.SETTINGS if s.name in ("autoreg", "vae+anneal", "savae", "aggressive")}
    for s in collapse.SWEEPS:
        name = collapse.unit_name(s, 1)
        assert name.replace("_", "").replace("-", "").isalnum()
        got = collapse.unit_config(base, s, 1, Path("w")).to_dict()
        ref = collapse.unit_config(base, main[s.mode], 1, Path("w")).to_dict()
        diff = {(part, k) for part in ("train", "model") for k in set(got[part]) | set(ref[part])
                if got[part].get(k) != ref[part].get(k) and k != "out_dir"}
        expected = ({("train", k) for k in s.train if s.train[k] != main[s.mode].train.get(k)}
                    | {("model", k) for k in s.model})
        assert diff == expected, (s.name, diff)
    k10 = collapse.unit_config(base, collapse.SWEEP_STUDY.setting("savae-K10"), 1, Path("w"))
    assert k10.train.svi.steps == 10 and k10.train.test_svi_steps is None  # test-time K follows training K
