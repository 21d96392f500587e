"""The study machinery shared by the text and image studies (study.py): a study's definition, unit order and
names, configs, the claim lock, partial records, re-use of an earlier record's rows and the summary over seeds."""
import json
import statistics
from pathlib import Path

import pytest

from savae_lite import study
from savae_lite.presets import preset
from savae_lite.study import Setting, Study
from savae_lite.svi import SVIConfig

SETTINGS = (
    Setting("lm", "autoreg"),
    Setting("vae", "vae", seeds=2),
    Setting("vae+cold", "vae", train={"kl_start": 1.0}),
    Setting("savae", "savae", seeds=3, model={"dec_hidden": 6}),
)
TOY = Study(name="toy", preset="ptb-collapse", quick_preset="ptb-collapse-quick", settings=SETTINGS,
            quick_settings=("savae", "lm"), baseline="vae")


def tiny_base():
    cfg = preset("ptb-collapse-quick")
    cfg.data.max_sentences, cfg.data.max_len, cfg.data.vocab_size = 60, 10, 200
    cfg.model = {"emb_dim": 8, "enc_hidden": 8, "dec_hidden": 8, "latent_dim": 2}
    cfg.train.epochs, cfg.train.max_steps_per_epoch = 2, 2
    cfg.train.svi = SVIConfig(steps=2, lr_mu=0.03, lr_logvar=0.03)
    cfg.train.iw_samples, cfg.train.iw_max_examples = 3, 6
    return cfg


def folder(work, name, seed, base=None, quick=False, toy=None):
    """The work folder of unit (``name``, ``seed``): ``<unit>-<key>``."""
    return Path(study.unit_config(base or tiny_base(), (toy or TOY).setting(name), seed, work, quick).train.out_dir)


def test_units_order_first_seeds_then_later_seeds_then_single_seed_settings():
    order = [(s.name, seed) for s, seed in study.units(TOY)]
    assert order == [("vae", 1), ("savae", 1), ("vae", 2), ("savae", 2), ("savae", 3), ("lm", 1), ("vae+cold", 1)]
    assert [(s.name, seed) for s, seed in study.units(TOY, quick=True)] == [("lm", 1), ("savae", 1)]
    names = [study.unit_name(s, seed) for s, seed in study.units(TOY)]
    assert len(set(names)) == len(names) and "vae_cold-s1" in names


def test_a_study_rejects_inconsistent_definitions():
    with pytest.raises(ValueError, match="repeat"):
        Study("x", "ptb-collapse", "ptb-collapse-quick", SETTINGS + (Setting("lm", "vae"),), ())
    with pytest.raises(ValueError, match="unknown setting"):
        Study("x", "ptb-collapse", "ptb-collapse-quick", SETTINGS, ("nope",))
    with pytest.raises(ValueError, match="unknown setting"):
        Study("x", "ptb-collapse", "ptb-collapse-quick", SETTINGS, (), baseline="nope")
    with pytest.raises(ValueError, match="seeds"):
        Study("x", "ptb-collapse", "ptb-collapse-quick", SETTINGS, (), seeds=(1, 2))
    with pytest.raises(ValueError, match="vae"):
        TOY.setting("nope")
    assert TOY.setting("savae").seeds == 3


def test_unit_config_applies_overrides_without_touching_the_base(tmp_path):
    base = tiny_base()
    cfg = study.unit_config(base, TOY.setting("vae+cold"), 2, tmp_path)
    assert (cfg.train.mode, cfg.train.seed, cfg.train.kl_start) == ("vae", 2, 1.0)
    assert cfg.train.out_dir == str(tmp_path / f"vae_cold-s2-{study.unit_key(cfg, False)}") and not cfg.train.progress
    assert study.unit_config(base, TOY.setting("savae"), 1, tmp_path).model["dec_hidden"] == 6
    assert base.train.kl_start == 0.1 and base.model["dec_hidden"] == 8 and base.train.progress


def test_the_claim_lock_is_exclusive_and_released(tmp_path):
    with study.claimed(tmp_path / "u") as first, study.claimed(tmp_path / "u") as second:
        assert first and not second
    with study.claimed(tmp_path / "u") as again:
        assert again
    assert study.finished_record(tmp_path / "u") is None
    (tmp_path / "u" / "results.json").write_text(json.dumps({"status": "running"}))
    assert study.finished_record(tmp_path / "u") is None
    (tmp_path / "u" / "results.json").write_text(json.dumps({"status": "finished", "x": 1}))
    assert study.finished_record(tmp_path / "u")["x"] == 1


