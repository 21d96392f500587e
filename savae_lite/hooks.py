"""What a stateful training mode adds to training, in one object that the loop and the trainer call generically.

Chapter: *SA-VAE* (the training loop); aggressive training (:mod:`savae_lite.aggressive`, chapter *Text VAEs and
posterior collapse*) is the one mode that uses every hook. A :class:`~savae_lite.modes.Mode` names a hooks class
(``Mode.hooks``); each :class:`~savae_lite.loop.TrainingLoop` makes one instance of it and keeps it as
``loop.hooks``. The calls, in the order a run makes them:

* :meth:`ModeHooks.before_step` -- the loop, before the mode's step on every batch (inside the NaN policy, so a
  non-finite value raised here stops or skips the batch like one raised by the step);
* :meth:`ModeHooks.after_update` -- the trainer, after every optimiser step (before its checkpoint and stop
  checks);
* :meth:`ModeHooks.epoch_end` -- the trainer, once an epoch has been validated, before the epoch's entry is
  added to the run record;
* :meth:`ModeHooks.state_dict` / :meth:`ModeHooks.load_state_dict` -- with ``key`` set, the state is stored as
  ``loop.state_dict()[key]`` (so in ``last.pt``, and a resumed run continues it) and copied into every epoch
  entry of ``results.json`` under the same key.

The base class does nothing, which is what the stateless modes use. On several processes every rank makes the
same calls at the same points, so a hook that validates (``RunView.validate``) does so on all ranks together.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import torch


@dataclass(frozen=True)
class RunView:
    """What a mode's hooks see of a :class:`~savae_lite.train.Trainer` run at one moment."""

    settings: Any  # the run's TrainConfig: a mode reads its own options here
    epoch: int  # 1-based: the epoch under way (after_update) or the one just validated (epoch_end)
    step: int  # optimiser steps taken so far (the loop's global step count)
    validate: Callable[[], dict]  # validation metrics without test-time SVI (every rank must call it together)
    say: Callable[[str], None]  # one progress line (shown only with progress on, by the writing process)


class ModeHooks:
    """The optional behaviour of a training mode beyond its step function; the base class does nothing.

    ``key``: where the hooks' state lives in the loop's checkpoint state and in each epoch entry of the run
    record (None: the hooks keep no state worth saving).
    """

    key: str | None = None

    def before_step(self, loop, x: torch.Tensor, pool: Sequence[torch.Tensor]) -> Iterable[torch.nn.Parameter]:
        """Called by ``loop`` before the mode's step on the batch ``x`` (B, ...); ``pool`` holds the epoch's
        batches (or ``[x]``). Returns the parameters the ordinary step must leave unchanged this time (their
        gradients are dropped before the optimiser step)."""
        return ()

    def after_update(self, run: RunView) -> None:
        """Called by the trainer after every optimiser step."""

    def epoch_end(self, run: RunView, valid: dict) -> None:
        """Called by the trainer after epoch ``run.epoch`` with its validation metrics ``valid`` (a dict of
        floats: ``nll_bound``, ``kl``, ``mi``, ... as :func:`savae_lite.evaluate.evaluate` returns them)."""

    def state_dict(self) -> dict:
        """The hooks' state (plain values, so it can go into a checkpoint and into JSON)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
