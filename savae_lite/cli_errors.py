"""How the command line reports a failure: one line on stderr that names its cause and the flag or path involved
(never a traceback), for errors of the operating system (a full disk, a folder where a file should be), failed
memory allocations and Ctrl-C. Used by :func:`savae_lite.cli.main`.

Chapter: *Introduction* (how to run things).
"""
from __future__ import annotations

import errno
import signal
import sys

_MEMORY_WORDS = ("out of memory", "can't allocate memory", "cannot allocate memory", "not enough memory")


def os_error_message(err: OSError, command: str) -> str:
    """One line for an error of the operating system: its reason and the path(s) involved."""
    if err.errno is None or not err.strerror:  # raised by savae-lite with its own message
        return str(err)
    paths = " -> ".join(str(p) for p in (err.filename, err.filename2) if p is not None)
    text = f"{err.strerror}: {paths}" if paths else err.strerror
    if command == "train" and err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        text += " (checkpoints already written are kept: free some space, then run the same command to resume)"
    return text


def memory_message(err: BaseException, args) -> str:
    """One line for an allocation that failed, naming the flags that size the work."""
    detail = " ".join(str(err).split()) or type(err).__name__
    if "can't allocate" in detail:  # the CPU allocator's message starts with the C++ source location
        detail = detail[detail.find("can't allocate"):]
    command = getattr(args, "command", "")
    if command == "train":
        sizes = " ".join(f"--model {k}={v}" for k, v in args.model_overrides) or "--model-preset"
        flags = f"{sizes} or --batch-size"
    elif command == "eval":
        flags = "--iw-samples or --max-examples"
    else:
        flags = "the sizes of the work"
    return f"out of memory ({detail[:160]}); too large for this machine: reduce {flags}"


def is_memory_error(err: BaseException) -> bool:
    """A failed allocation: ``MemoryError``, or PyTorch's allocators' errors (``torch.OutOfMemoryError``, CPU)."""
    return isinstance(err, MemoryError) or (isinstance(err, RuntimeError)
                                            and any(w in str(err).lower() for w in _MEMORY_WORDS))


def interrupted(prefix: str, err: BaseException, *, for_good: bool = False) -> int:
    """Ctrl-C (or a second stop signal): one line on stderr, exit code 130. A further Ctrl-C is ignored while the
    line is printed and, with ``for_good`` (the process is about to exit), until the interpreter has shut down,
    so that no traceback follows the line."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        previous = None
    text = " ".join(str(err).split())
    if isinstance(err, KeyboardInterrupt):
        text = f"interrupted ({text})" if text else "interrupted"
    print(f"{prefix}: {text}", file=sys.stderr, flush=True)
    if previous is not None and not for_good:
        signal.signal(signal.SIGINT, previous)
    return 130
