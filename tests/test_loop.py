"""The one training loop (loop.py): gradient clipping, the KL-weight schedule, the NaN policy, training a
subset of the parameters, epoch totals and the loop's checkpoint state."""
import copy
import math

import pytest
import torch

import savae_lite.loop as loop_mod
from savae_lite.loop import EpochTotals, TrainingLoop, make_optimizer
from savae_lite.models.toy import LinearGaussianVAE, ToyModelConfig
from savae_lite.modes import training_step
from savae_lite.svi import SVIConfig


def toy(seed=0, n=8):
    torch.manual_seed(seed)
    model = LinearGaussianVAE(ToyModelConfig(data_dim=5, latent_dim=2, enc_hidden=4)).double()
    return model, model.sample_data(n, torch.Generator().manual_seed(1))


def trainable(model):
    return [p for p in model.parameters() if p.requires_grad]


def snapshot(model):
    return [p.detach().clone() for p in model.parameters()]


def unchanged(model, before):
    return all(torch.equal(p, b) for p, b in zip(model.parameters(), before))


class StepSpy:
    """Replaces ``loop.training_step``: records (kl_weight, stats) of every call and can poison chosen calls
    (0-based) with a NaN loss or an infinite gradient after the real step."""

    def __init__(self, monkeypatch, nan_loss=(), inf_grad=()):
        self.calls, self.nan_loss, self.inf_grad = [], set(nan_loss), set(inf_grad)
        monkeypatch.setattr(loop_mod, "training_step", self)

    def __call__(self, model, x, mode, svi, kl_weight):
        i = len(self.calls)
        stats = training_step(model, x, mode, svi, kl_weight)
        if i in self.nan_loss:
            stats.loss = float("nan")
        if i in self.inf_grad:
            next(p for p in model.parameters() if p.grad is not None).grad.fill_(float("inf"))
        self.calls.append((kl_weight, stats))
        return stats


@pytest.mark.parametrize("clip", [0.0, "quarter"])
def test_gradient_clip_and_sgd_step(clip):
    """grad_clip rescales the whole gradient to norm grad_clip (direction kept); 0 leaves it as it is; the
    parameters then move by -lr * (clipped) gradient."""
    model, x = toy()
    torch.manual_seed(3)
    training_step(model, x, "vae", SVIConfig(), 1.0)
    raw = [p.grad.clone() for p in trainable(model)]
    raw_norm = float(torch.sqrt(sum(g.pow(2).sum() for g in raw)))
    limit = 0.0 if clip == 0.0 else raw_norm / 4
    model, _ = toy()
    loop = TrainingLoop(model, "vae", SVIConfig(), optimizer="sgd", lr=0.1, grad_clip=limit)
    before = [p.detach().clone() for p in trainable(model)]
    torch.manual_seed(3)
    loop.step(x)
    scale = 1.0 if clip == 0.0 else 0.25
    for p, g, b in zip(trainable(model), raw, before):
        torch.testing.assert_close(p.grad, scale * g, rtol=1e-5, atol=1e-12)
        torch.testing.assert_close(p.detach(), b - 0.1 * scale * g, rtol=1e-5, atol=1e-12)
    assert loop.step_count == 1


def test_kl_weight_rises_linearly_then_stays_at_one(monkeypatch):
    spy = StepSpy(monkeypatch)
    model, x = toy()
    loop = TrainingLoop(model, "vae", SVIConfig(), kl_start=0.2, kl_warmup_steps=4)
    seen = []
    for _ in range(6):
        seen.append(loop.kl_weight())
        loop.step(x)
    assert [w for w, _ in spy.calls] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])
    assert seen == [w for w, _ in spy.calls]
    plain = TrainingLoop(model, "vae", SVIConfig())  # kl_start 1, no warm-up
    assert plain.kl_weight() == 1.0


@pytest.mark.parametrize("poison,match", [({"nan_loss": {2}}, r"non-finite loss \(nan\) at step 2 in mode 'vae'"),
                                          ({"inf_grad": {2}}, r"gradient norm \((inf|nan)\) at step 2 in mode 'vae'")])
def test_stop_on_nan_names_the_step_and_leaves_the_parameters(poison, match, monkeypatch):
    StepSpy(monkeypatch, **poison)
    model, x = toy()
    loop = TrainingLoop(model, "vae", SVIConfig(), on_nan="stop")
    loop.step(x)
    loop.step(x)
    before = snapshot(model)
    with pytest.raises(FloatingPointError, match=match):
        loop.step(x)
    assert unchanged(model, before)  # no optimiser step with a bad loss or gradient
    assert all(p.grad is None for p in model.parameters()) and loop.step_count == 3


