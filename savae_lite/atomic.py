"""Atomic file writes: a reader (or a run killed mid-write) sees either the old file or the complete new one.

:func:`atomic_write` is the one way this package writes a file it may need again (checkpoints, result records,
extracted data files). The data go to a temporary file ``<name>.<random>.tmp`` in the target's own folder (so
the final rename never crosses file systems), are flushed and fsync'ed, get permission ``0o644`` (a result or
checkpoint is meant to be shared; ``mkstemp`` alone would leave ``0o600``), and only then replace the target
with ``os.replace``. The folder is fsync'ed afterwards where the platform allows it, so that a power cut right
after the rename keeps the new file. If anything raises inside the ``with`` block, the temporary is removed
and the target is untouched; a failure of the operating system (a full disk, a quota) is raised as an
``OSError`` whose ``filename`` is the target, even when the writer wrapped it in an error of its own.

A process killed with SIGKILL cannot clean up: :func:`remove_stale_temporaries` deletes what it left behind.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

PERMISSIONS = 0o644
TMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None,
                 permissions: int = PERMISSIONS) -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing; on a clean exit it becomes ``path``.

    ``mode`` is ``'wb'`` (bytes) or ``'w'`` (text, UTF-8 unless ``encoding`` says otherwise). The parent
    folder is created if needed. The yielded file's ``name`` is the temporary's path.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = tempfile.NamedTemporaryFile(mode, dir=path.parent, prefix=path.name + ".", suffix=TMP_SUFFIX,
                                     delete=False, encoding=(encoding or "utf-8") if mode == "w" else None)
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(fh.name, permissions)
        os.replace(fh.name, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(fh.name)
        failure = _os_error_behind(err) if isinstance(err, (OSError, RuntimeError)) else None
        if failure is None:
            raise
        # e.g. torch.save reports a full disk as "RuntimeError: ... unexpected pos N vs M"; say what failed, where
        raise OSError(failure.errno, failure.strerror or str(failure), str(path)) from err
    _fsync_folder(path.parent)


def _os_error_behind(err: BaseException) -> OSError | None:
    """The operating system's error that made writing a file fail: ``err`` itself, or an ``OSError`` in its chain
    of causes (a writer such as ``torch.save`` may hide it behind an error of its own); ``None`` when none."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno is not None:
            return err
        err = err.__cause__ or err.__context__
    return None


def _fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable; best effort (not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    with atomic_write(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(path)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the ``<name>.*.tmp`` files that :func:`atomic_write` left next to ``path`` when its process was
    killed mid-write; return what was removed. Such a file is never a complete result (``path`` itself is only
    ever replaced by a finished one). Call it when no other process is writing ``path``."""
    path = Path(path)
    prefix = path.name + "."
    try:
        candidates = list(path.parent.iterdir())
    except OSError:  # the folder does not exist (yet) or cannot be listed
        return []
    removed = []
    for tmp in candidates:
        name = tmp.name
        if len(name) > len(prefix) + len(TMP_SUFFIX) and name.startswith(prefix) and name.endswith(TMP_SUFFIX):
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed
