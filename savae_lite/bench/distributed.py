"""Training examples/s on 2 gloo processes against 1 (:mod:`savae_lite.distributed`), on this machine's CPU.

Chapter: *Introduction* (several processes). Run::

    # about 4 minutes on 2 idle cores
    python -m savae_lite.bench.distributed --out runs/bench-distributed.json
    # a smoke test (about 20 s)
    python -m savae_lite.bench.distributed --tiny

Each side trains the ``ptb-small`` model (SA-VAE, K = 5 SVI steps, SGD; a vocabulary of 10,000 words: 6M
parameters) through :class:`~savae_lite.loop.TrainingLoop` on the same random sentences, every process with one
intra-op thread:

* ``one`` -- one process, global batch B;
* ``same_global_batch`` -- N processes, global batch B (each rank B / N rows: the run that trains the same model);
* ``same_batch_per_process`` -- N processes, global batch N x B (each rank B rows: DDP's usual weak scaling).

After ``warmup`` untimed steps the processes meet at a barrier and ``steps`` steps are timed (rank 0's wall
clock, up to a closing barrier). The sides alternate for ``rounds`` rounds; the record holds the median
examples/s of each and the speed-ups over ``one``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

VOCAB = 10_000  # PTB's


def _batches(n_batches: int, batch: int, length: int, vocab: int = VOCAB) -> list[torch.Tensor]:
    """``n_batches`` LongTensors (batch, length) of random sentences, the same on every call."""
    from savae_lite.checks import random_sentences

    g = torch.Generator().manual_seed(0)
    return [random_sentences(batch, length, vocab, g) for _ in range(n_batches)]


def _worker(out: str, mode: str, batch: int, length: int, steps: int, warmup: int, preset_name: str,
            vocab: int) -> None:
    """One process of one side: time ``steps`` training steps on global batches of ``batch`` sentences."""
    from savae_lite import distributed
    from savae_lite.build import build_model
    from savae_lite.loop import TrainingLoop
    from savae_lite.presets import preset

    torch.set_num_threads(1)
    group = distributed.setup("cpu")
    try:
        cfg = preset(preset_name)
        torch.manual_seed(0)
        model = build_model(cfg, vocab)
        loop = TrainingLoop(model, mode, cfg.train.svi, optimizer="sgd", lr=cfg.train.lr, grad_clip=5.0,
                            dist=group)
        batches = _batches(warmup + steps, batch, length, vocab)
        for x in batches[:warmup]:
            loop.step(x)
        if group is not None:
            group.barrier()
        t0 = time.perf_counter()
        for x in batches[warmup:]:
            loop.step(x)
        if group is not None:
            group.barrier()
        seconds = time.perf_counter() - t0
        if group is None or group.is_main:
            Path(out).write_text(json.dumps({"seconds": seconds, "examples": steps * batch}))
    finally:
        distributed.teardown(group)


def _side(world: int, batch: int, args) -> float:
    """Examples/s of one run of ``world`` processes on global batches of ``batch``."""
    from savae_lite.distributed import launch_local

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "side.json")
        launch_local(world, _worker, out, args.mode, batch, args.length, args.steps, args.warmup, args.preset,
                     args.vocab)
        r = json.loads(Path(out).read_text())
    return r["examples"] / r["seconds"]


def load_average() -> list[float] | None:
    """The machine's 1-, 5- and 15-minute load averages (rounded), or None where the OS has none."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def run(args) -> dict:
    """The record (module docstring)."""
    sides = {"one": (1, args.batch_size), "same_global_batch": (args.world, args.batch_size),
             "same_batch_per_process": (args.world, args.world * args.batch_size)}
    from savae_lite import results

    start_load, started, t0 = load_average(), results.stamp(), time.perf_counter()
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(args.rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for name in order:
            rates[name].append(_side(*sides[name], args))
            print(f"round {r + 1}/{args.rounds} {name}: {rates[name][-1]:.1f} examples/s", flush=True)
    med = {name: statistics.median(v) for name, v in rates.items()}
    return {"benchmark": "distributed", "created": started, "wall_time_s": round(time.perf_counter() - t0, 1),
            "environment": results.environment("cpu"),
            "what": f"training examples/s, {args.world} gloo processes vs 1, one thread each",
            "mode": args.mode, "preset": args.preset, "vocab": args.vocab, "batch_size": args.batch_size,
            "length": args.length,
            "world": args.world, "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds,
            "cpus": os.cpu_count(), "torch": torch.__version__, "load_average": [start_load, load_average()],
            "examples_per_s": {k: round(v, 2) for k, v in med.items()},
            "runs": {k: [round(x, 2) for x in v] for k, v in rates.items()},
            "speedup_same_global_batch": round(med["same_global_batch"] / med["one"], 3),
            "speedup_same_batch_per_process": round(med["same_batch_per_process"] / med["one"], 3)}


def main(argv: list[str] | None = None) -> int:
    """``python -m savae_lite.bench.distributed``: parse ``argv``, print the record (and write it with
    ``--out``); returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m savae_lite.bench.distributed",
                                description="Training examples/s of N gloo processes vs 1 on this machine.")
    p.add_argument("--world", type=int, default=2, help="processes of the parallel sides (default 2)")
    p.add_argument("--mode", default="savae", help="training mode (default savae)")
    p.add_argument("--preset", default="ptb-small", help="model and SVI of this preset (default ptb-small)")
    p.add_argument("--batch-size", type=int, default=32, help="global batch of the 1-process side (default 32)")
    p.add_argument("--length", type=int, default=20, help="sentence length (default 20)")
    p.add_argument("--vocab", type=int, default=VOCAB, help=f"vocabulary size (default {VOCAB})")
    p.add_argument("--steps", type=int, default=10, help="timed steps per run (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported (default 3)")
    p.add_argument("--tiny", action="store_true", help="a smoke test: ptb-quick sizes, 500 words, 3 steps, 1 round")
    p.add_argument("--out", default=None, help="also write the record to this JSON file")
    args = p.parse_args(argv)
    if args.tiny:
        args.preset, args.vocab, args.steps, args.warmup, args.rounds = "ptb-quick", 500, 3, 1, 1
    for flag, value in (("--world", args.world), ("--batch-size", args.batch_size), ("--steps", args.steps),
                        ("--rounds", args.rounds), ("--length", args.length), ("--vocab", args.vocab)):
        if value < 1:
            raise SystemExit(f"{flag}: expected a positive number, got {value}")
    record = run(args)
    print(json.dumps(record, indent=1))
    if args.out:
        from savae_lite.results import write_json

        write_json(record, args.out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
