"""Where a study stands (study_status.py, ``savae-lite experiment NAME --status``): each of the five states read
from made-up unit folders and a record, with nothing written or locked by the reading."""
import json

from test_study import TOY, folder, tiny_base

from savae_lite import study, study_status
from savae_lite.study_status import FINISHED, IN_RECORD, NOT_STARTED, STOPPED, TRAINING


def epochs(n, seconds=12.0):
    return [{"epoch": e, "train_time_s": seconds} for e in range(1, n + 1)]


def test_each_state_is_read_from_the_folders_and_the_record(tmp_path):
    work, base = tmp_path / "w", tiny_base()
    done = folder(work, "vae", 1, base)
    done.mkdir(parents=True)
    (done / "results.json").write_text(json.dumps({"status": "finished", "epochs": epochs(2)}))
    stopped = folder(work, "savae", 1, base)
    stopped.mkdir(parents=True)
    running = epochs(1, 30.0)
    running[-1]["valid"] = {"nll_bound": 70.123, "kl": 0.5}
    (stopped / "results.json").write_text(json.dumps({"status": "running", "epochs": running}))
    (stopped / "last.pt").write_bytes(b"")
    key = study.unit_key(study.unit_config(base, TOY.setting("lm"), 1, work), False)
    previous = {"experiment": "toy", "quick": False, "config": base.to_dict(), "settings": [],
                "rows": [{"unit": "lm-s1", "setting": "lm", "seed": 1, "key": key, "epochs_run": 2},
                         {"unit": "vae-s2", "setting": "vae", "seed": 2, "key": "0" * 12, "epochs_run": 2}]}
    busy = folder(work, "savae", 2, base)
    with study.claimed(busy):  # a worker trains savae-s2 now
        states = {s["unit"]: s for s in study_status.unit_states(TOY, work_dir=work, previous=previous, base=base)}
        text = study_status.status_text(TOY, list(states.values()))
    assert states["vae-s1"]["state"] == FINISHED and states["vae-s1"]["epochs"] == 2
    assert states["savae-s1"]["state"] == STOPPED and states["savae-s1"]["last_epoch_s"] == 30.0
    assert states["lm-s1"]["state"] == IN_RECORD and states["lm-s1"]["epochs"] == 2
    assert states["vae-s2"]["state"] == NOT_STARTED  # its recorded row has another set-up's key
    assert states["savae-s2"]["state"] == TRAINING and states["savae-s2"]["worker"] is not None
    assert states["vae_cold-s1"]["state"] == NOT_STARTED and not folder(work, "vae+cold", 1, base).exists()
    assert text.splitlines()[0] == "toy: 2 of 7 units finished"
    assert "savae-s1     stopped" in text
    assert "1 of at most 2 epochs, latest epoch 30 s (validation bound 70.12, KL 0.500)" in text
    # the reading took no lock: a worker can claim the stopped unit at once
    with study.claimed(stopped) as mine:
        assert mine
    assert not study_status.locks.is_held(busy, study_status.locks.CLAIM_LOCK)  # released with the block


def test_the_status_flag_prints_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from savae_lite import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main(["experiment", "documents", "--quick", "--status"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("documents: 0 of 4 units finished") and "not started" in out
    assert not (tmp_path / "runs").exists()  # nothing written: no record, no unit folder
    for extra in (["--partial"], ["--only", "savae-s1"]):
        assert cli.main(["experiment", "documents", "--status", *extra]) == 2
        assert "error: --status: for the studies" in capsys.readouterr().err
    assert cli.main(["experiment", "synthetic", "--status"]) == 2
    assert "error: --status: for the studies" in capsys.readouterr().err
