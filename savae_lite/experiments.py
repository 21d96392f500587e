"""Book experiments that write a results file: ``savae-lite experiment NAME``.

Chapter: *SA-VAE* loads the record written by ``savae-lite experiment synthetic --out book/results/synthetic.json``;
the text and image chapters those of the studies ``collapse``, ``collapse-sweeps``, ``documents`` and
``latent-use`` (:data:`STUDIES`, all run by :func:`savae_lite.study.run_study`); the saliency chapter that of
``saliency`` (:mod:`savae_lite.saliency_study`); *Differentiable SVI* that of ``original-backward``
(:mod:`savae_lite.original_audit`).

Each experiment is a function ``(quick, seed, device) -> record`` with the run's provenance (environment, git
commit, start time, wall time); :func:`run` writes the record with :func:`savae_lite.results.write_json` to the
path it is given (the package knows nothing of the book's folders).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from savae_lite import results


def synthetic_record(quick: bool = False, seed: int = 3435, device: str = "auto",
                     work_dir: str | Path | None = None) -> dict:
    """Run the synthetic experiment (:func:`savae_lite.synthetic.run_synthetic`) and return its full record.

    ``work_dir`` keeps every finished unit (seed, setting, mode) so that a re-run resumes (see ``run``)."""
    from savae_lite.runtime import pick_device
    from savae_lite.synthetic import run_synthetic

    dev = pick_device(device)
    if dev.type == "cpu":
        # The models are small (hidden size 100, batches of 100): one thread is as fast as several and does not
        # collapse when other processes share the cores (spinning OpenMP threads do).
        torch.set_num_threads(1)
    started = results.stamp()
    t0 = time.perf_counter()
    out = run_synthetic(quick=quick, seed=seed, device=dev, work_dir=work_dir)
    return {
        "experiment": "synthetic",
        "quick": quick,
        "started": started,
        "finished": results.stamp(),
        "environment": results.environment(dev),
        "seed": seed,
        "config": out.pop("config"),
        "dataset": out.pop("dataset"),
        "wall_time_s": round(time.perf_counter() - t0, 2),  # this sitting only (units may come from earlier ones)
        # seconds each row cost (training, where it trained, plus evaluation), in whichever sitting ran it
        "compute_time_s": round(out["true_nll"]["eval_s"] + sum(r["train_s"] * r["trained_here"] + r["eval_s"]
                                                                for r in out["rows"]), 2),
        "git_commits": sorted({r["git_commit"] for r in out["rows"]}),
        **{k: v for k, v in out.items() if k not in ("seed", "device", "wall_time_s")},
    }


def study_record(name: str, quick: bool = False, device: str = "auto", work_dir: str | Path | None = None,
                 out: str | Path | None = None, partial: bool = False,
                 only: tuple[str, ...] | None = None, threads: int = 1) -> dict | None:
    """Run the study ``name`` (one of :data:`STUDIES`) with :func:`savae_lite.study.run_study`: the rows of an
    existing record at ``out`` count as finished units when their keys match, ``partial`` trains nothing and
    returns the record of the units finished so far (``complete: false``), ``only`` trains just those units,
    ``threads``: intra-op threads on CPU (1 by default: small models, and two workers can share two cores).
    None while units are still being trained by another worker. Adds the sitting's start and wall time."""
    import json

    from savae_lite.runtime import pick_device
    from savae_lite.study import run_study

    if pick_device(device).type == "cpu":
        torch.set_num_threads(threads)
    previous = json.loads(Path(out).read_text()) if out is not None and Path(out).exists() else None
    started, t0 = results.stamp(), time.perf_counter()
    record = run_study(STUDIES[name](), quick=quick, device=device,
                       work_dir=work_dir or Path("runs") / f"{name}.units", previous=previous, train=not partial,
                       only=only)
    if record is None:
        return None
    return {**record, "started": started, "wall_time_s": round(time.perf_counter() - t0, 2)}


