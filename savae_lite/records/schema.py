"""A study record as a typed object: its rows, its summary and its provenance, checked when it is read.

Chapters 4–7 read their records (``book/results/<name>.json``) through :func:`load`. A record is a JSON object
with an ``experiment`` name, an ``environment`` (at least the ``device``), the git commit(s) it was written at,
and, for a study, ``rows`` (one per training run: its ``setting``, ``mode`` and metrics) and a ``summary`` (one
entry per setting: the mean and ``*_sd`` over its seeds, :func:`savae_lite.study_record.summarize`). A malformed file
raises a one-line ``ValueError`` that names the file and the first fault found.
"""
from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from savae_lite.records.tables import counted
from savae_lite.study_record import SUMMARY_KEYS

METRICS = (*SUMMARY_KEYS, "bound", "bound_no_refine", "train_s", "eval_s", "seeds", "time_vs_vae")


#: characters of a printed line that fit the book's column at 1280 px without a scroll bar
LINE_WIDTH = 78

@dataclass(frozen=True)
class Provenance:
    """Where and when a record was made: git commits, the kinds of device its runs used, CPU threads per run, hours
    of compute (CPU-thread hours, or device hours when a GPU took part),
    date (``YYYY-MM-DD``), whether it is a quick run or misses units, the file it was read from (``None``:
    computed on this page) and the wall-clock seconds it took."""

    commits: tuple[str, ...]
    device: str
    threads: int | None = None
    cpu_hours: float | None = None
    date: str | None = None
    quick: bool = False
    missing: tuple[str, ...] = ()
    path: str | None = None
    wall_s: float | None = None  # wall-clock seconds the record took to make

    def line(self) -> str:
        """One line for the page, wrapped to :data:`LINE_WIDTH` characters (the book's code column):
        ``book/results/collapse.json · commits 156a7733e7, … · cpu, 1 thread per run · 6.2 CPU-thread hours ·
        2026-12-02``."""
        where = self.path or "computed here"
        commits = ", ".join(c[:10] for c in self.commits) or "unknown"
        parts = [where, f"commit{'s' if len(self.commits) > 1 else ''} {commits}", self.device
                 + (f", {self.threads} thread{'s' if self.threads != 1 else ''} per run" if self.threads else "")]
        if self.cpu_hours is not None:
            hours = f"{self.cpu_hours:.1f}" if self.cpu_hours >= 0.95 else f"{self.cpu_hours:.2f}"
            parts.append(f"{hours} {'CPU-thread hours' if self.device == 'cpu' else 'hours of compute'}")
        if self.date:
            parts.append(self.date)
        if self.quick:
            parts.append("quick run (tiny models)")
        if self.missing:
            parts.append(f"incomplete: {counted(len(self.missing), 'unit')} still to run")
        return textwrap.fill(" · ".join(parts), width=LINE_WIDTH, subsequent_indent="  ", break_on_hyphens=False)


@dataclass(frozen=True)
class Record(Mapping):
    """A validated study record: ``experiment``, ``rows``, ``summary``, ``provenance``, and every field of the
    JSON object by key (``record["config"]``), so a page reads it like the dict it was."""

    experiment: str
    rows: list = field(repr=False)
    summary: list = field(repr=False)
    provenance: Provenance
    data: dict = field(repr=False)

    def __getitem__(self, key):
        return self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)

    def summary_frame(self) -> pd.DataFrame:
        """The summary as a frame indexed by setting (by setting and mode where settings repeat across modes,
        as in the synthetic experiment), in the record's order."""
        s = pd.DataFrame(self.summary)
        if s.empty:
            return s
        keys = ["setting", "mode"] if s["setting"].duplicated().any() else ["setting"]
        return s.set_index(keys)

    def seed1(self) -> dict:
        """The first seed's row of every setting, by setting."""
        first = {}
        for row in sorted(self.rows, key=lambda r: r.get("seed", 0)):
            first.setdefault(row["setting"], row)
        return {name: first[name] for name in dict.fromkeys(r["setting"] for r in self.rows)}


