"""Checkpoints that never lose work: written atomically (:mod:`savae_lite.atomic`), loaded with
``weights_only=True`` (no arbitrary unpickling), checked against the run's config on resume.

Chapter: *Introduction* (running long experiments).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from savae_lite.atomic import atomic_write
from savae_lite.atomic import remove_stale_temporaries as remove_stale_temporaries  # re-export (train.py)


def atomic_save(obj, path: str | os.PathLike) -> None:
    """Save ``obj`` with ``torch.save`` so that ``path`` is either the old file or the complete new one
    (see :func:`savae_lite.atomic.atomic_write`; a killed write leaves a ``<name>.*.tmp`` file that
    :func:`remove_stale_temporaries` deletes)."""
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)


def load(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint safely (tensors and plain containers only). Clear errors for missing/corrupt files."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, foreign pickle, ...
        detail = " ".join(str(err).split())
        detail = detail if len(detail) <= 300 else detail[:300] + " ..."
        raise ValueError(f"checkpoint {path} could not be loaded safely: it is corrupted, truncated or not a "
                         f"savae-lite checkpoint ({type(err).__name__}: {detail})") from err


def config_mismatch(saved: dict, current: dict, ignore=("train.epochs", "train.out_dir", "train.progress",
                                                        "train.device", "data.data_dir", "data.download")) -> list[str]:
    """Dotted names of config fields that differ between a checkpoint and the current run."""
    diffs: list[str] = []

    def walk(a, b, prefix):
        keys = set(a) | set(b) if isinstance(a, dict) and isinstance(b, dict) else None
        if keys is None:
            if a != b and prefix not in ignore:
                diffs.append(f"{prefix}: checkpoint {a!r} vs now {b!r}")
            return
        for k in sorted(keys):
            walk(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)

    walk(saved, current, "")
    return diffs
