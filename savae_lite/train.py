"""The trainer: data and model from a :class:`~savae_lite.config.RunConfig`, the training loop of
:mod:`savae_lite.loop`, validation and the learning-rate schedule, best and resumable checkpoints, the final
test report and the run's JSON record.

Chapter: *SA-VAE* (the training loop); the text and image chapters' runs are ``savae-lite train`` runs.

Resumability: the data order of epoch e comes from a generator seeded with (seed, e); ``last.pt`` holds the
model, the loop (optimiser, global step, the mode's hooks), the schedule, the RNG states and the position inside
the epoch, so a killed run restarted with the same config ends with the same parameters as an uninterrupted one.
It is written every ``checkpoint_every`` steps, after ``checkpoint_minutes`` of training since the last write and
after every epoch; a resume falls back to ``last.prev.pt`` when it is damaged (:mod:`savae_lite.resume`).

Stopping (:mod:`savae_lite.signals`): SIGINT (Ctrl-C) or SIGTERM while :meth:`Trainer.fit` runs lets the current
step finish, writes ``last.pt``, marks ``results.json`` ``"status": "interrupted"`` and raises
:class:`~savae_lite.run_record.TrainingInterrupted`; the same command resumes. A second signal stops at once. A
diverged run raises :class:`~savae_lite.run_record.TrainingDiverged` (:mod:`savae_lite.run_record`: what the
record says at each stage). Both exceptions can be imported from here as well.

Several processes (``torchrun``; ``dist``, see :mod:`savae_lite.distributed`): every rank trains on its rows of
each global batch with its own noise stream; rank 0 alone validates (and sends the numbers to the others), tests,
and writes the checkpoints (with every rank's RNG state) and ``results.json``; every rank resumes from the same
``last.pt``. Decisions that must agree (stop on a signal, write a checkpoint) are taken on all ranks together.
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from savae_lite import checkpoint, locks, results, resume, run_record
from savae_lite.atomic import remove_stale_temporaries
from savae_lite.build import build_data, build_model
from savae_lite.config import RunConfig
from savae_lite.data.splits import Splits
from savae_lite.distributed import Distributed, rank_seed
from savae_lite.evaluate import evaluate, test_report
from savae_lite.hooks import RunView
from savae_lite.loop import EpochTotals, TrainingLoop
from savae_lite.run_record import TrainingDiverged, TrainingInterrupted  # raised here, imported from here
from savae_lite.runtime import apply_thread_policy, pick_device, set_seed
from savae_lite.schedule import validation_scheduler
from savae_lite.signals import STOP_SIGNALS, StopRequest  # noqa: F401 (STOP_SIGNALS: importable here too)
from savae_lite.validation import check_out_dir, validate


class Trainer:
    """Train ``cfg`` (data and model built from it unless given) and write ``out_dir/results.json``."""

    def __init__(self, cfg: RunConfig, splits: Splits | None = None, model=None, dist: Distributed | None = None):
        validate(cfg)  # every field, with the offending option's flag in the message
        check_out_dir(cfg.train.out_dir)  # an unusable --out-dir fails now, not after an epoch of training
        self.cfg = cfg
        tc = cfg.train
        self.dist = dist  # None: one process
        self.device = dist.device if dist is not None else pick_device(tc.device)
        self.threads = apply_thread_policy(tc.threads)  # --threads; OpenMP threads idle passively
        self.splits = splits if splits is not None else build_data(cfg)
        vocab_size = len(self.splits.vocab) if self.splits.vocab is not None else None
        set_seed(tc.seed)
        self.model = (model if model is not None else build_model(cfg, vocab_size)).to(self.device)
        self.loop = TrainingLoop(self.model, tc.mode, tc.svi, optimizer=tc.optimizer, lr=tc.lr,
                                 grad_clip=tc.grad_clip, kl_start=tc.kl_start, on_nan=tc.on_nan,
                                 progress=tc.progress and self.is_main, dist=dist)
        if dist is not None:
            dist.broadcast_parameters(self.model)
        self.scheduler = validation_scheduler(self.loop.optimizer, tc.decay_start_epoch, tc.lr_decay,
                                              tc.lr_schedule)
        self.out = Path(tc.out_dir)
        self.vocab = self.splits.vocab.to_dict() if self.splits.vocab is not None else None  # for the checkpoints
        self.state = {"epoch": 0, "step_in_epoch": 0, "best_val": math.inf, "best_epoch": -1, "skipped": 0,
                      "wall": 0.0, "totals": EpochTotals().to_dict()}
        self.history: list[dict] = []
        self.record: dict = {}
        self.stop = StopRequest()  # the SIGINT/SIGTERM that came while fit runs (savae_lite.signals)
        self._last_save = time.monotonic()  # when last.pt was last written (the checkpoint_minutes rule)

    @property
    def is_main(self) -> bool:
        """Whether this process writes the files (always with one process, rank 0 with several)."""
        return self.dist is None or self.dist.is_main

    def _write_record(self, record: dict) -> None:
        if self.is_main:
            results.write_json(record, self.out / "results.json")

    @property
    def lr(self) -> float:
        """The optimiser's current learning rate."""
        return self.loop.optimizer.param_groups[0]["lr"]

    def _parameters_finite(self, what: str) -> bool:
        """Whether checkpoint ``what`` may be written (:func:`savae_lite.checkpoint.parameters_finite`)."""
        where = f"at step {self.loop.step_count} in mode {self.cfg.train.mode!r}"
        return checkpoint.parameters_finite(self.model, what, where, self.cfg.train.on_nan, self.out / "last.pt")

    def save_last(self) -> None:
        """Write the resumable ``last.pt`` (:func:`savae_lite.resume.save`; every rank calls it together)."""
        if not self._parameters_finite("checkpoint last.pt"):
            return
        resume.save(self.out / "last.pt", {
            "model": self.model.state_dict(), "loop": self.loop.state_dict(), "scheduler": self.scheduler.state_dict(),
            "state": self.state, "history": self.history, "config": self.cfg.to_dict(), "vocab": self.vocab,
        }, self.device, self.dist)
        self._last_save = time.monotonic()

    def save_best(self) -> None:
        """Write ``best.pt`` (model weights, config, vocabulary, epoch) atomically; rank 0 only, and
        only while the parameters are finite."""
        if not self._parameters_finite("checkpoint best.pt") or not self.is_main:
            return
        checkpoint.atomic_save({"model": self.model.state_dict(), "config": self.cfg.to_dict(),
                                "vocab": self.vocab, "epoch": self.state["epoch"]}, self.out / "best.pt")

    def try_resume(self) -> bool:
        """Continue from ``last.pt`` (or its previous version; see :mod:`savae_lite.resume`) when there is
        one: model, loop, schedule, position, history and this rank's random streams. False when there is none."""
        found = resume.load_resumable_on_all(self.out / "last.pt", self.dist)
        if found is None:
            return False
        ck, path = found
        resume.check_resumable(ck, path, self.cfg.to_dict())
        resume.restore_states(ck, path, model=self.model, loop=self.loop, scheduler=self.scheduler)
        self.state, self.history = ck["state"], ck["history"]
        rank = self.dist.rank if self.dist is not None else 0
        resume.restore_rng(ck, rank, self.device, fresh_seed=self.cfg.train.seed + 1 + self.loop.step_count)
        return True

    def evaluate(self, batches, refine: bool) -> dict:
        """Metrics of the current model on ``batches``, refined by the test-time SVI when ``refine``."""
        return evaluate(self.model, batches, refine=self.cfg.test_svi() if refine else None,
                        init=self.loop.mode.init, device=self.device)

    def _validate(self, refine: bool | None = None) -> dict:
        """Validation metrics (refined by test-time SVI when the mode refines, unless ``refine`` says); with
        several processes rank 0 evaluates and every rank gets its numbers (the schedule, the best checkpoint and
        the mode's hooks decide alike everywhere)."""
        refine = self.loop.mode.refines if refine is None else refine
        if self.dist is None:
            return self.evaluate(self.splits.valid, refine=refine)
        val = self.evaluate(self.splits.valid, refine=refine) if self.is_main else None
        return self.dist.broadcast_object(val)

    def _interrupt(self, save: bool) -> None:
        """Write the resumable checkpoint (unless just written) and the interrupted record, then stop."""
        if save:
            self.save_last()
        step = self.loop.step_count
        self._write_record(run_record.interrupted(self.record, self.history, interrupted_at_step=step))
        raise TrainingInterrupted(step, self.stop.name, self.out / "last.pt")

    def fit(self, resume: bool = True) -> dict:
        """Train until ``epochs`` or ``lr < min_lr``; then test the best model. Returns the results record.
        Raises :class:`~savae_lite.run_record.TrainingInterrupted` after SIGINT/SIGTERM (checkpoint written; run
        again to resume). A signal that arrives after the last epoch lets the test finish; ``late_stop_signal``
        then names it, so that a caller running several trainings (a study) stops before the next one."""
        self.late_stop_signal = None
        lock = locks.locked(self.out, locks.RUN_LOCK) if self.is_main else contextlib.nullcontext()
        with lock, self.stop.catching():  # one run at a time in a folder (rank 0 holds it for all ranks)
            out = self._fit(resume)
            if self.stop.requested:  # it came while the finished run was tested: the run is complete
                self.late_stop_signal = self.stop.name
            return out

    def _fit(self, resume: bool) -> dict:
        tc = self.cfg.train
        for name in ("last.pt", "last.prev.pt", "best.pt", "results.json"):  # temporaries of a killed write
            if self.is_main:
                remove_stale_temporaries(self.out / name)
        resumed = self.try_resume() if resume else False
        self._last_save = time.monotonic()
        if not resumed:
            # the training stream starts from a known state (rank r of several: a stream of its own)
            set_seed(rank_seed(tc.seed + 1, self.dist.rank) if self.dist is not None else tc.seed + 1)
        self.record = run_record.started(self.out, self.cfg, self.device, self.splits.info, self.model, resumed,
                                         self.dist)
        while self.state["epoch"] < tc.epochs and not self._lr_exhausted():
            epoch = self.state["epoch"]
            gen = torch.Generator().manual_seed(tc.seed * 1000 + epoch)
            batches = self.splits.train_batches(gen)
            if tc.max_steps_per_epoch:
                batches = batches[: tc.max_steps_per_epoch]
            self.loop.kl_warmup_steps = int(round(tc.kl_warmup_epochs * len(batches)))
            totals = self._train_epoch(epoch, batches)
            t0 = time.perf_counter()
            val = self._validate()
            if totals.skipped and self.is_main:
                print(f"savae-lite: epoch {epoch + 1}: {totals.skipped} of {len(batches)} batches skipped (non-finite "
                      "loss or gradient)", file=sys.stderr, flush=True)
            reason = run_record.divergence(totals.skipped, len(batches), val, epoch + 1)  # None: not diverged
            self._end_epoch(epoch, totals, val, time.perf_counter() - t0)
            if reason:
                self._diverge(reason)
            self.save_last()
            self._write_record({**self.record, "epochs": self.history})
            if self.stop.agree(self.dist)[1]:  # the signal came during validation: last.pt is already written
                self._interrupt(save=False)
        return self._finish()

    def _diverge(self, reason: str) -> None:
        """Record ``"status": "diverged"`` with ``reason`` and stop (the checkpoints on disk stay the last good
        ones)."""
        self._write_record(run_record.diverged(self.record, self.history, reason))
        raise TrainingDiverged(f"the run diverged: {reason} (mode {self.cfg.train.mode!r}, lr {self.cfg.train.lr}); "
                               f"results.json says status 'diverged'; try a smaller --lr")

    def _lr_exhausted(self) -> bool:
        """The schedule has decayed the learning rate below ``min_lr`` (the original's stop rule)."""
        return self.lr < self.cfg.train.lr and self.lr < self.cfg.train.min_lr

    def _train_epoch(self, epoch: int, batches) -> EpochTotals:
        """The loop over this epoch's batches from where a resumed run stopped, with periodic checkpoints (every
        ``checkpoint_every`` steps and after ``checkpoint_minutes`` since the last write) and the stop on a
        signal."""
        st, every = self.state, self.cfg.train.checkpoint_every
        seconds = self.cfg.train.checkpoint_minutes * 60.0
        totals = EpochTotals(**st["totals"])

        def after_step(done: int) -> None:
            st["step_in_epoch"], st["totals"] = done, totals.to_dict()
            self.loop.hooks.after_update(self._run_view(epoch + 1))
            by_time = seconds > 0 and time.monotonic() - self._last_save >= seconds
            by_time, stop = self.stop.agree(self.dist, by_time)
            if stop:
                self._interrupt(save=True)
            by_steps = bool(every) and self.loop.step_count % every == 0
            if (by_steps or by_time) and done < len(batches):
                self.save_last()

        try:
            self.loop.run_epoch(batches, start=st["step_in_epoch"], totals=totals, after_step=after_step,
                                desc=f"epoch {epoch + 1}/{self.cfg.train.epochs}")
        except FloatingPointError as err:
            last = self.out / "last.pt"
            raise FloatingPointError(f"{err}; training stopped, the last good checkpoint is {last}"
                                     + ("" if last.exists() else " (none written yet)")) from None
        return totals

    def _run_view(self, epoch: int) -> RunView:
        """What the mode's hooks see of this run during (or at the end of) the 1-based ``epoch``."""
        say = tqdm.write if self.cfg.train.progress and self.is_main else (lambda line: None)
        return RunView(self.cfg.train, epoch, self.loop.step_count, lambda: self._validate(refine=False), say)

    def _end_epoch(self, epoch: int, totals: EpochTotals, val: dict, val_time: float) -> None:
        tc, st = self.cfg.train, self.state
        train = totals.means()
        metric = val["nll"] if "nll" in val else val["nll_bound"]
        improved = metric < st["best_val"]
        st["skipped"] += totals.skipped
        entry = {"epoch": epoch + 1, "lr": self.lr, "kl_weight": self.loop.kl_weight(), "train": train,
                 "valid": val, "train_time_s": round(totals.time, 3), "valid_time_s": round(val_time, 3),
                 "skipped_batches": st["skipped"]}
        hooks = self.loop.hooks  # a stateful mode's check and its state in the record (aggressive: MI and schedule)
        hooks.epoch_end(self._run_view(epoch + 1), val)
        if hooks.key is not None:
            entry[hooks.key] = hooks.state_dict()
        self.history.append(entry)
        st["wall"] += totals.time + val_time
        st["epoch"], st["step_in_epoch"], st["totals"] = epoch + 1, 0, EpochTotals().to_dict()
        if improved:
            st["best_val"], st["best_epoch"] = metric, epoch + 1
            self.save_best()
        self.scheduler.lr_lambdas[0].epoch_end(epoch + 1, improved)
        self.scheduler.step()
        if tc.progress and self.is_main:
            tqdm.write(f"epoch {epoch + 1}: train loss {train['loss']:.3f} kl {train['kl']:.3f} | valid "
                       + " ".join(f"{k} {v:.3f}" for k, v in val.items() if isinstance(v, float)))

    def _finish(self) -> dict:
        if not self.is_main:  # rank 0 tests the model; every rank returns its record
            self.record = self.dist.broadcast_object(None)
            return self.record
        tc = self.cfg.train
        best = self.out / "best.pt"
        if best.exists():
            self.model.load_state_dict(checkpoint.load(best, map_location=self.device)["model"])
        t0 = time.perf_counter()
        self.stop.phase = "test"
        try:
            out = test_report(self.model, self.splits.test, tc.mode, self.cfg.test_svi(),
                              iw_samples=tc.iw_samples, iw_max_examples=tc.iw_max_examples, device=self.device)
        except KeyboardInterrupt:  # a second signal during the test: the same command tests again
            self._write_record(run_record.interrupted(self.record, self.history, interrupted_during="test"))
            raise TrainingInterrupted(self.loop.step_count, self.stop.name or "SIGINT", self.out / "last.pt") from None
        test_time = time.perf_counter() - t0
        bad = results.non_finite(out)
        if bad:
            self._diverge(f"test {', '.join(bad)} not finite")
        run_record.finished(self.record, self.history, self.state, out, test_time)
        results.write_json(self.record, self.out / "results.json")
        if self.dist is not None:
            self.dist.broadcast_object(self.record)
        return self.record
