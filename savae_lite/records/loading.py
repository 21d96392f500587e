"""A chapter's record: the committed one, or the quick study run on the page.

Chapters 4–7 start from :func:`load_or_quick`: it loads ``book/results/<name>.json`` when the file is there and
otherwise (or in quick mode, for a chapter that asks for it) runs the chapter's quick study, timed by
:class:`savae_lite.bench.timing.Clock`. Either way it returns the :class:`~savae_lite.records.schema.Record` and
its one-line provenance (commit, device, CPU-thread hours, date).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch

from savae_lite import results
from savae_lite.bench.timing import Clock, Timing
from savae_lite.records.schema import Provenance, Record, from_dict, load
from savae_lite.runtime import quick_mode

BOOK_RESULTS = Path(__file__).resolve().parents[2] / "book" / "results"


def record_path(name: str, results_dir: str | Path | None = None) -> Path:
    """Where the record ``name`` lives: ``results_dir/<name>.json``, else the first of ``book/results/``,
    ``results/`` (a chapter runs in ``book/``), the repository's ``book/results/`` and its ``results/`` (the
    README's records, e.g. benchmarks) that has it."""
    if results_dir is not None:
        return Path(results_dir) / f"{name}.json"
    candidates = [Path("book/results"), Path("results"), BOOK_RESULTS, BOOK_RESULTS.parents[1] / "results"]
    return next((d / f"{name}.json" for d in candidates if (d / f"{name}.json").exists()),
                candidates[1] / f"{name}.json")


def timed(fn: Callable[[], object]) -> tuple[object, Timing]:
    """``fn()`` and how long it took (:meth:`~savae_lite.bench.timing.Clock.measure` on the CPU clock: CPU time
    with one thread, else wall time; ``Timing.wall`` is always the wall time)."""
    out = []
    timing = Clock(torch.device("cpu")).measure(lambda: out.append(fn()))
    return out[0], timing


def run_quick(fn: Callable[[], dict], experiment: str) -> Record:
    """Run a quick study here (``fn`` returns its record's JSON object) and wrap it as a record whose provenance
    is this machine: the current commit, the CPU, the CPU-thread hours it took, today's date."""
    obj, timing = timed(fn)
    obj = dict(obj)
    obj.setdefault("experiment", experiment)
    obj.setdefault("quick", True)
    threads = torch.get_num_threads()
    env = obj.setdefault("environment", {"device": "cpu", "cpu_threads": threads})
    if not (obj.get("git_commits") or obj.get("git_commit") or env.get("git_commit")):
        obj["git_commit"] = results.git_commit()
    rec = from_dict(obj, source=f"quick {experiment}")
    cpu_s = timing.seconds if threads == 1 else timing.wall * threads
    prov = Provenance(commits=rec.provenance.commits, device=rec.provenance.device, threads=threads,
                      cpu_hours=cpu_s / 3600, date=time.strftime("%Y-%m-%d"), quick=True,
                      missing=rec.provenance.missing, path=None, wall_s=timing.wall)
    return Record(rec.experiment, rec.rows, rec.summary, prov, obj)


def load_or_quick(name: str, quick_run: Callable[[], dict], *, quick: bool | None = None,
                  record_in_quick: bool = True, results_dir: str | Path | None = None) -> tuple[Record, str]:
    """The record ``name`` and its provenance line.

    Loads ``<name>.json`` (:func:`record_path`) when it exists; runs ``quick_run`` here (:func:`run_quick`)
    when it does not, or in quick mode (``SAVAE_LITE_QUICK=1``, or ``quick=True``) when ``record_in_quick`` is
    False (a chapter whose quick mode shows its own small study rather than the committed one)."""
    quick = quick_mode() if quick is None else quick
    path = record_path(name, results_dir)
    if path.exists() and (record_in_quick or not quick):
        rec = load(path)
    else:
        rec = run_quick(quick_run, name)
    return rec, rec.provenance.line()


def unit_folder(row: dict, work_dir: str | Path) -> Path:
    """The folder in ``work_dir`` where a study trained the unit of a record's ``row``: ``<unit>-<key>`` when the
    row has a ``key`` (:func:`savae_lite.study.unit_key`), else ``<unit>``."""
    return Path(work_dir) / (f"{row['unit']}-{row['key']}" if row.get("key") else row["unit"])
