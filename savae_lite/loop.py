"""The one training loop: every experiment in the package and the book trains through :class:`TrainingLoop`.

Chapter: *SA-VAE* (the training loop). One optimiser step is::

    zero the gradients -> modes.training_step (the mode's gradients, KL weight from
    the annealing schedule) -> finiteness check of loss and gradient norm
    -> global gradient-norm clip -> optimiser step

and one epoch is that step over a list of batches, with running totals and a tqdm progress bar.
:class:`~savae_lite.train.Trainer` adds data, validation, the learning-rate schedule, checkpoints and the run
record; the synthetic experiment and the toy fits of the first chapters use the loop directly. Passing
``params`` trains only those parameters (e.g. the encoder against a frozen generator). A mode with hooks
(:mod:`savae_lite.hooks`) gets its ``before_step`` call inside every step and its state saved with the loop's.

On several processes (``dist``, :mod:`savae_lite.distributed`) a step takes the *global* batch: each rank runs
the mode's step on its chunk of the rows, then the gradients (weighted by chunk size) and the step's totals are
summed over the ranks before the finiteness check and the clip, so every rank takes the same optimiser step.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch
from tqdm.auto import tqdm

from savae_lite.distributed import Distributed
from savae_lite.modes import Mode, StepStats, get_mode, training_step
from savae_lite.objectives import kl_weight_at, perplexity
from savae_lite.svi import SVIConfig

OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}
ON_NAN = ("stop", "skip")


def make_optimizer(params: Iterable[torch.nn.Parameter], name: str, lr: float) -> torch.optim.Optimizer:
    """``sgd`` (text, the paper) or ``adam`` (images) over ``params`` with learning rate ``lr``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"--optimizer: {name!r} is not one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](list(params), lr=lr)


@dataclass
class EpochTotals:
    """Sums over the finished steps of one epoch (plain numbers, so they go into a checkpoint)."""

    loss: float = 0.0
    nll: float = 0.0
    kl: float = 0.0
    n: int = 0  # examples
    tokens: float = 0.0  # predicted symbols
    time: float = 0.0  # seconds spent in steps
    skipped: int = 0  # batches skipped for a non-finite loss (``on_nan='skip'``)
    clip_fired: int = 0  # hvp='original': reverse SVI steps whose joint clip fired, of ``clip_steps``
    clip_steps: int = 0

    def add(self, stats: StepStats | None, seconds: float) -> None:
        """Add one step's :class:`~savae_lite.modes.StepStats` and its seconds (``None``: a skipped step)."""
        self.time += seconds
        if stats is None:
            self.skipped += 1
            return
        self.loss += stats.loss
        self.nll += stats.nll
        self.kl += stats.kl
        self.n += stats.n
        self.tokens += stats.tokens
        self.clip_fired += stats.clip_fired
        self.clip_steps += stats.clip_steps

    def means(self) -> dict:
        """Per-example means: ``loss`` (what was differentiated), ``nll``, ``kl`` and the bound's perplexity;
        with ``hvp='original'`` also ``hvp_clip_fired``, the share of reverse SVI steps whose joint clip fired."""
        n = max(self.n, 1)
        out = {"loss": self.loss / n, "nll": self.nll / n, "kl": self.kl / n,
               "ppl_bound": perplexity(self.nll + self.kl, self.tokens) if self.tokens else None}
        if self.clip_steps:  # hvp='original': the share of reverse steps whose joint clip fired
            out["hvp_clip_fired"] = self.clip_fired / self.clip_steps
        return out

    def to_dict(self) -> dict:
        """The totals as a plain dict (for the run record)."""
        return dataclasses.asdict(self)


