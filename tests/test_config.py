"""Configs and presets: the paper presets read back against the original code's set-ups
(../shared/notes/savae-reference.md, "Set-ups of the original" and "Checked against the original code's files")."""
import math
import os

import pytest

from savae_lite.build import model_config
from savae_lite.config import RunConfig
from savae_lite.presets import PRESETS, original_svi, preset


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
    from savae_lite.validation import validate

    for name in PRESETS:
        cfg = preset(name)
        assert RunConfig.from_dict(cfg.to_dict()) == cfg, name
        validate(cfg)
        assert preset(name) is not cfg and preset(name) == cfg  # a fresh object each call
        assert cfg.model_kind == ("image" if cfg.data.name == "omniglot" else "text"), name


def test_option_defaults_are_not_shared_between_instances():
    a, b = RunConfig(), RunConfig()
    a.model["dec_hidden"] = 7
    a.train.svi.steps = 3
    assert b.model == {} and b.train.svi.steps == 20


# ---------------------------------------------------------------------------------- validation (config layer)
# One row per probe of the issue "refuses bad input before it starts": each bad value is refused by
# RunConfig.validate() with a ValueError whose message starts with the CLI flag of the field.
def _set(cfg, path, value):
    *parents, name = path.split(".")
    target = cfg
    for part in parents:
        target = getattr(target, part)
    if isinstance(target, dict):
        target[name] = value
    else:
        setattr(target, name, value)
    return cfg


def _refused(path, value, flag, name="ptb-quick"):
    cfg = _set(preset(name), path, value)
    with pytest.raises(ValueError) as err:
        cfg.validate()
    message = str(err.value)
    assert message.startswith(flag + ":"), message
    assert "\n" not in message
    return message


def test_kl_warmup_epochs_inf_is_refused():  # was an OverflowError traceback
    assert "finite" in _refused("train.kl_warmup_epochs", math.inf, "--kl-warmup-epochs")


def test_negative_kl_start_is_refused():  # was an OverflowError from the perplexity
    assert _refused("train.kl_start", -5.0, "--kl-start") == "--kl-start: must be finite and in [0, 1], got -5.0"


@pytest.mark.parametrize("path,value,flag", [("train.kl_start", math.nan, "--kl-start"),
                                             ("train.kl_start", 1.5, "--kl-start"),
                                             ("train.kl_warmup_epochs", -1.0, "--kl-warmup-epochs"),
                                             ("train.kl_warmup_epochs", math.nan, "--kl-warmup-epochs")])
def test_annealing_settings_that_silently_switched_it_off_are_refused(path, value, flag):
    message = _refused(path, value, flag)
    if math.isnan(value):
        assert message == f"{flag}: must be finite and {'in [0, 1]' if 'start' in flag else '>= 0'}, got nan"


@pytest.mark.parametrize("value", [-2, 0, 2.5])
def test_max_steps_per_epoch_below_one_is_refused(value):  # -2 trained on all but the last 2 batches
    _refused("train.max_steps_per_epoch", value, "--max-steps-per-epoch")


@pytest.mark.parametrize("path,value,flag", [
    ("train.lr", math.nan, "--lr"), ("train.lr", math.inf, "--lr"), ("train.lr", 0.0, "--lr"),
    ("train.svi.lr_mu", -1.0, "--svi-lr-mu"), ("train.svi.lr_logvar", math.nan, "--svi-lr-logvar"),
    ("train.grad_clip", -1.0, "--grad-clip"), ("train.lr_decay", 0.0, "--lr-decay"),
    ("train.lr_decay", 2.0, "--lr-decay"), ("train.min_lr", -0.1, "--min-lr"),
    ("train.checkpoint_every", -5, "--checkpoint-every"), ("train.iw_samples", -3, "--iw-samples"),
    ("train.iw_max_examples", 0, "--iw-max-examples"), ("train.test_svi_steps", -2, "--test-svi-steps"),
    ("train.svi.steps", -1, "--train-svi-steps"), ("train.svi.momentum", 5.0, "--svi-momentum"),
    ("train.svi.momentum", 1.0, "--svi-momentum"), ("train.svi.clip", 0.0, "--svi-clip"),
    ("train.svi.hvp", "magic", "--hvp"), ("train.decay_start_epoch", -1, "--decay-start-epoch"),
    ("train.epochs", 0, "--epochs"), ("train.epochs", 2.0, "--epochs"), ("train.seed", -1, "--seed"),
    ("train.seed", 2**40, "--seed"), ("train.progress", "yes", "--progress"), ("train.out_dir", "", "--out-dir"),
    ("train.mode", "magic", "--mode"), ("train.optimizer", "rmsprop", "--optimizer"),
    ("train.on_nan", "ignore", "--on-nan"), ("train.lr_schedule", "cosine", "--lr-schedule"),
    ("data.batch_size", 0, "--batch-size"), ("data.download", "yes", "--download"),
    ("data.name", "imagenet", "--data"), ("data.vocab_size", 4, "--vocab-size"), ("data.max_len", 0, "--max-len"),
    ("data.genre", "answers", "--genre"), ("data.by_length", 1, "--by-length"),
    ("data.omniglot_source", "png", "--omniglot-source"), ("data.max_images", 0, "--max-images"),
    ("model_preset", "huge", "--model-preset"),
])
def test_settings_accepted_without_a_word_are_refused(path, value, flag):
    _refused(path, value, flag)


