"""Replaying random draws (rng.py): a captured state replays the same noise and dropout masks, and the global
stream continues afterwards as if nothing had been replayed."""
import pytest
import torch
import torch.nn.functional as F

from savae_lite import rng


def test_replay_reproduces_the_draws_and_restores_the_global_stream():
    torch.manual_seed(0)
    state = rng.capture(torch.device("cpu"))
    first = torch.randn(5)
    after_first = torch.get_rng_state()
    with rng.replay(state):
        again = torch.randn(5)
        torch.rand(3)  # the body may draw as much as it likes
    assert torch.equal(first, again)
    assert torch.equal(torch.get_rng_state(), after_first)  # the global stream is where it was
    continued = torch.randn(4)
    torch.manual_seed(0)
    torch.randn(5)
    assert torch.equal(torch.randn(4), continued)  # as if the replay had never happened


def test_replay_gives_the_same_dropout_masks_and_eps():
    torch.manual_seed(1)
    x = torch.ones(4, 8)
    state = rng.capture(torch.device("cpu"))
    masks = F.dropout(x, 0.5, training=True)
    eps = torch.randn_like(x)
    continued = torch.randn(2)
    with rng.replay(state):
        assert torch.equal(F.dropout(x, 0.5, training=True), masks)
        assert torch.equal(torch.randn_like(x), eps)
    with rng.replay(state):  # a state can be replayed any number of times
        assert torch.equal(F.dropout(x, 0.5, training=True), masks)
    # the stream after the replays is the one the forward pass left
    torch.manual_seed(1)
    F.dropout(x, 0.5, training=True)
    torch.randn_like(x)
    assert torch.equal(torch.randn(2), continued)


def test_capture_on_cpu_holds_no_cuda_state_and_copies_the_state():
    torch.manual_seed(2)
    state = rng.capture(torch.device("cpu"))
    assert state.cuda is None and state.cuda_index is None
    torch.randn(10)  # advancing the global generator does not change a captured state
    with rng.replay(state):
        a = torch.randn(3)
    torch.manual_seed(2)
    assert torch.equal(a, torch.randn(3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_replay_on_cuda():
    dev = torch.device("cuda")
    torch.manual_seed(3)
    state = rng.capture(dev)
    assert state.cuda is not None and state.cuda_index == torch.cuda.current_device()
    first = torch.randn(5, device=dev)
    after = torch.cuda.get_rng_state(state.cuda_index)
    with rng.replay(state):
        assert torch.equal(torch.randn(5, device=dev), first)
    assert torch.equal(torch.cuda.get_rng_state(state.cuda_index), after)
