"""The benchmark's clock and how repeated measurements are summarised.

Chapter: *Differentiable SVI* (the cost of Algorithm 1).

**What a measurement is.** :meth:`Clock.measure` times ``number`` calls of a function the way
``torch.utils.benchmark.Timer`` does — garbage collection off while timing, the device synchronised before and
after, the intra-op thread count fixed for the whole run — and returns seconds per call on two clocks at once:
the primary clock and the wall clock. We do not call ``Timer.blocked_autorange`` / ``adaptive_autorange``
themselves: they time one statement at a time and spend untimed calibration calls on every measurement, while
the statements here take 0.05 to 5 seconds and the quantity of interest is a *ratio* of two of them. Measuring
each numerator right between two blocks of its denominator (the interleaved schedules of
:mod:`~savae_lite.bench.savae_step`, :mod:`~savae_lite.bench.training_loop` and :mod:`~savae_lite.bench.iw`)
cancels slow drifts of the machine's speed, which a sequence of per-statement autoranges cannot.

**Which clock.** On a CPU with one intra-op thread (the default of ``savae-lite bench``) the primary clock is
the process's CPU time (``time.process_time``); otherwise (CUDA, or several threads, where waiting threads and
the device make CPU time meaningless) it is wall-clock time. With one thread every second of computation is
spent on the calling thread, so CPU time is the work done; on a shared 2-core machine whose cores are taken by
other processes, wall time adds the time spent waiting for a core, which depends on the other processes and not
on the code. CPU time still moves with shared caches and memory bandwidth (a busy machine makes *both* parts
of a ratio slower, by up to tens of per cent), which is why every ratio is formed from neighbouring
measurements. Each record also carries the wall-clock medians (``*_wall*`` fields) and, for the SA-VAE step,
the wall-clock ratio's IQR, so the two clocks' stability can be compared on the machine at hand. On the 2-core
machine this was developed on, in three ``--quick`` runs at load averages of 3 to 4.5, the median relative IQR
of a cell's ratio was 4 to 8 % on CPU time against 4 to 9 % on wall time, and the largest run-to-run difference
of a cell's median ±5.5 % against ±7 %.

**Summaries.** A list of repeated values is reported by :class:`Spread`: the median and the interquartile range
(quartiles by linear interpolation, as ``torch.quantile`` and ``torch.utils.benchmark.Measurement`` compute
them); ``rel_iqr = iqr / median`` is the stability check (``Measurement`` warns above 10 %; the benchmark asks
for a few per cent and repeats unstable cells).
"""
from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile of ``values`` with linear interpolation between order statistics (``torch.quantile``)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("quantile of no values")
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo])


@dataclass(frozen=True)
class Spread:
    """Median and interquartile range of repeated measurements of one quantity."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> "Spread":
        """The spread of ``values`` (any sequence of numbers, stored as floats)."""
        return cls(tuple(float(v) for v in values))

    @property
    def median(self) -> float:
        """The median (quantile 0.5, linear interpolation)."""
        return quantile(self.values, 0.5)

    @property
    def q25(self) -> float:
        """The first quartile (linear interpolation)."""
        return quantile(self.values, 0.25)

    @property
    def q75(self) -> float:
        """The third quartile (linear interpolation)."""
        return quantile(self.values, 0.75)

    @property
    def iqr(self) -> float:
        """The interquartile range, q75 - q25."""
        return self.q75 - self.q25

    @property
    def rel_iqr(self) -> float:
        """The IQR relative to the median (``inf`` when the median is 0)."""
        return self.iqr / self.median if self.median else math.inf

    def fields(self, name: str, digits: int) -> dict:
        """``{name: median, name_q25, name_q75, name_iqr}``, rounded to ``digits`` decimals."""
        return {name: round(self.median, digits), f"{name}_q25": round(self.q25, digits),
                f"{name}_q75": round(self.q75, digits), f"{name}_iqr": round(self.iqr, digits)}


def empty_fields(name: str) -> dict:
    """The keys of :meth:`Spread.fields` with no value (a cell that was not measured)."""
    return {name: None, f"{name}_q25": None, f"{name}_q75": None, f"{name}_iqr": None}


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one measurement on the primary clock and on the wall clock."""

    seconds: float
    wall: float


class Clock:
    """Times calls on ``device``: CPU time on a CPU with one thread, else wall time (see the module docstring)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.kind = "cpu" if device.type == "cpu" and torch.get_num_threads() == 1 else "wall"

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def measure(self, fn: Callable[[], object], number: int = 1) -> Timing:
        """Seconds per call of ``number`` back-to-back calls of ``fn`` (garbage collection off while timing).

        Before timing, the young generations are collected (cycles left by the previous call); a full collection
        would walk every object torch has loaded and take longer than a tiny preset's step."""
        gc.collect(1)
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._sync()
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for _ in range(number):
                fn()
            self._sync()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        finally:
            if was_enabled:
                gc.enable()
        return Timing((cpu if self.kind == "cpu" else wall) / number, wall / number)
