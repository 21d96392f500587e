"""Several processes (savae_lite.distributed): 2 gloo processes on the CPU train the same parameters as one process
with the same global batch (vae, vae+svi+kl, savae, aggressive; a run without the gradient all-reduce does not); a
group that crashes after a checkpoint resumes on every rank exactly; under torchrun, a rank killed mid-run is restarted
(--max-restarts) and the run resumes from the last checkpoint and finishes."""
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch

from savae_lite import distributed
from savae_lite.build import Splits, build_model
from savae_lite.checks import random_sentences
from savae_lite.loop import TrainingLoop
from savae_lite.runtime import set_seed
from savae_lite.svi import SVIConfig
from savae_lite.train import Trainer
from tests.conftest import REPO, TinyVocab, params_of, text_run_config

MODES = ("vae", "vae+svi+kl", "savae", "aggressive")


def fixed_noise(like: torch.Tensor, **kw) -> torch.Tensor:
    """Stands in for ``torch.randn_like``: the noise of an example is a function of its own (mu or lambda) row,
    so it does not depend on how the global batch is split over processes."""
    arange = torch.arange(like.shape[-1], dtype=like.dtype, device=like.device)
    return torch.sin(3.0 * like.detach() + arange)


def splits() -> Splits:
    """Global batches of 4, 3 (split 2 + 1: weighted), 5 and 4 sentences of three lengths; one valid, one test."""
    g = torch.Generator().manual_seed(0)
    sents = [random_sentences(n, length, 20, g) for n, length in ((4, 5), (3, 6), (5, 7), (4, 6))]

    def train_batches(gen):
        return [sents[i] for i in torch.randperm(len(sents), generator=gen).tolist()]

    return Splits(train_batches, sents[:1], sents[1:2], "text", TinyVocab(), {"dataset": "tiny-text"})


def config(out_dir, mode, dropout=0.0, **train):
    cfg = text_run_config(out_dir, mode, iw_samples=0, **train)
    cfg.model["dropout"] = dropout
    cfg.train.svi = SVIConfig(steps=2, lr_mu=0.1, lr_logvar=0.1, hvp="exact")  # per-example exact (see the module)
    return cfg


def train(out_dir, mode, group=None, dropout=0.0, **kw) -> Trainer:
    cfg = config(out_dir, mode, dropout, **kw)
    set_seed(cfg.train.seed)
    trainer = Trainer(cfg, splits=splits(), model=build_model(cfg, 20).double(), dist=group)  # float64: tight
    trainer.fit()
    return trainer


class Crash(Exception):
    pass


def _crash_at(step: int):
    """A TrainingLoop.step that raises Crash at its ``step``-th call (1-based) in this process."""
    original, calls = TrainingLoop.step, [0]

    def step(self, x, pool=None):
        calls[0] += 1
        if calls[0] == step:
            raise Crash
        return original(self, x, pool)

    return step


