"""Every training mode runs on text and images, writes a results file, and resumes exactly."""
import json

import pytest
import torch

from savae_lite.build import Splits
from savae_lite.config import DataConfig, RunConfig, TrainConfig
from savae_lite.modes import MODES
from savae_lite.svi import SVIConfig
from savae_lite.train import Trainer
from tests.conftest import tiny_text_splits


def text_splits(n_batches=3):
    return tiny_text_splits(n_batches)


def image_splits(n=3, size=8):
    g = torch.Generator().manual_seed(0)
    imgs = [(torch.rand(4, 1, size, size, generator=g) > 0.5).float() for _ in range(n)]

    def train_batches(gen):
        return [imgs[i] for i in torch.randperm(n, generator=gen).tolist()]

    return Splits(train_batches, imgs[:1], imgs[1:2], "image", None, {"dataset": "tiny-images"})


def run_config(kind, mode, out_dir, epochs=1, **train):
    base = dict(mode=mode, epochs=epochs, optimizer="sgd" if kind == "text" else "adam",
                lr=0.5 if kind == "text" else 1e-3, svi=SVIConfig(steps=2, lr_mu=0.1, lr_logvar=0.1),
                iw_samples=3, out_dir=str(out_dir), progress=False, device="cpu", kl_warmup_epochs=1,
                decay_start_epoch=0)
    base.update(train)
    model = {"image_size": 8} if kind == "image" else {"vocab_size": 20}
    return RunConfig(data=DataConfig(name="ptb" if kind == "text" else "omniglot", batch_size=4),
                     train=TrainConfig(**base), model_kind=kind, model=model, model_preset="tiny")


@pytest.mark.parametrize("kind", ["text", "image"])
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_runs_and_writes_results(kind, mode, tmp_path):
    if kind == "image":
        pytest.importorskip("savae_lite.models.image")
    cfg = run_config(kind, mode, tmp_path / "run", max_steps_per_epoch=2)
    splits = text_splits() if kind == "text" else image_splits()
    record = Trainer(cfg, splits=splits).fit()
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["status"] == "finished" and saved["config"]["train"]["mode"] == mode
    assert saved["environment"]["device"] == "cpu" and "git_commit" in saved["environment"]
    assert len(saved["epochs"]) == 1 and saved["wall_time_s"] > 0
    test = record["test"]
    if mode == "autoreg":
        assert test["exact"]["nll"] > 0
    else:
        assert test["refine"]["nll_bound"] > 0 and test["iw"]["iw_nll"] > 0
        if mode != "svi":
            assert "no_refine" in test


def _params(trainer):
    return [p.detach().clone() for p in trainer.model.parameters()]


@pytest.mark.parametrize("mode", ["savae", "vae"])
def test_resume_continues_identically(mode, tmp_path):
    full = Trainer(run_config("text", mode, tmp_path / "full", epochs=3, checkpoint_every=2, iw_samples=0),
                   splits=text_splits())
    full.fit()
    # interrupted: stop after one epoch, then resume to three
    first = Trainer(run_config("text", mode, tmp_path / "split", epochs=1, checkpoint_every=2, iw_samples=0),
                    splits=text_splits())
    first.fit()
    second = Trainer(run_config("text", mode, tmp_path / "split", epochs=3, checkpoint_every=2, iw_samples=0),
                     splits=text_splits())
    record = second.fit()
    assert record["resumed"]
    for a, b in zip(_params(full), _params(second)):
        assert torch.equal(a, b)


def test_resume_rejects_a_different_config(tmp_path):
    Trainer(run_config("text", "vae", tmp_path / "r", iw_samples=0), splits=text_splits()).fit()
    other = Trainer(run_config("text", "savae", tmp_path / "r", iw_samples=0), splits=text_splits())
    with pytest.raises(ValueError, match="train.mode"):
        other.fit()


def test_nan_is_caught_with_step_and_mode(tmp_path):
    cfg = run_config("text", "vae", tmp_path / "nan", iw_samples=0)
    trainer = Trainer(cfg, splits=text_splits())
    with torch.no_grad():
        trainer.model.decoder.out.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"step 0 in mode 'vae'"):
        trainer.fit()
    assert not (tmp_path / "nan" / "last.pt").exists()


def test_nan_skip_mode_skips_batches(tmp_path):
    cfg = run_config("text", "vae", tmp_path / "skip", iw_samples=0, on_nan="skip")
    trainer = Trainer(cfg, splits=text_splits())
    with torch.no_grad():
        trainer.model.decoder.out.bias.fill_(float("nan"))
    record = trainer.fit()
    assert record["skipped_batches"] == 3


@pytest.mark.parametrize("field,value,flag", [("mode", "magic", "--mode"), ("svi.hvp", "x", "--hvp"),
                                              ("optimizer", "rmsprop", "--optimizer"), ("device", "tpu", "--device"),
                                              ("lr_schedule", "cosine", "--lr-schedule")])
def test_bad_settings_are_named(field, value, flag, tmp_path):
    cfg = run_config("text", "vae", tmp_path / "bad")
    *path, name = field.split(".")
    target = cfg.train
    for part in path:
        target = getattr(target, part)
    setattr(target, name, value)
    with pytest.raises(ValueError, match=flag):
        Trainer(cfg, splits=text_splits())
