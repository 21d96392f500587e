"""Run records: every number shown in the book or README comes from one of these JSON files.

A record names its config, seed, device, torch version, git commit, data set, wall time and metrics.
"""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path

import torch

from savae_lite.atomic import atomic_write


def git_commit(path: str | os.PathLike | None = None) -> str:
    """The current git commit of the project (``+dirty`` when there are uncommitted changes), or 'unknown'.

    Outside a git checkout (e.g. ``git archive`` of a commit copied to a GPU machine) the commit comes from
    ``$SAVAE_LITE_GIT_COMMIT``, which the launcher sets to the archived commit (``scripts/gpu_session.sh``)."""
    cwd = Path(path or Path(__file__).resolve().parent.parent)
    if not (cwd / ".git").exists() and os.environ.get("SAVAE_LITE_GIT_COMMIT"):
        return os.environ["SAVAE_LITE_GIT_COMMIT"]
    try:
        head = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, timeout=10)
        sha = head.stdout.strip() if head.returncode == 0 else ""
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha + ("+dirty" if dirty else "")) if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment(device: torch.device | str) -> dict:
    """Where a run happened: device (with GPU name), torch/python versions, threads, host."""
    device = torch.device(device)
    env = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
           "cpu_threads": torch.get_num_threads(), "platform": platform.platform(), "git_commit": git_commit()}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def non_finite(obj, prefix: str = "", _seen: frozenset = frozenset()) -> list[str]:
    """Dotted paths of the NaN and infinite floats inside ``obj`` (dicts and lists walked in order), e.g.
    ``['test.refine.mi']``. A container met again inside itself is not walked twice (``json`` rejects it)."""
    if isinstance(obj, float):
        return [] if math.isfinite(obj) else [prefix or "value"]
    if not isinstance(obj, (dict, list, tuple)) or id(obj) in _seen:
        return []
    seen = _seen | {id(obj)}
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in non_finite(v, f"{prefix}.{k}" if prefix else str(k), seen)]
    return [p for i, v in enumerate(obj) for p in non_finite(v, f"{prefix}[{i}]", seen)]


def strict(obj):
    """A copy of ``obj`` with every non-finite float replaced by None (strict JSON has no NaN or Infinity)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def _lookup(obj, path: str):
    """The value at a dotted path of :func:`non_finite` (for the record of what was replaced)."""
    for part in path.replace("[", ".[").split("."):
        obj = obj[int(part[1:-1])] if part.startswith("[") else obj[part]
    return obj


def write_json(obj: dict, path: str | os.PathLike) -> Path:
    """Write strict JSON atomically (pretty-printed, keys in insertion order, permission 0644); return the path.

    A non-finite float becomes ``null``, and the record gains ``"non_finite": {path: "nan" | "inf" | "-inf"}``
    naming each one, so the file parses everywhere and still says why a number is missing."""
    bad = non_finite(obj)
    if bad:
        reasons = {p: repr(float(_lookup(obj, p))) for p in bad}
        obj = {**strict(obj), "non_finite": {**obj.get("non_finite", {}), **reasons}}
    with atomic_write(path, "w") as fh:
        json.dump(obj, fh, indent=1, default=str, allow_nan=False)
        fh.write("\n")
    return Path(path)


def stamp() -> str:
    """The local time now as ISO 8601 with its UTC offset (``2025-01-31T14:05:09+0100``), for records."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
