"""The trainer (train.py): every training mode runs on text and images and writes a results file; a run
resumes exactly (at an epoch boundary, in the middle of an epoch, after SIGKILL at random points); NaN/inf in
the loss, the SVI iterates, the gradients or the parameters stop the run or skip the batch, never reach a
checkpoint, and name the step and the mode; bad settings name their flag."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from savae_lite import checkpoint
from savae_lite.build import Splits
from savae_lite.config import DataConfig, RunConfig, TrainConfig
from savae_lite.modes import MODES
from savae_lite.svi import SVIConfig
from savae_lite.train import Trainer, TrainingDiverged
from tests.conftest import REPO, assert_same_state, params_of, text_run_config, text_run_splits, tiny_text_splits


def text_splits(n_batches=3):
    return tiny_text_splits(n_batches)


def image_splits(n=3, size=8):
    g = torch.Generator().manual_seed(0)
    imgs = [(torch.rand(4, 1, size, size, generator=g) > 0.5).float() for _ in range(n)]

    def train_batches(gen):
        return [imgs[i] for i in torch.randperm(n, generator=gen).tolist()]

    return Splits(train_batches, imgs[:1], imgs[1:2], "image", None, {"dataset": "tiny-images"})


def run_config(kind, mode, out_dir, epochs=1, **train):
    base = dict(mode=mode, epochs=epochs, optimizer="sgd" if kind == "text" else "adam",
                lr=0.5 if kind == "text" else 1e-3, svi=SVIConfig(steps=2, lr_mu=0.1, lr_logvar=0.1),
                iw_samples=3, out_dir=str(out_dir), progress=False, device="cpu", kl_warmup_epochs=1,
                decay_start_epoch=0)
    base.update(train)
    model = {"image_size": 8} if kind == "image" else {"vocab_size": 20}
    return RunConfig(data=DataConfig(name="ptb" if kind == "text" else "omniglot", batch_size=4),
                     train=TrainConfig(**base), model_kind=kind, model=model, model_preset="tiny")


@pytest.mark.parametrize("kind", ["text", "image"])
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_runs_and_writes_results(kind, mode, tmp_path):
    if kind == "image":
        pytest.importorskip("savae_lite.models.image")
    cfg = run_config(kind, mode, tmp_path / "run", max_steps_per_epoch=2)
    splits = text_splits() if kind == "text" else image_splits()
    record = Trainer(cfg, splits=splits).fit()
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["status"] == "finished" and saved["config"]["train"]["mode"] == mode
    assert saved["environment"]["device"] == "cpu" and "git_commit" in saved["environment"]
    assert len(saved["epochs"]) == 1 and saved["wall_time_s"] > 0
    test = record["test"]
    if mode == "autoreg":
        assert test["exact"]["nll"] > 0
    else:
        assert test["refine"]["nll_bound"] > 0 and test["iw"]["iw_nll"] > 0
        if mode != "svi":
            assert "no_refine" in test


def _params(trainer):
    return [p.detach().clone() for p in trainer.model.parameters()]


@pytest.mark.parametrize("mode", ["savae", "vae", "aggressive"])
def test_resume_continues_identically(mode, tmp_path):
    full = Trainer(run_config("text", mode, tmp_path / "full", epochs=3, checkpoint_every=2, iw_samples=0),
                   splits=text_splits())
    full.fit()
    # interrupted: stop after one epoch, then resume to three
    first = Trainer(run_config("text", mode, tmp_path / "split", epochs=1, checkpoint_every=2, iw_samples=0),
                    splits=text_splits())
    first.fit()
    second = Trainer(run_config("text", mode, tmp_path / "split", epochs=3, checkpoint_every=2, iw_samples=0),
                     splits=text_splits())
    record = second.fit()
    assert record["resumed"]
    for a, b in zip(_params(full), _params(second)):
        assert torch.equal(a, b)


def test_resume_rejects_a_different_config(tmp_path):
    Trainer(run_config("text", "vae", tmp_path / "r", iw_samples=0), splits=text_splits()).fit()
    other = Trainer(run_config("text", "savae", tmp_path / "r", iw_samples=0), splits=text_splits())
    with pytest.raises(ValueError, match="train.mode"):
        other.fit()


def test_nan_is_caught_with_step_and_mode(tmp_path):
    cfg = run_config("text", "vae", tmp_path / "nan", iw_samples=0)
    trainer = Trainer(cfg, splits=text_splits())
    with torch.no_grad():
        trainer.model.decoder.out.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"step 0 in mode 'vae'"):
        trainer.fit()
    assert not (tmp_path / "nan" / "last.pt").exists()


def test_nan_skip_mode_skips_batches(tmp_path):
    cfg = run_config("text", "vae", tmp_path / "skip", iw_samples=0, on_nan="skip")
    trainer = Trainer(cfg, splits=text_splits())
    with torch.no_grad():
        trainer.model.decoder.out.bias.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="3 of the 3 batches|not finite"):  # a NaN model is no result
        trainer.fit()
    record = json.loads((tmp_path / "skip" / "results.json").read_text())
    assert record["status"] == "diverged" and record["epochs"][0]["skipped_batches"] == 3


@pytest.mark.parametrize("field,value,flag", [("mode", "magic", "--mode"), ("svi.hvp", "x", "--hvp"),
                                              ("optimizer", "rmsprop", "--optimizer"), ("device", "tpu", "--device"),
                                              ("lr_schedule", "cosine", "--lr-schedule"),
                                              ("kl_start", float("nan"), "--kl-start"),
                                              ("kl_warmup_epochs", float("inf"), "--kl-warmup-epochs"),
                                              ("max_steps_per_epoch", -2, "--max-steps-per-epoch"),
                                              ("svi.momentum", 5.0, "--svi-momentum"),
                                              ("grad_clip", -1.0, "--grad-clip"),
                                              ("checkpoint_minutes", -1.0, "^--checkpoint-minutes"),
                                              ("checkpoint_minutes", float("nan"), "^--checkpoint-minutes"),
                                              ("checkpoint_minutes", float("inf"), "^--checkpoint-minutes"),
                                              ("checkpoint_minutes", "5", "^--checkpoint-minutes")])
def test_bad_settings_are_named(field, value, flag, tmp_path):
    cfg = run_config("text", "vae", tmp_path / "bad")
    *path, name = field.split(".")
    target = cfg.train
    for part in path:
        target = getattr(target, part)
    setattr(target, name, value)
    with pytest.raises(ValueError, match=flag):
        Trainer(cfg, splits=text_splits())


@pytest.mark.parametrize("case", ["file", "inside-a-file"])
def test_unusable_out_dir_fails_before_data_or_model(case, tmp_path, monkeypatch):
    """The Python API gets the CLI's --out-dir check: refused in Trainer() before any data or model is built."""
    import savae_lite.train as train_mod

    def boom(*args, **kwargs):
        raise AssertionError("built although --out-dir is unusable")

    monkeypatch.setattr(train_mod, "build_data", boom)
    monkeypatch.setattr(train_mod, "build_model", boom)
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    out = blocker if case == "file" else blocker / "run"
    with pytest.raises(ValueError, match=r"^--out-dir: "):
        Trainer(run_config("text", "vae", out))


