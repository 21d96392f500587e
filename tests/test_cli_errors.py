"""The command line's last tracebacks, each now one line naming its cause (issue: "every OS error a one-line
message"): a full disk while a checkpoint is written, output paths that cannot be written (checked before the
work), models too large for memory, token ids the vocabulary does not have, and Ctrl-C (exit code 130)."""
import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import torch

from savae_lite import atomic, checkpoint
from savae_lite.cli import main
from savae_lite.preflight import check_model_fits, check_out_file
from savae_lite.presets import preset

REPO = Path(__file__).resolve().parents[1]


def _one_line(capsys, start):
    err = capsys.readouterr().err
    assert err.startswith(start) and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _caught(call, *args):
    """``call(*args)``, where a KeyboardInterrupt that escapes is a failure (not the end of the test session)."""
    try:
        return call(*args)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped (a traceback for the user)")


def _must_not_run(monkeypatch, module, name):
    def ran(*args, **kwargs):
        raise AssertionError(f"{module.__name__}.{name} ran although the command should have stopped before it")

    monkeypatch.setattr(module, name, ran)


# ------------------------------------------------------------------------------------------------- a full disk
class _FullDisk:
    """A temporary file that takes ``room`` bytes and then fails as a full disk does."""

    def __init__(self, fh, room):
        self._fh, self._room = fh, room

    def write(self, data):
        size = memoryview(data).nbytes
        if size > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= size
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._fh.__exit__(*exc)


def _disk_full_for(monkeypatch, name, room=1000):
    real = tempfile.NamedTemporaryFile

    def temporary(*args, **kwargs):
        fh = real(*args, **kwargs)
        return _FullDisk(fh, room) if kwargs.get("prefix", "").startswith(name + ".") else fh

    monkeypatch.setattr(atomic.tempfile, "NamedTemporaryFile", temporary)


def test_a_full_disk_is_an_oserror_naming_the_target_and_the_old_file_stays(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    checkpoint.atomic_save({"w": torch.zeros(3)}, path)
    _disk_full_for(monkeypatch, "last.pt")
    with pytest.raises(OSError) as caught:  # torch.save reports it as "RuntimeError: ... unexpected pos"
        checkpoint.atomic_save({"w": torch.ones(10_000)}, path)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    assert torch.equal(checkpoint.load(path)["w"], torch.zeros(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_cli_disk_full_during_a_checkpoint_is_one_line_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    argv = ["train", "--quick", "--no-progress", "--threads", "1", "--epochs", "1", "--max-steps-per-epoch", "3",
            "--checkpoint-every", "1", "--iw-samples", "0", "--out-dir", str(out)]
    with monkeypatch.context() as patch:
        _disk_full_for(patch, "last.pt")
        assert main(argv) == 2
    err = _one_line(capsys, f"savae-lite train: error: No space left on device: {out / 'last.pt'}")
    assert "run the same command to resume" in err
    assert main(argv) == 0  # space again: the same command finishes the run
    assert json.loads((out / "results.json").read_text())["status"] == "finished"


# ------------------------------------------------------------------------------ output paths, before the work
def _untrained_checkpoint(path):
    from savae_lite.build import build_model

    cfg = preset("ptb-quick")
    checkpoint.atomic_save({"model": build_model(cfg, 30).state_dict(), "config": cfg.to_dict(), "vocab": None,
                            "epoch": 1}, path)
    return path


@pytest.mark.parametrize("case", ["folder", "folder/", "under-a-file", "deep-under-a-file"])
def test_cli_eval_out_is_checked_before_the_evaluation(case, tmp_path, monkeypatch, capsys):
    from savae_lite import evaluate

    ck = _untrained_checkpoint(tmp_path / "best.pt")
    (tmp_path / "taken").write_text("a file")
    out = {"folder": str(tmp_path), "folder/": f"{tmp_path}/", "under-a-file": str(tmp_path / "taken" / "m.json"),
           "deep-under-a-file": str(tmp_path / "taken" / "a" / "m.json")}[case]
    _must_not_run(monkeypatch, evaluate, "test_report")
    assert main(["eval", str(ck), "--max-examples", "2", "--out", out]) == 2
    err = _one_line(capsys, "savae-lite eval: error: --out: ")
    assert ("is a folder" in err) if case.startswith("folder") else (f"{tmp_path / 'taken'} is a file" in err)


def test_cli_export_into_a_folder_is_refused_before_the_export(tmp_path, monkeypatch, capsys):
    from savae_lite import pretrained

    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"x")
    (run / "results.json").write_text("{}")
    _must_not_run(monkeypatch, pretrained, "export")
    assert main(["export", str(run), str(tmp_path)]) == 2
    _one_line(capsys, f"savae-lite export: error: out: {tmp_path} is a folder")


@pytest.mark.parametrize("name", ["best.pt", "results.json"])
def test_cli_export_never_replaces_a_file_of_the_run_it_reads(tmp_path, monkeypatch, capsys, name):
    from savae_lite import pretrained

    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"x")
    (run / "results.json").write_text("{}")
    _must_not_run(monkeypatch, pretrained, "export")
    assert main(["export", str(run), str(run / name)]) == 2
    _one_line(capsys, f"savae-lite export: error: out: {run / name} is {run / name}, which this command reads")
    assert (run / "best.pt").read_bytes() == b"x"


def test_check_out_file_refuses_a_protected_file_only(tmp_path):
    ck = tmp_path / "best.pt"
    ck.write_bytes(b"x")
    with pytest.raises(ValueError, match="which this command reads"):
        check_out_file("--out", tmp_path / "." / "best.pt", protect=[ck])
    assert check_out_file("--out", tmp_path / "metrics.json", protect=[ck]) == tmp_path / "metrics.json"


def test_check_out_file_accepts_a_new_file_and_creates_its_folder(tmp_path):
    target = tmp_path / "a" / "b" / "m.json"
    assert check_out_file("--out", target) == target
    assert target.parent.is_dir() and not target.exists() and list(target.parent.iterdir()) == []
    with pytest.raises(ValueError, match="--out: must be the path of a file"):
        check_out_file("--out", "")


# ------------------------------------------------------------------------------------- memory and model sizes
def test_cli_huge_model_is_refused_naming_the_flag(tmp_path, monkeypatch, capsys):
    import savae_lite.train as train_mod

    _must_not_run(monkeypatch, train_mod, "build_data")
    assert main(["train", "--quick", "--model", "dec_hidden=1000000", "--out-dir", str(tmp_path / "r")]) == 2
    err = _one_line(capsys, "savae-lite train: error: --model dec_hidden=1000000: the model would have ")
    assert "emb_dim" not in err  # the preset's own sizes are not blamed
    assert not (tmp_path / "r").exists()


def test_check_model_fits_against_the_memory_given():
    cfg = preset("ptb-quick")
    check_model_fits(cfg, memory=10**9)
    cfg.model["enc_hidden"] = 2048  # larger than the paper's 1024: the one size blamed
    with pytest.raises(ValueError, match=r"^--model enc_hidden=2048: .* more than this machine's 1.0 MB"):
        check_model_fits(cfg, memory=10**6)
    cfg.model["enc_hidden"] = 64  # nothing out of scale: every size the config sets is named
    with pytest.raises(ValueError, match=r"^--model emb_dim=32 --model enc_hidden=64 .* to evaluate"):
        check_model_fits(cfg, training=False, memory=1000)


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB"),
                                   RuntimeError("[enforce fail at alloc_cpu.cpp:121] . DefaultCPUAllocator: "
                                                "can't allocate memory: you tried to allocate 99 bytes."),
                                   MemoryError()])
