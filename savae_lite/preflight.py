"""Checks made before any work starts, so that a run never computes for minutes and then fails on something
knowable up front: an output file that cannot be written (``eval --out``, ``export OUT``, ``--out`` of studies and
benchmarks) and a model too large for the machine's memory (``--model dec_hidden=1000000``).

Chapter: *Introduction* (how to run things). Every check raises ``ValueError`` whose message starts with the
flag involved; the command line prints it as one line (see :mod:`savae_lite.validation` for the config fields).
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

from savae_lite.registry import MODEL_SIZES

# Bytes per parameter while training: float32 weights, their gradients and two optimiser moments (Adam).
# Evaluating needs the weights and the loaded checkpoint's copy of them.
TRAIN_BYTES_PER_PARAMETER = 16
EVAL_BYTES_PER_PARAMETER = 8


#: the files of a run folder that an output must never replace (``export``'s and ``eval``'s ``--out``)
RUN_FILES = ("best.pt", "last.pt", "last.prev.pt", "results.json")


def check_out_file(flag: str, path: str | os.PathLike, suffix: str = ".json", protect=()) -> Path:
    """Make sure the file ``path`` can be written later: it is not a folder, no file stands where one of its
    folders should be, its folder exists (created if missing) and accepts a new file (a probe file is created
    and deleted). ``ValueError`` naming ``flag`` otherwise. An existing file at ``path`` is left alone (it will be
    replaced) unless it is one of ``protect`` (the checkpoint being read, a run's own files: ``ValueError``);
    ``suffix`` only shapes the example in the message. Returns ``path``."""
    out = Path(path)
    for kept in protect:
        if Path(kept).exists() and out.exists() and out.resolve() == Path(kept).resolve():
            raise ValueError(f"{flag}: {out} is {kept}, which this command reads; write the output elsewhere")
    text = os.fspath(path)
    try:
        if not text.strip():
            raise ValueError(f"{flag}: must be the path of a file to write, got {text!r}")
        if text.endswith(("/", os.sep)) or out.is_dir():
            raise ValueError(f"{flag}: {text} is a folder; give the path of a file to write in it, e.g. "
                             f"{out / ('metrics.json' if suffix == '.json' else 'model' + suffix)}")
        folder = out.parent
        above = folder
        while not above.exists() and above != above.parent:
            above = above.parent
        if not above.is_dir():
            raise ValueError(f"{flag}: cannot write {out}: {above} is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{flag}: cannot write {out} ({err.strerror or err})") from None
    probe_writable(folder, f"{flag}: cannot write {out}: the folder {folder} does not accept new files")
    return out


def probe_writable(folder: Path, message: str) -> None:
    """Create and delete a probe file in ``folder``; ``ValueError(message + " (reason)")`` when that fails."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".savae-lite-write-probe-")
    except OSError as err:
        raise ValueError(f"{message} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(probe)


def physical_memory() -> int | None:
    """This machine's memory in bytes (``None`` where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def parameter_count(cfg, vocab_size: int | None = None) -> int | None:
    """How many parameters the model of ``cfg`` would have, counted on PyTorch's ``meta`` device (no memory is
    allocated, so a model of 10^12 parameters is counted in milliseconds). ``None`` if it cannot be counted."""
    import torch

    from savae_lite.build import build_model

    try:
        with torch.device("meta"):
            model = build_model(cfg, vocab_size)
    except Exception:  # noqa: BLE001 -- a sanity bound only: the real build reports real problems
        return None
    return sum(p.numel() for p in model.parameters())


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def check_model_fits(cfg, *, training: bool = True, memory: int | None = None) -> None:
    """Refuse a model whose float32 parameters (with gradients and optimiser state when ``training``) need more
    than the machine's memory (``memory`` bytes; default :func:`physical_memory`): it could never be built.
    The message names the ``--model`` overrides that set its sizes (or ``--model-preset`` when none did)."""
    memory = physical_memory() if memory is None else memory
    vocab = cfg.data.vocab_size if cfg.model_kind == "text" else None
    count = parameter_count(cfg, vocab)
    if memory is None or count is None:
        return
    need = count * (TRAIN_BYTES_PER_PARAMETER if training else EVAL_BYTES_PER_PARAMETER)
    if need <= memory:
        return
    flag = _culprits(cfg)
    what = "to train (weights, gradients, optimiser state)" if training else "to evaluate"
    raise ValueError(f"{flag}: the model would have {count:,} parameters, {_human(need)} of memory {what}, "
                     f"more than this machine's {_human(memory)}; choose smaller sizes")


def _culprits(cfg) -> str:
    """The ``--model`` sizes above those of the paper's own model (presets set several sizes; the one to blame
    is the one out of scale), else every size override, else ``--model-preset``."""
    from savae_lite.build import model_config

    try:
        paper = dataclasses.asdict(model_config(dataclasses.replace(cfg, model={}, model_preset="paper")))
    except Exception:  # noqa: BLE001
        paper = {}
    sizes = {k: v for k, v in cfg.model.items() if k in MODEL_SIZES and isinstance(v, int)}
    large = {k: v for k, v in sizes.items() if isinstance(paper.get(k), int) and v > paper[k]} or sizes
    if not large:
        return f"--model-preset {cfg.model_preset}"
    return " ".join(f"--model {k}={v}" for k, v in large.items())