def test_missing_out_dir_is_created_up_front(tmp_path):
    Trainer(run_config("text", "vae", tmp_path / "new" / "run"), splits=text_splits())
    assert (tmp_path / "new" / "run").is_dir() and list((tmp_path / "new" / "run").iterdir()) == []


def strip_times(history):
    return [{k: v for k, v in row.items() if not k.endswith("_time_s")} for row in history]


# ---------------------------------------------------------------------------------- killed runs resume exactly
def _train_cmd(out_dir: Path) -> list[str]:
    return [sys.executable, "-m", "savae_lite.cli", "train", "--preset", "ptb-quick", "--max-sentences", "40",
            "--max-steps-per-epoch", "6", "--epochs", "2", "--checkpoint-every", "1", "--iw-samples", "3",
            "--iw-max-examples", "6", "--model", "dropout=0.3", "--no-progress", "--device", "cpu",
            "--out-dir", str(out_dir)]


def _stamp(path: Path):
    try:
        s = path.stat()
        return s.st_ino, s.st_mtime_ns
    except FileNotFoundError:
        return None


def test_sigkill_at_random_points_resumes_to_the_same_parameters(tmp_path):
    """`savae-lite train` killed with SIGKILL at random points (right after a checkpoint appears, plus a random
    delay) and restarted until it finishes ends with the same parameters, history and test metrics as an
    uninterrupted run. At least one restart must resume from a checkpoint written in the middle of an epoch."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    ref_dir, run_dir = tmp_path / "reference", tmp_path / "killed"
    reference = subprocess.Popen(_train_cmd(ref_dir), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
    rng = random.Random(20180212)
    last = run_dir / "last.pt"
    kills, resumed_from, deadline = 0, [], time.monotonic() + 150
    while True:
        assert time.monotonic() < deadline, "the killed run did not finish in time"
        if last.exists():
            state = checkpoint.load(last)["state"]
            resumed_from.append((state["epoch"], state["step_in_epoch"]))
        proc = subprocess.Popen(_train_cmd(run_dir), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        mid_epoch_seen = any(step > 0 for _, step in resumed_from)
        if kills < 2 or (not mid_epoch_seen and kills < 6):
            before, changes, wanted = _stamp(last), 0, rng.randint(1, 3)
            while proc.poll() is None and changes < wanted:  # wait for `wanted` fresh checkpoints
                now = _stamp(last)
                if now is not None and now != before:
                    changes, before = changes + 1, now
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.05))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        break
    _, err = reference.communicate(timeout=120)
    assert reference.returncode == 0, err.decode()[-2000:]
    assert kills >= 1 and any(step > 0 for _, step in resumed_from), (kills, resumed_from)
    for name in ("best.pt", "last.pt"):
        a, b = checkpoint.load(ref_dir / name), checkpoint.load(run_dir / name)
        assert_same_state(a["model"], b["model"])
    ref_last, run_last = checkpoint.load(ref_dir / "last.pt"), checkpoint.load(run_dir / "last.pt")
    assert strip_times(ref_last["history"]) == strip_times(run_last["history"])
    import json

    ref_rec, run_rec = (json.loads((d / "results.json").read_text()) for d in (ref_dir, run_dir))
    assert run_rec["status"] == "finished" and run_rec["resumed"]
    assert ref_rec["test"] == run_rec["test"]
    assert not list(run_dir.glob("*.tmp"))  # a temporary file of a killed write is cleaned up on resume



def test_mid_epoch_resume_is_exact(tmp_path, monkeypatch):
    """A crash in the middle of epoch 2 (after a mid-epoch checkpoint) and a restart give bit-identical
    parameters, history and test metrics: position in the epoch, RNG state, accumulators are restored."""
    full = Trainer(text_run_config(tmp_path / "full"), splits=text_run_splits())
    full_rec = full.fit()
    restore = _crash_at_call(monkeypatch, 8)  # epoch 2, third batch
    with pytest.raises(KeyboardInterrupt):
        Trainer(text_run_config(tmp_path / "split"), splits=text_run_splits()).fit()
    restore()
    ck = checkpoint.load(tmp_path / "split" / "last.pt")
    assert (ck["state"]["epoch"], ck["state"]["step_in_epoch"], ck["loop"]["step_count"]) == (1, 2, 7)
    _assert_resumes_like(full, full_rec, text_run_config(tmp_path / "split"))


def _at_call(monkeypatch, n, action):
    """Run ``action()`` at the start of the n-th training step (1-based, over the whole test), before the
    step's work; returns a function that puts the real step back."""
    import savae_lite.loop as loop_mod

    real, calls = loop_mod.training_step, {"n": 0}

    def step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            action()
        return real(*args, **kwargs)

    monkeypatch.setattr(loop_mod, "training_step", step)
    return lambda: monkeypatch.setattr(loop_mod, "training_step", real)


