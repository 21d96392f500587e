"""How close an SA-VAE training step comes to its cost floor of 2K + 1 decoder gradient evaluations, and its
peak memory, for each HVP back-end and K.

Chapter: *Differentiable SVI* (the cost of Algorithm 1).

* **Decoder gradient evaluation** (``grad_eval_s``, :func:`~savae_lite.bench.decoder_grad_eval`): with
  lambda = (mu, logvar) the encoder's output for the batch x (detached leaves, (B, Z)), one call
  ``torch.autograd.grad(f, [mu, logvar, *theta])`` where
  ``f = sum_i [-log p_theta(x_i | z_i) + KL(q(z; lambda_i) || N(0, I))]``,
  ``z_i = mu_i + exp(logvar_i / 2) eps_i`` (one fresh eps, the model in train mode, so dropout is on) and theta
  are the decoder parameters: the forward pass of f and the backward pass to lambda *and* theta. This is one
  SVI step's work in the ``fd`` back-end and the unit of the floor.
* **SA-VAE step** (``step_s``, :func:`~savae_lite.bench.savae_gradients`): ``model.zero_grad();
  modes.training_step(model, x, 'savae', SVIConfig(steps=K, hvp=hvp), kl_weight=1.0)`` — encoder forward, K SVI
  steps, the reverse pass through them and the backward pass into the encoder, gradients left in ``.grad``.
* ``ratio_to_floor = step_s / ((2K + 1) * grad_eval_s)``: 2K + 1 gradient evaluations (K forward, K
  Hessian-vector products, one at lambda_K) is the floor of exact unrolled differentiation. A value below 1 is
  not possible (the step also runs the encoder), so one below 1 is measurement noise.

**Schedule** (interleaved, with repeats). After untimed warm-ups, the timed sequence is
``G S G S G S ...`` where each ``S`` is one step of one (hvp, K) cell and each ``G`` a block of
``grad_evals_per_block`` gradient evaluations, each timed on its own. A round visits every cell once, in
alternating order from round to round (forwards, then backwards). Each step's ratio is taken against the median
of the gradient evaluations in the blocks just before and just after it, so both parts of a ratio are measured
within a few seconds of each other. ``repeats`` rounds are run; then a cell whose ratio is not yet stable
(``IQR / median > stable_rel_iqr``) gets further rounds, up to ``max_repeats``. Reported per cell: median and
IQR of ``step_s``, of its neighbouring ``grad_eval_s`` and of the per-round ``ratio_to_floor`` (see
:mod:`savae_lite.bench.timing` for the clock), and ``stable``.

**Memory** (``peak_mem_mb``, ``peak_rss_mb``): one separate, untimed step per cell, measured by
:func:`~savae_lite.bench.measure_memory`, before the timing; an exact-HVP cell whose memory,
extrapolated linearly in K from the previous one, would exceed the preset's limit (or half the available
memory) is skipped and its row carries a ``note``.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import torch

from savae_lite.bench.memory import available_memory_gb, measure_memory
from savae_lite.bench.presets import BenchConfig
from savae_lite.bench.timing import Clock, Spread, Timing, empty_fields
from savae_lite.objectives import elbo_terms
from savae_lite.svi import SVIConfig

HVPS = ("fd", "exact")
Cell = tuple[int, str]  # (K, hvp)


def decoder_grad_eval(model, x, mu, logvar, params) -> list[torch.Tensor]:
    """One decoder gradient evaluation: d f / d (mu, logvar, theta) at lambda = (mu, logvar) (module docstring)."""
    mu = mu.detach().requires_grad_(True)
    logvar = logvar.detach().requires_grad_(True)
    f = elbo_terms(model, x, mu, logvar).loss(1.0).sum()
    return list(torch.autograd.grad(f, [mu, logvar, *params]))


def savae_gradients(model, x, k: int, hvp: str) -> None:
    """One SA-VAE training step's gradients (no optimiser step), as the training loop computes them."""
    from savae_lite.modes import training_step

    model.zero_grad(set_to_none=True)
    training_step(model, x, "savae", SVIConfig(steps=k, hvp=hvp), kl_weight=1.0)


