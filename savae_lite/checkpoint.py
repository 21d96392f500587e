"""Checkpoints that never lose work: written atomically (:mod:`savae_lite.atomic`), loaded with
``weights_only=True`` (no arbitrary unpickling), checked against the run's config on resume.

Every checkpoint written by :func:`atomic_save` carries a ``"checksum"``: the SHA-256 of everything in it (each
tensor's place, dtype, shape and raw bytes; every other value's place, type and ``repr``, walked in order), so a
flipped bit in the resume position counts as damage as much as one in a weight (checkpoints of older versions
carry a checksum of their tensors only, verified as such). :func:`load` recomputes it, so a file
whose tensors were silently damaged on disk is refused instead of resuming from garbage. Files written before
checksums existed still load, with a warning.

How a training run writes and reads its resumable ``last.pt`` with these files is :mod:`savae_lite.resume`.

Chapter: *Introduction* (running long experiments).
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch

from savae_lite.atomic import atomic_write

CHECKSUM_KEY = "checksum"


FULL = "full:"  # prefix of a checksum over everything in the checkpoint (tensors and all other values)


def _hash(obj, digest, where: str, everything: bool) -> None:
    """Feed every tensor inside ``obj`` (dicts, lists and tuples walked in order) to ``digest``; with
    ``everything`` also every other value (its type and ``repr``: numbers, strings, None, ...)."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{where}|{obj.dtype}|{tuple(obj.shape)}|".encode())
        if t.numel():
            digest.update(t.view(torch.uint8).numpy())  # the raw bytes, without a copy
    elif isinstance(obj, dict):
        if everything:
            digest.update(f"{where}|dict|{len(obj)}|".encode())
        for k, v in obj.items():
            _hash(v, digest, f"{where}/{k!r}", everything)
    elif isinstance(obj, (list, tuple)):
        if everything:
            digest.update(f"{where}|{type(obj).__name__}|{len(obj)}|".encode())
        for i, v in enumerate(obj):
            _hash(v, digest, f"{where}/{i}", everything)
    elif everything:
        digest.update(f"{where}|{type(obj).__name__}|{obj!r}|".encode())


def tensor_checksum(obj, everything: bool = True) -> str:
    """SHA-256 (hex) of a checkpoint dict, leaving out its own ``"checksum"`` entry: over everything in it,
    prefixed ``full:`` (the default, what :func:`atomic_save` stores), or over its tensors only (``everything=
    False``: how earlier checkpoints were summed; :func:`verify` still reads them)."""
    digest = hashlib.sha256()
    items = obj.items() if isinstance(obj, dict) else [("", obj)]
    for k, v in items:
        if k != CHECKSUM_KEY:
            _hash(v, digest, repr(k), everything)
    return (FULL if everything else "") + digest.hexdigest()


def atomic_save(obj, path: str | os.PathLike) -> None:
    """Save ``obj`` with ``torch.save`` so that ``path`` is either the old file or the complete new one
    (see :func:`savae_lite.atomic.atomic_write`; a killed write leaves a ``<name>.*.tmp`` file that
    :func:`savae_lite.atomic.remove_stale_temporaries` deletes). A dict gets a fresh ``"checksum"`` of its
    tensors (``obj`` itself is not modified)."""
    if isinstance(obj, dict):
        obj = {**{k: v for k, v in obj.items() if k != CHECKSUM_KEY}, CHECKSUM_KEY: tensor_checksum(obj)}
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)


def parameters_finite(model: torch.nn.Module, what: str, where: str, on_nan: str, last: Path) -> bool:
    """Whether ``model``'s parameters are all finite, so that checkpoint ``what`` may be written (a checkpoint of
    NaN/inf parameters never is). Otherwise, naming the parameters and ``where`` (step and mode): with ``on_nan``
    ``'stop'`` FloatingPointError naming ``last``, the last good checkpoint; with ``'skip'`` a warning and False."""
    params = [p.detach() for p in model.parameters()]
    if not params or bool(torch.stack(torch._foreach_norm(params)).isfinite().all()):  # one fused check
        return True
    bad = [n for n, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    msg = f"non-finite parameters ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}) {where}; {what} not written"
    if on_nan == "stop":
        raise FloatingPointError(f"{msg}, training stopped; the last good checkpoint is {last}")
    warnings.warn(msg, RuntimeWarning, stacklevel=4)
    return False


def verify(ck, path: str | os.PathLike) -> None:
    """Raise ValueError naming ``path`` when the checksum stored in ``ck`` does not match its tensors; warn when
    a checkpoint dict has none (written by an older version: loaded unverified)."""
    if not isinstance(ck, dict):
        return
    stored = ck.get(CHECKSUM_KEY)
    if stored is None:
        warnings.warn(f"checkpoint {path} has no checksum (written by an older savae-lite); loaded without "
                      "verifying its tensors", UserWarning, stacklevel=3)
        return
    full = isinstance(stored, str) and stored.startswith(FULL)
    if stored != tensor_checksum(ck, everything=full):
        what = "its contents are" if full else "its tensors are"
        raise ValueError(f"checkpoint {path}: checksum mismatch (a corrupted file?): {what} not the ones that were "
                         "saved")


def load(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint safely (tensors and plain containers only) and verify its checksum. Clear errors for
    missing, corrupt or damaged files."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, foreign pickle, ...
        detail = " ".join(str(err).split())
        detail = detail if len(detail) <= 300 else detail[:300] + " ..."
        raise ValueError(f"checkpoint {path} could not be loaded safely: it is corrupted, truncated or not a "
                         f"savae-lite checkpoint ({type(err).__name__}: {detail})") from err
    verify(ck, path)
    return ck


def previous_of(path: str | os.PathLike) -> Path:
    """Where :func:`keep_previous` keeps the prior version of ``path``: ``last.pt`` -> ``last.prev.pt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def keep_previous(path: str | os.PathLike) -> None:
    """Before ``path`` is replaced, keep its current version as :func:`previous_of` ``(path)``.

    A hard link (made under a temporary name, then renamed) keeps ``path`` in place throughout, so a reader
    always finds a complete checkpoint there; where the file system has no hard links ``path`` is moved
    instead, and until the new file is written only the previous one exists (a resume falls back to it)."""
    path = Path(path)
    if not path.exists():
        return
    prev = previous_of(path)
    tmp = prev.with_name(f"{prev.name}.{os.getpid()}.tmp")  # a stale one is removed by remove_stale_temporaries
    try:
        if tmp.exists():
            tmp.unlink()
        os.link(path, tmp)
        os.replace(tmp, prev)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        os.replace(path, prev)


def config_mismatch(saved: dict, current: dict, ignore=("train.epochs",)) -> list[str]:
    """Dotted names of config fields that differ between a checkpoint and the current run, with both values:
    the fields that decide a result (:func:`savae_lite.keys.changed_fields`; a field the checkpoint predates
    counts at its default) except ``ignore`` (a resumed run may train more epochs)."""
    from savae_lite.keys import changed_fields

    return [f"{name}: checkpoint {a!r} vs now {b!r}" for name, a, b in changed_fields(saved, current)
            if name not in ignore]

