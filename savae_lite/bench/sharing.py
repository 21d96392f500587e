"""Sharing the machine: training throughput alone and next to one busy process, per CPU thread policy (record
key ``sharing``).

Chapter: *Differentiable SVI* (the benchmark); the policy itself is described in :mod:`savae_lite.runtime`.

**Workload.** Optimiser steps of a training recipe (``BenchConfig.sharing_recipe``: ``ptb-small``, the README's
SA-VAE recipe, in ``full`` and ``quick``; ``ptb-quick`` in ``tiny``): the preset's data, model, mode, SVI and
optimiser, ``TrainingLoop.step`` on a fixed list of ``sharing_steps`` training batches (the first full batches of
the seed-0 epoch order), so that every measurement does the same work. The clock is the wall clock (steps/s is
what a user waits for); the worker's CPU seconds per step are recorded beside it (``*_cpu_s_per_step``: above
the wall seconds per step when threads run in parallel or spin). ``bench --threads`` does not apply here.

**Policies.** OpenMP reads its wait policy when torch is loaded, so each policy trains in its own worker process,
started once with a clean environment (``OMP_*``, ``GOMP_SPINCOUNT``, ``KMP_BLOCKTIME`` and ``MKL_NUM_THREADS``
removed) and then told over a pipe when to run its steps:

* ``default`` — savae-lite's policy: the worker imports savae-lite first, which sets ``GOMP_SPINCOUNT=1000``;
  torch's thread count (the physical cores);
* ``passive`` (``full`` only) — ``OMP_WAIT_POLICY=PASSIVE``: idle threads sleep at once;
* ``old`` — the behaviour before: torch imported first, so OpenMP keeps its own wait policy (libgomp: idle threads
  spin 300,000 times, a few ms, then sleep); torch's thread count;
* ``one-thread`` — savae-lite's policy with ``--threads 1``;
* ``brief-spin`` (``full`` only: a candidate, not a policy of the package) — like ``old`` but with
  ``GOMP_SPINCOUNT=10000`` (libgomp's idle threads spin about 0.1 ms instead of about 3 ms, then sleep): the data
  for choosing how briefly to spin.

Each worker reports the :class:`~savae_lite.runtime.ThreadPolicy` it trains with (``threads``, ``wait_policy``).

**Busy process.** ``python -c "while True: pass"``: one process keeping one core busy with no memory traffic —
the simplest stand-in for another single-threaded job. It is started (and seen running) before a loaded
measurement and killed after it, so nothing else of the benchmark runs next to it.

**Schedule** (interleaved, with repeats). ``sharing_rounds`` rounds; in each, every policy (order alternating from
round to round) is timed alone and loaded (order alternating too). Per round and policy: ``loaded_over_alone``
(its loaded over its alone throughput), ``alone_over_best_alone`` (its alone throughput over the fastest
policy's alone throughput in that round) and ``loaded_over_best_alone`` (what the issue calls "x of quiet").
Reported: median and IQR of each over rounds, and a ``summary`` of the default policy against the targets
(``TARGETS``). The machine's load average is recorded: on a machine that is not otherwise idle (load average
above ``QUIET_LOAD`` before the run), "alone" is not alone and ``machine_quiet`` is false.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from savae_lite.bench.presets import BenchConfig
from savae_lite.bench.timing import Spread

TARGETS = {"loaded_over_best_alone": 0.45, "alone_over_best_alone": 0.85}  # the "share the machine"
QUIET_LOAD = 0.5  # 1-minute load average below which the machine counts as otherwise idle
CLEAN_ENV = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "MKL_NUM_THREADS")
BUSY_CODE = "import sys\nsys.stdout.write('ready\\n')\nsys.stdout.flush()\nwhile True:\n    pass\n"
WORKER_CODE = ("import sys, json\nif json.loads(sys.argv[1])['import_torch_first']:\n    import torch\n"
               "from savae_lite.bench.sharing import worker_main\nworker_main(sys.argv[1])\n")


@dataclass(frozen=True)
class Policy:
    """A thread policy as a worker starts it."""

    name: str
    description: str
    threads: int | None = None  # apply_thread_policy(threads) in the worker
    import_torch_first: bool = False  # True: OpenMP loads before savae-lite can set its wait policy
    env: tuple[tuple[str, str], ...] = ()  # added to the worker's (clean) environment


POLICIES = {
    "default": Policy("default", "savae-lite: GOMP_SPINCOUNT=1000 (set on import), torch's thread count"),
    "passive": Policy("passive", "OMP_WAIT_POLICY=PASSIVE (idle threads sleep at once), torch's thread count",
                      import_torch_first=True, env=(("OMP_WAIT_POLICY", "PASSIVE"),)),
    "old": Policy("old", "before: OpenMP's own wait policy (spin, then sleep), torch's thread count",
                  import_torch_first=True),
    "one-thread": Policy("one-thread", "savae-lite's wait policy with --threads 1", threads=1),
    "brief-spin": Policy("brief-spin", "candidate: OpenMP's own wait policy with GOMP_SPINCOUNT=10000 (spin about "
                         "0.1 ms, then sleep), torch's thread count", import_torch_first=True,
                         env=(("GOMP_SPINCOUNT", "10000"),)),
}


# ---------------------------------------------------------------------------------------------- worker side
def worker_main(spec_json: str) -> None:
    """A worker process: build the recipe's training step, report ready, then time the steps on every ``run``
    line read from stdin (one JSON line per measurement on stdout) until ``quit`` or end of input."""
    import torch

    from savae_lite.build import build_data, build_model
    from savae_lite.loop import TrainingLoop
    from savae_lite.presets import preset
    from savae_lite.runtime import apply_thread_policy

    out, sys.stdout = sys.stdout, sys.stderr  # stdout carries the protocol only; anything printed goes to stderr
    spec = json.loads(spec_json)
    policy = apply_thread_policy(spec["threads"])
    cfg = preset(spec["recipe"])
    tc = cfg.train
    splits = build_data(cfg)
    torch.manual_seed(0)
    model = build_model(cfg, len(splits.vocab) if splits.vocab is not None else None)
    loop = TrainingLoop(model, tc.mode, tc.svi, optimizer=tc.optimizer, lr=tc.lr, grad_clip=tc.grad_clip,
                        kl_start=1.0, on_nan="skip")
    batches = fixed_batches(splits.train_batches(torch.Generator().manual_seed(0)), cfg.data.batch_size,
                            spec["steps"])
    model.train()
    loop.step(batches[0])  # warm-up: lazy initialisation of kernels and threads
    out.write(json.dumps({"ready": True, "pid": os.getpid(), **policy.to_dict(), "mode": tc.mode,
                          "batch_shapes": [list(x.shape) for x in batches]}) + "\n")
    out.flush()
    for line in sys.stdin:
        if line.strip() != "run":
            break
        t0, c0 = time.perf_counter(), time.process_time()
        skipped = sum(loop.step(x) is None for x in batches)
        out.write(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                              "skipped": skipped}) + "\n")
        out.flush()


def fixed_batches(batches: list, batch_size: int, n: int) -> list:
    """The first ``n`` batches holding ``batch_size`` examples (the remaining ones after them, if too few)."""
    full = [x for x in batches if x.shape[0] == batch_size]
    rest = [x for x in batches if x.shape[0] != batch_size]
    return (full + rest)[:n]


# ---------------------------------------------------------------------------------------------- bench side
def _child_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    root = str(Path(__file__).resolve().parents[2])  # the folder holding the savae_lite package
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


class Worker:
    """One policy's worker process (see :func:`worker_main`)."""

    def __init__(self, policy: Policy, recipe: str, steps: int):
        self.policy = policy
        spec = json.dumps({"recipe": recipe, "steps": steps, "threads": policy.threads,
                           "import_torch_first": policy.import_torch_first})
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER_CODE, spec], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**_child_env(), **dict(policy.env)})
        self.info: dict = {}

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench sharing: worker {self.policy.name!r} exited (code {self.proc.wait()})")
        return json.loads(line)

    def wait_ready(self) -> dict:
        """Block until the worker has built its model and reports ready; returns (and keeps) its
        report (threads, policy and environment)."""
        self.info = self._reply()
        return self.info

    def run(self) -> dict:
        """Ask the worker for one timed run of its training steps; returns its JSON reply (steps/s)."""
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        """Tell the worker to quit (kill it if it does not within 10 s) and close the pipes."""
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


