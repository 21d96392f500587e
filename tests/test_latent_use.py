"""The image study (latent_use.py): its settings and depth sweep, their configs, a tiny end-to-end run with the
quick preset, the record, and the experiment's registration (resumable, ``--partial``).

Chapter: *Image VAEs with a gated PixelCNN decoder*.
"""
import json

import pytest

from savae_lite import experiments, latent_use, study
from savae_lite.build import model_config
from savae_lite.config import RunConfig
from savae_lite.presets import preset


def test_settings_modes_seeds_and_depth_sweep():
    by_name = {s.name: s for s in latent_use.SETTINGS}
    assert list(by_name)[:6] == ["autoreg", "vae", "svi", "vae+svi", "vae+svi+kl", "savae"]
    assert {n for n, s in by_name.items() if s.seeds == 3} == {"vae", "savae"}
    sweep = {n: s for n, s in by_name.items() if "-depth" in n}
    assert set(sweep) == {f"{m}-depth{d}" for m in ("vae", "savae") for d in latent_use.SWEEP_DEPTHS}
    assert latent_use.BASE_DEPTH not in latent_use.SWEEP_DEPTHS
    assert min(latent_use.SWEEP_DEPTHS) < latent_use.BASE_DEPTH < max(latent_use.SWEEP_DEPTHS)
    for s in sweep.values():
        assert s.seeds == 1 and s.mode == s.name.split("-")[0]
        assert len(s.model["kernel_sizes"]) == s.model["dec_layers"]
    long_ = {n: s for n, s in by_name.items() if n.endswith("-long")}
    assert set(long_) == {"vae-long", "savae-long"}
    for s in long_.values():  # the main set-up for longer, continuing the main table's seed-1 run
        assert s.continues == s.mode and s.train == {"epochs": latent_use.LONG_EPOCHS} and not s.model
        assert latent_use.LONG_EPOCHS > latent_use.STUDY.base().train.epochs
    order = [(s.name, seed) for s, seed in latent_use.units()]
    assert order[:6] == [("vae", 1), ("savae", 1), ("vae", 2), ("savae", 2), ("vae", 3), ("savae", 3)]
    assert len(order) == sum(s.seeds for s in latent_use.SETTINGS) == 16
    assert latent_use.STUDY.baseline == "vae" and latent_use.STUDY.name == "latent-use"
    assert {n for n, _ in order[-6:-2]} == set(sweep)  # the longer runs last, the VAE's first
    assert order[-2:] == [("vae-long", 1), ("savae-long", 1)]
    assert [s.name for s in latent_use.long_settings(("savae", "vae"))] == ["savae-long", "vae-long"]
    with pytest.raises(ValueError, match="depth"):
        latent_use.depth_model(3)


@pytest.mark.parametrize("quick", [False, True])
def test_every_unit_config_is_valid_with_the_original_warm_up(tmp_path, quick):
    base = latent_use.STUDY.base(quick)
    assert base.data.name == "omniglot" and base.model_kind == "image"
    assert RunConfig.from_dict(json.loads(json.dumps(base.to_dict()))).to_dict() == json.loads(
        json.dumps(base.to_dict()))  # survives a JSON round trip, so a record's rows can be re-used
    for setting, seed in latent_use.units(quick):
        cfg = study.unit_config(base, setting, seed, tmp_path)
        cfg.validate()
        assert cfg.train.kl_start == 0.1 and cfg.train.kl_warmup_epochs > 0
        mc = model_config(cfg)
        if "-depth" in setting.name:
            assert mc.dec_layers == int(setting.name.rsplit("depth", 1)[1])
        elif not quick:
            assert mc.dec_layers == latent_use.BASE_DEPTH


def test_the_study_preset_is_a_reduction_of_the_paper():
    paper, small = preset("omniglot-paper"), preset("omniglot-study")
    assert (small.data.batch_size, small.train.optimizer, small.train.lr) == (50, "adam", 1e-3)
    assert small.train.svi.momentum == paper.train.svi.momentum and small.train.svi.lr_mu == paper.train.svi.lr_mu
    assert small.train.epochs < paper.train.epochs and small.data.max_images < 17_280
    assert model_config(small).image_size == 28 and model_config(small).latent_dim == 32


def test_tiny_run_end_to_end_and_registration(tmp_path, monkeypatch):
    """Two units of the quick preset, cut further; the record has the study's structure; the experiment runner
    writes it, and ``--partial`` writes a partial record without training."""
    def tiny(name):
        cfg = preset(name)
        cfg.data.max_images = 60
        cfg.train.max_steps_per_epoch, cfg.train.iw_samples, cfg.train.iw_max_examples = 2, 3, 6
        return cfg

    monkeypatch.setattr(study, "preset", tiny)
    todo = [(latent_use.STUDY.setting("vae"), 1), (latent_use.STUDY.setting("savae-depth2"), 1)]
    monkeypatch.setattr(study, "units", lambda s, quick=False: todo)
    monkeypatch.chdir(tmp_path)
    assert experiments.run("latent-use", quick=True, device="cpu", out="rec.json") == 0
    rec = json.loads((tmp_path / "rec.json").read_text())
    assert rec["experiment"] == "latent-use" and rec["quick"] and rec["complete"]
    assert [r["unit"] for r in rec["rows"]] == ["vae-s1", "savae-depth2-s1"]
    assert rec["config"]["data"]["name"] == "omniglot" and rec["config"]["model"]["dec_layers"] == 2
    deep = rec["rows"][1]
    assert deep["mode"] == "savae" and deep["epochs_run"] == 2 and deep["history"]
    assert {"nll_bound", "iw_nll", "kl", "mi", "au", "nll_bound_no_refine", "kl_refine"} <= set(deep)
    assert deep["nll_bound"] == deep["test"]["refine"]["nll_bound"]  # savae's own test-time q is refined
    assert [s["name"] for s in rec["settings"]] == ["vae", "savae-depth2"]
    assert rec["settings"][1]["model"]["dec_layers"] == 2
    assert {e["setting"] for e in rec["summary"]} == {"vae", "savae-depth2"}
    assert rec["summary"][0]["time_vs_vae"] == pytest.approx(1.0)
    assert len(list((tmp_path / "runs" / "rec.units").glob("savae-depth2-s1-*/results.json"))) == 1

    more = todo + [(latent_use.STUDY.setting("autoreg"), 1)]
    monkeypatch.setattr(study, "units", lambda s, quick=False: more)
    assert experiments.run("latent-use", quick=True, device="cpu", out="rec.json", partial=True) == 0
    part = json.loads((tmp_path / "rec.json").read_text())
    assert not part["complete"] and part["missing_units"] == ["autoreg-s1"]
    assert [r["unit"] for r in part["rows"]] == ["vae-s1", "savae-depth2-s1"]
    with pytest.raises(ValueError, match="--partial"):
        experiments.run("synthetic", quick=True, partial=True)
