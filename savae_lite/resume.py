"""Resuming a training run: what its ``last.pt`` holds, how every process writes and reads it, and the fallback
to the previous version when it is damaged.

Chapter: *Introduction* (running long experiments). :func:`save` writes ``last.pt`` from every process together
(each sends its random-number streams to rank 0, which writes the file and keeps the earlier version as
``last.prev.pt``). A run resumes from ``last.pt``, or from ``last.prev.pt`` (with a warning, the damaged file set
aside) when ``last.pt`` is missing, unreadable or fails its checksum (:func:`load_resumable`); the checkpoint must
hold every part of a run's state and come from the same config (:func:`check_resumable`), and each process gets
back its own random-number streams (:func:`restore_rng`). The files themselves (atomic writes, checksums, safe
loading) are :mod:`savae_lite.checkpoint`.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from savae_lite.checkpoint import atomic_save, config_mismatch, keep_previous, load, previous_of
from savae_lite.distributed import rank_seed
from savae_lite.runtime import set_seed

#: The entries of ``last.pt`` that a resume needs.
RESUMABLE = ("model", "loop", "scheduler", "state", "history", "config", "rng")


def load_resumable(path: str | os.PathLike) -> tuple[dict, Path] | None:
    """The checkpoint to resume from and its file: ``path`` (``last.pt``), or
    :func:`~savae_lite.checkpoint.previous_of` ``(path)`` with a warning when ``path`` is missing, unreadable or
    fails its checksum (a damaged ``path`` is renamed ``last.damaged.pt``, so the next save does not keep it as
    the previous version). None when neither file exists; ValueError naming both problems when neither loads."""
    path = Path(path)
    prev = previous_of(path)
    if not path.exists() and not prev.exists():
        return None
    problems = []
    for candidate in (path, prev):
        if not candidate.exists():
            problems.append(f"checkpoint {candidate} does not exist")
            continue
        try:
            ck = load(candidate)
        except ValueError as err:
            problems.append(str(err))
            continue
        if candidate != path:
            note = ""
            if path.exists():  # set aside, so that the next save does not make it the new last.prev.pt
                damaged = path.with_name(f"{path.stem}.damaged{path.suffix}")
                os.replace(path, damaged)
                note = f" (the damaged file is kept as {damaged.name})"
            warnings.warn(f"{problems[0]}; resuming from the previous checkpoint {candidate} instead{note}",
                          RuntimeWarning, stacklevel=3)
        return ck, candidate
    raise ValueError(f"{problems[0]}; no usable previous checkpoint either ({problems[1]}). Start afresh with "
                     "--no-resume or use another --out-dir.")


def load_resumable_on_all(path: str | os.PathLike, dist=None) -> tuple[dict, Path] | None:
    """:func:`load_resumable` for every process: rank 0 chooses the file (and may set a damaged one aside), the
    other ranks of ``dist`` (:class:`~savae_lite.distributed.Distributed`; None: one process) load the one it
    chose, and an error on rank 0 is raised on every rank."""
    if dist is None:
        return load_resumable(path)
    found, error = None, None
    if dist.is_main:
        try:
            found = load_resumable(path)
        except ValueError as err:
            error = str(err)
    chosen, error = dist.broadcast_object((str(found[1]) if found else None, error))
    if error is not None:
        raise ValueError(error)
    if chosen is None:
        return None
    return found if found is not None else (load(chosen), Path(chosen))


def check_resumable(ck: dict, path: str | os.PathLike, config: dict) -> None:
    """ValueError naming ``path`` unless ``ck`` holds every part of :data:`RESUMABLE` (a ``best.pt`` does not) and
    was written by ``config`` (a ``RunConfig.to_dict()``) up to the fields a resume may change."""
    missing = [k for k in RESUMABLE if k not in ck]
    if missing:
        raise ValueError(f"checkpoint {path} is not a resumable checkpoint (no {', '.join(missing)}); "
                         "best.pt files can be evaluated but not resumed")
    diffs = config_mismatch(ck["config"], config)
    if diffs:
        raise ValueError(f"checkpoint {path} was written by a different config; differences: "
                         + "; ".join(diffs) + ". Use another --out-dir or the same settings.")


def restore_states(ck: dict, path: str | os.PathLike, **parts) -> None:
    """``part.load_state_dict(ck[name])`` for each ``name=part`` in order (the model, the training loop, the
    learning-rate schedule); a state that does not fit becomes one ValueError naming ``path``."""
    try:
        for name, part in parts.items():
            part.load_state_dict(ck[name])
    except (RuntimeError, ValueError, KeyError) as err:
        detail = " ".join(str(err).split())
        raise ValueError(f"checkpoint {path}: its weights do not fit the model of this config "
                         f"({type(err).__name__}: {detail[:400]})") from None


def rng_state(device: torch.device) -> dict:
    """This process's random-number streams: ``rng`` (torch's CPU generator) and, on CUDA, ``cuda_rng``."""
    rng = {"rng": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda_rng"] = torch.cuda.get_rng_state(device)
    return rng


def restore_rng(ck: dict, rank: int, device: torch.device, fresh_seed: int) -> None:
    """Restore rank ``rank``'s streams as saved (``ck["rank_rng"][rank]``, or ``ck`` itself for rank 0 of a
    one-process checkpoint); a rank the checkpoint has none for (another number of processes) starts a stream of
    its own from ``fresh_seed``."""
    ranks = ck.get("rank_rng")
    rng = ranks[rank] if ranks is not None and rank < len(ranks) else ck if rank == 0 else None
    if rng is None:
        set_seed(rank_seed(fresh_seed, rank))
        return
    torch.set_rng_state(rng["rng"])
    if "cuda_rng" in rng and device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda_rng"], device)


def save(last: str | os.PathLike, contents: dict, device: torch.device, dist=None) -> None:
    """Write the resumable checkpoint ``last``: ``contents`` (the parts of :data:`RESUMABLE` but ``rng``, and
    whatever else the run keeps) plus this process's random streams (:func:`rng_state`). Several processes
    (``dist``): every rank calls this, rank 0 writes, with every rank's streams as ``rank_rng``. The version it
    replaces stays as ``last.prev.pt``, the fallback of :func:`load_resumable`."""
    rng = rng_state(device)
    ranks = dist.gather_object(rng) if dist is not None else None  # every rank's noise streams
    if dist is not None and not dist.is_main:
        return
    ck = {**contents, **rng}
    if ranks is not None:
        ck["rank_rng"] = ranks
    keep_previous(last)
    atomic_save(ck, last)
