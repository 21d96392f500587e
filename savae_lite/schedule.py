"""Learning-rate halving driven by the validation bound, as a ``torch.optim.lr_scheduler.LambdaLR`` factor.

Chapter: *SA-VAE* (the training loop) describes the original's schedule. Two policies, both starting at epoch
``start_epoch``:

* ``'original'`` — the original code's ``train_text.py``: the first epoch (>= start) whose validation bound
  does not improve turns decay on, and from then on the rate is halved after **every** epoch;
* ``'plateau'`` — halve only after epochs (>= start) that did not improve.

Training stops once the rate falls below ``min_lr`` (see :class:`savae_lite.train.Trainer`). The factor object
is stateful and plain (floats and bools), so ``LambdaLR.state_dict()`` saves it with the checkpoint.
"""
from __future__ import annotations

import torch

LR_POLICIES = ("original", "plateau")


class ValidationHalving:
    """The multiplicative factor of the base learning rate; ``LambdaLR`` calls it, :meth:`epoch_end` moves it."""

    def __init__(self, start_epoch: int, factor: float = 0.5, policy: str = "original"):
        if policy not in LR_POLICIES:
            raise ValueError(f"--lr-schedule: {policy!r} is not one of {', '.join(LR_POLICIES)}")
        self.start_epoch, self.factor, self.policy = start_epoch, factor, policy
        self.scale = 1.0
        self.decaying = False

    def __call__(self, epoch: int) -> float:
        """The factor for ``LambdaLR`` (the same at every epoch until :meth:`epoch_end` moves it)."""
        return self.scale

    def epoch_end(self, epoch: int, improved: bool) -> None:
        """Record epoch ``epoch`` (1-based) and whether it improved the best validation bound."""
        if self.start_epoch <= 0 or epoch < self.start_epoch:
            return
        if self.policy == "plateau":
            if not improved:
                self.scale *= self.factor
            return
        self.decaying = self.decaying or not improved
        if self.decaying:
            self.scale *= self.factor


def validation_scheduler(optimizer: torch.optim.Optimizer, start_epoch: int, factor: float = 0.5,
                         policy: str = "original") -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` whose factor is a :class:`ValidationHalving` (``scheduler.lr_lambdas[0]``)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, ValidationHalving(start_epoch, factor, policy))