class BusyProcess:
    """Context manager: a process spinning on one core (``BUSY_CODE``) for the duration of the block."""

    def __enter__(self) -> "BusyProcess":
        self.proc = subprocess.Popen([sys.executable, "-S", "-c", BUSY_CODE], stdout=subprocess.PIPE, text=True)
        self.proc.stdout.readline()  # it is running
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def _load_average() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def bench_sharing(bc: BenchConfig, log=print) -> dict:
    """The ``sharing`` record (module docstring)."""
    load_start = _load_average()
    names = list(bc.sharing_policies)
    workers: dict[str, Worker] = {}
    rates: dict[str, dict[str, list[float]]] = {n: {"alone": [], "loaded": []} for n in names}
    cpu: dict[str, dict[str, list[float]]] = {n: {"alone": [], "loaded": []} for n in names}  # CPU s per step
    try:
        for n in names:  # all start together, then each reports ready
            workers[n] = Worker(POLICIES[n], bc.sharing_recipe, bc.sharing_steps)
        for n in names:
            workers[n].wait_ready()
        for rnd in range(bc.sharing_rounds):
            for n in (names if rnd % 2 == 0 else names[::-1]):
                for cond in (("alone", "loaded") if rnd % 2 == 0 else ("loaded", "alone")):
                    if cond == "loaded":
                        with BusyProcess():
                            t = workers[n].run()
                    else:
                        t = workers[n].run()
                    rates[n][cond].append(bc.sharing_steps / t["wall"])
                    cpu[n][cond].append(t["cpu"] / bc.sharing_steps)
            log("  sharing round {}: {}".format(rnd + 1, ", ".join(
                f"{n} {rates[n]['alone'][-1]:.3f} / {rates[n]['loaded'][-1]:.3f} steps/s" for n in names)))
    finally:
        for w in workers.values():
            w.close()
    return sharing_record(bc, {n: workers[n].info for n in names}, rates, load_start, _load_average(), cpu)


