"""Run records: every number shown in the book or README comes from one of these JSON files.

A record names its config, seed, device, torch version, git commit, data set, wall time and metrics.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import torch

from savae_lite.atomic import atomic_write


def git_commit(path: str | os.PathLike | None = None) -> str:
    """The current git commit of the project (``+dirty`` when there are uncommitted changes), or 'unknown'."""
    cwd = Path(path or Path(__file__).resolve().parent.parent)
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


def write_json(obj: dict, path: str | os.PathLike) -> Path:
    """Write JSON atomically (pretty-printed, keys in insertion order, permission 0644); return the path."""
    with atomic_write(path, "w") as fh:
        json.dump(obj, fh, indent=1, default=str)
        fh.write("\n")
    return Path(path)


def stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
