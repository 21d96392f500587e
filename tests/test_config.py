"""Configs and presets: the paper presets read back against the original code's set-ups
(../shared/notes/savae-reference.md, "Set-ups of the original" and "Checked against the original code's files")."""
import pytest

from savae_lite.build import model_config
from savae_lite.config import PRESETS, RunConfig, original_svi, preset


def test_yahoo_paper_matches_the_original_text_setup():
    cfg = preset("yahoo-paper")
    d, t, m = cfg.data, cfg.train, model_config(cfg, 20_000)
    assert (d.name, d.batch_size, d.max_len, d.vocab_size, d.by_length) == ("yahoo", 32, 200, 20_000, True)
    assert (m.emb_dim, m.enc_hidden, m.dec_hidden, m.latent_dim, m.dropout) == (512, 1024, 1024, 32, 0.5)
    assert m.init_range == 0.1  # every parameter ~ uniform(-0.1, 0.1)
    assert (t.optimizer, t.lr, t.grad_clip, t.epochs) == ("sgd", 1.0, 5.0, 30)
    assert (t.lr_schedule, t.decay_start_epoch, t.lr_decay, t.min_lr) == ("original", 15, 0.5, 0.03)
    # beta = 0.1, + 1 / (10 * batches) per batch: weight 1 after nine epochs
    assert (t.kl_start, t.kl_warmup_epochs) == (0.1, 9.0)
    s = t.svi
    assert (s.steps, s.lr_mu, s.lr_logvar, s.momentum, s.clip) == (20, 1 / 32, 1 / 32, 0.5, 5.0)
    assert t.iw_samples == 500


def test_omniglot_paper_matches_the_original_image_setup():
    cfg = preset("omniglot-paper")
    d, t, m = cfg.data, cfg.train, model_config(cfg)
    assert (d.name, d.batch_size) == ("omniglot", 50)
    assert (m.latent_dim, m.enc_channels, m.dec_layers, m.dec_channels) == (32, 64, 12, 32)
    assert m.kernel_sizes == (9, 9, 9, 7, 7, 7, 5, 5, 5, 3, 3, 3) and m.image_size == 28
    assert (t.optimizer, t.lr, t.epochs, t.grad_clip, t.decay_start_epoch) == ("adam", 1e-3, 100, 5.0, 0)
    assert (t.kl_start, t.kl_warmup_epochs) == (0.1, 9.0)
    s = t.svi
    assert (s.steps, s.lr_mu, s.lr_logvar, s.momentum, s.clip) == (20, 1 / 50, 1 / 50, 0.5, 5.0)


def test_every_preset_takes_its_svi_step_from_its_batch_size():
    for name in PRESETS:
        cfg = preset(name)
        assert cfg.train.svi.lr_mu == pytest.approx(1 / cfg.data.batch_size), name


def test_original_svi_is_per_example():
    assert original_svi(32, steps=7).with_steps(3).steps == 3
    assert original_svi(50).lr_mu == 1 / 50


def test_round_trip_and_legacy_records():
    cfg = preset("ptb-small")
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    old = cfg.to_dict()
    hvp = old["train"]["svi"].pop("hvp")
    old["train"]["hvp"] = hvp  # records written before the back-end moved into SVIConfig
    assert RunConfig.from_dict(old) == cfg


def test_test_time_svi_defaults_to_the_training_k():
    cfg = preset("ptb-small")
    assert cfg.test_svi() == cfg.train.svi
    cfg.train.test_svi_steps = 11
    assert cfg.test_svi().steps == 11 and cfg.test_svi().lr_mu == cfg.train.svi.lr_mu


def test_unknown_preset_names_the_flag():
    with pytest.raises(ValueError, match="--preset"):
        preset("nope")


def test_every_option_has_a_help_text_for_the_cli():
    import dataclasses

    from savae_lite.config import DataConfig, TrainConfig

    for cls in (DataConfig, TrainConfig):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help", "").strip(), f"{cls.__name__}.{f.name} has no help text"


def test_every_preset_round_trips_and_passes_validation():
    from savae_lite.train import validate_config

    for name in PRESETS:
        cfg = preset(name)
        assert RunConfig.from_dict(cfg.to_dict()) == cfg, name
        validate_config(cfg)
        assert preset(name) is not cfg and preset(name) == cfg  # a fresh object each call
        assert cfg.model_kind == ("image" if cfg.data.name == "omniglot" else "text"), name


def test_option_defaults_are_not_shared_between_instances():
    a, b = RunConfig(), RunConfig()
    a.model["dec_hidden"] = 7
    a.train.svi.steps = 3
    assert b.model == {} and b.train.svi.steps == 20