def _unsynced(self, params, weight, sums=(), failed=False):
    """Distributed.sync_gradients without the gradient all-reduce (totals still summed): a broken sync."""
    t = torch.tensor([*sums, float(failed)], dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return t[:-1].tolist(), bool(t[-1] > 0)


def _worker(out: str) -> None:
    """Rank RANK of 2: the runs of the tests below, each rank's final parameters saved as OUT/RUN/rankR.pt."""
    torch.set_num_threads(1)
    distributed.TIMEOUT = timedelta(seconds=120)  # a collective that hangs fails the test instead
    out, group = Path(out), distributed.setup("cpu")
    rank = group.rank

    def save(trainer, name):
        torch.save(params_of(trainer.model), out / name / f"rank{rank}.pt")

    try:
        randn_like = torch.randn_like
        torch.randn_like = fixed_noise
        for mode in MODES:
            save(train(out / mode, mode, group), mode)
        synced, distributed.Distributed.sync_gradients = distributed.Distributed.sync_gradients, _unsynced
        save(train(out / "broken", "vae", group), "broken")
        distributed.Distributed.sync_gradients, torch.randn_like = synced, randn_like
        # resume: random noise and dropout, a crash of the whole group after step 3's checkpoint, a restart
        save(train(out / "full", "savae", group, dropout=0.3, epochs=2, checkpoint_every=1), "full")
        real_step, TrainingLoop.step = TrainingLoop.step, _crash_at(4)
        try:
            train(out / "resumed", "savae", group, dropout=0.3, epochs=2, checkpoint_every=1)
        except Crash:
            pass
        TrainingLoop.step = real_step
        save(train(out / "resumed", "savae", group, dropout=0.3, epochs=2, checkpoint_every=1), "resumed")
    finally:
        distributed.teardown(group)


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    t0 = time.perf_counter()
    distributed.launch_local(2, _worker, str(out))
    print(f"2-process runs: {time.perf_counter() - t0:.1f} s")
    return out


def _load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _max_diff(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a if a[k].is_floating_point())


@pytest.mark.parametrize("mode", MODES)
def test_two_processes_train_what_one_process_trains(mode, two_process_runs, tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "randn_like", fixed_noise)
    one = params_of(train(tmp_path / mode, mode).model)
    rank0, rank1 = (_load(two_process_runs / mode / f"rank{r}.pt") for r in (0, 1))
    assert _max_diff(rank0, rank1) == 0.0  # identical steps on every rank
    assert _max_diff(rank0, one) < 1e-10  # float64: the same gradients up to the order of the additions
    saved = torch.load(two_process_runs / mode / "last.pt", weights_only=True)["model"]
    assert _max_diff(saved, rank0) == 0.0  # rank 0 wrote the checkpoint
    record = json.loads((two_process_runs / mode / "results.json").read_text())
    assert record["status"] == "finished" and record["distributed"] == {"world_size": 2, "backend": "gloo"}
    # the training totals are the global batch's: the same as one process's
    one_record = json.loads((tmp_path / mode / "results.json").read_text())
    for a, b in zip(record["epochs"], one_record["epochs"]):
        assert a["train"]["loss"] == pytest.approx(b["train"]["loss"], rel=1e-9)


def test_without_the_all_reduce_the_runs_differ(two_process_runs, tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "randn_like", fixed_noise)
    one = params_of(train(tmp_path / "vae", "vae").model)
    rank0, rank1 = (_load(two_process_runs / "broken" / f"rank{r}.pt") for r in (0, 1))
    assert _max_diff(rank0, one) > 1e-4 and _max_diff(rank0, rank1) > 1e-4


def test_a_crashed_group_resumes_exactly_on_every_rank(two_process_runs):
    for r in (0, 1):
        full = _load(two_process_runs / "full" / f"rank{r}.pt")
        resumed = _load(two_process_runs / "resumed" / f"rank{r}.pt")
        assert _max_diff(full, resumed) == 0.0
    ck = torch.load(two_process_runs / "resumed" / "last.pt", weights_only=True)
    assert len(ck["rank_rng"]) == 2 and not torch.equal(ck["rank_rng"][0]["rng"], ck["rank_rng"][1]["rng"])


def _children(pid: int) -> list[int]:
    kids = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(k) for k in (task / "children").read_text().split()]
    except OSError:  # it has just exited
        pass
    return kids


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    ranks = [e.split(b"=", 1)[1] for e in env if e.startswith(b"RANK=")]
    return int(ranks[0]) if ranks else None


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the worker processes in /proc")
def test_torchrun_restarts_a_killed_rank_and_resumes(shared_data, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "--max-restarts", "1", "--monitor-interval", "0.2", "-m", "savae_lite.cli", "train", "--quick",
           "--mode", "vae", "--epochs", "3", "--max-steps-per-epoch", "8", "--checkpoint-every", "2",
           "--iw-samples", "0", "--no-progress", "--device", "cpu", "--out-dir", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SAVAE_LITE_DATA": str(shared_data)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while not (out / "last.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the kill"
            time.sleep(0.02)
        workers.update(_children(proc.pid))
        victims = [pid for pid in workers if _rank_of(pid) == 1]
        assert victims, "rank 1 not found"
        os.kill(victims[0], signal.SIGKILL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            workers.update(_children(proc.pid))  # the restarted ones too, to clean up after a failure
            time.sleep(0.1)
        output = proc.communicate(timeout=1)[0] if proc.poll() is not None else "(timed out)"
    finally:
        for pid in [proc.pid, *workers]:  # only the processes this test started
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        proc.wait()
    assert proc.returncode == 0, output[-3000:]
    record = json.loads((out / "results.json").read_text())
    assert record["status"] == "finished" and record["resumed"] is True, output[-3000:]
    assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3]
    assert record["distributed"]["world_size"] == 2


def test_a_two_process_checkpoint_resumes_on_one_process(two_process_runs, tmp_path):
    import shutil

    shutil.copytree(two_process_runs / "full", tmp_path / "run")
    trainer = train(tmp_path / "run", "savae", dropout=0.3, epochs=3, checkpoint_every=1)
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["resumed"] is True and [e["epoch"] for e in record["epochs"]] == [1, 2, 3]
    assert trainer.loop.step_count == 12 and "distributed" not in record


def test_shards_cover_the_global_batch_with_their_weights():
    x = torch.arange(5 * 3).view(5, 3)
    shards = [distributed.Distributed(r, 2, r, torch.device("cpu"), "gloo").shard(x) for r in range(2)]
    assert torch.equal(torch.cat([s for s, _ in shards]), x)  # contiguous chunks in rank order: 3 + 2 rows
    assert [w for _, w in shards] == [0.6, 0.4]
    empty, weight = distributed.Distributed(2, 3, 2, torch.device("cpu"), "gloo").shard(x[:2])
    assert empty.shape == (0, 3) and weight == 0.0


def test_setup_outside_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.setup("cpu") is None  # one process: no group
    monkeypatch.setenv("WORLD_SIZE", "2")
    for var in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match="RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT not set: start several"):
        distributed.setup("cpu")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="^WORLD_SIZE: expected a number of processes"):
        distributed.setup("cpu")


def test_the_two_process_benchmark_writes_a_record_with_provenance(tmp_path):
    """The benchmark's smoke size (timings are not asserted: only the record's structure)."""
    from savae_lite.bench import distributed as bench_distributed

    out = tmp_path / "bench.json"
    assert bench_distributed.main(["--tiny", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["benchmark"] == "distributed" and rec["environment"]["git_commit"]
    assert set(rec["examples_per_s"]) == {"one", "same_global_batch", "same_batch_per_process"}
    assert rec["speedup_same_global_batch"] > 0 and rec["world"] == 2