def _crash_at_call(monkeypatch, n):
    """Make the n-th training step raise KeyboardInterrupt, as a kill would."""
    def kill():
        raise KeyboardInterrupt("simulated kill")

    return _at_call(monkeypatch, n, kill)


def _assert_resumes_like(full, full_rec, cfg):
    """A rerun of ``cfg`` resumes and ends exactly as the uninterrupted run ``full`` (record ``full_rec``):
    parameters, history and test metrics. Returns the rerun's record."""
    second = Trainer(cfg, splits=text_run_splits())
    rec = second.fit()
    assert rec["resumed"]
    assert_same_state(params_of(full.model), params_of(second.model))
    assert strip_times(full.history) == strip_times(second.history)
    assert full_rec["test"] == rec["test"]
    return rec


def test_checkpoint_by_time_resumes_exactly(tmp_path, monkeypatch):
    """checkpoint_every=0 and a tiny checkpoint_minutes: the time rule alone writes last.pt in the middle of the
    first epoch, and a run killed there resumes to the uninterrupted run's parameters, history and test."""
    cfg = {"checkpoint_every": 0, "checkpoint_minutes": 1e-9}
    full = Trainer(text_run_config(tmp_path / "full", **cfg), splits=text_run_splits())
    full_rec = full.fit()
    restore = _crash_at_call(monkeypatch, 4)  # epoch 1, fourth of five batches
    with pytest.raises(KeyboardInterrupt):
        Trainer(text_run_config(tmp_path / "split", **cfg), splits=text_run_splits()).fit()
    restore()
    ck = checkpoint.load(tmp_path / "split" / "last.pt")
    assert (ck["state"]["epoch"], ck["state"]["step_in_epoch"], ck["loop"]["step_count"]) == (0, 3, 3)
    _assert_resumes_like(full, full_rec, text_run_config(tmp_path / "split", **cfg))


