"""Aggressive training (aggressive.py, He et al. 2019): while on, the encoder alone catches up before each step and
the ordinary step moves the decoder only; the inner loop stops when its loss per symbol rises or at its cap; the
schedule switches off for good the first time validation MI falls; switched off, the step is the VAE's."""
import pytest
import torch

import savae_lite.loop as loop_mod
from savae_lite.aggressive import AggressiveSchedule, AggressiveTraining, encoder_catch_up
from savae_lite.hooks import ModeHooks
from savae_lite.loop import TrainingLoop
from savae_lite.models.toy import LinearGaussianVAE, ToyModelConfig
from savae_lite.modes import MODES, training_step
from savae_lite.svi import SVIConfig


def toy(seed=0):
    torch.manual_seed(seed)
    model = LinearGaussianVAE(ToyModelConfig(data_dim=5, latent_dim=2, enc_hidden=4)).double()
    g = torch.Generator().manual_seed(1)
    return model, [model.sample_data(8, g) for _ in range(4)]


def split(model):
    enc = {id(p) for p in model.encoder_parameters()}
    both = [(n, p.detach().clone()) for n, p in model.named_parameters()]
    return ({n: p for n, p in both if id(dict(model.named_parameters())[n]) in enc},
            {n: p for n, p in both if id(dict(model.named_parameters())[n]) not in enc})


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_mode_record():
    m = MODES["aggressive"]
    assert m.hooks is AggressiveTraining and m.encoder and m.latent and not m.refines and not m.unrolled
    assert all(o.hooks is ModeHooks for name, o in MODES.items() if name != "aggressive")


def test_catch_up_moves_only_the_encoder_and_the_step_only_the_decoder(monkeypatch):
    model, pool = toy()
    loop = TrainingLoop(model, "aggressive", SVIConfig(), optimizer="sgd", lr=0.1)
    enc0, dec0 = split(model)
    seen = {}

    def spy(model_, x, mode, svi, kl_weight):  # the ordinary step starts after the catch-up
        seen["enc"], seen["dec"] = split(model_)
        return training_step(model_, x, mode, svi, kl_weight)

    monkeypatch.setattr(loop_mod, "training_step", spy)
    loop.step(pool[0], pool=pool)
    enc1, dec1 = split(model)
    assert same(seen["dec"], dec0), "the catch-up changed the decoder"
    assert not same(seen["enc"], enc0), "the catch-up did not move the encoder"
    assert same(enc1, seen["enc"]), "the ordinary step moved the encoder while catching up"
    assert not same(dec1, dec0), "the ordinary step did not move the decoder"
    assert loop.hooks.schedule.inner_steps >= 1 and loop.step_count == 1


def test_switched_off_it_is_the_vae_step():
    a_model, pool = toy()
    v_model, _ = toy()
    a = TrainingLoop(a_model, "aggressive", SVIConfig(), optimizer="sgd", lr=0.1)
    v = TrainingLoop(v_model, "vae", SVIConfig(), optimizer="sgd", lr=0.1)
    a.hooks.schedule.active = False
    for x in pool:
        torch.manual_seed(5)
        a.step(x, pool=pool)
        torch.manual_seed(5)
        v.step(x, pool=pool)
    assert all(torch.equal(p, q) for p, q in zip(a_model.parameters(), v_model.parameters()))


@pytest.mark.parametrize("cap,every", [(5, 100), (100, 15), (30, 1)])
def test_inner_loop_bounds(cap, every):
    """At most cap - 1 inner steps; with check blocks of one step, a rising loss stops it early."""
    model, pool = toy()
    loop = TrainingLoop(model, "aggressive", SVIConfig(), optimizer="sgd", lr=0.05)
    sched = AggressiveSchedule(max_inner_steps=cap, check_every=every)
    n = encoder_catch_up(loop, pool[0], pool, sched)
    assert 1 <= n <= cap - 1 and sched.inner_steps == n
    assert all(p.grad is None for p in model.parameters())


