"""The machinery shared by the book's training studies: a :class:`Study` is a table of settings (a training mode
with its overrides) run for one or several seeds on one preset, each (setting, seed) an ordinary training run,
collected into one JSON record.

Chapters: *Text VAEs and posterior collapse* (:mod:`savae_lite.collapse`) and *Image VAEs with a gated PixelCNN
decoder* (:mod:`savae_lite.latent_use`).

Each unit (a setting and a seed) trains in ``work_dir/<unit>-<key>/``, where the key
(:func:`savae_lite.keys.config_key`) covers everything that decides the unit's result: its whole config, seed
included, and whether the study runs in quick mode. A re-run of the same command resumes a killed unit from its
``last.pt`` and skips finished ones, so a study may take several sittings; a changed set-up (another seed, quick
instead of full, another K) has another key and trains afresh in its own folder, so a unit is never reused for a
set-up that did not produce it. Several processes may run the same command at once: each unit is claimed with an
OS file lock (:mod:`savae_lite.locks`; released when its process ends, even by a kill), so two workers never train
the same unit; the run that finds every unit finished writes the record. The rows of an earlier record count as
finished units when their key matches (a study survives the loss of its work folder), and ``train=False`` writes
the record of the units finished so far (``complete: False``). The record itself (rows, summary, provenance) is
written by :mod:`savae_lite.study_record`, whose names this module re-exports.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from savae_lite import keys, locks
from savae_lite.config import RunConfig
from savae_lite.presets import preset
from savae_lite.study_record import (  # noqa: F401 (the record's names: importable here too)
    SUMMARY_KEYS,
    collect,
    headline,
    lm_on_iw_subset,
    plain,
    summarize,
    unit_name,
    unit_row,
)


@dataclass(frozen=True)
class Setting:
    """A row of a study's table: a training mode with its settings, run for ``seeds`` seeds."""

    name: str
    mode: str
    seeds: int = 1
    train: dict = field(default_factory=dict)  # TrainConfig overrides ("svi.hvp": a field of its SVIConfig)
    model: dict = field(default_factory=dict)  # model-size overrides (e.g. word dropout, decoder depth)
    note: str = ""
    continues: str = ""  # a setting with the same set-up and fewer epochs: start from its finished unit (start_from)


Unit = tuple[Setting, int]  # a setting and a seed: one training run


@dataclass(frozen=True)
class Study:
    """A study: its ``settings`` on the preset ``preset`` (``quick_preset`` and the ``quick_settings``, one seed
    each, in quick mode), the ``seeds`` of the multi-seed settings, and the ``baseline`` setting whose epoch time
    the summary's ``time_vs_vae`` divides by. ``name`` is the record's ``experiment`` field."""

    name: str
    preset: str
    quick_preset: str
    settings: tuple[Setting, ...]
    quick_settings: tuple[str, ...]
    baseline: str | None = None
    seeds: tuple[int, ...] = (1, 2, 3)

    def __post_init__(self):
        names = [s.name for s in self.settings]
        if len(set(names)) != len(names):
            raise ValueError(f"study {self.name}: setting names repeat: {names}")
        unknown = [n for n in (*self.quick_settings, *([self.baseline] if self.baseline else [])) if n not in names]
        if unknown:
            raise ValueError(f"study {self.name}: unknown setting(s) {unknown}")
        if any(s.seeds > len(self.seeds) for s in self.settings):
            raise ValueError(f"study {self.name}: a setting asks for more seeds than {self.seeds}")
        by_name = {s.name: s for s in self.settings}

        def set_up(s: Setting) -> tuple:  # what a continued run must share with its source: all but the epochs
            return s.mode, s.model, {k: v for k, v in s.train.items() if k != "epochs"}

        for s in self.settings:
            if s.continues and (s.continues not in by_name or set_up(by_name[s.continues]) != set_up(s)):
                raise ValueError(f"study {self.name}: setting {s.name} continues {s.continues!r}, which must be a "
                                 "setting with the same mode and overrides except the number of epochs")

    def setting(self, name: str) -> Setting:
        """The setting called ``name`` (``ValueError`` naming the choices otherwise)."""
        for s in self.settings:
            if s.name == name:
                return s
        raise ValueError(f"study {self.name}: unknown setting {name!r}; choose one of "
                         f"{', '.join(s.name for s in self.settings)}")

    def base(self, quick: bool = False) -> RunConfig:
        """The study's base configuration: its preset (the quick one when ``quick``)."""
        return preset(self.quick_preset if quick else self.preset)


