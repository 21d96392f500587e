"""Peak memory of one call: :func:`~savae_lite.bench.measure_memory` and the CPU tensor tracker
:class:`~savae_lite.bench.TensorMemoryPeak`.

Chapter: *Differentiable SVI* (the memory of the two HVP back-ends).

* ``peak_mem_mb`` — CUDA: ``max_memory_allocated`` during the call minus ``memory_allocated`` before it. CPU: the
  peak of live tensor memory created during the call: every tensor storage produced by an ATen operation inside
  the call is counted from its creation until it is freed (a ``TorchDispatchMode`` with weak references;
  kernel-internal scratch space is not seen) — the CPU analogue of the CUDA number.
* ``peak_rss_mb`` (Linux, CPU) — growth of the resident set: ``VmHWM`` after the call minus ``VmRSS`` before it,
  with free heap pages handed back by ``malloc_trim`` and the high-water mark reset through
  ``/proc/self/clear_refs`` just before the call. What the operating system sees, allocator slack included.

Memory is measured in separate, untimed calls: the tracker slows every operation down.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import weakref
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

MIB = 2**20


class TensorMemoryPeak(TorchDispatchMode):
    """Peak bytes of tensor storage created by ATen operations while active (CPU stand-in for CUDA's
    ``max_memory_allocated``). Outputs that share storage with an input (in-place ops, views) are not new."""

    def __init__(self):
        super().__init__()
        self.current = 0
        self.peak = 0
        self._live: set[int] = set()

    def _release(self, key: int, nbytes: int) -> None:
        if key in self._live:
            self._live.discard(key)
            self.current -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage()._cdata for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            storage = t.untyped_storage()
            key = storage._cdata
            if key in inputs or key in self._live:
                continue
            nbytes = storage.nbytes()
            self._live.add(key)
            self.current += nbytes
            self.peak = max(self.peak, self.current)
            weakref.finalize(storage, self._release, key, nbytes)
        return out


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def _rss_bytes() -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of this process in bytes (Linux)."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out


def _reset_rss_peak() -> bool:
    """Reset the resident-set high-water mark; False where the system does not allow it (not Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return "VmHWM" in _rss_bytes()
    except OSError:
        return False


def measure_memory(fn: Callable[[], object], device: torch.device) -> dict:
    """Peak memory of ``fn()`` in MiB (module docstring): ``peak_mem_mb`` and, on Linux CPU, ``peak_rss_mb``."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return {"peak_mem_mb": round((torch.cuda.max_memory_allocated(device) - base) / MIB, 2)}
    out = {}
    rss = _reset_rss_peak()
    if rss:
        libc = _libc()
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
        _reset_rss_peak()
        before = _rss_bytes()["VmRSS"]
    with TensorMemoryPeak() as tracker:
        fn()
    out["peak_mem_mb"] = round(tracker.peak / MIB, 2)
    if rss:
        out["peak_rss_mb"] = round((_rss_bytes()["VmHWM"] - before) / MIB, 2)
    return out


def available_memory_gb() -> float | None:
    """``MemAvailable`` in GiB (Linux), else None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None
