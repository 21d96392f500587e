"""No wrong result reaches a record: a run folder is locked while it trains, a study unit is reused only for the
set-up that produced it (config, seed, quick), a checkpoint's checksum covers everything in it, a diverged run
says so and exits non-zero, and records are strict JSON."""
import json
import math
import multiprocessing
import time
from pathlib import Path

import pytest
import torch

from savae_lite import checkpoint, keys, locks, results, study
from savae_lite.presets import preset
from savae_lite.study import Setting, Study
from savae_lite.svi import SVIConfig
from savae_lite.train import Trainer, TrainingDiverged


def tiny(out_dir, **train):
    cfg = preset("ptb-quick")
    cfg.data.max_sentences, cfg.data.max_len, cfg.data.vocab_size = 60, 10, 200
    cfg.model = {"emb_dim": 8, "enc_hidden": 8, "dec_hidden": 8, "latent_dim": 2}
    cfg.train.epochs, cfg.train.max_steps_per_epoch, cfg.train.mode = 1, 2, "vae"
    cfg.train.svi = SVIConfig(steps=2, lr_mu=0.03, lr_logvar=0.03)
    cfg.train.iw_samples, cfg.train.iw_max_examples, cfg.train.progress = 3, 6, False
    cfg.train.out_dir, cfg.train.device = str(out_dir), "cpu"
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg


def _hold(folder, ready, release):
    with locks.locked(folder):
        ready.set()
        release.wait(30)


def test_a_run_folder_is_locked_for_the_whole_run_and_names_its_holder(tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold, args=(tmp_path, ready, release))
    other.start()
    try:
        assert ready.wait(30)
        with pytest.raises(locks.FolderBusy, match=rf"--out-dir: {tmp_path} is in use by pid {other.pid}"):
            Trainer(tiny(tmp_path)).fit()
        assert not (tmp_path / "results.json").exists()  # refused before any work
    finally:
        release.set()
        other.join(30)
    Trainer(tiny(tmp_path)).fit()  # released when the holder ended
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "finished"


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold, args=(tmp_path, ready, release))
    other.start()
    assert ready.wait(30)
    other.kill()
    other.join(30)
    with locks.try_lock(tmp_path) as mine:
        assert mine


TOY = Study(name="toy", preset="ptb-collapse", quick_preset="ptb-collapse-quick",
            settings=(Setting("vae", "vae", seeds=2),), quick_settings=("vae",))


def test_units_of_other_seeds_or_quick_mode_live_in_other_folders(tmp_path):
    base = tiny(tmp_path)
    one = study.unit_config(base, TOY.setting("vae"), 1, tmp_path)
    assert one.train.out_dir != study.unit_config(base, TOY.setting("vae"), 2, tmp_path).train.out_dir
    assert one.train.out_dir != study.unit_config(base, TOY.setting("vae"), 1, tmp_path, quick=True).train.out_dir
    other_k = tiny(tmp_path, svi=SVIConfig(steps=3, lr_mu=0.03, lr_logvar=0.03))
    assert one.train.out_dir != study.unit_config(other_k, TOY.setting("vae"), 1, tmp_path).train.out_dir
    moved = tiny(tmp_path / "elsewhere", threads=1, checkpoint_every=7)
    assert one.train.out_dir == study.unit_config(moved, TOY.setting("vae"), 1, tmp_path).train.out_dir


def test_a_finished_record_of_another_set_up_is_an_error_naming_the_difference(tmp_path):
    cfg = tiny(tmp_path)
    other = tiny(tmp_path, seed=7)
    results.write_json({"status": "finished", "config": other.to_dict()}, tmp_path / "results.json")
    with pytest.raises(ValueError, match=r"another set-up.*train.seed: 7 vs 3435"):
        study.finished_record(tmp_path, cfg)
    assert study.finished_record(tmp_path, other)["status"] == "finished"


def test_a_new_config_field_with_its_default_changes_no_key(tmp_path):
    cfg = tiny(tmp_path).to_dict()
    older = json.loads(json.dumps(cfg))
    del older["train"]["on_nan"], older["data"]["by_length"]  # as a record written before these fields existed
    assert keys.config_key(older) == keys.config_key(cfg)
    assert keys.config_key(cfg, quick=True) != keys.config_key(cfg, quick=False)