def test_cli_memory_errors_are_one_line_naming_the_flags(error, tmp_path, monkeypatch, capsys):
    import savae_lite.train as train_mod

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(train_mod, "Trainer", fail)
    assert main(["train", "--quick", "--model", "dec_hidden=64", "--out-dir", str(tmp_path / "r")]) == 2
    err = _one_line(capsys, "savae-lite train: error: out of memory (")
    assert "--model dec_hidden=64" in err and "--batch-size" in err and "alloc_cpu" not in err


@pytest.mark.parametrize("field,value,message", [("pad_idx", 99999, "--model pad_idx: must be 0, got 99999"),
                                                 ("unk_idx", 3, "--model unk_idx: must be 1, got 3")])
def test_cli_special_token_ids_are_checked_before_building(field, value, message, tmp_path, monkeypatch, capsys):
    import savae_lite.train as train_mod

    _must_not_run(monkeypatch, train_mod, "build_data")
    assert main(["train", "--quick", "--model", f"{field}={value}", "--out-dir", str(tmp_path / "r")]) == 2
    _one_line(capsys, f"savae-lite train: error: {message}")


def test_text_model_config_refuses_ids_outside_the_vocabulary():
    from savae_lite.models.text import TextModelConfig

    with pytest.raises(ValueError, match=r"pad_idx: must be a token id in \[0, vocab_size=50\), got 99999"):
        TextModelConfig.tiny().__class__(vocab_size=50, pad_idx=99999)


# ---------------------------------------------------------------------------------------------------- Ctrl-C
@pytest.mark.parametrize("command", [["train", "--quick"], ["experiment", "synthetic", "--quick"]])
def test_cli_ctrl_c_is_one_line_and_exit_130(command, tmp_path, monkeypatch, capsys):
    import savae_lite.experiments as experiments_mod
    import savae_lite.train as train_mod

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "Trainer", interrupt)
    monkeypatch.setattr(experiments_mod, "run", interrupt)
    out = ["--out-dir", str(tmp_path / "r")] if command[0] == "train" else ["--out", str(tmp_path / "s.json")]
    assert _caught(main, command + out) == 130
    assert capsys.readouterr().err == f"savae-lite {command[0]}: interrupted\n"