@dataclass
class CellTimings:
    """The timed rounds of one (K, hvp) cell: each step and the gradient evaluations around it."""

    k: int
    steps: list[Timing] = field(default_factory=list)
    neighbours: list[list[Timing]] = field(default_factory=list)  # per step: the blocks before and after it

    def add(self, step: Timing, around: list[Timing]) -> None:
        """Record one timed SA-VAE step and the decoder gradient evaluations timed around it."""
        self.steps.append(step)
        self.neighbours.append(around)

    def ratios(self, wall: bool = False) -> list[float]:
        """Each step's ratio to its floor: step seconds / ((2K + 1) x the median of its neighbouring
        gradient evaluations); CPU (or device) seconds, or wall-clock seconds with ``wall``."""
        def sec(t: Timing) -> float:
            return t.wall if wall else t.seconds

        return [sec(s) / ((2 * self.k + 1) * statistics.median(sec(g) for g in around))
                for s, around in zip(self.steps, self.neighbours)]

    def is_stable(self, rel_iqr: float) -> bool:
        """Whether there are at least two steps and the ratios' IQR / median is at most ``rel_iqr``."""
        return len(self.steps) >= 2 and Spread.of(self.ratios()).rel_iqr <= rel_iqr

    def fields(self) -> dict:
        """The cell's record fields: medians and quartiles of step, gradient evaluation and ratio,
        their wall-clock medians, the number of repeats and every ratio."""
        grad_evals = [g for around in self.neighbours for g in around]
        wall_ratio = Spread.of(self.ratios(wall=True))
        return {**Spread.of([s.seconds for s in self.steps]).fields("step_s", 5),
                **Spread.of([g.seconds for g in grad_evals]).fields("grad_eval_s", 5),
                **Spread.of(self.ratios()).fields("ratio_to_floor", 4),
                "repeats": len(self.steps),
                "step_wall_s": round(statistics.median(s.wall for s in self.steps), 5),
                "grad_eval_wall_s": round(statistics.median(g.wall for g in grad_evals), 5),
                "ratio_to_floor_wall": round(wall_ratio.median, 4),
                "ratio_to_floor_wall_iqr": round(wall_ratio.iqr, 4),
                "ratio_all": [round(r, 4) for r in self.ratios()]}


def _measure_memory_cells(name, model, x, bc: BenchConfig, device, log) -> tuple[dict, dict]:
    """Peak memory per cell, and the exact-HVP cells skipped because they would not fit."""
    limit = bc.memory_limit_gb
    avail = available_memory_gb()
    if avail is not None:
        limit = min(limit, 0.5 * avail)
    memory: dict[Cell, dict] = {}
    skipped: dict[Cell, str] = {}
    measure_memory(lambda: savae_gradients(model, x, 1, "fd"), device)  # warm-up of the tracker
    for hvp in HVPS:
        prev = None
        for k in bc.ks:
            if hvp == "exact" and prev is not None:
                estimate_gb = prev[1] * k / prev[0] / 1024
                if estimate_gb > limit:
                    skipped[(k, hvp)] = f"skipped: extrapolated peak {estimate_gb:.1f} GB > limit {limit:.1f} GB"
                    continue
            memory[(k, hvp)] = measure_memory(lambda: savae_gradients(model, x, k, hvp), device)
            model.zero_grad(set_to_none=True)
            prev = (k, memory[(k, hvp)]["peak_mem_mb"])
            log(f"  {name:5s} memory  hvp={hvp:5s} K={k:2d}: {memory[(k, hvp)]}")
    return memory, skipped


