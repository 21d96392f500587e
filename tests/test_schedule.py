"""The validation-driven learning-rate halving (schedule.py): the original's rule and the plateau rule."""
import pytest
import torch

from savae_lite.schedule import ValidationHalving, validation_scheduler


def lrs(policy, improved, start=3):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = validation_scheduler(opt, start, 0.5, policy)
    out = []
    for epoch, ok in enumerate(improved, start=1):
        opt.step()
        sched.lr_lambdas[0].epoch_end(epoch, ok)
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out


def test_original_halves_after_every_epoch_once_one_fails():
    # epochs 1, 2 fail before the start (no decay); epoch 4 fails -> decay from then on, even after improvements
    assert lrs("original", [False, False, True, False, True, True]) == [1, 1, 1, 0.5, 0.25, 0.125]


def test_plateau_halves_only_after_failing_epochs():
    assert lrs("plateau", [False, False, True, False, True, False]) == [1, 1, 1, 0.5, 0.5, 0.25]


def test_start_zero_never_decays():
    assert lrs("original", [False] * 4, start=0) == [1, 1, 1, 1]


def test_state_survives_a_checkpoint():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = validation_scheduler(opt, 1, 0.5, "original")
    sched.lr_lambdas[0].epoch_end(1, False)
    sched.step()
    state = sched.state_dict()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    fresh = validation_scheduler(opt2, 1, 0.5, "original")
    fresh.load_state_dict(state)
    assert fresh.lr_lambdas[0].decaying and fresh.lr_lambdas[0].scale == 0.5


def test_unknown_policy_names_the_flag():
    with pytest.raises(ValueError, match="--lr-schedule"):
        ValidationHalving(1, 0.5, "cosine")