def _fail(source: str, message: str):
    raise ValueError(f"{source}: {message}")


def _commits(obj: Mapping) -> tuple[str, ...]:
    env = obj.get("environment") or {}
    found = obj.get("git_commits") or [obj.get("git_commit") or env.get("git_commit")]
    return tuple(c for c in found if c)


def _check_entries(source: str, name: str, entries, need: tuple[str, ...]) -> None:
    if not isinstance(entries, list):
        _fail(source, f"'{name}' must be a list, not {type(entries).__name__}")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            _fail(source, f"{name}[{i}] must be an object, not {type(entry).__name__}")
        for key in need:
            if not isinstance(entry.get(key), str):
                _fail(source, f"{name}[{i}] has no '{key}' name")
        for key in METRICS:
            value = entry.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                _fail(source, f"{name}[{i}] '{key}' is {value!r}, not a number")
            sd = entry.get(f"{key}_sd")
            if sd is not None and (isinstance(sd, bool) or not isinstance(sd, (int, float))
                                   or (not math.isnan(sd) and sd < 0)):
                _fail(source, f"{name}[{i}] '{key}_sd' is {sd!r}: a standard deviation is a number ≥ 0")


def _date(obj: Mapping) -> str | None:
    stamp = obj.get("collected") or obj.get("finished") or obj.get("started")
    return str(stamp)[:10] if stamp else None


def _cpu_hours(obj: Mapping, threads: int | None) -> float | None:
    seconds = obj.get("compute_time_s", obj.get("wall_time_s"))
    return None if seconds is None else float(seconds) * (threads or 1) / 3600


def from_dict(obj, source: str = "record", path: str | None = None) -> Record:
    """Validate a record's JSON object and wrap it (``source`` names it in error messages; ``path``: the file it
    came from, shown in its provenance line)."""
    if not isinstance(obj, dict):
        _fail(source, f"a record is a JSON object, not {type(obj).__name__}")
    if not isinstance(obj.get("experiment"), str):
        _fail(source, "no 'experiment' name: not a study record")
    env = obj.get("environment")
    if not isinstance(env, dict) or not env.get("device"):
        _fail(source, "'environment' must be an object naming the 'device'")
    commits = _commits(obj)
    if not commits:
        _fail(source, "no git commit recorded ('git_commits', 'git_commit' or environment.git_commit)")
    for flag in ("quick", "complete"):
        if flag in obj and not isinstance(obj[flag], bool):
            _fail(source, f"'{flag}' must be true or false, not {obj[flag]!r}")
    rows, summary = obj.get("rows", []), obj.get("summary", [])
    _check_entries(source, "rows", rows, ("setting", "mode"))
    _check_entries(source, "summary", summary, ("setting",))
    settings = {r["setting"] for r in rows}
    stray = [e["setting"] for e in summary if rows and e["setting"] not in settings]
    if stray:
        _fail(source, f"the summary names setting {stray[0]!r}, which no row has")
    threads = env.get("cpu_threads")
    kinds = sorted({str(r.get("device") or env["device"]).split(":")[0] for r in rows}) or [str(env["device"])]
    device = " and ".join(kinds)  # the kinds of device the rows trained on (a study may use several)
    prov = Provenance(commits=commits, device=device, threads=threads,
                      cpu_hours=_cpu_hours(obj, threads), date=_date(obj), quick=bool(obj.get("quick")),
                      missing=tuple(obj.get("missing_units") or ()), path=path, wall_s=obj.get("wall_time_s"))
    return Record(obj["experiment"], rows, summary, prov, obj)


def load(path: str | Path) -> Record:
    """Read and validate the record at ``path`` (:func:`from_dict`); ``ValueError`` with one line naming the file
    and its first fault when it is malformed, ``FileNotFoundError`` when it is absent."""
    path = Path(path)
    text = path.read_text()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    return from_dict(obj, source=str(path), path=str(path))
