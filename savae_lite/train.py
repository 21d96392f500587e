"""One trainer for every mode: optimiser and schedule, KL annealing, global clipping, validation, best and
resumable checkpoints, NaN detection, progress bar and the run's JSON record.

Chapter: *SA-VAE* (the training loop) and *Text* / *Images* (the real runs).

Resumability: the data order of epoch e comes from a generator seeded with (seed, e); the checkpoint stores the
model, optimiser, schedule state, the global torch RNG state and the position inside the epoch, so a killed run
restarted with the same config ends with the same parameters as an uninterrupted one.
"""
from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import torch
from tqdm.auto import tqdm

from savae_lite import checkpoint, results
from savae_lite.build import Splits, build_data, build_model
from savae_lite.config import RunConfig
from savae_lite.evaluate import evaluate, init_for, spread_subset
from savae_lite.modes import MODES, training_step
from savae_lite.objectives import kl_weight_at, perplexity
from savae_lite.svi import SVIConfig
from savae_lite.unrolled import HVP_BACKENDS
from savae_lite.utils import pick_device, set_seed

REFINED_MODES = ("svi", "vae+svi", "vae+svi+kl", "savae")


def validate_config(cfg: RunConfig) -> None:
    """Reject bad settings early with the name of the offending option."""
    tc = cfg.train
    if tc.mode not in MODES:
        raise ValueError(f"--mode: unknown training mode {tc.mode!r}; choose one of {', '.join(MODES)}")
    if tc.hvp not in HVP_BACKENDS:
        raise ValueError(f"--hvp: unknown back-end {tc.hvp!r}; choose one of {', '.join(HVP_BACKENDS)}")
    if tc.optimizer not in ("sgd", "adam"):
        raise ValueError(f"--optimizer: {tc.optimizer!r} is not sgd or adam")
    if tc.on_nan not in ("stop", "skip"):
        raise ValueError(f"--on-nan: {tc.on_nan!r} is not stop or skip")
    for name, value in [("--epochs", tc.epochs), ("--batch-size", cfg.data.batch_size)]:
        if value < 1:
            raise ValueError(f"{name}: must be >= 1, got {value}")
    if tc.lr <= 0:
        raise ValueError(f"--lr: must be > 0, got {tc.lr}")
    if tc.svi.steps < 0:
        raise ValueError(f"--svi-steps: must be >= 0, got {tc.svi.steps}")