def sharing_record(bc: BenchConfig, infos: dict[str, dict], rates: dict[str, dict[str, list[float]]],
                   load_start: list[float] | None, load_end: list[float] | None,
                   cpu: dict[str, dict[str, list[float]]] | None = None) -> dict:
    """The record from the per-round steps/s (``rates[policy]['alone' | 'loaded']``, one value per round) and,
    when given, the worker's CPU seconds per step (``cpu``, same layout; > wall seconds per step when threads
    spin or run in parallel)."""
    names = list(rates)
    rounds = len(rates[names[0]]["alone"])
    best = [max(rates[n]["alone"][r] for n in names) for r in range(rounds)]
    policies = {}
    for n in names:
        alone, loaded = rates[n]["alone"], rates[n]["loaded"]
        info = infos.get(n, {})
        policies[n] = {
            "description": POLICIES[n].description if n in POLICIES else n,
            "threads": info.get("threads"), "wait_policy": info.get("wait_policy"),
            "wait_policy_from": info.get("wait_policy_from"),
            **Spread.of(alone).fields("alone_steps_per_s", 4), **Spread.of(loaded).fields("loaded_steps_per_s", 4),
            **Spread.of([b / a for a, b in zip(alone, loaded)]).fields("loaded_over_alone", 4),
            **Spread.of([a / m for a, m in zip(alone, best)]).fields("alone_over_best_alone", 4),
            **Spread.of([b / m for b, m in zip(loaded, best)]).fields("loaded_over_best_alone", 4),
            "alone_all": [round(v, 4) for v in alone], "loaded_all": [round(v, 4) for v in loaded]}
        if cpu is not None:
            policies[n].update({f"{c}_cpu_s_per_step": round(Spread.of(cpu[n][c]).median, 4)
                                for c in ("alone", "loaded")})
    first = infos.get(names[0], {})
    return {"recipe": bc.sharing_recipe, "mode": first.get("mode"), "batch_shapes": first.get("batch_shapes"),
            "steps_per_measurement": bc.sharing_steps, "rounds": rounds, "clock": "wall",
            "busy_process": "python -c 'while True: pass' (one core)", "cpu_count": os.cpu_count(),
            "load_avg_start": load_start, "load_avg_end": load_end,
            "machine_quiet": bool(load_start is not None and load_start[0] < QUIET_LOAD),
            "policies": policies, "summary": summarize_sharing(policies)}


def summarize_sharing(policies: dict[str, dict]) -> dict:
    """The default policy (else the first one) against ``TARGETS``, and the old policy's numbers beside it."""
    name = "default" if "default" in policies else next(iter(policies))
    p = policies[name]
    s: dict = {"policy": name, "targets": dict(TARGETS), **{k: p[k] for k in TARGETS},
               "loaded_over_alone": p["loaded_over_alone"],
               "meets_targets": all(p[k] >= v for k, v in TARGETS.items())}
    if "old" in policies and name != "old":
        s["old"] = {k: policies["old"][k] for k in (*TARGETS, "loaded_over_alone")}
    return s


def format_sharing(rec: dict) -> list[str]:
    """Text-table lines of the ``sharing`` record."""
    lines = [f"sharing ({rec['recipe']}, {rec['steps_per_measurement']} steps x {rec['rounds']} rounds, wall clock; "
             f"load {rec['load_avg_start']}{'' if rec['machine_quiet'] else ' - machine not quiet'}):",
             f"  {'policy':11s} {'thr':>3s} {'alone/s':>8s} {'loaded/s':>8s} {'ld/alone':>8s} {'al/best':>8s} "
             f"{'ld/best':>8s}"]
    for n, p in rec["policies"].items():
        lines.append(f"  {n:11s} {p['threads'] if p['threads'] is not None else '-':>3} "
                     f"{p['alone_steps_per_s']:8.3f} {p['loaded_steps_per_s']:8.3f} {p['loaded_over_alone']:8.3f} "
                     f"{p['alone_over_best_alone']:8.3f} {p['loaded_over_best_alone']:8.3f}")
    s = rec["summary"]
    lines.append(f"  targets {s['targets']}: {s['policy']} {'meets them' if s['meets_targets'] else 'misses'}")
    return lines
