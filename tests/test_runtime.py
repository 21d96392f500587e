"""Where and how a run executes (runtime.py): device names, the quick-mode switch, one seed for all and the CPU
thread policy (OpenMP's wait policy set before torch loads, user settings first, ``--threads``)."""
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from savae_lite import runtime
from savae_lite.runtime import ThreadPolicy, apply_thread_policy, pick_device, quick_mode, set_seed
from tests.conftest import REPO


@pytest.mark.parametrize("name", ["tpu", "gpu0", "cuda:x", ""])
def test_unknown_device_names_the_flag(name):
    with pytest.raises(ValueError, match=r"--device: unknown device .*\(use auto, cpu, cuda, cuda:N or mps\)"):
        pick_device(name)


def test_unavailable_accelerators_name_the_flag(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for name, what in (("cuda", "CUDA"), ("cuda:1", "CUDA"), ("mps", "MPS")):
        with pytest.raises(ValueError, match=rf"--device: '{name}' requested but {what} is not available"):
            pick_device(name)
    assert pick_device("auto") == torch.device("cpu")


def test_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")


def test_explicit_devices_pass_through():
    assert pick_device("cpu") == torch.device("cpu")
    dev = torch.device("cpu")
    assert pick_device(dev) is dev


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("YES", True), (" on ", True),
                                            ("0", False), ("false", False), ("no", False), ("", False),
                                            ("2", False), ("quick", False)])
def test_quick_mode_reads_the_environment(value, expected, monkeypatch):
    monkeypatch.setenv(runtime.QUICK_ENV, value)
    assert quick_mode() is expected


def test_quick_mode_is_off_when_unset(monkeypatch):
    monkeypatch.delenv(runtime.QUICK_ENV, raising=False)
    assert runtime.QUICK_ENV == "SAVAE_LITE_QUICK" and quick_mode() is False


def _draws():
    return random.random(), float(np.random.rand()), torch.rand(3)


@pytest.mark.parametrize("seed", [0, 3435, 2**40 + 7])
def test_set_seed_makes_python_numpy_and_torch_repeat(seed):
    set_seed(seed)
    a = _draws()
    set_seed(seed)
    b = _draws()
    set_seed(seed + 1)
    c = _draws()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    assert a[0] != c[0] and a[1] != c[1] and not torch.equal(a[2], c[2])


