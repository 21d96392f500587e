"""What a training run's ``results.json`` says at each stage of the run, and the two ways a run ends early.

Chapter: *Introduction* (running long experiments). The record's ``"status"`` is ``"running"`` (with the epochs
so far) while :class:`~savae_lite.train.Trainer` trains, then ``"finished"`` (with the test of the best model),
``"interrupted"`` (a stop signal; the same command resumes: :class:`TrainingInterrupted`) or ``"diverged"``
(with the reason, and no test result reported as if it were one: :class:`TrainingDiverged`). The file itself is
written by :func:`savae_lite.results.write_json` (strict JSON, atomically).
"""
from __future__ import annotations

from pathlib import Path

from savae_lite import results


class TrainingInterrupted(Exception):
    """``Trainer.fit`` stopped on SIGINT/SIGTERM after writing its resumable checkpoint; ``step`` is the number of
    finished optimiser steps, ``signal`` the signal's name."""

    def __init__(self, step: int, signal_name: str, last: Path):
        super().__init__(f"interrupted at step {step}; resume with the same command (by {signal_name}; "
                         f"checkpoint {last})")
        self.step, self.signal = step, signal_name


class TrainingDiverged(FloatingPointError):
    """The run diverged (non-finite validation or test metrics, or most of an epoch's batches skipped as
    non-finite): ``results.json`` says ``"status": "diverged"`` with the reason, and no test result is reported
    as if it were one."""


def started(out: Path, cfg, device, dataset: dict, model, resumed: bool, dist=None) -> dict:
    """The record of a run that (re)starts in folder ``out``: config ``cfg`` (a RunConfig), seed, environment of
    ``device``, data set ``dataset`` (``Splits.info``), parameter count of ``model``, start time, whether it
    ``resumed``, and the process group ``dist`` (:class:`~savae_lite.distributed.Distributed`) when there is one."""
    record = {"run": out.name, "status": "running", "config": cfg.to_dict(), "seed": cfg.train.seed,
              "environment": results.environment(device), "dataset": dataset,
              "parameters": sum(p.numel() for p in model.parameters()), "started": results.stamp(),
              "resumed": resumed}
    if dist is not None:
        record["distributed"] = {"world_size": dist.world_size, "backend": dist.backend}
    return record


def divergence(skipped: int, batches: int, valid: dict, epoch: int) -> str | None:
    """Why the run counts as diverged after the 1-based ``epoch`` (None when it does not): a non-finite
    validation metric in ``valid``, or more than half of the epoch's ``batches`` ``skipped`` for a non-finite loss
    or gradient (``--on-nan skip``)."""
    bad = results.non_finite(valid)
    if bad:
        return f"validation {', '.join(bad)} not finite after epoch {epoch}"
    if skipped * 2 > batches:
        return f"{skipped} of the {batches} batches of epoch {epoch} were skipped as non-finite"
    return None


def interrupted(record: dict, epochs: list, **where) -> dict:
    """``record`` marked interrupted now, with ``where`` (``interrupted_at_step=`` or ``interrupted_during=``)."""
    return {**record, "status": "interrupted", "interrupted": results.stamp(), **where, "epochs": epochs}


def diverged(record: dict, epochs: list, reason: str) -> dict:
    """``record`` marked diverged now, for ``reason``."""
    return {**record, "status": "diverged", "diverged": reason, "finished": results.stamp(), "epochs": epochs}


def finished(record: dict, epochs: list, state: dict, test: dict, test_time: float) -> dict:
    """``record`` completed in place and returned: the ``epochs``, the ``test`` report, the best epoch and the
    skipped batches (from the trainer's ``state``), and the times (training and validation plus ``test_time``)."""
    record.update({
        "status": "finished", "finished": results.stamp(), "epochs": epochs, "test": test,
        "best_epoch": state["best_epoch"], "skipped_batches": state["skipped"],
        "wall_time_s": round(state["wall"] + test_time, 3), "test_time_s": round(test_time, 3),
        "train_time_per_epoch_s": (round(sum(e["train_time_s"] for e in epochs) / len(epochs), 3)
                                   if epochs else None),
    })
    return record
