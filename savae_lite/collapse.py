"""The posterior-collapse study on PTB: every training mode, trained by :class:`~savae_lite.train.Trainer` at one
CPU-sized scale, several seeds where it matters, collected into one record.

Chapter: *Text VAEs and posterior collapse* reads the record written by
``savae-lite experiment collapse --out book/results/collapse.json``.

The study's table (``SETTINGS``) and its preset (``ptb-collapse``); the machinery (units, the claim lock,
resuming, partial records, the summary) is :mod:`savae_lite.study`'s, which the image study shares. The names
below are that machinery bound to this study, with their earlier signatures.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from savae_lite import study
from savae_lite.config import RunConfig
from savae_lite.presets import original_svi, preset
from savae_lite.study import (  # noqa: F401
    SUMMARY_KEYS,
    Setting,
    claimed,
    finished_record,
    headline,
    lm_on_iw_subset,
    unit_config,
    unit_name,
    unit_row,
)

NO_ANNEALING = {"kl_start": 1.0}
WORD_DROPOUT = 0.3  # Bowman et al. (2016) replace decoder input words by <unk> at rates of this order

SETTINGS: tuple[Setting, ...] = (
    Setting("autoreg", "autoreg", seeds=3, note="LSTM language model, no z"),
    Setting("vae", "vae", seeds=3, train=NO_ANNEALING, note="KL weight 1 from the start"),
    Setting("vae+anneal", "vae", seeds=3, note="KL weight 0.1 -> 1 (the paper's annealing)"),
    Setting("vae+word-dropout", "vae", model={"word_dropout": WORD_DROPOUT},
            note=f"annealing and decoder word dropout {WORD_DROPOUT}"),
    Setting("svi", "svi", note="no encoder; K SVI steps from 0"),
    Setting("vae+svi", "vae+svi"),
    Setting("vae+svi+kl", "vae+svi+kl"),
    Setting("savae", "savae", seeds=3, note="annealing, as the paper"),
    Setting("aggressive", "aggressive", seeds=3, train=NO_ANNEALING,
            note="He et al. (2019): no annealing, as their default"),
)
SEEDS = (1, 2, 3)

STUDY = study.Study(name="collapse", preset="ptb-collapse", quick_preset="ptb-collapse-quick", settings=SETTINGS,
                    quick_settings=("autoreg", "vae+anneal", "savae", "aggressive"), baseline="vae+anneal",
                    seeds=SEEDS)


# Variations of the study's set-up (seed 1, to set beside the main table's seed-1 units; K = 10 with three
# seeds, aggressive training every 3,125 updates with two): does SA-VAE's distance to the language model, and the
# VAE's collapse, move with K, the annealing length or the decoder's size? Does aggressive training keep z in use
# when its MI check runs at He et al.'s update scale?
LONGER_ANNEALING = {"kl_warmup_epochs": 10, "decay_start_epoch": 12}  # no halving before the weight reaches 1
SMALL_DECODER = {"dec_hidden": 64}
SWEEPS: tuple[Setting, ...] = (
    Setting("savae-K10", "savae", seeds=3, train={"svi": original_svi(32, steps=10)},
            note="K = 10 SVI steps in training and at test time"),
    Setting("aggressive-every3125", "aggressive", seeds=2, train={**NO_ANNEALING, "aggressive_mi_every": 3125},
            note="as the study's aggressive unit, but MI checked every 3,125 updates (He et al.'s Yahoo epoch) "
                 "instead of every epoch (313 updates)"),
    Setting("vae+anneal-10ep", "vae", train=LONGER_ANNEALING, note="KL weight 0.1 -> 1 over 10 epochs"),
    Setting("savae-anneal-10ep", "savae", train=LONGER_ANNEALING, note="KL weight 0.1 -> 1 over 10 epochs"),
    Setting("autoreg-10ep", "autoreg", train={"decay_start_epoch": 12},
            note="the language model with the annealing sweeps' schedule: no halving before epoch 12"),
    Setting("autoreg-dec64", "autoreg", model=SMALL_DECODER, note="decoder LSTM of 64 units"),
    Setting("vae+anneal-dec64", "vae", model=SMALL_DECODER, note="decoder LSTM of 64 units"),
    Setting("savae-dec64", "savae", model=SMALL_DECODER, note="decoder LSTM of 64 units"),
)

SWEEP_STUDY = study.Study(name="collapse-sweeps", preset="ptb-collapse", quick_preset="ptb-collapse-quick",
                          settings=SWEEPS, quick_settings=("vae+anneal-10ep", "savae-dec64"), seeds=(1, 2, 3))


def run_sweeps(quick: bool = False, device: str = "auto", work_dir: str | Path = "runs/collapse-sweeps.units",
               log: Callable[[str], None] | None = print, previous: dict | None = None,
               train: bool = True) -> dict | None:
    """The sweeps (``SWEEPS``, seed 1 unless a setting names more) with :func:`savae_lite.study.run_study`'s
    resuming and claiming: ``savae-lite experiment collapse-sweeps --out book/results/collapse-sweeps.json``."""
    return study.run_study(SWEEP_STUDY, quick=quick, device=device, work_dir=work_dir, log=log,
                           previous=previous, train=train)


def units(quick: bool = False) -> list[tuple[Setting, int]]:
    """(setting, seed) pairs in running order (:func:`savae_lite.study.units`): the first seed of every
    multi-seed setting, then their second and third seeds, then the single-seed settings. Quick: one seed of
    autoreg, vae+anneal, savae and aggressive."""
    return study.units(STUDY, quick)


def run_collapse(quick: bool = False, device: str = "auto", work_dir: str | Path = "runs/collapse.units",
                 log: Callable[[str], None] | None = print, previous: dict | None = None,
                 train: bool = True) -> dict | None:
    """Train every unfinished, unclaimed unit; return the suite's record once all are finished (else None).

    The base set-up is the preset ``ptb-collapse`` (``ptb-collapse-quick`` when ``quick``); the rest is
    :func:`savae_lite.study.run_study` (``previous``: an earlier record whose rows count as finished units;
    ``train=False``: the record of the units finished so far, ``complete: False``)."""
    base = preset(STUDY.quick_preset if quick else STUDY.preset)
    return study.run_study(STUDY, quick=quick, device=device, work_dir=work_dir, log=log, previous=previous,
                           train=train, base=base, todo=units(quick))


def reusable_rows(previous: dict | None, base: RunConfig) -> dict[str, dict]:
    """The rows of ``previous`` by unit name, when it is a collapse record of the same base set-up."""
    return study.reusable_rows(STUDY, previous, base)


def summarize(rows: list[dict]) -> list[dict]:
    """Mean and sample standard deviation over seeds per setting; ``time_vs_vae`` relative to vae+anneal."""
    return study.summarize(rows, STUDY.baseline)


def collect(base: RunConfig, rows: list[dict], missing: list[str], quick: bool) -> dict:
    """The suite's record from its finished rows; ``complete`` is False while ``missing_units`` remain."""
    return study.collect(STUDY, base, rows, missing, quick)