@pytest.mark.parametrize("path,value,flag", [
    ("model.dec_hidden", -4, "--model dec_hidden"), ("model.latent_dim", 0, "--model latent_dim"),
    ("model.emb_dim", 3.5, "--model emb_dim"), ("model.dropout", 1.0, "--model dropout"),
    ("model.word_dropout", -0.1, "--model word_dropout"), ("model.init_range", 0.0, "--model init_range"),
    ("model.z_at", "middle", "--model z_at"), ("model.dropout", "abc", "--model dropout"),
    ("model.wings", 3, "--model"), ("data.max_sentences", 0, "--max-sentences"),
])
def test_errors_name_the_flag_not_another_field(path, value, flag):
    """--model dec_hidden=-4 named no flag, --max-sentences 0 blamed max_len."""
    message = _refused(path, value, flag)
    assert "max_len" not in message


@pytest.mark.parametrize("path,value,flag", [
    ("model.dec_layers", 4, "--model dec_layers"), ("model.kernel_sizes", [3, 4, 3], "--model kernel_sizes"),
    ("model.kernel_sizes", [5, 3], "--model kernel_sizes"), ("model.image_size", 0, "--model image_size"),
])
def test_image_model_overrides_are_checked_against_the_image_config(path, value, flag):
    pytest.importorskip("savae_lite.models.image")
    _refused(path, value, flag, name="omniglot-quick")


def test_edge_values_that_mean_something_are_accepted():
    cfg = preset("ptb-quick")
    t = cfg.train
    t.kl_start, t.kl_warmup_epochs, t.grad_clip, t.checkpoint_every, t.iw_samples = 1.0, 0, 0.0, 0, 0
    t.lr_decay, t.min_lr, t.decay_start_epoch, t.test_svi_steps, t.max_steps_per_epoch = 1.0, 0.0, 0, 0, None
    t.svi.steps, t.svi.clip, t.svi.momentum, t.svi.lr_logvar = 0, None, 0.0, 0.0
    cfg.model.update({"dropout": 0.0, "init_range": None, "z_at": "output", "dec_hidden": 1})
    cfg.validate()
    t.kl_start, t.kl_warmup_epochs, t.lr = 0, 2, 3  # integers where floats are expected
    cfg.validate()


def test_python_api_and_trainer_get_the_same_checks(tmp_path):
    from savae_lite.train import Trainer
    from savae_lite.validation import validate

    cfg = preset("ptb-quick")
    cfg.train.out_dir = str(tmp_path / "run")
    cfg.train.kl_start = math.nan
    for check in (validate, RunConfig.validate, Trainer):
        with pytest.raises(ValueError, match=r"^--kl-start: must be finite and in \[0, 1\], got nan$"):
            check(cfg)
    assert not (tmp_path / "run").exists()  # refused before the out-dir is even created


def test_data_set_and_model_family_must_match():
    cfg = preset("ptb-quick")
    cfg.data.name = "omniglot"
    with pytest.raises(ValueError, match="^--data omniglot needs an image model"):
        cfg.validate()


def test_from_dict_names_unknown_fields():
    d = preset("ptb-quick").to_dict()
    d["train"]["bogus"] = 1
    d["data"]["colour"] = "red"
    with pytest.raises(ValueError, match=r"unknown config field\(s\) data.colour, train.bogus"):
        RunConfig.from_dict(d)
    with pytest.raises(ValueError, match="config section train"):
        RunConfig.from_dict({"train": 3})


# ---------------------------------------------------------------------------------- the output folder
def test_out_dir_that_is_a_file_is_refused(tmp_path):
    from savae_lite.validation import check_out_dir

    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match=r"^--out-dir: .*f exists and is not a folder"):
        check_out_dir(tmp_path / "f")
    with pytest.raises(ValueError, match=r"^--out-dir: cannot create the folder"):
        check_out_dir(tmp_path / "f" / "run")


def test_out_dir_not_writable_is_refused(tmp_path, monkeypatch):
    from savae_lite import preflight, validation

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root ignores the mode bits: make the probe's write fail instead
            def refuse(*args, **kwargs):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(preflight.tempfile, "mkstemp", refuse)
        with pytest.raises(ValueError, match=r"^--out-dir: the folder .*locked is not writable \(Permission denied\)"):
            validation.check_out_dir(locked)
    finally:
        locked.chmod(0o755)


def test_missing_out_dir_is_created_and_the_probe_leaves_nothing(tmp_path):
    from savae_lite.validation import check_out_dir

    out = check_out_dir(tmp_path / "a" / "b")
    assert out.is_dir() and list(out.iterdir()) == []
