"""The trainer: data and model from a :class:`~savae_lite.config.RunConfig`, the training loop of
:mod:`savae_lite.loop`, validation and the learning-rate schedule, best and resumable checkpoints, the final
test report and the run's JSON record.

Chapter: *SA-VAE* (the training loop); the text and image chapters' runs are ``savae-lite train`` runs.

Resumability: the data order of epoch e comes from a generator seeded with (seed, e); the checkpoint stores the
model, the loop (optimiser, global step), the schedule, the global torch RNG state and the position inside the
epoch, so a killed run restarted with the same config ends with the same parameters as an uninterrupted one.
``last.pt`` is written every ``checkpoint_every`` steps, after ``checkpoint_minutes`` of training since the last
write, and at the end of every epoch; its previous version is kept as ``last.prev.pt``, and a resume falls back
to it (with a warning) when ``last.pt`` is damaged (see :mod:`savae_lite.checkpoint`: checksums).

Stopping: SIGINT (Ctrl-C) or SIGTERM while :meth:`Trainer.fit` runs lets the current step finish, writes
``last.pt``, marks ``results.json`` ``"status": "interrupted"`` and raises :class:`TrainingInterrupted`; the same
command resumes. A second signal stops at once (KeyboardInterrupt; the checkpoint on disk stays the last good one).

Several processes (``torchrun``; ``dist``, see :mod:`savae_lite.distributed`): every rank trains on its rows of
each global batch with its own noise stream; rank 0 alone validates (and sends the numbers to the others), tests,
and writes the checkpoints (with every rank's RNG state) and ``results.json``; every rank resumes from the same
``last.pt``. Decisions that must agree (stop on a signal, write a checkpoint) are taken on all ranks together.
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

import torch
from tqdm.auto import tqdm

from savae_lite import checkpoint, locks, results
from savae_lite.distributed import Distributed, rank_seed
from savae_lite.atomic import remove_stale_temporaries
from savae_lite.build import build_data, build_model
from savae_lite.data.splits import Splits
from savae_lite.config import RunConfig
from savae_lite.validation import check_out_dir, validate
from savae_lite.runtime import apply_thread_policy, pick_device, set_seed
from savae_lite.evaluate import evaluate, test_report
from savae_lite.loop import EpochTotals, TrainingLoop
from savae_lite.schedule import validation_scheduler


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


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
        self.state = {"epoch": 0, "step_in_epoch": 0, "best_val": math.inf, "best_epoch": -1, "skipped": 0,
                      "wall": 0.0, "totals": EpochTotals().to_dict()}
        self.history: list[dict] = []
        self.record: dict = {}
        self._stop_signal: int | None = None  # set by the SIGINT/SIGTERM handler while fit runs
        self._phase = "train"  # "test" once the final test has begun (the stop signal's message)
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
        return self.loop.optimizer.param_groups[0]["lr"]

    # ---- checkpoints ------------------------------------------------------------------------------------
    def _vocab_dict(self):
        v = self.splits.vocab
        return v.to_dict() if v is not None else None

    def _parameters_finite(self, what: str) -> bool:
        """A checkpoint of NaN/inf parameters is never written: with ``on_nan='stop'`` this raises
        FloatingPointError, with ``'skip'`` it warns and returns False (the previous checkpoint stays)."""
        params = [p.detach() for p in self.model.parameters()]
        if not params or bool(torch.stack(torch._foreach_norm(params)).isfinite().all()):
            return True
        bad = [n for n, p in self.model.named_parameters() if not bool(torch.isfinite(p).all())]
        msg = (f"non-finite parameters ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}) at step "
               f"{self.loop.step_count} in mode {self.cfg.train.mode!r}; {what} not written")
        if self.cfg.train.on_nan == "stop":
            raise FloatingPointError(f"{msg}, training stopped; the last good checkpoint is {self.out / 'last.pt'}")
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        return False

    def save_last(self) -> None:
        if not self._parameters_finite("checkpoint last.pt"):
            return
        rng = {"rng": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        ranks = self.dist.gather_object(rng) if self.dist is not None else None  # every rank's noise streams
        if not self.is_main:
            self._last_save = time.monotonic()
            return
        ck = {"model": self.model.state_dict(), "loop": self.loop.state_dict(),
              "scheduler": self.scheduler.state_dict(), "state": self.state, "history": self.history,
              "config": self.cfg.to_dict(), "vocab": self._vocab_dict(), **rng}
        if ranks is not None:
            ck["rank_rng"] = ranks
        last = self.out / "last.pt"
        checkpoint.keep_previous(last)  # last.prev.pt: the fallback if last.pt is ever found damaged
        checkpoint.atomic_save(ck, last)
        self._last_save = time.monotonic()

    def save_best(self) -> None:
        if not self._parameters_finite("checkpoint best.pt") or not self.is_main:
            return
        checkpoint.atomic_save({"model": self.model.state_dict(), "config": self.cfg.to_dict(),
                                "vocab": self._vocab_dict(), "epoch": self.state["epoch"]}, self.out / "best.pt")

    def _load_resumable(self) -> tuple[dict, Path] | None:
        """The checkpoint to resume from: ``last.pt``, or ``last.prev.pt`` with a warning when ``last.pt`` is
        missing, unreadable or fails its checksum; None when neither exists; ValueError when neither loads."""
        path = self.out / "last.pt"
        prev = checkpoint.previous_of(path)
        if not path.exists() and not prev.exists():
            return None
        problems = []
        for candidate in (path, prev):
            if not candidate.exists():
                problems.append(f"checkpoint {candidate} does not exist")
                continue
            try:
                ck = checkpoint.load(candidate)
            except ValueError as err:
                problems.append(str(err))
                continue
            if candidate != path:
                note = ""
                if path.exists():  # set aside, so that the next save does not make it the new last.prev.pt
                    damaged = path.with_name("last.damaged.pt")
                    os.replace(path, damaged)
                    note = f" (the damaged file is kept as {damaged.name})"
                warnings.warn(f"{problems[0]}; resuming from the previous checkpoint {candidate} instead{note}",
                              RuntimeWarning, stacklevel=3)
            return ck, candidate
        raise ValueError(f"{problems[0]}; no usable previous checkpoint either ({problems[1]}). Start afresh with "
                         "--no-resume or use another --out-dir.")

    def _load_resumable_on_all(self) -> tuple[dict, Path] | None:
        """:meth:`_load_resumable` on rank 0 (which may set a damaged file aside); the other ranks load the file
        it chose."""
        if self.dist is None:
            return self._load_resumable()
        found, error = None, None
        if self.is_main:
            try:
                found = self._load_resumable()
            except ValueError as err:
                error = str(err)
        path, error = self.dist.broadcast_object((str(found[1]) if found else None, error))
        if error is not None:
            raise ValueError(error)
        if path is None:
            return None
        return found if found is not None else (checkpoint.load(path), Path(path))

    def try_resume(self) -> bool:
        found = self._load_resumable_on_all()
        if found is None:
            return False
        ck, path = found
        missing = [k for k in ("model", "loop", "scheduler", "state", "history", "config", "rng") if k not in ck]
        if missing:
            raise ValueError(f"checkpoint {path} is not a resumable checkpoint (no {', '.join(missing)}); "
                             "best.pt files can be evaluated but not resumed")
        diffs = checkpoint.config_mismatch(ck["config"], self.cfg.to_dict())
        if diffs:
            raise ValueError(f"checkpoint {path} was written by a different config; differences: "
                             + "; ".join(diffs) + ". Use another --out-dir or the same settings.")
        try:
            self.model.load_state_dict(ck["model"])
            self.loop.load_state_dict(ck["loop"])
            self.scheduler.load_state_dict(ck["scheduler"])
        except (RuntimeError, ValueError, KeyError) as err:
            detail = " ".join(str(err).split())
            raise ValueError(f"checkpoint {path}: its weights do not fit the model of this config "
                             f"({type(err).__name__}: {detail[:400]})") from None
        self.state, self.history = ck["state"], ck["history"]
        self._restore_rng(ck)
        return True

    def _restore_rng(self, ck: dict) -> None:
        """This rank's noise streams as saved; a rank the checkpoint has none for (another number of processes)
        starts a fresh stream of its own."""
        rank = self.dist.rank if self.dist is not None else 0
        ranks = ck.get("rank_rng")
        rng = ranks[rank] if ranks is not None and rank < len(ranks) else ck if rank == 0 else None
        if rng is None:
            set_seed(rank_seed(self.cfg.train.seed + 1 + self.loop.step_count, rank))
            return
        torch.set_rng_state(rng["rng"])
        if "cuda_rng" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda_rng"], self.device)

    # ---- evaluation ------------------------------------------------------------------------------------
    def evaluate(self, batches, refine: bool) -> dict:
        """Metrics of the current model on ``batches``, refined by the test-time SVI when ``refine``."""
        mode = self.loop.mode
        return evaluate(self.model, batches, refine=self.cfg.test_svi() if refine else None, init=mode.init,
                        device=self.device)

    def _validate(self, refine: bool | None = None) -> dict:
        """Validation metrics (refined by test-time SVI when the mode refines, unless ``refine`` says); with
        several processes rank 0 evaluates and every rank gets its numbers (the schedule, the best checkpoint and
        aggressive training decide alike everywhere)."""
        refine = self.loop.mode.refines if refine is None else refine
        if self.dist is None:
            return self.evaluate(self.splits.valid, refine=refine)
        val = self.evaluate(self.splits.valid, refine=refine) if self.is_main else None
        return self.dist.broadcast_object(val)

    def _stop_requested(self, checkpoint_due: bool = False) -> tuple[bool, bool]:
        """(whether the time-based checkpoint is due, whether a stop signal came). Several processes: one
        all-reduce decides both for every rank -- rank 0's clock, and a signal that reached any rank."""
        stop = self._stop_signal is not None
        if self.dist is None:
            return checkpoint_due, stop
        checkpoint_due, stop = self.dist.any([checkpoint_due and self.is_main, stop])
        if stop and self._stop_signal is None:  # another rank was signalled
            self._stop_signal = signal.SIGTERM
        return checkpoint_due, stop

    # ---- stopping on a signal -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _stop_on_signals(self):
        """While the block runs (main thread only), SIGINT/SIGTERM ask the trainer to stop after the current
        step; a second one raises KeyboardInterrupt at once. The previous handlers are restored afterwards."""
        self._stop_signal = None
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            name = signal.Signals(signum).name
            if self._stop_signal is not None:
                raise KeyboardInterrupt(f"second stop signal ({name}): stopped at once; the checkpoint on disk "
                                        "is the last complete one")
            self._stop_signal = signum
            what = ("finishing the test of the trained model (send it again to stop at once; the same command "
                    "then tests again)" if self._phase == "test" else
                    "stopping after the current step (send it again to stop at once)")
            print(f"savae-lite: {name} received, {what}", file=sys.stderr, flush=True)

        previous = {}
        try:
            for sig in STOP_SIGNALS:
                previous[sig] = signal.signal(sig, handler)
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old if old is not None else signal.SIG_DFL)

    def _interrupt(self, save: bool) -> None:
        """Write the resumable checkpoint (unless just written) and the interrupted record, then stop."""
        if save:
            self.save_last()
        step = self.loop.step_count
        self._write_record({**self.record, "status": "interrupted", "interrupted": results.stamp(),
                            "interrupted_at_step": step, "epochs": self.history})
        raise TrainingInterrupted(step, signal.Signals(self._stop_signal).name, self.out / "last.pt")

    # ---- training ------------------------------------------------------------------------------------
    def fit(self, resume: bool = True) -> dict:
        """Train until ``epochs`` or ``lr < min_lr``; then test the best model. Returns the results record.
        Raises :class:`TrainingInterrupted` after SIGINT/SIGTERM (checkpoint written; run again to resume). A signal
        that arrives after the last epoch lets the test finish; ``late_stop_signal`` then names it, so that a caller
        running several trainings (a study) stops before the next one."""
        self.late_stop_signal = None
        lock = locks.locked(self.out, locks.RUN_LOCK) if self.is_main else contextlib.nullcontext()
        with lock, self._stop_on_signals():  # one run at a time in a folder (rank 0 holds it for all ranks)
            out = self._fit(resume)
            if self._stop_signal is not None:  # it came while the finished run was tested: the run is complete
                self.late_stop_signal = signal.Signals(self._stop_signal).name
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
        self.record = {"run": self.out.name, "status": "running", "config": self.cfg.to_dict(), "seed": tc.seed,
                       "environment": results.environment(self.device), "dataset": self.splits.info,
                       "parameters": sum(p.numel() for p in self.model.parameters()), "started": results.stamp(),
                       "resumed": resumed}
        if self.dist is not None:
            self.record["distributed"] = {"world_size": self.dist.world_size, "backend": self.dist.backend}
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
            reason = self._divergence(totals, len(batches), val, epoch + 1)
            self._end_epoch(epoch, totals, val, time.perf_counter() - t0)
            if reason:
                self._diverge(reason)
            self.save_last()
            self._write_record({**self.record, "epochs": self.history})
            if self._stop_requested()[1]:  # the signal came during validation: last.pt is already written
                self._interrupt(save=False)
        return self._finish()

    def _divergence(self, totals: EpochTotals, batches: int, val: dict, epoch: int) -> str | None:
        """Why the run counts as diverged after ``epoch`` (None when it does not): a non-finite validation
        metric, or more than half of the epoch's batches skipped for a non-finite loss or gradient
        (``--on-nan skip``). Skipped batches are reported on stderr either way."""
        if totals.skipped and self.is_main:
            print(f"savae-lite: epoch {epoch}: {totals.skipped} of {batches} batches skipped (non-finite loss or "
                  "gradient)", file=sys.stderr, flush=True)
        bad = results.non_finite(val)
        if bad:
            return f"validation {', '.join(bad)} not finite after epoch {epoch}"
        if totals.skipped * 2 > batches:
            return f"{totals.skipped} of the {batches} batches of epoch {epoch} were skipped as non-finite"
        return None

    def _diverge(self, reason: str) -> None:
        """Record ``"status": "diverged"`` with ``reason`` and stop (the checkpoints on disk stay the last good
        ones)."""
        self._write_record({**self.record, "status": "diverged", "diverged": reason, "finished": results.stamp(),
                            "epochs": self.history})
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
            self._aggressive_check(epoch)
            by_time = seconds > 0 and time.monotonic() - self._last_save >= seconds
            by_time, stop = self._stop_requested(by_time)
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

    def _aggressive_check(self, epoch: int) -> None:
        """Aggressive training with ``aggressive_mi_every`` = N > 0: after every N-th update while the encoder
        catch-up is on, compare validation MI with the previous check's (:mod:`savae_lite.aggressive`)."""
        schedule, every = self.loop.aggressive, self.cfg.train.aggressive_mi_every
        if schedule is None or not schedule.active or not every or self.loop.step_count % every:
            return
        mi = self._validate(refine=False)["mi"]
        schedule.epoch_end(epoch + 1, mi, step=self.loop.step_count)
        if self.cfg.train.progress and self.is_main:
            tqdm.write(f"update {self.loop.step_count}: validation MI {mi:.3f}; aggressive training "
                       + ("goes on" if schedule.active else "switched off"))

    def _end_epoch(self, epoch: int, totals: EpochTotals, val: dict, val_time: float) -> None:
        tc, st = self.cfg.train, self.state
        train = totals.means()
        metric = val["nll"] if "nll" in val else val["nll_bound"]
        improved = metric < st["best_val"]
        st["skipped"] += totals.skipped
        entry = {"epoch": epoch + 1, "lr": self.lr, "kl_weight": self.loop.kl_weight(), "train": train,
                 "valid": val, "train_time_s": round(totals.time, 3), "valid_time_s": round(val_time, 3),
                 "skipped_batches": st["skipped"]}
        if self.loop.aggressive is not None:  # He et al.: the catch-up stops the first time validation MI falls
            if not tc.aggressive_mi_every:  # checked at each epoch's end (else every N updates, after_step)
                self.loop.aggressive.epoch_end(epoch + 1, val["mi"], step=self.loop.step_count)
            entry["aggressive"] = self.loop.aggressive.state_dict()
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
        self._phase = "test"
        try:
            out = test_report(self.model, self.splits.test, tc.mode, self.cfg.test_svi(),
                              iw_samples=tc.iw_samples, iw_max_examples=tc.iw_max_examples, device=self.device)
        except KeyboardInterrupt:  # a second signal during the test: the same command tests again
            self._write_record({**self.record, "status": "interrupted", "interrupted": results.stamp(),
                                "interrupted_during": "test", "epochs": self.history})
            raise TrainingInterrupted(self.loop.step_count, signal.Signals(self._stop_signal or signal.SIGINT).name,
                                      self.out / "last.pt") from None
        test_time = time.perf_counter() - t0
        bad = results.non_finite(out)
        if bad:
            self._diverge(f"test {', '.join(bad)} not finite")
        epochs = self.history
        self.record.update({
            "status": "finished", "finished": results.stamp(), "epochs": epochs, "test": out,
            "best_epoch": self.state["best_epoch"], "skipped_batches": self.state["skipped"],
            "wall_time_s": round(self.state["wall"] + test_time, 3), "test_time_s": round(test_time, 3),
            "train_time_per_epoch_s": (round(sum(e["train_time_s"] for e in epochs) / len(epochs), 3)
                                       if epochs else None),
        })
        results.write_json(self.record, self.out / "results.json")
        if self.dist is not None:
            self.dist.broadcast_object(self.record)
        return self.record