def units(study: Study, quick: bool = False) -> list[Unit]:
    """(setting, seed) pairs in running order: the first seed of every multi-seed setting (the comparison the
    chapter is about), then their second seeds, third seeds..., then the single-seed settings (so a partial study
    already answers the main question). Quick: the first seed of the ``quick_settings``, in table order."""
    if quick:
        return [(s, study.seeds[0]) for s in study.settings if s.name in study.quick_settings]
    many = [s for s in study.settings if s.seeds > 1]
    once = [s for s in study.settings if s.seeds == 1]
    return ([(s, seed) for i, seed in enumerate(study.seeds) for s in many if i < s.seeds]
            + [(s, study.seeds[0]) for s in once])


def unit_config(base: RunConfig, setting: Setting, seed: int, work_dir: Path, quick: bool = False) -> RunConfig:
    """``base`` with the setting's mode and overrides, the seed, and ``work_dir/<unit>-<key>`` as out_dir
    (:func:`unit_key`)."""
    cfg = copy.deepcopy(base)
    cfg.train.mode, cfg.train.seed = setting.mode, seed
    for key, value in setting.train.items():  # "svi.hvp": a field of a section of TrainConfig
        *path, name = key.split(".")
        setattr(functools.reduce(getattr, path, cfg.train), name, value)
    cfg.model.update(setting.model)
    cfg.train.progress = False
    cfg.train.out_dir = str(Path(work_dir) / f"{unit_name(setting, seed)}-{unit_key(cfg, quick)}")
    return cfg


def unit_key(cfg: RunConfig, quick: bool) -> str:
    """The key of everything that decides a unit's result: its config (seed included) and quick mode."""
    return keys.config_key(cfg.to_dict(), quick=quick)


@contextlib.contextmanager
def claimed(folder: Path):
    """Yield True when this process holds ``folder/claim.lock`` (False: another worker trains this unit)."""
    with locks.try_lock(folder, locks.CLAIM_LOCK) as mine:
        yield mine


def finished_record(folder: Path, expected: RunConfig | None = None) -> dict | None:
    """The unit's ``results.json`` when its run has finished (else None). With ``expected``, a finished record
    written by another set-up is a ValueError naming the differences (never a silently reused result)."""
    path = Path(folder) / "results.json"
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: not a readable run record ({err}); delete the folder to train it again") from None
    if rec.get("status") != "finished":
        return None
    if expected is not None:
        diffs = keys.differences(rec.get("config", {}), expected.to_dict())
        if diffs:
            raise ValueError(f"{path} was written by another set-up than this unit's ({'; '.join(diffs)}); "
                             "delete the folder or use another work folder")
    return rec