class TrainingLoop:
    """Optimiser, KL annealing, clipping and NaN policy around :func:`savae_lite.modes.training_step`.

    ``kl_start`` / ``kl_warmup_steps``: the KL weight rises linearly from ``kl_start`` to 1 over that many steps
    (0: weight 1 throughout). ``grad_clip``: global norm clip (0: off). ``on_nan``: ``'stop'`` raises
    ``FloatingPointError`` naming the step, ``'skip'`` drops the batch. ``step_count`` is the global step.
    ``dist``: this process's place among several (None: one process; see :mod:`savae_lite.distributed`).
    """

    def __init__(self, model, mode: str | Mode, svi: SVIConfig, *, optimizer: str = "adam", lr: float = 1e-3,
                 grad_clip: float = 5.0, kl_start: float = 1.0, kl_warmup_steps: int = 0,
                 params: Sequence[torch.nn.Parameter] | None = None, on_nan: str = "stop",
                 progress: bool = False, dist: Distributed | None = None):
        if on_nan not in ON_NAN:
            raise ValueError(f"--on-nan: {on_nan!r} is not one of {', '.join(ON_NAN)}")
        self.model, self.mode, self.svi = model, get_mode(mode), svi
        self.params = list(params) if params is not None else [p for p in model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(self.params, optimizer, lr)
        self.grad_clip, self.on_nan, self.progress = grad_clip, on_nan, progress
        self.kl_start, self.kl_warmup_steps = kl_start, kl_warmup_steps
        self.step_count = 0
        self.dist = dist
        self.hooks = self.mode.hooks()  # the mode's own per-run behaviour and state (:mod:`savae_lite.hooks`)

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters."""
        return next(self.model.parameters()).device

    def kl_weight(self) -> float:
        """The KL weight of the next step."""
        return kl_weight_at(self.step_count, self.kl_start, self.kl_warmup_steps)

    @property
    def rank(self) -> int:
        """This process's rank among several (0 for one process)."""
        return self.dist.rank if self.dist is not None else 0

    def local_batch(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This process's rows of the global batch x (N, ...) and their share n_r / N (one process: x, 1)."""
        return (x, 1.0) if self.dist is None else self.dist.shard(x)

    def sync_gradients(self, weight: float, sums: Sequence[float] = (), failed: bool = False) -> list[float]:
        """Several processes: the trained parameters' ``.grad`` become the global batch's (see
        :meth:`savae_lite.distributed.Distributed.sync_gradients`) and ``sums`` are summed over the ranks;
        FloatingPointError on every rank when one ``failed``. One process: ``sums`` unchanged."""
        if self.dist is None:
            return list(sums)
        total, any_failed = self.dist.sync_gradients(self.params, weight, sums, failed)
        if any_failed:
            raise FloatingPointError("non-finite values on another process")
        return total

    def _mode_step(self, x: torch.Tensor) -> StepStats:
        """The mode's gradients of the (global) batch x in ``.grad`` and its totals."""
        if self.dist is None:
            return training_step(self.model, x, self.mode, self.svi, self.kl_weight())
        local, weight = self.dist.shard(x)
        stats, failure = StepStats(0.0, 0.0, 0.0, 0, 0.0), None
        if local.shape[0]:  # an empty chunk (fewer rows than processes) contributes nothing
            try:
                stats = training_step(self.model, local, self.mode, self.svi, self.kl_weight())
            except FloatingPointError as err:  # e.g. non-finite SVI iterates: every rank must stop together
                failure = err
        try:
            loss, nll, kl, n, tokens = self.sync_gradients(
                weight, [stats.loss, stats.nll, stats.kl, stats.n, stats.tokens], failed=failure is not None)
        except FloatingPointError:
            raise failure if failure is not None else FloatingPointError(
                "non-finite values on another process") from None
        return StepStats(loss, nll, kl, int(round(n)), tokens)

    def clip_and_check(self, where: str) -> None:
        """Global gradient-norm clip of the trained parameters; FloatingPointError naming ``where`` when the
        norm is not finite."""
        limit = self.grad_clip if self.grad_clip > 0 else math.inf
        gnorm = torch.nn.utils.clip_grad_norm_(self.params, limit)
        if not torch.isfinite(gnorm):
            raise FloatingPointError(f"non-finite gradient norm ({float(gnorm)}) {where}")

    def step(self, x: torch.Tensor, pool: Sequence[torch.Tensor] | None = None) -> StepStats | None:
        """One optimiser step on the batch x; None when the batch was skipped (``on_nan='skip'``).

        ``pool``: the epoch's batches, from which the mode's hooks may draw extra batches (mode ``aggressive``:
        its encoder-only steps; default: x alone)."""
        where = f"at step {self.step_count} in mode {self.mode.name!r}"
        try:  # NaN/inf in the loss, in the SVI iterates (raised inside the step) or in the gradients
            held = self.hooks.before_step(self, x, pool if pool is not None else [x])
            self.model.zero_grad(set_to_none=True)  # all of them: a frozen generator's gradients are discarded
            stats = self._mode_step(x)
            stats.check_finite(self.mode.name, self.step_count)
            self.clip_and_check(where)
        except FloatingPointError as err:
            self.step_count += 1
            self.model.zero_grad(set_to_none=True)
            if self.on_nan == "stop":
                raise FloatingPointError(str(err) if where in str(err) else f"{err} {where}") from None
            return None
        for p in held:  # what the hooks hold still this time (aggressive: the encoder while it catches up)
            p.grad = None
        self.optimizer.step()
        self.step_count += 1
        return stats

    def run_epoch(self, batches: Sequence[torch.Tensor], *, start: int = 0, totals: EpochTotals | None = None,
                  desc: str = "", after_step: Callable[[int], None] | None = None) -> EpochTotals:
        """Steps over ``batches[start:]`` (the model in train mode); returns the epoch's totals.

        ``totals`` continues the sums of a resumed epoch; ``after_step(i)`` is called after batch i (1-based
        count of finished batches), e.g. to write a checkpoint.
        """
        self.model.train()
        totals = totals if totals is not None else EpochTotals()
        bar = tqdm(total=len(batches), initial=start, desc=desc, disable=not self.progress, leave=False,
                   dynamic_ncols=True)
        device = self.device
        for i in range(start, len(batches)):
            t0 = time.perf_counter()
            stats = self.step(batches[i].to(device, non_blocking=True), pool=batches)
            totals.add(stats, time.perf_counter() - t0)
            if totals.n:
                m = totals.means()
                # plain float formatting: inf and nan print as such (a diverging run is stopped, with its step
                # number, by the finiteness checks of step(), never by the progress bar)
                bar.set_postfix(loss=f"{m['loss']:.2f}", kl=f"{m['kl']:.2f}",
                                ppl=f"{m['ppl_bound']:.1f}" if m["ppl_bound"] is not None else "-", refresh=False)
            bar.update(1)
            if after_step is not None:
                after_step(i + 1)
        bar.close()
        return totals

    def state_dict(self) -> dict:
        """Optimiser state, global step and, for a mode whose hooks have a ``key``, the hooks' state under it."""
        state = {"optimizer": self.optimizer.state_dict(), "step_count": self.step_count}
        if self.hooks.key is not None:
            state[self.hooks.key] = self.hooks.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output (KeyError when the hooks' state is missing from it)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.step_count = state["step_count"]
        if self.hooks.key is not None:
            self.hooks.load_state_dict(state[self.hooks.key])