def test_run_partial_resume_reuse_and_summary(tmp_path, monkeypatch):
    """One unit trained; a partial record lists the rest; a held unit makes the collecting run wait; a run whose
    work folder is gone re-uses the partial record's rows and trains only the missing units; the summary
    averages seeds and divides epoch times by the baseline's."""
    todo = [(TOY.setting("vae"), 1), (TOY.setting("vae"), 2), (TOY.setting("lm"), 1)]
    kw = dict(log=None, base=tiny_base(), device="cpu")
    first = study.run_study(TOY, work_dir=tmp_path / "w1", todo=todo[:1], **kw)
    assert first["experiment"] == "toy" and first["complete"] and first["missing_units"] == []
    with study.claimed(folder(tmp_path / "w1", "vae", 2)):  # another worker trains it
        assert study.run_study(TOY, work_dir=tmp_path / "w1", todo=todo[:2], **kw) is None
    part = study.run_study(TOY, work_dir=tmp_path / "w1", todo=todo, train=False, **kw)
    assert not part["complete"] and part["missing_units"] == ["vae-s2", "lm-s1"]
    assert [s["name"] for s in part["settings"]] == ["vae"]
    assert study.run_study(TOY, work_dir=tmp_path / "empty", todo=todo, train=False, **kw) is None

    trained = []
    real = __import__("savae_lite.train", fromlist=["Trainer"]).Trainer

    class Spy(real):
        def fit(self, *a, **k):
            trained.append(self.cfg.train.out_dir.rsplit("/", 1)[-1].rsplit("-", 1)[0])
            return super().fit(*a, **k)

    monkeypatch.setattr("savae_lite.train.Trainer", Spy)
    previous = json.loads(json.dumps(part))
    full = study.run_study(TOY, work_dir=tmp_path / "w2", todo=todo, previous=previous, **kw)
    assert trained == ["vae-s2", "lm-s1"] and full["complete"]
    assert [r["unit"] for r in full["rows"]] == ["vae-s1", "vae-s2", "lm-s1"]
    assert full["rows"][0]["test"] == first["rows"][0]["test"]
    json.dumps(full)

    summary = {e["setting"]: e for e in full["summary"]}
    vae = [r for r in full["rows"] if r["setting"] == "vae"]
    assert summary["vae"]["seeds"] == 2 and summary["vae"]["time_vs_vae"] == pytest.approx(1.0)
    assert summary["vae"]["nll_bound"] == pytest.approx(statistics.fmean(r["nll_bound"] for r in vae))
    assert summary["vae"]["kl_sd"] == pytest.approx(statistics.stdev(r["kl"] for r in vae))
    assert summary["lm"]["nll_bound_sd"] is None and summary["lm"]["kl"] == 0.0
    assert summary["lm"]["time_vs_vae"] == pytest.approx(
        summary["lm"]["train_time_per_epoch_s"] / summary["vae"]["train_time_per_epoch_s"])

    other_study = Study("other", "ptb-collapse", "ptb-collapse-quick", SETTINGS, ())
    assert study.reusable_rows(other_study, previous, tiny_base()) == {}  # another study's record
    changed = tiny_base()
    changed.train.lr = 0.5
    assert study.reusable_rows(TOY, previous, changed) == {}  # another set-up
    moved = tiny_base()
    moved.train.device, moved.train.out_dir, moved.data.data_dir = "cuda", "elsewhere", "/data"
    assert set(study.reusable_rows(TOY, previous, moved)) == {"vae-s1"}  # folders and devices do not matter


def test_no_cost_ratio_across_kinds_of_device():
    rows = [{"setting": "vae", "mode": "vae", "device": "cpu", "train_time_per_epoch_s": 20.0},
            {"setting": "savae", "mode": "savae", "device": "cuda:0", "train_time_per_epoch_s": 10.0},
            {"setting": "savae2", "mode": "savae", "device": "cpu", "train_time_per_epoch_s": 100.0}]
    out = {e["setting"]: e for e in study.summarize(rows, baseline="vae")}
    assert "time_vs_vae" not in out["savae"] and out["savae"]["devices"] == ["cuda"]
    assert out["savae2"]["time_vs_vae"] == 5.0


