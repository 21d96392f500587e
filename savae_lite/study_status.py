"""Where a study stands: the state of every unit, read from its work folder and its record, with nothing trained,
written or locked (``savae-lite experiment NAME --status``).

Chapter: *Introduction* (running long experiments).

A unit is **finished** (its folder holds a finished run), **in the record** (a row of the record at ``--out``
with the unit's key), **training** (a worker holds its claim lock now), **stopped** (a checkpoint or a partial run
record but no worker: re-running the command resumes it) or **not started**.
"""
from __future__ import annotations

import json
from pathlib import Path

from savae_lite import locks
from savae_lite.config import RunConfig
from savae_lite.study import Study, reusable_rows, unit_config, unit_name, units

FINISHED, IN_RECORD, TRAINING, STOPPED, NOT_STARTED = (
    "finished", "in the record", "training", "stopped", "not started")


def _run_record(folder: Path) -> dict | None:
    """The unit's ``results.json`` as it stands (None when absent or unreadable)."""
    try:
        return json.loads((folder / "results.json").read_text())
    except (OSError, ValueError):
        return None


def unit_states(study: Study, quick: bool = False, work_dir: str | Path | None = None,
                previous: dict | None = None, base: RunConfig | None = None) -> list[dict]:
    """One entry per unit of ``study`` (in its order): ``unit``, ``state`` (one of the five above), ``epochs``
    (epochs finished so far, or those of the recorded row), ``max_epochs`` (the unit's limit; validation may stop
    it earlier), ``last_epoch_s``, ``valid_bound`` and ``valid_kl`` (its latest epoch's training seconds and
    validation bound and KL, in nats), ``worker`` (the process id holding
    the unit, when training) and ``folder``. ``work_dir`` defaults to ``runs/<study>.units``; ``previous`` is the
    study's record, whose rows count when their keys match (as :func:`savae_lite.study.run_study` counts them);
    ``base`` replaces the study's preset (as in ``run_study``)."""
    base = base if base is not None else study.base(quick)
    work = Path(work_dir) if work_dir is not None else Path("runs") / f"{study.name}.units"
    reuse = reusable_rows(study, previous, base, quick)
    out = []
    for setting, seed in units(study, quick):
        name, cfg = unit_name(setting, seed), unit_config(base, setting, seed, work, quick)
        folder = Path(cfg.train.out_dir)
        rec = _run_record(folder)
        epochs = (rec or {}).get("epochs") or []
        worker = None
        if rec is not None and rec.get("status") == "finished":
            state = FINISHED
        elif name in reuse:
            state, epochs = IN_RECORD, [None] * int(reuse[name].get("epochs_run") or 0)
        elif locks.is_held(folder, locks.CLAIM_LOCK):
            state, worker = TRAINING, (locks.holder(folder, locks.CLAIM_LOCK) or {}).get("pid")
        elif rec is not None or (folder / "last.pt").exists():
            state = STOPPED
        else:
            state = NOT_STARTED
        last = epochs[-1] if epochs and isinstance(epochs[-1], dict) else {}
        valid = last.get("valid") or {}
        out.append({"unit": name, "state": state, "epochs": len(epochs), "max_epochs": cfg.train.epochs,
                    "last_epoch_s": last.get("train_time_s"), "valid_bound": valid.get("nll_bound"),
                    "valid_kl": valid.get("kl"), "worker": worker, "folder": str(folder)})
    return out


def status_text(study: Study, states: list[dict]) -> str:
    """The states as a few lines for the terminal: a count, then one line per unit."""
    done = sum(s["state"] in (FINISHED, IN_RECORD) for s in states)
    lines = [f"{study.name}: {done} of {len(states)} units finished"]
    width = max(len(s["unit"]) for s in states)
    for s in states:
        state = s["state"] + (f" (pid {s['worker']})" if s["worker"] else "")
        detail = f"{s['epochs']} of at most {s['max_epochs']} epochs" if s["state"] != NOT_STARTED else ""
        if s["last_epoch_s"] is not None and s["state"] in (TRAINING, STOPPED):
            detail += f", latest epoch {s['last_epoch_s']:.0f} s"
            if s["valid_bound"] is not None:
                detail += f" (validation bound {s['valid_bound']:.2f}, KL {s['valid_kl']:.3f})"
        lines.append(f"  {s['unit']:<{width}}  {state:<22}  {detail}".rstrip())
    return "\n".join(lines)