def saliency_record(quick: bool = False, seed: int = 3435, device: str = "auto",
                    work_dir: str | Path | None = None, checkpoints: dict[str, str | Path] | None = None) -> dict:
    """The saliency experiment (:func:`savae_lite.saliency_study.run`): output and input saliency of the text
    chapter's annealed VAE and SA-VAE (``checkpoints``, default :data:`savae_lite.saliency_study.CHECKPOINTS`,
    relative to the working directory), grouped by POS, position, frequency and log-likelihood. ``quick``: two
    tiny models trained in ``work_dir`` instead."""
    from savae_lite import saliency_study

    return saliency_study.run(quick=quick, seed=seed, device=device, work_dir=work_dir, checkpoints=checkpoints)


def _study(module: str, attr: str = "STUDY"):
    """A study's definition, imported when it is run (``savae_lite.<module>.<attr>``)."""
    def get():
        import importlib

        return getattr(importlib.import_module(f"savae_lite.{module}"), attr)
    return get


# the studies (savae_lite.study): their record is also their resume state (--partial and --only apply)
#: The studies ``savae-lite experiment NAME`` runs through :mod:`savae_lite.study`, by name.
#:
#: :meta hide-value:
STUDIES = {"collapse": _study("collapse"), "collapse-sweeps": _study("collapse", "SWEEP_STUDY"),
           "latent-use": _study("latent_use"), "documents": _study("documents")}

def original_backward_record(quick: bool = False, seed: int = 3435, device: str = "auto",
                             work_dir: str | Path | None = None) -> dict:
    """How often the original code's joint clip fires and what the encoder then receives, as the model grows
    (:func:`savae_lite.original_audit.run`; ours, beyond the paper). ``work_dir`` is unused (nothing trains)."""
    from savae_lite import original_audit

    return original_audit.run(quick=quick, seed=seed, device=device)


EXPERIMENTS = {"synthetic": synthetic_record, "saliency": saliency_record,
               "original-backward": original_backward_record}


def default_out(name: str, quick: bool) -> Path:
    """``runs/NAME.json`` (``runs/NAME-quick.json`` for a quick run), relative to the working directory."""
    return Path("runs") / f"{name}{'-quick' if quick else ''}.json"


def run(name: str, out: str | Path | None = None, quick: bool = False, seed: int = 3435,
        device: str = "auto", partial: bool = False, only: tuple[str, ...] | None = None,
        status: bool = False, threads: int = 1) -> int:
    """Run experiment ``name`` and write its JSON record to ``out`` (default :func:`default_out`). Returns 0.

    Finished units are kept in ``runs/<record name>.units/`` (relative to the working directory): re-running the same
    command after an interruption resumes where it stopped. ``partial``, ``only`` and ``status`` (print where each
    unit stands, :mod:`savae_lite.study_status`; nothing is trained or written) and ``threads`` (CPU threads
    per unit, default 1): studies only."""
    if name not in EXPERIMENTS and name not in STUDIES:
        raise ValueError(f"experiment: unknown name {name!r}; choose one of {', '.join([*EXPERIMENTS, *STUDIES])}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"--threads: must be a positive integer, got {threads!r}")
    path = Path(out) if out is not None else default_out(name, quick)
    units = Path("runs") / f"{path.stem}.units"
    if status:
        if name not in STUDIES or partial or only:
            raise ValueError(f"--status: for the studies ({', '.join(STUDIES)}) alone, without --partial or --only")
        import json

        from savae_lite import study_status

        study = STUDIES[name]()
        previous = json.loads(path.read_text()) if path.exists() else None
        print(study_status.status_text(study, study_status.unit_states(study, quick, units, previous)))
        return 0
    if name in STUDIES:
        record = study_record(name, quick=quick, device=device, work_dir=units, out=path, partial=partial,
                              only=only, threads=threads)
    elif partial or only or threads != 1:
        flag = "partial" if partial else "only" if only else "threads"
        raise ValueError(f"--{flag}: experiment {name!r} is not a study (only "
                         f"{', '.join(STUDIES)})")
    else:
        record = EXPERIMENTS[name](quick=quick, seed=seed, device=device, work_dir=units)
    if record is None:
        print(f"{path} not written: units are still being trained by another worker (or none has finished)")
        return 0
    path = results.write_json(record, path)
    print(f"wrote {path} ({record['wall_time_s']:.0f} s)")
    return 0
