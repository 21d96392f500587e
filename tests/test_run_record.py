"""The run record's stages (run_record.py): started, interrupted, diverged and finished records, and the rule
that decides when a run has diverged."""
import math
from pathlib import Path

import pytest
import torch

from savae_lite import run_record
from tests.conftest import text_run_config


@pytest.mark.parametrize("skipped,valid,reason", [
    (0, {"nll_bound": 3.0}, None),
    (2, {"nll_bound": 3.0}, None),  # half the batches skipped: still a run
    (3, {"nll_bound": 3.0}, "3 of the 4 batches of epoch 2 were skipped"),
    (0, {"nll_bound": math.nan, "kl": 1.0}, "validation nll_bound not finite after epoch 2"),
])
def test_divergence_rule(skipped, valid, reason):
    got = run_record.divergence(skipped, 4, valid, 2)
    assert got == reason if reason is None else reason in got


def test_started_record_names_the_run_and_its_set_up(tmp_path):
    cfg = text_run_config(tmp_path / "r")
    model = torch.nn.Linear(3, 2)
    rec = run_record.started(Path(tmp_path / "r"), cfg, torch.device("cpu"), {"dataset": "x"}, model, False)
    assert rec["run"] == "r" and rec["status"] == "running" and rec["parameters"] == 8 and not rec["resumed"]
    assert rec["config"] == cfg.to_dict() and "distributed" not in rec


def test_status_transitions_keep_the_record_and_add_their_facts():
    rec = {"run": "r", "status": "running"}
    epochs = [{"epoch": 1, "train_time_s": 2.0}, {"epoch": 2, "train_time_s": 4.0}]
    stopped = run_record.interrupted(rec, epochs, interrupted_at_step=7)
    assert stopped["status"] == "interrupted" and stopped["interrupted_at_step"] == 7 and rec["status"] == "running"
    assert list(stopped)[:2] == ["run", "status"]
    assert run_record.diverged(rec, epochs, "why")["diverged"] == "why"
    done = run_record.finished(rec, epochs, {"best_epoch": 2, "skipped": 0, "wall": 10.0}, {"nll": 1.0}, 0.5)
    assert done is rec and rec["status"] == "finished" and rec["train_time_per_epoch_s"] == 3.0
    assert rec["wall_time_s"] == 10.5 and rec["test"] == {"nll": 1.0}
