"""Aggressive inference-network training (He, Spokoyny, Neubig, Berg-Kirkpatrick 2019, "Lagging inference
networks and posterior collapse"): the cheap remedy for collapse that the text chapter sets beside SA-VAE.

Chapter: *Text VAEs and posterior collapse*. Before each ordinary VAE step, while the schedule is active, the
encoder alone is trained on the amortised ELBO -- first on the step's own batch, then on random training batches
-- until it catches up with the decoder: every ``check_every`` inner steps, the mean loss per predicted symbol of
those steps is compared with the previous block's, and the inner loop stops once it rose (at most
``max_inner_steps - 1`` inner steps). The ordinary step then updates the decoder only. At every check the
mutual information I(x; z) on the validation set is compared with the previous check's; the first time it falls,
the schedule switches off for good and training continues as a plain VAE (both networks every step).

Everything the mode adds to training lives here, in :class:`AggressiveTraining` (the hooks of
:mod:`savae_lite.hooks` that ``Mode("aggressive", ...)`` names): the catch-up before each step, the MI checks and
the schedule's state, which goes into ``last.pt`` and into each epoch entry of ``results.json`` under the key
``"aggressive"``.

When to check: He et al.'s code checks after every epoch, and their Yahoo epoch is about 3,125 updates
(100,000 documents in batches of 32). On a smaller data set an epoch is far fewer updates, so the check comes
earlier in training and more often, and the MI estimate's own noise can switch the schedule off before the encoder
has caught up. ``TrainConfig.aggressive_mi_every`` therefore counts updates: the check runs every that many
optimiser steps (default 3,125, their Yahoo epoch); 0 checks at every epoch's end, as their code does.

This follows the reference implementation (``jxhe/vae-lagging-encoder``, ``text.py``), read, not copied: its
separate encoder and decoder SGD optimisers are one optimiser here whose step skips the parameters without a
gradient (identical for SGD and for Adam, which keeps per-parameter state).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch

from savae_lite.hooks import ModeHooks, RunView
from savae_lite.objectives import elbo_terms


@dataclass
class AggressiveSchedule:
    """The state of aggressive training: whether it is still on and the last validation MI (checkpointed)."""

    max_inner_steps: int = 100  # the inner loop runs while its counter (from 1) is below this
    check_every: int = 15  # compare the loss per symbol of blocks of this many inner steps
    active: bool = True
    previous_mi: float = 0.0  # the reference code starts from 0
    inner_steps: int = 0  # total encoder-only steps so far (for the record)
    switched_off_after_epoch: int | None = None
    switched_off_at_step: int | None = None
    checks: list = field(default_factory=list)  # [update, validation MI] of every check while active

    def epoch_end(self, epoch: int, mi: float, step: int | None = None) -> None:
        """After epoch ``epoch`` (1-based; the epoch in which update ``step`` falls, for a check every N
        updates) with validation MI ``mi``: switch off the first time MI falls below the previous check's."""
        if not self.active:
            return
        self.checks.append([step, mi])
        if mi - self.previous_mi < 0:
            self.active = False
            self.switched_off_after_epoch, self.switched_off_at_step = epoch, step
        self.previous_mi = mi

    def state_dict(self) -> dict:
        """The schedule's fields as a plain dict, for the resumable checkpoint ``last.pt``."""
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        """Restore the fields written by :meth:`state_dict` (on resume)."""
        for key, value in state.items():
            setattr(self, key, value)


