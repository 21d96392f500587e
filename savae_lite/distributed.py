"""One training on several processes (``torchrun``): data parallelism for gradients that are written by hand.

Chapter: *Introduction* (running long experiments). ``torchrun --nproc_per_node N savae-lite train ...`` starts N
copies of the same command; each reads the rendezvous that torchrun puts in its environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and joins one process group (NCCL on
``cuda:LOCAL_RANK`` when CUDA is available, gloo on the CPU otherwise).

Why not ``DistributedDataParallel``: DDP all-reduces inside ``backward`` hooks, but the training modes write
their gradients into ``.grad`` themselves (``savae``: the unrolled SVI's reverse pass returns parameter
gradients; ``vae+svi``: ``autograd.grad`` and accumulation). So the all-reduce is one explicit call after the
mode's step and before the clip, :meth:`Distributed.sync_gradients`. It is exact, not an approximation:

* every rank builds the same shuffled list of *global* batches (the generator is seeded by (seed, epoch)) and
  trains on its own contiguous chunk of the rows of each, :meth:`Distributed.shard` (the distributed sampler;
  a chunk of a length-bucketed batch is still one sentence length, without padding). ``--batch-size`` stays the
  global batch, so the same command trains the same model on 1 or N processes;
* a step's loss is a sum of per-example terms l_i(theta): the SVI of example i sees only x_i and theta (its
  per-example clip included), so the reverse pass of rank r, run on its chunk alone, returns the exact gradient
  g_r = (1/n_r) sum_{i in chunk r} grad l_i of its chunk's mean;
* the all-reduce sums (n_r / N) g_r over the ranks, which is (1/N) sum_i grad l_i: the gradient of the global
  batch's mean, the same number a single process computes (up to the order of float additions). The clip and
  the optimiser step then run on identical gradients, so the parameters stay identical on every rank.

Two exceptions, by design: the finite-difference HVP (``--hvp fd``) sizes its perturbation by the norm of
the whole batch, so each chunk's difference quotient differs from the single-process one within the HVP's own
approximation error (``--hvp exact`` is exactly separable); and BatchNorm (the ResNet image encoder) uses
per-rank batch statistics, as DDP without SyncBatchNorm does. The noise differs too: rank r draws its noise from
its own stream (:func:`rank_seed`), so the N-process run is another sample of the same training, not the same
random numbers.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Sequence

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

RANK_SEED_STRIDE = 1_000_003  # rank r's streams start at seed + r * stride (rank 0: the single-process seed)
TIMEOUT = timedelta(hours=4)  # the others wait this long for rank 0 (e.g. testing the model with the IW-NLL)


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s random streams (noise, dropout): ``seed`` itself on rank 0."""
    return seed + rank * RANK_SEED_STRIDE


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (1 when unset): more than 1 under ``torchrun --nproc_per_node N``."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"WORLD_SIZE: expected a number of processes, got {value!r}") from None


def restart_count() -> int:
    """How often torchrun has restarted this worker group (``--max-restarts``); 0 on the first attempt."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)


def rank_device(name: str, local_rank: int) -> torch.device:
    """The device of the process with ``local_rank`` on its machine: ``cuda:LOCAL_RANK`` for ``auto``/``cuda``
    when CUDA is available, the CPU for ``auto`` without CUDA or ``cpu``; ``cuda:N`` is taken as given."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device: {name!r} requested but CUDA is not available on this machine")
    if name == "cuda":
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "mps":
        raise ValueError("--device: mps cannot be shared by several processes; use cpu (gloo) or cuda (nccl)")
    try:
        return torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device: unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None