def test_no_mid_epoch_checkpoint_when_both_rules_are_off(tmp_path, monkeypatch):
    restore = _crash_at_call(monkeypatch, 4)
    with pytest.raises(KeyboardInterrupt):
        Trainer(text_run_config(tmp_path / "r", checkpoint_every=0, checkpoint_minutes=0),
                splits=text_run_splits()).fit()
    restore()
    assert not (tmp_path / "r" / "last.pt").exists()


# ---------------------------------------------------------------------------------- SIGINT / SIGTERM
def _signal_at_call(monkeypatch, n, sig, times=1):
    """Deliver ``sig`` to this process (main thread) during the n-th training step, before the step's work."""
    def deliver():
        for _ in range(times):
            signal.raise_signal(sig)

    return _at_call(monkeypatch, n, deliver)


@pytest.mark.parametrize("sig,call", [(signal.SIGTERM, 3), (signal.SIGINT, 7)])
def test_signal_stops_after_the_step_and_resumes_exactly(sig, call, tmp_path, monkeypatch):
    """SIGTERM/SIGINT: the current step finishes, last.pt holds it, results.json says interrupted, fit raises
    TrainingInterrupted, the previous handlers are back, and a rerun ends as the uninterrupted run."""
    from savae_lite.train import TrainingInterrupted

    cfg = {"checkpoint_every": 0, "checkpoint_minutes": 0}  # the stop alone writes the mid-epoch checkpoint
    full = Trainer(text_run_config(tmp_path / "full", **cfg), splits=text_run_splits())
    full_rec = full.fit()
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    restore = _signal_at_call(monkeypatch, call, sig)
    with pytest.raises(TrainingInterrupted, match=rf"^interrupted at step {call}; resume with the same command") as err:
        Trainer(text_run_config(tmp_path / "split", **cfg), splits=text_run_splits()).fit()
    restore()
    assert err.value.step == call and err.value.signal == signal.Signals(sig).name
    assert {s: signal.getsignal(s) for s in before} == before
    ck = checkpoint.load(tmp_path / "split" / "last.pt")
    assert ck["loop"]["step_count"] == call
    assert (ck["state"]["epoch"], ck["state"]["step_in_epoch"]) == divmod(call, 5)
    saved = json.loads((tmp_path / "split" / "results.json").read_text())
    assert saved["status"] == "interrupted" and saved["interrupted_at_step"] == call
    rec = _assert_resumes_like(full, full_rec, text_run_config(tmp_path / "split", **cfg))
    assert rec["status"] == "finished"
    assert json.loads((tmp_path / "split" / "results.json").read_text())["status"] == "finished"