def encoder_catch_up(loop, x: torch.Tensor, pool: Sequence[torch.Tensor], schedule: AggressiveSchedule) -> int:
    """Encoder-only steps before the ordinary step on batch ``x`` (B, T); later inner batches are drawn uniformly
    from ``pool`` with the global torch RNG (so a resumed run draws the same ones). Returns the inner step count.

    ``loop`` is the :class:`~savae_lite.loop.TrainingLoop`: its optimiser, KL weight, clip and finiteness rules
    apply; the decoder's gradients are dropped before each optimiser step, so only the encoder moves. On several
    processes (``loop.dist``) ``x`` and ``pool`` hold global batches: each rank trains on its rows, the gradients
    and the block's loss are summed over the ranks, and rank 0's draw picks the next batch, so every rank takes
    the same inner steps and stops after the same one.
    """
    model, device = loop.model, loop.device
    encoder = set(model.encoder_parameters())
    batch, sub, done = x, 1, 0
    block_loss, block_symbols, previous = 0.0, 0.0, 1e4  # the reference code's starting value
    while sub < schedule.max_inner_steps:
        model.zero_grad(set_to_none=True)
        local, weight = loop.local_batch(batch)  # several processes: this rank's rows of the global batch
        loss_sum, symbols = 0.0, 0.0
        if local.shape[0]:
            mu, logvar = model.encode(local)
            loss = elbo_terms(model, local, mu, logvar).loss(loop.kl_weight())
            loss_sum, symbols = float(loss.detach().sum()), float(model.num_targets(local).sum())
            (loss.sum() / local.shape[0]).backward()
        # several processes: global gradient and totals, and rank 0's draw of the next batch (the others add 0)
        shared = loop.dist is not None
        following = int(torch.randint(len(pool), ())) if shared and loop.rank == 0 else 0
        loss_sum, symbols, following = loop.sync_gradients(weight, [loss_sum, symbols, following])
        block_loss += loss_sum
        block_symbols += symbols
        loop.clip_and_check(f"in an aggressive encoder step before step {loop.step_count}")
        for p in loop.params:
            if p not in encoder:
                p.grad = None
        loop.optimizer.step()
        done += 1
        if not shared:
            following = int(torch.randint(len(pool), ()))
        batch = pool[int(following)].to(device, non_blocking=True)
        if sub % schedule.check_every == 0:
            current = block_loss / max(block_symbols, 1.0)
            if previous - current < 0 or not math.isfinite(current):
                break
            previous, block_loss, block_symbols = current, 0.0, 0.0
        sub += 1
    model.zero_grad(set_to_none=True)
    schedule.inner_steps += done
    return done


class AggressiveTraining(ModeHooks):
    """Mode ``aggressive``'s hooks (:mod:`savae_lite.hooks`): while ``schedule`` is active, the encoder catches
    up before every step and that step then moves the decoder only; validation MI is checked every
    ``TrainConfig.aggressive_mi_every`` updates, or at every epoch's end when that is 0."""

    key = "aggressive"  # the schedule's place in the loop's checkpoint state and in each epoch entry of the record

    def __init__(self):
        self.schedule = AggressiveSchedule()

    def before_step(self, loop, x: torch.Tensor, pool: Sequence[torch.Tensor]):
        """The encoder-only steps of :func:`encoder_catch_up` on ``x`` (B, ...) and ``pool``; returns the encoder's
        parameters (held still by the ordinary step), or nothing once the schedule is off."""
        if not self.schedule.active:
            return ()
        encoder_catch_up(loop, x, pool, self.schedule)
        return tuple(loop.model.encoder_parameters())

    def after_update(self, run: RunView) -> None:
        """Every N-th update (N = ``aggressive_mi_every`` > 0) while on: compare validation MI with the last check."""
        every = run.settings.aggressive_mi_every
        if not self.schedule.active or not every or run.step % every:
            return
        mi = run.validate()["mi"]
        self.schedule.epoch_end(run.epoch, mi, step=run.step)
        run.say(f"update {run.step}: validation MI {mi:.3f}; aggressive training "
                + ("goes on" if self.schedule.active else "switched off"))

    def epoch_end(self, run: RunView, valid: dict) -> None:
        """With ``aggressive_mi_every`` = 0, He et al.'s rule: the check runs on each epoch's validation MI."""
        if not run.settings.aggressive_mi_every:
            self.schedule.epoch_end(run.epoch, valid["mi"], step=run.step)

    def state_dict(self) -> dict:
        """The schedule's state (:meth:`AggressiveSchedule.state_dict`), for ``last.pt``."""
        return self.schedule.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Restore the schedule's state from :meth:`state_dict` (on resume)."""
        self.schedule.load_state_dict(state)