@dataclass
class Distributed:
    """This process's place in the group: ``rank`` of ``world_size`` processes, ``local_rank`` on its machine,
    the ``device`` it trains on and the collective ``backend`` (``nccl`` or ``gloo``)."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        """Rank 0 validates, tests, and writes the checkpoints and the record."""
        return self.rank == 0

    # ---- data -------------------------------------------------------------------------------------------
    def shard(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This rank's rows of the global batch x (N, ...): a contiguous chunk (n_r, ...), the sizes of the
        chunks differing by at most one (a chunk is empty when N < world size), and its weight n_r / N."""
        chunk = torch.tensor_split(x, self.world_size)[self.rank]
        return chunk, chunk.shape[0] / max(x.shape[0], 1)

    # ---- gradients ---------------------------------------------------------------------------------------
    def sync_gradients(self, params: Sequence[torch.nn.Parameter], weight: float, sums: Sequence[float] = (),
                       failed: bool = False) -> tuple[list[float], bool]:
        """Replace each ``p.grad`` (this rank's chunk mean) by sum over ranks of ``weight * p.grad`` (the global
        batch mean when ``weight`` = n_r / N); also sum ``sums`` (floats, e.g. the step's loss totals) and
        whether any rank ``failed``. Returns (the summed ``sums``, any rank failed).

        A ``None`` gradient counts as zeros, and stays ``None`` only where it is ``None`` on every rank (the
        optimiser skips such parameters). One all-reduce per gradient dtype plus one for the float64 sums."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        meta = torch.tensor([*sums, float(failed), *(float(p.grad is not None) for p in params)],
                            dtype=torch.float64, device=self.device)
        buckets: dict[torch.dtype, list[int]] = {}
        for i, g in enumerate(grads):
            buckets.setdefault(g.dtype, []).append(i)
        flats, works = [], [dist.all_reduce(meta, async_op=True)]
        for idx in buckets.values():
            flat = _flatten_dense_tensors([grads[i] for i in idx])
            if weight != 1.0:
                flat.mul_(weight)
            flats.append(flat)
            works.append(dist.all_reduce(flat, async_op=True))
        for work in works:
            work.wait()
        n = len(sums)
        has_grad = meta[n + 1:].tolist()
        for idx, flat in zip(buckets.values(), flats):
            for i, g in zip(idx, _unflatten_dense_tensors(flat, [grads[i] for i in idx])):
                params[i].grad = g if has_grad[i] > 0 else None
        return meta[:n].tolist(), bool(meta[n] > 0)

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every rank (a safeguard: the same seed builds the same
        model everywhere)."""
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                dist.broadcast(t.data, src=0)

    # ---- plain values -------------------------------------------------------------------------------------
    def any(self, flags: Sequence[bool]) -> list[bool]:
        """Element-wise 'on any rank' of ``flags``: the same decision on every rank (stop, write a checkpoint)."""
        t = torch.tensor([float(f) for f in flags], dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [v > 0 for v in t.tolist()]

    def broadcast_object(self, obj: Any = None) -> Any:
        """Rank 0's ``obj`` on every rank (picklable; the others pass anything)."""
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self.device if self.backend == "nccl" else None)
        return box[0]

    def gather_object(self, obj: Any) -> list:
        """Every rank's ``obj``, in rank order, on every rank."""
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        """Wait until every process reaches this point (``torch.distributed.barrier``)."""
        dist.barrier()


def setup(device: str = "auto") -> Distributed | None:
    """Join the process group that torchrun described in the environment; None for a single process
    (``WORLD_SIZE`` unset or 1). ``device`` is the ``--device`` flag (see :func:`rank_device`)."""
    world = env_world_size()
    if world <= 1:
        return None
    missing = [v for v in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise ValueError(f"WORLD_SIZE={world} but {', '.join(missing)} not set: start several processes with "
                         "torchrun (e.g. torchrun --nproc_per_node 2 -m savae_lite.cli train ...)")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    dev = rank_device(device, local_rank)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        from torch.distributed.rendezvous import rendezvous

        store, _, _ = next(rendezvous("env://", rank, world, timeout=TIMEOUT))
        # keys of this attempt only: a group restarted by torchrun (--max-restarts) can find the store of the
        # group it replaces, whose stale addresses make the connection fail ("Connection refused"). Every agent
        # counts the same restarts as long as the nodes stay the same (a fixed --nnodes, not MIN:MAX)
        store = dist.PrefixStore(f"savae_lite/attempt_{restart_count()}", store)
        dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=TIMEOUT)
    return Distributed(rank, world, local_rank, dev, backend)


def teardown(group: Distributed | None) -> None:
    """Leave the process group (after :func:`setup`; nothing for a single process)."""
    if group is not None and dist.is_initialized():
        dist.destroy_process_group()


def free_port() -> int:
    """A TCP port that is free on this machine now (for a local rendezvous)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launched(rank: int, world: int, port: int, fn, args: tuple) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    fn(*args)


def launch_local(world: int, fn, *args) -> None:
    """Run ``fn(*args)`` in ``world`` new processes on this machine with the environment torchrun would give
    them (so :func:`setup` joins them into one group); returns when all have finished, raises when one failed.
    ``fn`` must be importable by name (a module-level function). For tests and the benchmark; real runs use
    torchrun."""
    import torch.multiprocessing as mp

    mp.start_processes(_launched, args=(world, free_port(), fn, args), nprocs=world, start_method="spawn")
