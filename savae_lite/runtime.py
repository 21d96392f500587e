"""Where and how a run executes: the device, the seed and the book's quick-mode switch — one place for each."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

QUICK_ENV = "SAVAE_LITE_QUICK"


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every CUDA device) with one number."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def pick_device(name: str | torch.device = "auto") -> torch.device:
    """``'auto'`` → cuda if available, else mps, else cpu; otherwise the named device, checked.

    Raises ``ValueError`` for an unknown or unavailable device name.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"--device: unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device: {name!r} requested but CUDA is not available on this machine")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"--device: {name!r} requested but MPS is not available on this machine")
    return dev


def quick_mode() -> bool:
    """True when the environment variable ``SAVAE_LITE_QUICK`` is set to a true value (CI sets it)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