def test_a_rising_loss_stops_the_inner_loop(monkeypatch):
    """Losses made to rise by a constant per call (gradients unchanged): the first block passes the check against
    the reference code's start value 1e4, the second block's mean is higher, so the loop ends after 2 blocks."""
    import savae_lite.aggressive as agg

    calls = []

    class Rising:
        def __init__(self, terms):
            self.terms = terms

        def loss(self, kl_weight):
            return self.terms.loss(kl_weight) + 10.0 * len(calls)

    def rising_terms(*args):
        calls.append(1)
        return Rising(agg_real(*args))

    agg_real = agg.elbo_terms
    monkeypatch.setattr(agg, "elbo_terms", rising_terms)
    model, pool = toy()
    loop = TrainingLoop(model, "aggressive", SVIConfig(), optimizer="sgd", lr=0.01)
    assert encoder_catch_up(loop, pool[0], pool, AggressiveSchedule(check_every=3)) == 6


def test_schedule_switches_off_for_good_when_mi_falls():
    s = AggressiveSchedule()
    s.epoch_end(1, 0.5)
    s.epoch_end(2, 0.7)
    assert s.active
    s.epoch_end(3, 0.6)
    assert not s.active and s.switched_off_after_epoch == 3
    s.epoch_end(4, 2.0)
    assert not s.active and s.switched_off_after_epoch == 3


def test_loop_state_round_trip():
    model, pool = toy()
    loop = TrainingLoop(model, "aggressive", SVIConfig(), optimizer="sgd", lr=0.1)
    loop.step(pool[0], pool=pool)
    loop.hooks.schedule.epoch_end(1, -1.0)
    state = loop.state_dict()
    assert state["aggressive"] == loop.hooks.schedule.state_dict()  # the key that last.pt has always used
    other = TrainingLoop(toy()[0], "aggressive", SVIConfig(), optimizer="sgd", lr=0.1)
    other.load_state_dict(state)
    assert other.hooks.schedule == loop.hooks.schedule and not other.hooks.schedule.active


def test_a_loop_state_of_the_earlier_layout_loads():
    """A loop state as checkpoints written before the hooks existed hold it (the schedule's fields under
    "aggressive") restores the schedule."""
    model, pool = toy()
    loop = TrainingLoop(model, "aggressive", SVIConfig(), optimizer="sgd", lr=0.1)
    old = {"optimizer": loop.optimizer.state_dict(), "step_count": 7,
           "aggressive": {"max_inner_steps": 100, "check_every": 15, "active": False, "previous_mi": 0.25,
                          "inner_steps": 40, "switched_off_after_epoch": 2, "switched_off_at_step": 6,
                          "checks": [[3, 0.3], [6, 0.25]]}}
    loop.load_state_dict(old)
    s = loop.hooks.schedule
    assert loop.step_count == 7 and not s.active and s.switched_off_at_step == 6 and s.checks == [[3, 0.3], [6, 0.25]]


class FakeRun:
    """A RunView stand-in: counts validations and returns the MI values given, in turn."""

    def __init__(self, every, mis, step=4, epoch=1):
        self.settings = type("Settings", (), {"aggressive_mi_every": every})()
        self.epoch, self.step, self.mis, self.said = epoch, step, list(mis), []

    def validate(self):
        return {"mi": self.mis.pop(0)}

    def say(self, line):
        self.said.append(line)


@pytest.mark.parametrize("every,step,checks", [(2, 4, 1), (3, 4, 0), (0, 4, 0)])
def test_after_update_checks_mi_only_every_n_updates(every, step, checks):
    hooks = AggressiveTraining()
    run = FakeRun(every, [0.5], step=step)
    hooks.after_update(run)
    assert len(hooks.schedule.checks) == checks and len(run.said) == checks
    assert len(run.mis) == 1 - checks  # validated only when checking


@pytest.mark.parametrize("every,checks", [(0, 1), (5, 0)])
def test_epoch_end_checks_mi_only_when_not_counting_updates(every, checks):
    hooks = AggressiveTraining()
    hooks.epoch_end(FakeRun(every, [], step=9, epoch=3), {"mi": -1.0})
    assert len(hooks.schedule.checks) == checks
    assert hooks.schedule.active == (checks == 0) and (checks == 0 or hooks.schedule.switched_off_after_epoch == 3)


def test_switched_off_the_hooks_hold_nothing_still():
    model, pool = toy()
    loop = TrainingLoop(model, "aggressive", SVIConfig(), optimizer="sgd", lr=0.1)
    assert len(loop.hooks.before_step(loop, pool[0], pool)) == len(list(model.encoder_parameters()))
    loop.hooks.schedule.active = False
    assert tuple(loop.hooks.before_step(loop, pool[0], pool)) == ()