def test_summarize_without_a_baseline_has_no_cost_ratio():
    rows = [{"setting": "a", "mode": "vae", "kl": 1.0, "train_time_per_epoch_s": 2.0},
            {"setting": "a", "mode": "vae", "kl": 3.0, "train_time_per_epoch_s": 4.0}]
    (entry,) = study.summarize(rows)
    assert entry["kl"] == 2.0 and entry["kl_sd"] == pytest.approx(2 ** 0.5) and "time_vs_vae" not in entry
    assert study.summarize(rows, baseline="a")[0]["time_vs_vae"] == 1.0


def test_a_continued_setting_equals_a_fresh_run_of_the_longer_schedule(tmp_path):
    """``continues``: the longer setting starts from the shorter one's final checkpoint and ends where a fresh run
    of the longer schedule ends, step for step; a setting may only continue one with the same set-up."""
    short, long_ = Setting("vae", "vae"), Setting("vae-long", "vae", train={"epochs": 4}, continues="vae")
    toy = Study("toy", "ptb-collapse", "ptb-collapse-quick", (short, long_), ())
    logs = []
    kw = dict(base=tiny_base(), device="cpu")
    rec = study.run_study(toy, work_dir=tmp_path / "w", log=logs.append, **kw)
    w = tmp_path / "w"
    assert f"{folder(w, 'vae-long', 1, toy=toy).name}: starts from {folder(w, 'vae', 1, toy=toy).name}'s final " \
        "checkpoint" in logs
    fresh = Study("fresh", "ptb-collapse", "ptb-collapse-quick", (Setting("vae-long", "vae", train={"epochs": 4}),),
                  ())
    ref = study.run_study(fresh, work_dir=tmp_path / "f", log=None, **kw)
    cont, alone = rec["rows"][1], ref["rows"][0]
    assert cont["epochs_run"] == alone["epochs_run"] == 4 and rec["rows"][0]["epochs_run"] == 2
    drop = ("train_time_s",)
    assert ([{k: v for k, v in e.items() if k not in drop} for e in cont["history"]]
            == [{k: v for k, v in e.items() if k not in drop} for e in alone["history"]])
    assert cont["test"] == alone["test"]
    assert json.loads((folder(w, "vae-long", 1, toy=toy) / "results.json").read_text())["resumed"]  # not retrained
    assert not study.start_from(folder(w, "vae", 1, toy=toy), folder(w, "vae-long", 1, toy=toy))  # has its own
    assert not study.start_from(tmp_path / "nowhere", tmp_path / "x")  # nothing finished to start from
    for bad in (Setting("b", "savae", train={"epochs": 4}, continues="vae"),
                Setting("b", "vae", train={"epochs": 4, "lr": 0.5}, continues="vae"),
                Setting("b", "vae", continues="missing")):
        with pytest.raises(ValueError, match="continues"):
            Study("toy", "ptb-collapse", "ptb-collapse-quick", (short, bad), ())


def test_a_stop_signal_during_a_units_test_stops_the_study_before_the_next_unit(tmp_path, monkeypatch):
    """SIGTERM while a finished unit is being tested: that unit completes, the study raises TrainingInterrupted
    instead of starting the next unit, and a re-run goes on from there."""
    import os
    import signal

    from savae_lite.train import Trainer, TrainingInterrupted

    real_finish = Trainer._finish

    def finish_with_a_signal(self):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler only records it
        return real_finish(self)

    monkeypatch.setattr(Trainer, "_finish", finish_with_a_signal)
    todo = [(TOY.setting("vae"), 1), (TOY.setting("lm"), 1)]
    kw = dict(log=None, base=tiny_base(), device="cpu", todo=todo)
    with pytest.raises(TrainingInterrupted, match="SIGTERM"):
        study.run_study(TOY, work_dir=tmp_path, **kw)
    assert study.finished_record(folder(tmp_path, "vae", 1)) is not None and not folder(tmp_path, "lm", 1).exists()
    monkeypatch.setattr(Trainer, "_finish", real_finish)
    assert study.run_study(TOY, work_dir=tmp_path, **kw)["complete"]