# ---------------------------------------------------------------------------------------------- thread policy
def _fresh_python(code: str, **env_changes) -> dict:
    """Run ``code`` in a new interpreter with the given environment changes (None removes a variable); it prints
    one JSON line, returned parsed."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


POLICY_NOW = ("import json, os, torch\nfrom savae_lite.runtime import thread_policy\n"
              "print(json.dumps({'env': os.environ.get('OMP_WAIT_POLICY'), "
              "'spin': os.environ.get('GOMP_SPINCOUNT'), **thread_policy().to_dict()}))")


def test_importing_savae_lite_sets_a_brief_spin_before_torch_loads():
    got = _fresh_python("import savae_lite\n" + POLICY_NOW)
    assert got["spin"] == runtime.DEFAULT_SPINCOUNT == "1000" and got["env"] is None
    assert got["wait_policy"] == "GOMP_SPINCOUNT=1000" and got["wait_policy_from"] == "savae-lite default"


@pytest.mark.parametrize("value", ["ACTIVE", "passive", "active"])
def test_a_wait_policy_in_the_environment_wins(value):
    got = _fresh_python("import savae_lite\n" + POLICY_NOW, OMP_WAIT_POLICY=value)
    assert got["env"] == value and got["spin"] is None
    assert got["wait_policy"] == f"OMP_WAIT_POLICY={value}" and got["wait_policy_from"] == "environment"


def test_a_spin_count_in_the_environment_wins():
    got = _fresh_python("import savae_lite\n" + POLICY_NOW, GOMP_SPINCOUNT="5")
    assert got["spin"] == "5" and got["wait_policy"] == "GOMP_SPINCOUNT=5"


def test_torch_imported_first_leaves_the_environment_alone():
    """OpenMP read its settings when torch was loaded: setting the variable afterwards would claim a policy that
    is not in effect (and change it for child processes only)."""
    got = _fresh_python("import torch\nimport savae_lite\n" + POLICY_NOW)
    assert got["env"] is None and got["spin"] is None
    assert got["wait_policy_from"] == "torch imported before savae-lite"


def test_omp_num_threads_is_the_default_and_threads_wins_over_it():
    code = ("import json, torch\nfrom savae_lite.runtime import apply_thread_policy\n"
            "a = apply_thread_policy(None).to_dict()\nb = apply_thread_policy(2).to_dict()\n"
            "print(json.dumps({'none': a, 'two': b, 'now': torch.get_num_threads()}))")
    got = _fresh_python(code, OMP_NUM_THREADS="1")
    assert got["none"]["threads"] == 1 and got["none"]["threads_from"] == "OMP_NUM_THREADS"
    assert got["two"]["threads"] == 2 == got["now"] and got["two"]["threads_from"] == "--threads"


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_apply_thread_policy_sets_the_count(restore_threads):
    torch.set_num_threads(1)
    assert apply_thread_policy(None).threads == 1 and torch.get_num_threads() == 1  # None changes nothing
    policy = apply_thread_policy(2)
    assert policy == ThreadPolicy(2, "--threads", policy.wait_policy, policy.wait_policy_from)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_apply_thread_policy_names_the_flag(bad, restore_threads):
    with pytest.raises(ValueError, match=r"^--threads: must be a positive integer or None, got "):
        apply_thread_policy(bad)


@pytest.mark.parametrize("bad,message", [(0, "--threads: must be >= 1 (or None), got 0"),
                                         (-2, "--threads: must be >= 1 (or None), got -2"),
                                         (1.5, "--threads: must be an integer or None, got 1.5"),
                                         ("2", "--threads: must be an integer or None, got '2'")])
def test_config_threads_is_validated_with_the_flag(bad, message):
    from savae_lite.presets import preset

    cfg = preset("ptb-quick")
    cfg.train.threads = bad
    with pytest.raises(ValueError) as err:
        cfg.validate()
    assert str(err.value) == message
    cfg.train.threads = None
    cfg.validate()
    cfg.train.threads = 3
    cfg.validate()


def test_cli_threads_flag_error_is_one_line(capsys, tmp_path):
    from savae_lite.cli import main

    assert main(["train", "--quick", "--no-progress", "--threads", "0", "--out-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "savae-lite train: error: --threads: must be >= 1 (or None), got 0"
    assert main(["bench", "--tiny", "--threads", "0"]) == 2
    assert capsys.readouterr().err.strip() == "savae-lite bench: error: --threads: must be >= 1 (or None), got 0"


def test_trainer_and_cli_apply_the_policy_once(monkeypatch, tmp_path, restore_threads):
    """``savae-lite train --threads N`` reaches the trainer, which applies the policy once, before training."""
    from savae_lite import cli, train

    calls = []

    def spy(threads):
        calls.append(threads)
        return apply_thread_policy(threads)

    monkeypatch.setattr(train, "apply_thread_policy", spy)
    args = cli.build_parser().parse_args(["train", "--quick", "--threads", "2", "--out-dir", str(tmp_path / "a")])
    cfg = cli.config_from_args(args)
    assert cfg.train.threads == 2
    trainer = train.Trainer(cfg)
    assert calls == [2] and trainer.threads.threads == 2 == torch.get_num_threads()
    assert trainer.threads.threads_from == "--threads"
    cfg.train.out_dir = str(tmp_path / "b")
    cfg.train.threads = None
    torch.set_num_threads(1)
    assert train.Trainer(cfg).threads.threads == 1 and calls == [2, None]


def test_resuming_with_another_thread_count_is_allowed():
    from savae_lite.checkpoint import config_mismatch
    from savae_lite.presets import preset

    a, b = preset("ptb-quick"), preset("ptb-quick")
    b.train.threads = 4
    assert config_mismatch(a.to_dict(), b.to_dict()) == []
