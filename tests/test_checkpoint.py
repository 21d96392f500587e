"""Checkpoints (checkpoint.py): atomic saves, safe loads with clear errors for truncated, foreign or malicious
files, the config comparison a resume relies on, and resuming (resume.py): the fallback to the previous file,
the checks of a resumable checkpoint and each rank's random streams."""
import os
import pickle
import re
from pathlib import Path

import pytest
import torch

from savae_lite import checkpoint, resume
from savae_lite.train import Trainer
from tests.conftest import REPO, text_run_config, text_run_splits


def test_save_load_round_trip_and_missing_file(tmp_path):
    obj = {"model": {"w": torch.arange(6.0).view(2, 3)}, "epoch": 3, "history": [{"loss": 1.5}], "name": "x"}
    path = tmp_path / "sub" / "ck.pt"
    checkpoint.atomic_save(obj, path)
    back = checkpoint.load(path)
    assert torch.equal(back["model"]["w"], obj["model"]["w"]) and back["history"] == obj["history"]
    assert back["epoch"] == 3 and back["name"] == "x"
    assert sorted(p.name for p in path.parent.iterdir()) == ["ck.pt"]  # no temporary left behind
    with pytest.raises(FileNotFoundError, match=r"checkpoint .*nothing\.pt does not exist"):
        checkpoint.load(tmp_path / "nothing.pt")


def test_config_mismatch_names_the_differing_fields():
    saved = {"train": {"mode": "vae", "lr": 1.0, "epochs": 3, "out_dir": "a", "svi": {"steps": 5}},
             "data": {"name": "ptb", "data_dir": "/x"}, "model": {"dec_hidden": 32}}
    same_but_ignored = {"train": {"mode": "vae", "lr": 1.0, "epochs": 9, "out_dir": "b", "svi": {"steps": 5}},
                        "data": {"name": "ptb", "data_dir": "/y"}, "model": {"dec_hidden": 32}}
    assert checkpoint.config_mismatch(saved, same_but_ignored) == []
    other = {"train": {"mode": "savae", "lr": 1.0, "epochs": 3, "out_dir": "a", "svi": {"steps": 7}},
             "data": {"name": "ptb", "data_dir": "/x"}, "model": {"dec_hidden": 32, "latent_dim": 4}}
    assert checkpoint.config_mismatch(saved, other) == [
        "model.latent_dim: checkpoint None vs now 4",
        "train.mode: checkpoint 'vae' vs now 'savae'",
        "train.svi.steps: checkpoint 5 vs now 7",
    ]


# ---- bad checkpoint files
def _finished_run(tmp_path) -> Path:
    out = tmp_path / "run"
    Trainer(text_run_config(out, epochs=1, iw_samples=0), splits=text_run_splits()).fit()
    return out


def test_truncated_checkpoint_gives_a_clear_error(tmp_path):
    out = _finished_run(tmp_path)
    last = out / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"last\.pt could not be loaded safely.*truncated"):
        checkpoint.load(last)
    prev = out / "last.prev.pt"  # the fallback of a damaged last.pt is damaged too: nothing to resume from
    prev.write_bytes(prev.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"last\.pt could not be loaded safely"):
        Trainer(text_run_config(out, epochs=2, iw_samples=0), splits=text_run_splits()).fit()



def test_best_checkpoint_is_not_resumable(tmp_path):
    out = _finished_run(tmp_path)
    os.replace(out / "best.pt", out / "last.pt")
    with pytest.raises(ValueError, match="not a resumable checkpoint.*loop"):
        Trainer(text_run_config(out, epochs=2, iw_samples=0), splits=text_run_splits()).fit()


def test_checkpoint_weights_from_another_model_are_rejected(tmp_path):
    out = _finished_run(tmp_path)
    ck = checkpoint.load(out / "last.pt")
    ck["model"]["decoder.out.weight"] = torch.zeros(7, 7)
    checkpoint.atomic_save(ck, out / "last.pt")
    with pytest.raises(ValueError, match=r"weights do not fit the model.*decoder\.out\.weight"):
        Trainer(text_run_config(out, epochs=2, iw_samples=0), splits=text_run_splits()).fit()



class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_checkpoint_with_foreign_pickle_is_refused_and_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        torch.save({"model": _Payload()}, fh, pickle_module=pickle)
    with pytest.raises(ValueError, match="could not be loaded safely"):
        checkpoint.load(path)
    assert not (tmp_path / "PWNED").exists()


