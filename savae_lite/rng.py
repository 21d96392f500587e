"""Replaying random draws: the reverse pass of differentiable SVI must see the same noise eps and the same
dropout masks as the forward pass. We capture the generator state before each gradient evaluation and restore
it (without disturbing the global stream) when the step is re-evaluated.

Chapter: *Differentiable SVI*.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass
class RngState:
    """The generator states a computation consumes: the CPU generator's state and, on CUDA, the state
    of the generator of device ``cuda_index`` (ByteTensors, as ``torch.get_rng_state`` returns them)."""

    cpu: torch.Tensor
    cuda: torch.Tensor | None = None
    cuda_index: int | None = None


def capture(device: torch.device) -> RngState:
    """The generator state(s) that a computation on ``device`` will consume."""
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return RngState(torch.get_rng_state(), torch.cuda.get_rng_state(idx), idx)
    return RngState(torch.get_rng_state())


@contextmanager
def replay(state: RngState):
    """Run the body with the generators set to ``state``; the global stream is restored afterwards."""
    devices = [state.cuda_index] if state.cuda is not None else []
    with torch.random.fork_rng(devices=devices):
        torch.set_rng_state(state.cpu)
        if state.cuda is not None:
            torch.cuda.set_rng_state(state.cuda, state.cuda_index)
        yield