def run_study(study: Study, quick: bool = False, device: str = "auto", work_dir: str | Path | None = None,
              log: Callable[[str], None] | None = print, previous: dict | None = None, train: bool = True, *,
              base: RunConfig | None = None, todo: list[Unit] | None = None,
              only: tuple[str, ...] | None = None) -> dict | None:
    """Train every unfinished, unclaimed unit; return the study's record once all are finished (else None).

    ``work_dir`` defaults to ``runs/<study>.units``. ``previous``: an earlier record of the same set-up; its rows
    count as finished units. ``train=False`` trains nothing and returns the record of the units finished so far,
    with ``complete: False`` and the ``missing_units`` listed (None when no unit has finished). ``base`` and
    ``todo`` replace the study's preset and :func:`units` (a wrapper's own, e.g. in tests). ``only``: train just
    these units (names as ``vae-s2``), e.g. to spread a study over machines; the others are collected when
    finished, never trained here."""
    from savae_lite.train import Trainer, TrainingInterrupted

    log = log or (lambda s: None)
    base = copy.deepcopy(base) if base is not None else study.base(quick)
    base.train.device = device
    work = Path(work_dir if work_dir is not None else Path("runs") / f"{study.name}.units")
    todo = todo if todo is not None else units(study, quick)
    reuse = reusable_rows(study, previous, base, quick)
    names = {unit_name(s, seed) for s, seed in todo}
    unknown = sorted(set(only or ()) - names)
    if unknown:
        raise ValueError(f"--only: no unit {', '.join(unknown)} in study {study.name}; its units: {', '.join(names)}")
    for setting, seed in todo if train else ():
        if only and unit_name(setting, seed) not in only:
            continue
        cfg = unit_config(base, setting, seed, work, quick)
        folder = Path(cfg.train.out_dir)
        if unit_name(setting, seed) in reuse or finished_record(folder, cfg) is not None:
            continue
        with claimed(folder) as mine:
            if not mine or finished_record(folder, cfg) is not None:
                log(f"{folder.name}: another worker has it")
                continue
            log(f"{folder.name}: training ({setting.mode}, seed {seed})")
            if setting.continues:
                source = unit_config(base, study.setting(setting.continues), seed, work, quick)
                start_from(Path(source.train.out_dir), folder, log)
            t0 = time.perf_counter()
            trainer = Trainer(cfg)
            trainer.fit()
            log(f"{folder.name}: finished in {time.perf_counter() - t0:.0f} s")
            if trainer.late_stop_signal:  # asked to stop while the unit was tested: stop before the next one
                raise TrainingInterrupted(trainer.loop.step_count, trainer.late_stop_signal, folder / "last.pt")
    rows, missing = [], []
    for setting, seed in todo:
        name, cfg = unit_name(setting, seed), unit_config(base, setting, seed, work, quick)
        rec = finished_record(cfg.train.out_dir, cfg)
        if rec is not None:
            rows.append({**unit_row(setting, seed, rec, Path(cfg.train.out_dir)), "key": unit_key(cfg, quick)})
        elif name in reuse:
            rows.append({**reuse[name], **headline(reuse[name]["test"], setting.mode)})
        else:
            missing.append(name)
    if missing and train:
        log(f"{len(missing)} unit(s) still running in another worker: {', '.join(missing)}; re-run to collect")
        return None
    return collect(study, base, rows, missing, quick) if rows else None


def start_from(source: Path, folder: Path, log: Callable[[str], None] = lambda s: None) -> bool:
    """Give the unit in ``folder`` the final checkpoints (``last.pt``, ``best.pt``) of the finished unit ``source``,
    a run of the same set-up and seed with fewer epochs; the Trainer then resumes from them (``train.epochs`` may
    differ on resume). Every epoch's batch order comes from (seed, epoch) and the noise streams are in the
    checkpoint, so this equals a fresh run of the longer schedule step for step, when nothing in the set-up
    depends on the number of epochs (the KL warm-up and learning-rate decay are counted in epochs; a cosine or
    fraction-of-training schedule would break it). Returns False (nothing copied: the unit trains from its own
    checkpoint or from scratch) when ``folder`` already has a ``last.pt`` or ``source`` is not finished."""
    import shutil

    from savae_lite.atomic import atomic_write

    folder, source = Path(folder), Path(source)
    if (folder / "last.pt").exists() or finished_record(source) is None or not (source / "last.pt").exists():
        return False
    for name in ("best.pt", "last.pt"):  # last.pt last: its presence marks a complete copy
        if (source / name).exists():
            with open(source / name, "rb") as src, atomic_write(folder / name) as dst:
                shutil.copyfileobj(src, dst)
    log(f"{folder.name}: starts from {source.name}'s final checkpoint")
    return True


def reusable_rows(study: Study, previous: dict | None, base: RunConfig, quick: bool = False) -> dict[str, dict]:
    """The rows of ``previous`` (an earlier record of this study) that count as finished units, by unit name:
    a row whose ``key`` equals the key of the unit this study would train now. A row of an older record without
    a key counts when the record's quick flag and base set-up are this run's and its setting's overrides are
    unchanged."""
    if not previous or previous.get("experiment") != study.name:
        return {}
    names = {s.name: s for s in study.settings}
    legacy = (bool(previous.get("quick")) == quick and not keys.differences(previous["config"], base.to_dict()))
    before = {s["name"]: s for s in previous.get("settings", [])}
    out = {}
    for row in previous.get("rows", []):
        setting = names.get(row.get("setting"))
        if setting is None or "unit" not in row:
            continue
        if "key" in row:
            ok = row["key"] == unit_key(unit_config(base, setting, row["seed"], Path("."), quick), quick)
        else:
            old = before.get(setting.name, {})
            same = json.loads(json.dumps([setting.mode, plain(setting.train), setting.model]))
            ok = legacy and same == [old.get("mode"), old.get("train"), old.get("model")]
        if ok:
            out[row["unit"]] = row
    return out