def test_no_code_path_unpickles_untrusted_data():
    """Every torch.load passes weights_only=True; no pickle/np.load(allow_pickle=True)/torch.load without it."""
    offenders = []
    for path in sorted((REPO / "savae_lite").rglob("*.py")):
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{path.name}: {m.group(0)}")
        for pattern in (r"\bpickle\.loads?\(", r"allow_pickle\s*=\s*True", r"\bdill\b", r"\bjoblib\.load",
                        r"weights_only\s*=\s*False", r"\bmarshal\.loads?\("):
            offenders += [f"{path.name}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not offenders, offenders


# ---- checksums and the previous checkpoint
def test_checksum_is_stored_and_covers_every_tensor(tmp_path):
    obj = {"model": {"w": torch.arange(6.0), "flag": torch.tensor(True)}, "rng": torch.zeros(3, dtype=torch.uint8),
           "loop": {"state": {0: {"m": torch.ones(2)}}}, "epoch": 1}
    path = tmp_path / "ck.pt"
    checkpoint.atomic_save(obj, path)
    assert "checksum" not in obj  # the caller's dict is left alone
    back = checkpoint.load(path)
    assert back["checksum"] == checkpoint.tensor_checksum(obj) == checkpoint.tensor_checksum(back)
    for change in (lambda o: o["model"]["w"].__setitem__(2, 2.5), lambda o: o["rng"].__setitem__(0, 1),
                   lambda o: o["loop"]["state"][0]["m"].mul_(-1),
                   lambda o: o["model"].__setitem__("w", o["model"]["w"].double())):
        other = torch.load(path, weights_only=True)
        change(other)
        assert checkpoint.tensor_checksum(other) != back["checksum"]
    checkpoint.atomic_save(back, path)  # re-saving a loaded checkpoint replaces its checksum, never nests it
    assert checkpoint.load(path)["checksum"] == back["checksum"]


def _corrupt_silently(path: Path) -> None:
    """Change one float of the model's weights and write the file back without updating its checksum (what a
    flipped bit on disk does to a file that still unpickles)."""
    ck = torch.load(path, weights_only=True)
    w = ck["model"]["decoder.out.weight"]
    w.view(-1)[0] = w.view(-1)[0] + 1.0
    torch.save(ck, path)


def test_silently_damaged_checkpoint_fails_its_checksum(tmp_path):
    out = _finished_run(tmp_path)
    last = out / "last.pt"
    _corrupt_silently(last)
    with pytest.raises(ValueError, match=r"checkpoint .*last\.pt: checksum mismatch \(a corrupted file\?\)"):
        checkpoint.load(last)


def test_resume_falls_back_to_the_previous_checkpoint(tmp_path):
    """last.pt damaged: the run resumes from last.prev.pt (one step earlier) with a warning and still ends
    exactly like an uninterrupted run."""
    from tests.conftest import assert_same_state, params_of

    full = Trainer(text_run_config(tmp_path / "full", iw_samples=0), splits=text_run_splits())
    full.fit()
    out = _finished_run(tmp_path)  # one epoch of 5 steps, a checkpoint after every step
    prev = checkpoint.load(out / "last.prev.pt")
    assert (prev["state"]["epoch"], prev["state"]["step_in_epoch"], prev["loop"]["step_count"]) == (0, 4, 4)
    assert checkpoint.load(out / "last.pt")["loop"]["step_count"] == 5
    _corrupt_silently(out / "last.pt")
    resumed = Trainer(text_run_config(out, epochs=2, iw_samples=0), splits=text_run_splits())
    with pytest.warns(RuntimeWarning, match=r"last\.pt: checksum mismatch.*resuming from the previous checkpoint "
                                            r".*last\.prev\.pt"):
        record = resumed.fit()
    assert record["resumed"] and record["status"] == "finished"
    assert_same_state(params_of(full.model), params_of(resumed.model))
    assert (out / "last.damaged.pt").exists()  # set aside: the damaged file never becomes the fallback
    checkpoint.load(out / "last.prev.pt")  # a good one (checksum verified)


def test_missing_last_checkpoint_falls_back_to_the_previous_one(tmp_path):
    """A run killed between moving last.pt aside and writing the new one (no hard links) resumes from
    last.prev.pt."""
    out = _finished_run(tmp_path)
    (out / "last.pt").unlink()
    with pytest.warns(RuntimeWarning, match=r"last\.pt does not exist; resuming from .*last\.prev\.pt"):
        record = Trainer(text_run_config(out, epochs=2, iw_samples=0), splits=text_run_splits()).fit()
    assert record["resumed"]


def test_checkpoint_without_checksum_loads_with_a_warning(tmp_path):
    """Checkpoints written before checksums existed are accepted, unverified, with a warning."""
    path = tmp_path / "old.pt"
    torch.save({"model": {"w": torch.ones(2)}, "epoch": 1}, path)
    with pytest.warns(UserWarning, match=r"old\.pt has no checksum"):
        assert checkpoint.load(path)["epoch"] == 1


def test_checkpoint_minutes_is_not_part_of_a_runs_identity():
    """Resuming with another --checkpoint-minutes, or a checkpoint written before the option existed, is fine."""
    now = {"train": {"mode": "vae", "checkpoint_minutes": 5.0}}
    assert checkpoint.config_mismatch({"train": {"mode": "vae"}}, now) == []
    assert checkpoint.config_mismatch({"train": {"mode": "vae", "checkpoint_minutes": 0.5}}, now) == []


def test_load_resumable_without_files_with_one_and_with_two_damaged_ones(tmp_path):
    last = tmp_path / "last.pt"
    assert resume.load_resumable(last) is None
    checkpoint.atomic_save({"w": torch.ones(2)}, last)
    ck, path = resume.load_resumable(last)
    assert path == last and torch.equal(ck["w"], torch.ones(2))
    last.write_bytes(b"not a checkpoint")
    checkpoint.previous_of(last).write_bytes(b"nor this")
    with pytest.raises(ValueError, match=r"last\.pt could not be loaded.*no usable previous checkpoint either "
                                         r"\(.*last\.prev\.pt could not be loaded"):
        resume.load_resumable(last)


class OtherRank:
    """A process group seen from rank 1: rank 0's broadcast says which file it chose."""

    is_main = False

    def __init__(self, chosen):
        self.chosen = chosen

    def broadcast_object(self, obj):
        assert obj == (None, None)  # rank 1 never looks at the files itself
        return self.chosen


def test_other_ranks_load_the_file_rank_0_chose_and_raise_its_error(tmp_path):
    prev = tmp_path / "last.prev.pt"
    checkpoint.atomic_save({"w": torch.zeros(1)}, prev)
    ck, path = resume.load_resumable_on_all(tmp_path / "last.pt", OtherRank((str(prev), None)))
    assert path == prev and torch.equal(ck["w"], torch.zeros(1))
    assert resume.load_resumable_on_all(tmp_path / "last.pt", OtherRank((None, None))) is None
    with pytest.raises(ValueError, match="rank 0 says no"):
        resume.load_resumable_on_all(tmp_path / "last.pt", OtherRank((None, "rank 0 says no")))


def test_check_resumable_and_restore_states_name_the_file():
    with pytest.raises(ValueError, match=r"b\.pt is not a resumable checkpoint \(no loop, scheduler"):
        resume.check_resumable({"model": {}, "config": {}, "state": {}, "history": [], "rng": 0}, "b.pt", {})
    with pytest.raises(ValueError, match=r"x\.pt: its weights do not fit the model of this config \(RuntimeError"):
        resume.restore_states({"model": {"weight": torch.ones(1)}}, "x.pt", model=torch.nn.Linear(2, 2))


def test_rng_is_restored_per_rank_and_a_rank_without_a_saved_stream_gets_its_own():
    torch.manual_seed(1)
    saved = resume.rng_state(torch.device("cpu"))
    expected = torch.rand(3)
    torch.manual_seed(2)
    resume.restore_rng({**saved, "rank_rng": [saved]}, 0, torch.device("cpu"), fresh_seed=9)
    assert torch.equal(torch.rand(3), expected)
    resume.restore_rng({**saved, "rank_rng": [saved]}, 1, torch.device("cpu"), fresh_seed=9)  # 2 ranks now
    first = torch.rand(3)
    resume.restore_rng(saved, 1, torch.device("cpu"), fresh_seed=9)
    assert torch.equal(torch.rand(3), first) and not torch.equal(first, expected)


def test_resume_compares_only_the_fields_that_decide_the_result():
    """The fields a result depends on, as a study's keys see them: a checkpoint that predates a field (here
    ``aggressive_mi_every`` and ``checkpoint_every``) or differs in checkpoint timing resumes; a field that only
    another mode reads does not matter; a learning rate does."""
    from savae_lite.config import RunConfig

    now = RunConfig().to_dict()
    now["train"].update(mode="vae", checkpoint_every=7)
    old = RunConfig().to_dict()
    old["train"]["mode"] = "vae"
    del old["train"]["aggressive_mi_every"], old["train"]["checkpoint_every"]
    assert checkpoint.config_mismatch(old, now) == []
    now["train"]["aggressive_mi_every"] = 10  # read by aggressive training only
    assert checkpoint.config_mismatch(old, now) == []
    now["train"]["mode"] = "aggressive"
    assert checkpoint.config_mismatch(old, now) == ["train.aggressive_mi_every: checkpoint 3125 vs now 10",
                                                   "train.mode: checkpoint 'vae' vs now 'aggressive'"]
    now["train"].update(mode="vae", lr=0.5)
    assert checkpoint.config_mismatch(old, now) == ["train.lr: checkpoint 1.0 vs now 0.5"]
