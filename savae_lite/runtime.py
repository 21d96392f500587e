"""Where and how a run executes: the device, the CPU thread policy, the seed and the book's quick-mode switch —
one place for each.

**Thread policy** (sharing the machine). PyTorch's CPU wheels run their intra-op threads on GNU OpenMP
(libgomp), whose idle threads *spin* for a while after every parallel region before they sleep. Next to another
busy process on a machine with as many threads as cores, the spinning threads take the cores from the threads
that have work, and SA-VAE training slowed to 0.30x of its quiet speed. The package's policy:

* ``OMP_WAIT_POLICY=PASSIVE`` — idle OpenMP threads sleep at once. libgomp reads the variable when it is loaded,
  i.e. at ``import torch`` (setting it afterwards has no effect: measured), so this module sets it, as a default
  only (``os.environ.setdefault``), *before* it imports torch; ``import savae_lite`` (and so every
  ``savae-lite`` command) does this first. A value already in the environment wins, and when torch was imported
  before savae-lite the variable is left alone (it could no longer take effect; :func:`thread_policy` says so).
  Set ``OMP_WAIT_POLICY=ACTIVE`` to have threads spin (a quiet machine that is yours alone).
* the number of intra-op threads: ``--threads N`` (``TrainConfig.threads``) when given, else torch's default
  (the physical cores, or ``OMP_NUM_THREADS`` when set) — see :func:`apply_thread_policy`.

``savae-lite bench`` measures the policy against the old behaviour alone and next to one busy process
(:mod:`savae_lite.bench.sharing`).
"""
from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass, replace

WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
DEFAULT_WAIT_POLICY = "PASSIVE"
# What OMP_WAIT_POLICY was when this module was first imported, and whether torch (and so its OpenMP runtime)
# was already loaded then: the policy below must be in the environment before torch loads libgomp.
_USER_WAIT_POLICY = os.environ.get(WAIT_POLICY_ENV)
_TORCH_LOADED_FIRST = "torch" in sys.modules
if _USER_WAIT_POLICY is None and not _TORCH_LOADED_FIRST:
    os.environ[WAIT_POLICY_ENV] = DEFAULT_WAIT_POLICY

import numpy as np  # noqa: E402  (after the OpenMP wait policy is in the environment)
import torch  # noqa: E402

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


@dataclass(frozen=True)
class ThreadPolicy:
    """The CPU thread settings a run trains with (see the module docstring)."""

    threads: int  # intra-op threads (torch.get_num_threads() after the policy)
    threads_from: str  # '--threads', 'OMP_NUM_THREADS' or 'torch default'
    wait_policy: str  # OpenMP's wait policy as loaded: PASSIVE, ACTIVE, ... or 'runtime default (spin, then sleep)'
    wait_policy_from: str  # 'savae-lite default', 'environment' or 'torch imported before savae-lite'

    def to_dict(self) -> dict:
        return {"threads": self.threads, "threads_from": self.threads_from, "wait_policy": self.wait_policy,
                "wait_policy_from": self.wait_policy_from}


def thread_policy() -> ThreadPolicy:
    """The thread settings now in effect in this process, and where each comes from."""
    if _USER_WAIT_POLICY is not None:
        wait, wait_from = _USER_WAIT_POLICY, "environment"
    elif _TORCH_LOADED_FIRST:
        wait, wait_from = "runtime default (spin, then sleep)", "torch imported before savae-lite"
    else:
        wait, wait_from = DEFAULT_WAIT_POLICY, "savae-lite default"
    threads_from = "OMP_NUM_THREADS" if os.environ.get("OMP_NUM_THREADS") else "torch default"
    return ThreadPolicy(torch.get_num_threads(), threads_from, wait, wait_from)


def apply_thread_policy(threads: int | None = None) -> ThreadPolicy:
    """Apply the thread policy once, when a run starts; returns what is in effect.

    ``threads`` (``--threads``): that many intra-op threads, whatever ``OMP_NUM_THREADS`` says (the flag is the
    more explicit request). ``None``: leave torch's count as it is — the physical cores, or ``OMP_NUM_THREADS``
    when the user set it. The OpenMP wait policy was settled when torch was imported (module docstring).
    Raises ``ValueError`` naming ``--threads`` for anything but a positive integer or ``None``.
    """
    if threads is None:
        return thread_policy()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"--threads: must be a positive integer or None, got {threads!r}")
    torch.set_num_threads(threads)
    return replace(thread_policy(), threads_from="--threads")