class Trainer:
    """Train ``cfg`` (data and model built from it unless given) and write ``out_dir/results.json``."""

    def __init__(self, cfg: RunConfig, splits: Splits | None = None, model=None):
        validate_config(cfg)
        self.cfg = cfg
        tc = cfg.train
        self.device = pick_device(tc.device)
        self.splits = splits if splits is not None else build_data(cfg)
        vocab_size = len(self.splits.vocab) if self.splits.vocab is not None else None
        set_seed(tc.seed)
        self.model = (model if model is not None else build_model(cfg, vocab_size)).to(self.device)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if tc.optimizer == "sgd":
            self.optim = torch.optim.SGD(params, lr=tc.lr)
        else:
            self.optim = torch.optim.Adam(params, lr=tc.lr)
        self.out = Path(tc.out_dir)
        self.state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "lr": tc.lr, "best_val": math.inf,
                      "best_epoch": -1, "bad_epochs": 0, "skipped": 0, "wall": 0.0, "acc": self._zero_acc()}
        self.history: list[dict] = []
        self.record: dict = {}

    # ---- checkpoints ------------------------------------------------------------------------------------
    @staticmethod
    def _zero_acc():
        return {"loss": 0.0, "nll": 0.0, "kl": 0.0, "n": 0, "tokens": 0.0, "time": 0.0}

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
               f"{self.state['global_step']} in mode {self.cfg.train.mode!r}; {what} not written")
        if self.cfg.train.on_nan == "stop":
            raise FloatingPointError(f"{msg}, training stopped; the last good checkpoint is {self.out / 'last.pt'}")
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        return False

    def save_last(self) -> None:
        if not self._parameters_finite("checkpoint last.pt"):
            return
        ck = {"model": self.model.state_dict(), "optim": self.optim.state_dict(), "state": self.state,
              "history": self.history, "config": self.cfg.to_dict(), "rng": torch.get_rng_state(),
              "vocab": self._vocab_dict()}
        if self.device.type == "cuda":
            ck["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        checkpoint.atomic_save(ck, self.out / "last.pt")

    def save_best(self) -> None:
        if not self._parameters_finite("checkpoint best.pt"):
            return
        checkpoint.atomic_save({"model": self.model.state_dict(), "config": self.cfg.to_dict(),
                                "vocab": self._vocab_dict(), "epoch": self.state["epoch"]}, self.out / "best.pt")

    def try_resume(self) -> bool:
        path = self.out / "last.pt"
        if not path.exists():
            return False
        ck = checkpoint.load(path)
        missing = [k for k in ("model", "optim", "state", "history", "config", "rng") if k not in ck]
        if missing:
            raise ValueError(f"checkpoint {path} is not a resumable checkpoint (no {', '.join(missing)}); "
                             "best.pt files can be evaluated but not resumed")
        diffs = checkpoint.config_mismatch(ck["config"], self.cfg.to_dict())
        if diffs:
            raise ValueError(f"checkpoint {path} was written by a different config; differences: "
                             + "; ".join(diffs) + ". Use another --out-dir or the same settings.")
        try:
            self.model.load_state_dict(ck["model"])
            self.optim.load_state_dict(ck["optim"])
        except (RuntimeError, ValueError, KeyError) as err:
            detail = " ".join(str(err).split())
            raise ValueError(f"checkpoint {path}: its weights do not fit the model of this config "
                             f"({type(err).__name__}: {detail[:400]})") from None
        self.state, self.history = ck["state"], ck["history"]
        torch.set_rng_state(ck["rng"])
        if "cuda_rng" in ck and self.device.type == "cuda":
            torch.cuda.set_rng_state(ck["cuda_rng"], self.device)
        return True

    # ---- evaluation ------------------------------------------------------------------------------------
    def _refine_cfg(self) -> SVIConfig:
        tc = self.cfg.train
        steps = tc.test_svi_steps if tc.test_svi_steps is not None else tc.svi.steps
        return SVIConfig(steps=steps, lr_mu=tc.svi.lr_mu, lr_logvar=tc.svi.lr_logvar, momentum=tc.svi.momentum,
                         clip=tc.svi.clip)

    def evaluate(self, batches, refine: bool, iw_samples: int = 0) -> dict:
        mode = self.cfg.train.mode
        return evaluate(self.model, batches, refine=self._refine_cfg() if refine else None, init=init_for(mode),
                        iw_samples=iw_samples, device=self.device)

    def _val_metric(self, m: dict) -> float:
        return m["nll"] if "nll" in m else m["nll_bound"]

    # ---- training ------------------------------------------------------------------------------------
    def fit(self, resume: bool = True) -> dict:
        """Train until ``epochs`` or ``lr < min_lr``; then test the best model. Returns the results record."""
        tc = self.cfg.train
        for name in ("last.pt", "best.pt", "results.json"):  # temporaries of a run killed while writing
            checkpoint.remove_stale_temporaries(self.out / name)
        resumed = self.try_resume() if resume else False
        if not resumed:
            set_seed(tc.seed + 1)  # the training stream starts from a known state
        self.record = {"run": self.out.name, "status": "running", "config": self.cfg.to_dict(), "seed": tc.seed,
                       "environment": results.environment(self.device), "dataset": self.splits.info,
                       "parameters": sum(p.numel() for p in self.model.parameters()), "started": results.stamp(),
                       "resumed": resumed}
        refined = tc.mode in REFINED_MODES
        while self.state["epoch"] < tc.epochs and not self._lr_exhausted():
            epoch = self.state["epoch"]
            gen = torch.Generator().manual_seed(tc.seed * 1000 + epoch)
            batches = self.splits.train_batches(gen)
            if tc.max_steps_per_epoch:
                batches = batches[: tc.max_steps_per_epoch]
            warmup = int(round(tc.kl_warmup_epochs * len(batches)))
            self._train_epoch(epoch, batches, warmup)
            t0 = time.perf_counter()
            val = self.evaluate(self.splits.valid, refine=refined)
            val_time = time.perf_counter() - t0
            self._end_epoch(epoch, val, val_time, warmup)
            self.save_last()
            results.write_json({**self.record, "epochs": self.history}, self.out / "results.json")
        return self._finish()

    def _lr_exhausted(self) -> bool:
        """The plateau schedule has decayed the learning rate below ``min_lr`` (the original's stop rule)."""
        lr = self.state["lr"]
        return lr < self.cfg.train.lr and lr < self.cfg.train.min_lr

    def _train_epoch(self, epoch: int, batches, warmup: int) -> None:
        tc, st = self.cfg.train, self.state
        for g in self.optim.param_groups:
            g["lr"] = st["lr"]
        self.model.train()
        bar = tqdm(total=len(batches), initial=st["step_in_epoch"], desc=f"epoch {epoch + 1}/{tc.epochs}",
                   disable=not tc.progress, leave=False, dynamic_ncols=True)
        params = [p for p in self.model.parameters() if p.requires_grad]
        for i in range(st["step_in_epoch"], len(batches)):
            t0 = time.perf_counter()
            x = batches[i].to(self.device, non_blocking=True)
            kl_w = kl_weight_at(st["global_step"], tc.kl_start, warmup)
            self.optim.zero_grad(set_to_none=True)
            try:  # NaN/inf in the loss, in the SVI iterates (raised inside the step) or in the gradients
                stats = training_step(self.model, x, tc.mode, tc.svi, kl_w, tc.hvp)
                stats.check_finite(tc.mode, st["global_step"])
                gnorm = torch.nn.utils.clip_grad_norm_(params, tc.grad_clip if tc.grad_clip > 0 else math.inf)
                if not torch.isfinite(gnorm):
                    raise FloatingPointError(f"non-finite gradient norm ({float(gnorm)}) at step "
                                             f"{st['global_step']} in mode {tc.mode!r}")
            except FloatingPointError as err:
                where = f"at step {st['global_step']} in mode {tc.mode!r}"
                msg = str(err) if where in str(err) else f"{err} {where}"
                if tc.on_nan == "stop":
                    last = self.out / "last.pt"
                    raise FloatingPointError(f"{msg}; training stopped, the last good checkpoint is {last}"
                                             + ("" if last.exists() else " (none written yet)")) from None
                st["skipped"] += 1
                self.optim.zero_grad(set_to_none=True)
            else:
                self.optim.step()
                acc = st["acc"]
                for k in ("loss", "nll", "kl", "tokens"):
                    acc[k] += getattr(stats, k)
                acc["n"] += stats.n
            st["global_step"] += 1
            st["step_in_epoch"] = i + 1
            st["acc"]["time"] += time.perf_counter() - t0
            acc = st["acc"]
            if acc["n"]:
                bar.set_postfix(loss=f"{acc['loss'] / acc['n']:.2f}", kl=f"{acc['kl'] / acc['n']:.2f}",
                                ppl=f"{perplexity(acc['nll'] + acc['kl'], acc['tokens']):.1f}", refresh=False)
            bar.update(1)
            if tc.checkpoint_every and st["global_step"] % tc.checkpoint_every == 0 and i + 1 < len(batches):
                self.save_last()
        bar.close()

    def _end_epoch(self, epoch: int, val: dict, val_time: float, warmup: int) -> None:
        tc, st = self.cfg.train, self.state
        acc = st["acc"]
        n = max(acc["n"], 1)
        train = {"loss": acc["loss"] / n, "nll": acc["nll"] / n, "kl": acc["kl"] / n,
                 "ppl_bound": perplexity(acc["nll"] + acc["kl"], acc["tokens"]) if acc["tokens"] else None}
        metric = self._val_metric(val)
        improved = metric < st["best_val"]
        row = {"epoch": epoch + 1, "lr": st["lr"], "kl_weight": kl_weight_at(st["global_step"], tc.kl_start, warmup),
               "train": train, "valid": val, "train_time_s": round(acc["time"], 3), "valid_time_s": round(val_time, 3),
               "skipped_batches": st["skipped"]}
        self.history.append(row)
        st["wall"] += acc["time"] + val_time
        if improved:
            st["best_val"], st["best_epoch"] = metric, epoch + 1
            st["epoch"] = epoch + 1
            self.save_best()
        elif tc.decay_start_epoch and epoch + 1 >= tc.decay_start_epoch:
            st["lr"] *= tc.lr_decay
        if tc.progress:
            tqdm.write(f"epoch {epoch + 1}: train loss {train['loss']:.3f} kl {train['kl']:.3f} | valid "
                       + " ".join(f"{k} {v:.3f}" for k, v in val.items() if isinstance(v, float)))
        st["epoch"] = epoch + 1
        st["step_in_epoch"] = 0
        st["acc"] = self._zero_acc()

    def _finish(self) -> dict:
        tc = self.cfg.train
        best = self.out / "best.pt"
        if best.exists():
            self.model.load_state_dict(checkpoint.load(best, map_location=self.device)["model"])
        test = self.splits.test
        iw_batches = spread_subset(test, tc.iw_max_examples)
        t0 = time.perf_counter()
        out = {}
        if not self.model.is_latent:
            out["exact"] = self.evaluate(test, refine=False)
        else:
            if tc.mode != "svi":
                out["no_refine"] = self.evaluate(test, refine=False)
            out["refine"] = self.evaluate(test, refine=True)
            out["refine"]["svi_steps"] = self._refine_cfg().steps
            if tc.iw_samples > 0:
                refine = tc.mode in REFINED_MODES
                iw = self.evaluate(iw_batches, refine=refine, iw_samples=tc.iw_samples)
                out["iw"] = {"iw_nll": iw["iw_nll"], "ppl_iw": iw["ppl_iw"], "iw_samples": tc.iw_samples,
                             "examples": iw["examples"], "selection": "spread evenly over the test set",
                             "proposal": "refined" if refine else "encoder",
                             "nll_bound_same_examples": iw["nll_bound"]}
        test_time = time.perf_counter() - t0
        epochs = self.history
        self.record.update({
            "status": "finished", "finished": results.stamp(), "epochs": epochs, "test": out,
            "best_epoch": self.state["best_epoch"], "skipped_batches": self.state["skipped"],
            "wall_time_s": round(self.state["wall"] + test_time, 3), "test_time_s": round(test_time, 3),
            "train_time_per_epoch_s": (round(sum(e["train_time_s"] for e in epochs) / len(epochs), 3)
                                       if epochs else None),
        })
        results.write_json(self.record, self.out / "results.json")
        return self.record


def train(cfg: RunConfig, resume: bool = True) -> dict:
    """Build, train and test ``cfg``; returns the results record (also written to ``out_dir/results.json``)."""
    return Trainer(cfg).fit(resume=resume)