def test_rows_of_a_previous_record_are_reused_only_under_their_key(tmp_path):
    base = tiny(tmp_path)
    cfg = study.unit_config(base, TOY.setting("vae"), 1, tmp_path)
    row = {"unit": "vae-s1", "setting": "vae", "seed": 1, "key": study.unit_key(cfg, False)}
    previous = {"experiment": "toy", "quick": False, "config": base.to_dict(), "rows": [row],
                "settings": [{"name": "vae", "mode": "vae", "train": {}, "model": {}}]}
    assert set(study.reusable_rows(TOY, previous, base)) == {"vae-s1"}
    assert study.reusable_rows(TOY, previous, base, quick=True) == {}  # a full row is not a quick one
    assert study.reusable_rows(TOY, previous, tiny(tmp_path, lr=0.5)) == {}
    legacy = {**previous, "rows": [{k: v for k, v in row.items() if k != "key"}]}
    assert set(study.reusable_rows(TOY, legacy, base)) == {"vae-s1"}  # older records: base and setting match
    assert study.reusable_rows(TOY, {**legacy, "quick": True}, base) == {}  # quick rows never fill a full study
    changed = {**legacy, "settings": [{"name": "vae", "mode": "vae", "train": {"lr": 0.5}, "model": {}}]}
    assert study.reusable_rows(TOY, changed, base) == {}


def test_the_checksum_covers_the_resume_position_not_only_the_tensors(tmp_path):
    ck = {"model": {"w": torch.ones(3)}, "state": {"epoch": 1, "step_in_epoch": 8}, "history": [{"a": 1.5}]}
    checkpoint.atomic_save(ck, tmp_path / "c.pt")
    back = torch.load(tmp_path / "c.pt", weights_only=True)
    assert back["checksum"].startswith("full:")
    checkpoint.load(tmp_path / "c.pt")
    back["state"]["step_in_epoch"] = 10  # a flipped bit in the pickled part
    torch.save(back, tmp_path / "d.pt")
    with pytest.raises(ValueError, match="checksum mismatch"):
        checkpoint.load(tmp_path / "d.pt")
    legacy = {**ck, "checksum": checkpoint.tensor_checksum(ck, everything=False)}  # an older file still loads
    torch.save(legacy, tmp_path / "e.pt")
    assert checkpoint.load(tmp_path / "e.pt")["state"]["step_in_epoch"] == 8


def test_a_diverged_run_ends_with_its_status_and_strict_json(tmp_path):
    cfg = tiny(tmp_path, lr=1e6, grad_clip=0.0, epochs=2, on_nan="skip")
    with pytest.raises(TrainingDiverged, match="diverged"):
        Trainer(cfg).fit()
    text = (tmp_path / "results.json").read_text()
    rec = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert rec["status"] == "diverged" and rec["diverged"]
    assert "test" not in rec


def test_records_are_strict_json_with_the_reason_for_each_null(tmp_path):
    path = results.write_json({"a": 1.0, "test": {"mi": math.nan, "kl": [0.5, -math.inf]}}, tmp_path / "r.json")
    rec = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(c))
    assert rec["test"] == {"mi": None, "kl": [0.5, None]}
    assert rec["non_finite"] == {"test.mi": "nan", "test.kl[1]": "-inf"}
    assert results.non_finite({"x": {"y": [1.0, math.inf]}}) == ["x.y[1]"]


def test_a_hold_is_described_in_the_lock_file(tmp_path):
    with locks.locked(tmp_path):
        info = locks.holder(tmp_path)
        assert info["pid"] > 0 and "started" in info and time.strftime("%Y") in info["started"]
    assert Path(tmp_path / locks.RUN_LOCK).exists()


def test_a_legacy_row_whose_setting_overrides_the_svi_config_is_reused(tmp_path):
    # the record stores an SVIConfig override as its dict of fields (study_record.plain); a legacy row of such a
    # setting (the sentence study's savae-K10-s1) must still count, and must not once K differs
    k10 = Setting("savae-K10", "savae", train={"svi": SVIConfig(steps=10)})
    toy = Study(name="toy", preset="ptb-collapse", quick_preset="ptb-collapse-quick", settings=(k10,),
                quick_settings=("savae-K10",), seeds=(1,))
    base = tiny(tmp_path)
    row = {"unit": "savae-K10-s1", "setting": "savae-K10", "seed": 1}
    stored = {"name": "savae-K10", "mode": "savae", "train": study.plain(k10.train), "model": {}}
    legacy = {"experiment": "toy", "quick": False, "config": base.to_dict(), "rows": [row], "settings": [stored]}
    assert set(study.reusable_rows(toy, json.loads(json.dumps(legacy)), base)) == {"savae-K10-s1"}
    other = {**stored, "train": study.plain({"svi": SVIConfig(steps=5)})}
    assert study.reusable_rows(toy, {**legacy, "settings": [other]}, base) == {}
