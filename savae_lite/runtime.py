"""Where and how a run executes: the device, the CPU thread policy, the seed and the book's quick-mode switch —
one place for each.

**Thread policy** (sharing the machine). PyTorch's CPU wheels run their intra-op threads on GNU OpenMP
(libgomp), whose idle threads *spin* for a while after every parallel region before they sleep. Next to another
busy process on a machine with as many threads as cores, the spinning threads take the cores from the threads
that have work, and SA-VAE training slowed to 0.30x of its quiet speed. The package's policy:

* ``GOMP_SPINCOUNT=1000`` — idle OpenMP threads spin briefly (1,000 iterations, microseconds, instead of
  libgomp's 300,000) and then sleep: fast hand-offs between the many small parallel regions of an LSTM step when
  the cores are free, and no core taken from another process when they are not. Measured with ``savae-lite bench
  --only sharing`` on 2 cores (ptb-small SA-VAE steps; record ``results/sharing.json``): alone 0.87x of the
  fastest policy, next to a busy process 0.52x of it, where sleeping at once (``OMP_WAIT_POLICY=PASSIVE``) kept
  0.72x alone and the runtime's default spin (about 3 ms) 0.32x next to a busy process. libgomp reads the
  variables when it is loaded, i.e. at ``import torch`` (setting them afterwards has no effect: measured), so
  the default is set *before* torch is imported, by :mod:`savae_lite.thread_env`, which ``import savae_lite``
  (and so every ``savae-lite`` command) imports first.
  ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` already in the environment win, and when torch was imported before
  savae-lite nothing is set (it could no longer take effect; :func:`thread_policy` says so).
* the number of intra-op threads: ``--threads N`` (``TrainConfig.threads``) when given, else torch's default
  (the physical cores, or ``OMP_NUM_THREADS`` when set) — see :func:`apply_thread_policy`.

``savae-lite bench`` measures the policy against the old behaviour alone and next to one busy process
(:mod:`savae_lite.bench.sharing`).
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace

import numpy as np
import torch

# set before torch was imported: ``import savae_lite`` imports savae_lite.thread_env first (torch-free)
from savae_lite.thread_env import DEFAULT_SPINCOUNT, SPINCOUNT_ENV
from savae_lite.thread_env import TORCH_LOADED_FIRST as _TORCH_LOADED_FIRST
from savae_lite.thread_env import USER_OPENMP as _USER_OPENMP

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
    wait_policy: str  # OpenMP's idle-thread setting as loaded, e.g. 'GOMP_SPINCOUNT=1000' or 'OMP_WAIT_POLICY=...'
    wait_policy_from: str  # 'savae-lite default', 'environment' or 'torch imported before savae-lite'

    def to_dict(self) -> dict:
        """The policy as a plain dict (thread count, OpenMP wait policy and where each came from),
        for run records."""
        return {"threads": self.threads, "threads_from": self.threads_from, "wait_policy": self.wait_policy,
                "wait_policy_from": self.wait_policy_from}


def thread_policy() -> ThreadPolicy:
    """The thread settings now in effect in this process, and where each comes from."""
    if _USER_OPENMP:
        wait = " ".join(f"{k}={v}" for k, v in sorted(_USER_OPENMP.items()))
        wait_from = "environment"
    elif _TORCH_LOADED_FIRST:
        wait, wait_from = "runtime default (spin, then sleep)", "torch imported before savae-lite"
    else:
        wait, wait_from = f"{SPINCOUNT_ENV}={DEFAULT_SPINCOUNT}", "savae-lite default"
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

