#!/usr/bin/env python
"""Print how long each chapter of the book took to execute, from Jupyter Book's execution cache.

The book executes its notebooks with ``execute_notebooks: cache`` (``book/_config.yml``): myst-nb runs each
notebook through jupyter-cache and stores the executed copy with its run time (``execution_seconds``) in
``book/_build/.jupyter_cache``. This script reads that cache after a build and prints one line per chapter of
``book/_toc.yml``: the seconds of the cached execution that matches the chapter's current code, and when it ran.

A chapter whose time exceeds ``--budget`` seconds (default 180: the book's limit for a chapter in quick mode on
two cores) is flagged; with ``--strict`` the script then exits 1. A chapter without a matching cache record
(not executed by the last build) is reported as such.

Usage:  python scripts/chapter_times.py [--cache book/_build/.jupyter_cache] [--toc book/_toc.yml] [--strict]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from render_check import toc_pages  # noqa: E402  (the same reading of _toc.yml)


def chapter_times(cache_dir: Path, book: Path, pages: list[str]) -> list[tuple[str, float | None, str]]:
    """(page, seconds or None, when) for every notebook page, from the jupyter-cache at ``cache_dir``."""
    from jupyter_cache import get_cache

    cache = get_cache(str(cache_dir))
    records = cache.list_cache_records()
    rows = []
    for page in pages:
        nb = (book / f"{page}.ipynb").resolve()
        if not nb.exists():
            continue
        record = None
        try:
            record = cache.get_cached_project_nb(str(nb))  # the execution matching the current code
        except Exception:  # not in the project (e.g. a cache written by another tool)
            record = None
        if record is None:
            matching = [r for r in records if Path(r.uri).resolve() == nb]
            record = max(matching, key=lambda r: r.created) if matching else None
            stale = record is not None
        else:
            stale = False
        if record is None:
            rows.append((page, None, "not executed"))
            continue
        seconds = (record.data or {}).get("execution_seconds")
        when = record.created.strftime("%Y-%m-%d %H:%M UTC") + (" (older code)" if stale else "")
        rows.append((page, seconds, when))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "book" / "_build" / ".jupyter_cache")
    ap.add_argument("--toc", type=Path, default=ROOT / "book" / "_toc.yml")
    ap.add_argument("--budget", type=float, default=180.0, help="seconds allowed per chapter (default 180)")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a chapter is over budget or not executed")
    args = ap.parse_args(argv)
    if not args.cache.exists():
        print(f"chapter_times: no execution cache at {args.cache} (build the book first)", file=sys.stderr)
        return 2
    rows = chapter_times(args.cache, args.toc.parent, toc_pages(args.toc))
    bad = []
    print(f"{'chapter':32s} {'seconds':>8s}  executed")
    for page, seconds, when in rows:
        flag = ""
        if seconds is None:
            bad.append(page)
        elif seconds > args.budget:
            flag = f"  OVER BUDGET ({args.budget:.0f} s)"
            bad.append(page)
        shown = "–" if seconds is None else f"{seconds:.1f}"
        print(f"{page:32s} {shown:>8s}  {when}{flag}")
    total = sum(s for _, s, _ in rows if s is not None)
    print(f"{'total':32s} {total:8.1f}")
    if bad and args.strict:
        print(f"chapter_times: over budget or not executed: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
