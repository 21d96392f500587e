"""Mode hooks (hooks.py): the loop and the trainer call a mode's hooks without naming the mode. The worked example
of a new stateful mode is here: one hooks class and one Mode record, and the trainer calls it before every step,
after every update and at every epoch's end, checkpoints its state, restores it on resume and records it."""
import dataclasses
import json

import pytest
import torch

from savae_lite import checkpoint, modes
from savae_lite.hooks import ModeHooks
from savae_lite.loop import TrainingLoop
from savae_lite.models.toy import LinearGaussianVAE, ToyModelConfig
from savae_lite.svi import SVIConfig
from savae_lite.train import Trainer
from tests.conftest import text_run_config, text_run_splits


class Counting(ModeHooks):
    """A stateful mode's hooks: counts what it is called with."""

    key = "counting"

    def __init__(self):
        self.before, self.updates, self.epochs = 0, [], []

    def before_step(self, loop, x, pool):
        self.before += 1
        return ()

    def after_update(self, run):
        self.updates.append([run.epoch, run.step])

    def epoch_end(self, run, valid):
        self.epochs.append([run.epoch, run.step, "nll_bound" in valid])

    def state_dict(self):
        return {"before": self.before, "updates": [list(u) for u in self.updates],
                "epochs": [list(e) for e in self.epochs]}

    def load_state_dict(self, state):
        self.before, self.updates, self.epochs = state["before"], state["updates"], state["epochs"]


@pytest.fixture
def counting_mode(monkeypatch):
    """Mode ``vae`` with the counting hooks (a new mode would be a new Mode record with its own name; keeping the
    name lets the config's checks of mode names stay out of this test)."""
    mode = dataclasses.replace(modes.MODES["vae"], hooks=Counting)
    monkeypatch.setitem(modes.MODES, "vae", mode)
    return mode.name


def toy(seed=0):
    torch.manual_seed(seed)
    model = LinearGaussianVAE(ToyModelConfig(data_dim=5, latent_dim=2, enc_hidden=4)).double()
    return model, model.sample_data(8, torch.Generator().manual_seed(1))


def test_the_trainer_calls_every_hook_records_and_checkpoints_its_state(counting_mode, tmp_path):
    rec = Trainer(text_run_config(tmp_path / "run", counting_mode, iw_samples=0), splits=text_run_splits()).fit()
    steps = len(text_run_splits().train_batches(torch.Generator().manual_seed(0)))
    state = rec["epochs"][-1]["counting"]
    assert state["before"] == 2 * steps
    assert state["updates"] == [[1 + i // steps, i + 1] for i in range(2 * steps)]
    assert state["epochs"] == [[1, steps, True], [2, 2 * steps, True]]
    assert rec["epochs"][0]["counting"]["epochs"] == [[1, steps, True]]  # a copy per epoch, not one shared state
    assert checkpoint.load(tmp_path / "run" / "last.pt")["loop"]["counting"] == state
    json.dumps(rec)


def test_a_resumed_run_continues_the_hooks_state(counting_mode, tmp_path):
    full = Trainer(text_run_config(tmp_path / "full", counting_mode, iw_samples=0), splits=text_run_splits()).fit()
    Trainer(text_run_config(tmp_path / "split", counting_mode, iw_samples=0, epochs=1), splits=text_run_splits()).fit()
    second = Trainer(text_run_config(tmp_path / "split", counting_mode, iw_samples=0), splits=text_run_splits())
    rec = second.fit()
    assert rec["resumed"] and rec["epochs"][-1]["counting"] == full["epochs"][-1]["counting"]


class HoldDecoder(ModeHooks):
    def before_step(self, loop, x, pool):
        return tuple(loop.model.decoder_parameters())


def test_what_before_step_returns_is_held_still_by_the_step():
    model, x = toy()
    loop = TrainingLoop(model, dataclasses.replace(modes.MODES["vae"], hooks=HoldDecoder), SVIConfig(),
                        optimizer="sgd", lr=0.1)
    enc0 = [p.detach().clone() for p in model.encoder_parameters()]
    dec0 = [p.detach().clone() for p in model.decoder_parameters()]
    loop.step(x)
    assert all(torch.equal(p, q) for p, q in zip(model.decoder_parameters(), dec0))
    assert not all(torch.equal(p, q) for p, q in zip(model.encoder_parameters(), enc0))


class Poisoned(ModeHooks):
    def before_step(self, loop, x, pool):
        raise FloatingPointError("non-finite value in a hook")


@pytest.mark.parametrize("on_nan", ["stop", "skip"])
def test_a_non_finite_value_in_before_step_follows_the_nan_policy(on_nan):
    model, x = toy()
    loop = TrainingLoop(model, dataclasses.replace(modes.MODES["vae"], hooks=Poisoned), SVIConfig(),
                        optimizer="sgd", lr=0.1, on_nan=on_nan)
    if on_nan == "stop":
        with pytest.raises(FloatingPointError, match="in a hook at step 0 in mode 'vae'"):
            loop.step(x)
    else:
        assert loop.step(x) is None and loop.step_count == 1


def test_a_stateless_mode_adds_nothing_to_the_loop_state():
    model, x = toy()
    loop = TrainingLoop(model, "vae", SVIConfig(), optimizer="sgd", lr=0.1)
    assert type(loop.hooks) is ModeHooks and set(loop.state_dict()) == {"optimizer", "step_count"}
    assert tuple(loop.hooks.before_step(loop, x, [x])) == ()