def test_skip_on_nan_drops_only_that_batch(monkeypatch):
    StepSpy(monkeypatch, nan_loss={1}, inf_grad={3})
    model, x = toy()
    loop = TrainingLoop(model, "vae", SVIConfig(), on_nan="skip")
    batches = [x[:4], x[4:], x[:3], x[3:]]
    before = snapshot(model)
    assert loop.step(batches[0]) is not None
    after_first = snapshot(model)
    assert not unchanged(model, before)
    assert loop.step(batches[1]) is None
    assert unchanged(model, after_first) and loop.step_count == 2
    totals = loop.run_epoch(batches[2:])
    assert totals.skipped == 1 and totals.n == 3  # batch 3 (inf gradient) skipped, batch 2 counted
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_params_trains_only_those_and_leaves_the_rest_unchanged():
    model, x = toy()
    encoder = list(model.encoder_parameters())
    decoder_before = [p.detach().clone() for p in model.decoder_parameters()]
    encoder_before = [p.detach().clone() for p in encoder]
    loop = TrainingLoop(model, "vae", SVIConfig(), optimizer="adam", lr=1e-2, params=encoder)
    assert [p for g in loop.optimizer.param_groups for p in g["params"]] == encoder
    for _ in range(3):
        loop.step(x)
    assert all(torch.equal(p, b) for p, b in zip(model.decoder_parameters(), decoder_before))
    assert all(not torch.equal(p, b) for p, b in zip(encoder, encoder_before))


def test_run_epoch_totals_are_the_sums_of_the_steps(monkeypatch):
    spy = StepSpy(monkeypatch)
    model, x = toy(n=12)
    batches = [x[:4], x[4:7], x[7:]]
    loop = TrainingLoop(model, "vae", SVIConfig())
    done = []
    model.eval()
    totals = loop.run_epoch(batches, after_step=done.append)
    assert model.training and done == [1, 2, 3] and loop.step_count == 3
    stats = [s for _, s in spy.calls]
    assert totals.n == 12 and totals.tokens == 12 * 5 and totals.skipped == 0 and totals.time > 0
    assert totals.loss == pytest.approx(sum(s.loss for s in stats))
    assert totals.nll == pytest.approx(sum(s.nll for s in stats))
    assert totals.kl == pytest.approx(sum(s.kl for s in stats))
    means = totals.means()
    assert means["loss"] == pytest.approx(totals.loss / 12) and means["kl"] == pytest.approx(totals.kl / 12)
    assert means["ppl_bound"] == pytest.approx(math.exp((totals.nll + totals.kl) / 60))
    # a resumed epoch: start after the first batch, continuing the running totals
    partial = EpochTotals(**EpochTotals(loss=1.0, nll=2.0, kl=3.0, n=4, tokens=20.0).to_dict())
    done.clear()
    resumed = loop.run_epoch(batches, start=1, totals=partial, after_step=done.append)
    assert resumed is partial and done == [2, 3] and resumed.n == 12 and len(spy.calls) == 5
    assert resumed.nll == pytest.approx(2.0 + sum(s.nll for _, s in spy.calls[3:]))


def test_bad_optimizer_and_nan_policy_name_their_flags():
    model, _ = toy()
    with pytest.raises(ValueError, match="--optimizer: 'rmsprop'"):
        make_optimizer(model.parameters(), "rmsprop", 0.1)
    with pytest.raises(ValueError, match="--on-nan: 'ignore'"):
        TrainingLoop(model, "vae", SVIConfig(), on_nan="ignore")
    with pytest.raises(ValueError, match="--mode"):
        TrainingLoop(model, "magic", SVIConfig())
    assert isinstance(make_optimizer(model.parameters(), "sgd", 0.1), torch.optim.SGD)


def test_state_dict_round_trip_continues_identically():
    model_a, x = toy()
    loop_a = TrainingLoop(model_a, "vae", SVIConfig(), optimizer="adam", lr=1e-2, kl_start=0.1, kl_warmup_steps=5)
    for _ in range(2):
        loop_a.step(x)
    model_b, _ = toy()
    model_b.load_state_dict(model_a.state_dict())
    loop_b = TrainingLoop(model_b, "vae", SVIConfig(), optimizer="adam", lr=1e-2, kl_start=0.1, kl_warmup_steps=5)
    loop_b.load_state_dict(copy.deepcopy(loop_a.state_dict()))  # as through a checkpoint file
    assert loop_b.step_count == 2 and loop_b.kl_weight() == loop_a.kl_weight()
    for loop in (loop_a, loop_b):
        torch.manual_seed(9)
        loop.step(x)
    assert all(torch.equal(a, b) for a, b in zip(model_a.parameters(), model_b.parameters()))
