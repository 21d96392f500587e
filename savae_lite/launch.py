"""The ``savae-lite`` executable: loads the command line (:mod:`savae_lite.cli`, which imports torch, about two
seconds) inside a guard, so that a Ctrl-C while it loads ends with one line and exit code 130 rather than a
traceback, then runs it. Nothing has been read or written by then.

Chapter: *Introduction* (how to run things).
"""
from __future__ import annotations

import sys
from collections.abc import Callable


def _load_cli() -> Callable[[list[str] | None], int]:
    from savae_lite.cli import main as cli_main

    return cli_main


def main(argv: list[str] | None = None, load: Callable[[], Callable] = _load_cli) -> int:
    """Load the command line with ``load`` and run it on ``argv`` (the process's arguments when ``None``); its
    exit code, or 130 after one line on stderr when interrupted while loading."""
    try:
        cli_main = load()
    except KeyboardInterrupt:
        from savae_lite.cli_errors import interrupted  # torch-free

        return interrupted("savae-lite", KeyboardInterrupt("while starting; nothing was run"),
                           for_good=argv is None)
    return cli_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