def test_signal_during_validation_stops_at_the_epoch_end(tmp_path, monkeypatch):
    from savae_lite.train import TrainingInterrupted

    full = Trainer(text_run_config(tmp_path / "full"), splits=text_run_splits())
    full.fit()
    trainer = Trainer(text_run_config(tmp_path / "split"), splits=text_run_splits())
    real_eval = trainer.evaluate

    def evaluate(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)
        return real_eval(*args, **kwargs)

    monkeypatch.setattr(trainer, "evaluate", evaluate)
    with pytest.raises(TrainingInterrupted, match=r"^interrupted at step 5;"):
        trainer.fit()
    ck = checkpoint.load(tmp_path / "split" / "last.pt")
    assert (ck["state"]["epoch"], ck["state"]["step_in_epoch"], len(ck["history"])) == (1, 0, 1)
    second = Trainer(text_run_config(tmp_path / "split"), splits=text_run_splits())
    second.fit()
    assert_same_state(params_of(full.model), params_of(second.model))


def test_second_signal_stops_at_once(tmp_path, monkeypatch):
    before = signal.getsignal(signal.SIGTERM)
    restore = _signal_at_call(monkeypatch, 3, signal.SIGTERM, times=2)
    with pytest.raises(KeyboardInterrupt, match="second stop signal"):
        Trainer(text_run_config(tmp_path / "r"), splits=text_run_splits()).fit()
    restore()
    assert signal.getsignal(signal.SIGTERM) is before
    assert checkpoint.load(tmp_path / "r" / "last.pt")["loop"]["step_count"] == 2  # the last complete one


def test_cli_reports_an_interrupted_run_in_one_line(tmp_path, monkeypatch, capsys):
    import savae_lite.train as train_mod
    from savae_lite.cli import main

    class StoppedTrainer:
        def __init__(self, cfg):
            self.out = Path(cfg.train.out_dir)

        def fit(self, resume=True):
            raise train_mod.TrainingInterrupted(12, "SIGTERM", self.out / "last.pt")

    monkeypatch.setattr(train_mod, "Trainer", StoppedTrainer)
    assert main(["train", "--quick", "--no-progress", "--out-dir", str(tmp_path / "r")]) == 130
    err = capsys.readouterr().err
    assert err.startswith("savae-lite train: interrupted at step 12; resume with the same command")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_sigterm_to_the_cli_writes_a_checkpoint_and_exits_130(tmp_path):
    """A real SIGTERM to `savae-lite train`: exit code 130, one line on stderr, no traceback; the rerun resumes
    and finishes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    run_dir = tmp_path / "run"
    cmd = _train_cmd(run_dir)
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (run_dir / "last.pt").exists():  # inside fit: the handlers are installed
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("savae-lite train: interrupted at step ")
    assert json.loads((run_dir / "results.json").read_text())["status"] == "interrupted"
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "finished" and record["resumed"]


def test_stale_temporary_checkpoint_is_removed_on_resume(tmp_path):
    Trainer(text_run_config(tmp_path / "r", epochs=1), splits=text_run_splits()).fit()
    stale = tmp_path / "r" / "last.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    Trainer(text_run_config(tmp_path / "r", epochs=2), splits=text_run_splits()).fit()
    assert not stale.exists()



# ---------------------------------------------------------------------------------- NaN / inf
class NaNOnCall:
    """A forward hook on a module that replaces its output by NaN on the given call numbers (1-based)."""

    def __init__(self, module, calls):
        self.calls, self.n = set(calls), 0
        module.register_forward_hook(self)

    def __call__(self, module, inputs, output):
        self.n += 1
        return output * float("nan") if self.n in self.calls else output


def test_nan_svi_iterate_is_reported_with_step_and_mode(tmp_path):
    trainer = Trainer(text_run_config(tmp_path / "nan"), splits=text_run_splits())
    NaNOnCall(trainer.model.decoder.h0, calls={2})  # the second SVI step of the first batch
    with pytest.raises(FloatingPointError, match=r"SVI iterate.*at step 0 in mode 'savae'.*none written yet"):
        trainer.fit()
    assert not (tmp_path / "nan" / "last.pt").exists()


def test_nan_svi_iterate_in_plain_svi_mode(tmp_path):
    trainer = Trainer(text_run_config(tmp_path / "svi", mode="svi"), splits=text_run_splits())
    NaNOnCall(trainer.model.decoder.h0, calls={2})
    with pytest.raises(FloatingPointError, match=r"non-finite loss.*at step 0 in mode 'svi'"):
        trainer.fit()


def test_nan_svi_iterate_skip_mode_skips_only_that_batch(tmp_path):
    trainer = Trainer(text_run_config(tmp_path / "skip", on_nan="skip"), splits=text_run_splits())
    NaNOnCall(trainer.model.decoder.h0, calls={2})
    record = trainer.fit()
    assert record["skipped_batches"] == 1
    last = checkpoint.load(tmp_path / "skip" / "last.pt")
    assert all(torch.isfinite(v).all() for v in last["model"].values())


def _inf_grad_on(param, batches_hit, counter):
    """Make ``param``'s gradient infinite while the trainer works on the given (0-based) step numbers."""
    def hook(grad):
        return grad * float("inf") if counter["step"] in batches_hit else grad
    param.register_hook(hook)


