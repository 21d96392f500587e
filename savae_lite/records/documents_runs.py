"""Which runs of the documents study a record holds, and how the page names them (chapter *Text VAEs and posterior
collapse*, section *Documents: giving z something to carry*; the study is :mod:`savae_lite.documents`).

A run is a unit of the study (a setting and a seed, e.g. ``aggressive_anneal-s1``). The page never shows a unit's
folder name: :func:`reader_name` gives the words it uses, :func:`missing_seeds` the seeds a setting still lacks.
:mod:`savae_lite.records.documents_findings` reads the record's answers with them.
"""
from __future__ import annotations

LM, VAE, SAVAE, AGGRESSIVE, ORIGINAL = "autoreg", "vae+anneal", "savae", "aggressive+anneal", "savae-original"
ORIGINAL_LONG = "savae-original-long"  # the same run continued on the others' schedule

#: the settings as the page names them
READER_NAMES = {LM: "the language model", VAE: "the annealed VAE", SAVAE: "SA-VAE",
                AGGRESSIVE: "aggressive training", ORIGINAL: "SA-VAE on the original code's backward pass",
                ORIGINAL_LONG: "SA-VAE on the original code's backward pass, continued"}


def settings():
    """The study's settings (``savae_lite.documents.SETTINGS``: names, seeds, notes), in order."""
    from savae_lite.documents import SETTINGS

    return SETTINGS


def setting(name: str):
    """The study's setting called ``name``."""
    return next(s for s in settings() if s.name == name)


def unit_name(setting, seed: int) -> str:
    """The unit name of ``setting`` and ``seed`` (``savae_lite.study.unit_name``: ``aggressive_anneal-s1``)."""
    from savae_lite.study import unit_name as name_of

    return name_of(setting, seed)


def missing_units(rec) -> list[str]:
    """The units of the study that the record does not hold: its ``missing_units``, then every other unit of
    ``savae_lite.documents.SETTINGS`` without a row."""
    listed = list(rec.get("missing_units") or ())
    have = {(r["setting"], r.get("seed")) for r in rec["rows"]}
    unlisted = [unit_name(s, seed) for s in settings() for seed in range(1, s.seeds + 1)
                if (s.name, seed) not in have and unit_name(s, seed) not in listed]
    return listed + unlisted  # a record written before a setting was added does not list its units


def reader_name(unit: str) -> str:
    """A unit of the study (``aggressive_anneal-s1``) as the page names it: "aggressive training", with ", seed
    2" for a setting run with several seeds ("SA-VAE, seed 2"); a name not of the study is returned as it is."""
    for s in settings():
        for seed in range(1, s.seeds + 1):
            if unit_name(s, seed) == unit:
                name = READER_NAMES.get(s.name, s.name)
                return f"{name}, seed {seed}" if s.seeds > 1 else name
    return unit


def missing_seeds(name: str, missing: list[str]) -> str:
    """The seeds of setting ``name`` among the ``missing`` units, in words: "seed 2", "seeds 2 and 3", "seeds 1,
    2 and 3"; "" when none is missing."""
    s = setting(name)
    seeds = [str(seed) for seed in range(1, s.seeds + 1) if unit_name(s, seed) in missing]
    if not seeds:
        return ""
    listed = seeds[0] if len(seeds) == 1 else f"{', '.join(seeds[:-1])} and {seeds[-1]}"
    return f"seed{'s' if len(seeds) > 1 else ''} {listed}"


def complete(rec, name: str) -> bool:
    """Every seed of setting ``name`` is in the record."""
    seeds = {r.get("seed") for r in rec["rows"] if r["setting"] == name}
    return len(seeds) >= setting(name).seeds and not any(u.startswith(name.replace("+", "_") + "-s")
                                                          for u in rec.get("missing_units") or ())