def _time_cells(name, model, x, cells: list[Cell], bc: BenchConfig, clock: Clock, log) -> dict[Cell, CellTimings]:
    """The interleaved schedule of the module docstring."""
    params = [p for p in model.decoder_parameters() if p.requires_grad]
    with torch.no_grad():
        mu, logvar = model.encode(x)

    def grad_eval() -> None:
        decoder_grad_eval(model, x, mu, logvar, params)

    def grad_eval_block() -> list[Timing]:
        return [clock.measure(grad_eval) for _ in range(bc.grad_evals_per_block)]

    grad_eval()  # warm-up
    timings = {c: CellTimings(c[0]) for c in cells}
    before = grad_eval_block()
    for rnd in range(max(bc.repeats, bc.max_repeats)):
        todo = cells if rnd < bc.repeats else [c for c in cells if not timings[c].is_stable(bc.stable_rel_iqr)]
        if not todo:
            break
        for k, hvp in (todo if rnd % 2 == 0 else todo[::-1]):
            step = clock.measure(lambda: savae_gradients(model, x, k, hvp))
            model.zero_grad(set_to_none=True)
            after = grad_eval_block()
            timings[(k, hvp)].add(step, before + after)
            before = after
            log(f"  {name:5s} round {rnd + 1} hvp={hvp:5s} K={k:2d}: step {step.seconds:.3f} s ({clock.kind}), "
                f"ratio to floor {timings[(k, hvp)].ratios()[-1]:.3f}")
    return timings


def bench_savae_steps(name: str, model, x, bc: BenchConfig, device: torch.device, log=print) -> list[dict]:
    """Rows of ``savae_step`` for one model: memory (separate runs) then timing (interleaved rounds)."""
    model.train()
    savae_gradients(model, x, 1, "fd")  # warm-up: lazy initialisation of kernels and threads
    savae_gradients(model, x, 1, "exact")
    memory, skipped = _measure_memory_cells(name, model, x, bc, device, log)
    cells = [(k, hvp) for k in bc.ks for hvp in HVPS]
    clock = Clock(device)
    timings = _time_cells(name, model, x, [c for c in cells if c not in skipped], bc, clock, log)
    rows = []
    for k, hvp in cells:
        row = {"model": name, "hvp": hvp, "K": k}
        if (k, hvp) in skipped:
            row.update(**empty_fields("step_s"), **empty_fields("grad_eval_s"), **empty_fields("ratio_to_floor"),
                       peak_mem_mb=None, note=skipped[(k, hvp)])
        else:
            cell = timings[(k, hvp)]
            row.update(**memory[(k, hvp)], clock=clock.kind, stable=cell.is_stable(bc.stable_rel_iqr),
                       **cell.fields())
        rows.append(row)
    return rows


def summarize(rows: list[dict]) -> dict:
    """Per model: the worst fd ratio, fd memory growth from the smallest to the largest K, whether fd needs less
    memory than exact at every K, the largest relative IQR of a ratio and the cells that were not stable."""
    out = {}
    for name in sorted({r["model"] for r in rows}):
        mine = {(r["hvp"], r["K"]): r for r in rows if r["model"] == name}
        ks = sorted({k for _, k in mine})
        fd = [mine[("fd", k)]["ratio_to_floor"] for k in ks if mine[("fd", k)]["ratio_to_floor"] is not None]
        s: dict = {"fd_max_ratio_to_floor": max(fd) if fd else None}
        lo, hi = ks[0], ks[-1]
        mem = {(hvp, k): mine[(hvp, k)].get("peak_mem_mb") for hvp in HVPS for k in ks}
        if mem[("fd", lo)] and mem[("fd", hi)]:
            s[f"fd_memory_K{hi}_over_K{lo}"] = round(mem[("fd", hi)] / mem[("fd", lo)], 3)
        below = [mem[("fd", k)] < mem[("exact", k)] for k in ks if None not in (mem[("fd", k)], mem[("exact", k)])]
        s["fd_memory_below_exact"] = all(below) if below else None
        timed = [r for r in mine.values() if r["ratio_to_floor"] is not None]
        s["max_ratio_rel_iqr"] = (round(max(r["ratio_to_floor_iqr"] / r["ratio_to_floor"] for r in timed), 4)
                                  if timed else None)
        s["unstable_cells"] = [f"{r['hvp']} K={r['K']}" for r in timed if not r["stable"]]
        out[name] = s
    return out