def test_a_second_ctrl_c_while_the_line_is_printed_is_ignored(monkeypatch):
    from savae_lite import cli_errors

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is handled by someone else here")

    class Stderr:
        text = ""

        def write(self, s):
            signal.raise_signal(signal.SIGINT)  # the second Ctrl-C, 20 ms after the first
            self.text += s

        def flush(self):
            pass

    monkeypatch.setattr(cli_errors.sys, "stderr", Stderr())
    assert _caught(cli_errors.interrupted, "savae-lite train", KeyboardInterrupt()) == 130
    assert cli_errors.sys.stderr.text == "savae-lite train: interrupted\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored (main() was given argv)


def test_the_program_ignores_ctrl_c_after_its_interrupted_line():
    """Run as the program (argv None), a Ctrl-C that comes while the interpreter shuts down prints nothing."""
    script = textwrap.dedent("""
        import signal, sys
        import savae_lite.train as train_mod
        from savae_lite import cli

        def interrupt(*args, **kwargs):
            raise KeyboardInterrupt

        train_mod.Trainer = interrupt
        sys.argv = ["savae-lite", "train", "--quick", "--out-dir", sys.argv[1]]
        code = cli.main()
        signal.raise_signal(signal.SIGINT)  # a second Ctrl-C during shut-down
        sys.exit(code)
    """)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", script, str(Path(tmp) / "r")], capture_output=True, text=True,
                              cwd=REPO, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 130 and proc.stderr == "savae-lite train: interrupted\n", proc.stderr


def test_ctrl_c_while_the_command_line_loads_is_one_line(capsys):
    """The executable (savae_lite.launch) loads the command line, and torch with it, inside its guard."""
    from savae_lite import launch

    def loading(*args):
        raise KeyboardInterrupt

    assert _caught(launch.main, ["train", "--quick"], loading) == 130
    assert capsys.readouterr().err == "savae-lite: interrupted (while starting; nothing was run)\n"
    assert launch.main(["experiment", "no-such-study"]) == 2  # once loaded, the command line's own answer
    assert "no-such-study" in capsys.readouterr().err


def test_the_executable_imports_no_torch_before_its_guard():
    """``savae-lite`` runs ``savae_lite.launch:main``: importing it (and the package) must not import torch, or a
    Ctrl-C in the first seconds would end in a traceback; the OpenMP default is in the environment already."""
    code = ("import os, sys, savae_lite.launch\n"
            "print('torch' in sys.modules, os.environ.get('GOMP_SPINCOUNT'))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env=env, check=True)
    assert proc.stdout.split() == ["False", "1000"]
    scripts = (REPO / "pyproject.toml").read_text()
    assert 'savae-lite = "savae_lite.launch:main"' in scripts


def test_cli_os_errors_name_the_path(tmp_path, monkeypatch, capsys):
    import savae_lite.train as train_mod

    def fail(*args, **kwargs):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), "/some/where")

    monkeypatch.setattr(train_mod, "Trainer", fail)
    assert main(["train", "--quick", "--out-dir", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == "savae-lite train: error: Is a directory: /some/where\n"


def test_experiment_threads_flag(monkeypatch, capsys):
    """``experiment --threads N``: a study's units train with N intra-op threads on CPU (default 1, so that two
    workers share two cores); anything but a positive integer, or the flag on an experiment that is not a study, is
    a one-line error before anything runs."""
    import torch

    from savae_lite.cli import main

    seen = {}

    def fake_run_study(*args, **kwargs):  # what the study's units would train with
        seen["threads"] = torch.get_num_threads()
        return None

    monkeypatch.setattr("savae_lite.study.run_study", fake_run_study)
    before = torch.get_num_threads()
    try:
        assert main(["experiment", "documents", "--quick", "--partial", "--device", "cpu", "--threads", "2",
                     "--out", "unused-documents.json"]) == 0
        assert seen["threads"] == 2
        assert main(["experiment", "documents", "--quick", "--partial", "--device", "cpu",
                     "--out", "unused-documents.json"]) == 0
        assert seen["threads"] == 1
    finally:
        torch.set_num_threads(before)
    capsys.readouterr()
    assert main(["experiment", "documents", "--threads", "0"]) == 2
    assert capsys.readouterr().err == "savae-lite experiment: error: --threads: must be a positive integer, got 0\n"
    assert main(["experiment", "synthetic", "--quick", "--threads", "2"]) == 2
    assert "--threads: experiment 'synthetic' is not a study" in capsys.readouterr().err
