"""Folder locks: one process at a time trains in a run folder, and one worker at a time trains a study's unit.

Chapter: *Introduction* (running long experiments).

A lock is an OS file lock (``fcntl.flock``) on a file inside the folder, held while the work runs and released by
the operating system when the process ends for any reason (a kill included), so a lock is never left stale. The
lock file also says who holds it (process id, host, start time and command line), so that the process refused
can name the one that has the folder.

Where ``fcntl`` does not exist (Windows) folders are not protected; everything else works the same.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

RUN_LOCK = "run.lock"  # held by a training run (savae_lite.train.Trainer.fit) for the whole run
CLAIM_LOCK = "claim.lock"  # held by a study worker while it trains the unit (savae_lite.study.run_study)


class FolderBusy(ValueError):
    """The folder's lock is held by another process; the message names the holder."""


def holder(folder: str | os.PathLike, name: str = RUN_LOCK) -> dict | None:
    """Who last took the lock ``folder/name``: ``{"pid", "host", "started", "command"}`` (None when unknown)."""
    try:
        text = (Path(folder) / name).read_text()
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def describe(info: dict | None) -> str:
    """``pid 123 on host, since 2026-12-04T15:00:00+0000: savae-lite train ...`` (or 'another process')."""
    if not info:
        return "another process"
    return (f"pid {info.get('pid')} on {info.get('host')}, since {info.get('started')}: "
            f"{info.get('command', '?')}")


def is_held(folder: str | os.PathLike, name: str = RUN_LOCK) -> bool:
    """Whether some process holds ``folder/name`` now; nothing is created, written or kept locked (False where
    the file does not exist or ``fcntl`` does not)."""
    path = Path(folder) / name
    if fcntl is None or not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def try_lock(folder: str | os.PathLike, name: str = RUN_LOCK) -> Iterator[bool]:
    """Yield True while this process holds ``folder/name`` (the folder is created), False when another process
    holds it (nothing is changed then). The lock file is rewritten with this process's description."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield True
        return
    fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(folder: str | os.PathLike, name: str = RUN_LOCK, what: str = "--out-dir") -> Iterator[None]:
    """Hold ``folder/name`` for the block; :class:`FolderBusy` naming ``what`` and the holder when another
    process has it."""
    with try_lock(folder, name) as mine:
        if not mine:
            raise FolderBusy(f"{what}: {folder} is in use by {describe(holder(folder, name))}; wait for it to "
                             "finish or use another folder")
        yield