@pytest.mark.parametrize("mode", ["vae", "savae"])
def test_inf_gradient_stops_with_step_and_mode(mode, tmp_path):
    trainer = Trainer(text_run_config(tmp_path / mode, mode=mode), splits=text_run_splits())
    counter = {"step": 2}
    _inf_grad_on(trainer.model.decoder.out.weight, {2}, counter)
    before = params_of(trainer.model)
    with pytest.raises(FloatingPointError, match=rf"gradient norm \((nan|inf)\) at step 0 in mode '{mode}'"):
        trainer.fit()
    assert_same_state(before, params_of(trainer.model))  # no optimiser step with a bad gradient


@pytest.mark.parametrize("mode", ["vae", "savae"])
def test_inf_gradient_skip_mode(mode, tmp_path, monkeypatch):
    import savae_lite.loop as loop_mod

    trainer = Trainer(text_run_config(tmp_path / mode, mode=mode, on_nan="skip"), splits=text_run_splits())
    counter = {"step": -1}
    real = loop_mod.training_step

    def counting(*args, **kwargs):
        counter["step"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(loop_mod, "training_step", counting)
    _inf_grad_on(trainer.model.decoder.out.weight, {1, 6}, counter)
    record = trainer.fit()
    assert record["skipped_batches"] == 2
    for name in ("last.pt", "best.pt"):
        ck = checkpoint.load(tmp_path / mode / name)
        assert all(torch.isfinite(v).all() for v in ck["model"].values())


@pytest.mark.parametrize("on_nan", ["stop", "skip"])
def test_non_finite_parameters_are_never_checkpointed(on_nan, tmp_path):
    """An optimiser step that leaves inf in the parameters (finite loss and gradient) must not reach disk."""
    trainer = Trainer(text_run_config(tmp_path / on_nan, mode="vae", on_nan=on_nan), splits=text_run_splits())
    real_step, calls = trainer.loop.optimizer.step, {"n": 0}

    def poisoned_step(*args, **kwargs):
        out = real_step(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            with torch.no_grad():
                trainer.model.decoder.h0.bias[0] = float("inf")
        return out

    trainer.loop.optimizer.step = poisoned_step
    if on_nan == "stop":
        with pytest.raises(FloatingPointError, match=r"non-finite parameters \(decoder\.h0\.bias\).*not written"):
            trainer.fit()
    else:
        with pytest.warns(RuntimeWarning, match="non-finite parameters"), pytest.raises(TrainingDiverged):
            trainer.fit()  # skipped, then the validation of the broken model is not finite: no result
    ck = checkpoint.load(tmp_path / on_nan / "last.pt")
    assert ck["loop"]["step_count"] == 2  # the checkpoint after the second step, the last good one
    assert all(torch.isfinite(v).all() for v in ck["model"].values())

