"""Where and how a run executes (runtime.py): device names, the quick-mode switch and one seed for all."""
import random

import numpy as np
import pytest
import torch

from savae_lite import runtime
from savae_lite.runtime import pick_device, quick_mode, set_seed


@pytest.mark.parametrize("name", ["tpu", "gpu0", "cuda:x", ""])
def test_unknown_device_names_the_flag(name):
    with pytest.raises(ValueError, match=r"--device: unknown device .*\(use auto, cpu, cuda, cuda:N or mps\)"):
        pick_device(name)


def test_unavailable_accelerators_name_the_flag(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for name, what in (("cuda", "CUDA"), ("cuda:1", "CUDA"), ("mps", "MPS")):
        with pytest.raises(ValueError, match=rf"--device: '{name}' requested but {what} is not available"):
            pick_device(name)
    assert pick_device("auto") == torch.device("cpu")


def test_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")


def test_explicit_devices_pass_through():
    assert pick_device("cpu") == torch.device("cpu")
    dev = torch.device("cpu")
    assert pick_device(dev) is dev


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("YES", True), (" on ", True),
                                            ("0", False), ("false", False), ("no", False), ("", False),
                                            ("2", False), ("quick", False)])
def test_quick_mode_reads_the_environment(value, expected, monkeypatch):
    monkeypatch.setenv(runtime.QUICK_ENV, value)
    assert quick_mode() is expected


def test_quick_mode_is_off_when_unset(monkeypatch):
    monkeypatch.delenv(runtime.QUICK_ENV, raising=False)
    assert runtime.QUICK_ENV == "SAVAE_LITE_QUICK" and quick_mode() is False


def _draws():
    return random.random(), float(np.random.rand()), torch.rand(3)


@pytest.mark.parametrize("seed", [0, 3435, 2**40 + 7])
def test_set_seed_makes_python_numpy_and_torch_repeat(seed):
    set_seed(seed)
    a = _draws()
    set_seed(seed)
    b = _draws()
    set_seed(seed + 1)
    c = _draws()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    assert a[0] != c[0] and a[1] != c[1] and not torch.equal(a[2], c[2])
