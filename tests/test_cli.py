"""The command line (cli.py): help texts, clear errors that name the bad option, a quick training run and
evaluation of its checkpoint (also of a checkpoint that does not fit its config)."""
import json
import os
import re
import time

import pytest

from savae_lite import checkpoint
from savae_lite.cli import build_parser, config_from_args, main
from savae_lite.data import load_text


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--mode", "--hvp", "--train-svi-steps", "--test-svi-steps", "--kl-start", "--device", "--data-dir",
                 "--quick", "--on-nan"):
        assert flag in text


def test_flags_override_the_preset_only_when_given():
    args = build_parser().parse_args(["train", "--preset", "ptb-small", "--train-svi-steps", "7", "--mode", "vae",
                                      "--model", "dec_hidden=64", "--no-by-length"])
    cfg = config_from_args(args)
    assert cfg.train.svi.steps == 7 and cfg.train.mode == "vae" and cfg.model == {"dec_hidden": 64}
    assert cfg.data.by_length is False and cfg.data.max_sentences == 3000  # untouched preset value


@pytest.mark.parametrize("argv,needle", [
    (["train", "--quick", "--mode", "magic"], "--mode"),
    (["train", "--quick", "--device", "tpu"], "--device"),
    (["train", "--quick", "--data", "imagenet"], "--data"),
    (["train", "--quick", "--model", "wings=3"], "--model"),
    (["train", "--quick", "--epochs", "0"], "--epochs"),
    (["eval", "does/not/exist.pt"], "does not exist"),
])
def test_bad_arguments_give_clear_errors(argv, needle, capsys, tmp_path):
    argv = argv + (["--out-dir", str(tmp_path / "r")] if argv[0] == "train" else [])
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_unparseable_values_are_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--epochs", "many"])
    assert "--epochs" in capsys.readouterr().err


def test_quick_train_then_eval(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--quick", "--out-dir", str(out), "--no-progress", "--max-sentences", "64",
                 "--max-steps-per-epoch", "2", "--epochs", "1", "--iw-samples", "2", "--iw-max-examples", "4"]) == 0
    record = json.loads((out / "results.json").read_text())
    assert record["status"] == "finished" and record["dataset"]["dataset"] == "ptb"
    capsys.readouterr()
    assert main(["eval", str(out / "best.pt"), "--max-examples", "8", "--iw-samples", "2",
                 "--out", str(tmp_path / "e.json")]) == 0
    metrics = json.loads((tmp_path / "e.json").read_text())
    assert metrics["refine"]["examples"] == 8 and metrics["no_refine"]["nll_bound"] > 0
    assert metrics["max_examples"] == 8 and metrics["iw"]["examples"] == 8
    assert metrics["iw"]["selection"] == "spread evenly over the split"  # 8 of the split, not all of it


@pytest.mark.parametrize("argv,match", [
    (["train", "--mode", "magic"], "--mode: unknown training mode 'magic'"),
    (["train", "--hvp", "magic"], "--hvp: unknown back-end"),
    (["train", "--device", "tpu"], "--device: unknown device 'tpu'"),
    (["train", "--preset", "ptb-quick", "--model", "no_such_field=3"], r"--model: unknown field"),
    (["bench", "--tiny", "--device", "tpu"], "--device: unknown device 'tpu'"),
])
def test_cli_names_the_bad_option(argv, match, tmp_path, capsys):
    if argv[0] == "train":
        argv = argv + ["--out-dir", str(tmp_path / "run"), "--no-progress"]
    assert main(argv) == 2
    assert re.search(match, capsys.readouterr().err)



def test_eval_of_checkpoint_from_a_different_config(tmp_path, capsys):
    """`savae-lite eval` on a checkpoint whose weights do not fit the model its config describes; and on a
    truncated checkpoint: exit code 2 and a message naming the file."""
    from savae_lite.build import build_model
    from savae_lite.presets import preset

    cfg = preset("ptb-quick")
    cfg.data.max_sentences = 40
    vocab = len(load_text("ptb", max_len=cfg.data.max_len, max_sentences=40).vocab)
    model = build_model(cfg, vocab)
    cfg.model["dec_hidden"] = 16  # the config now describes another model
    path = tmp_path / "best.pt"
    checkpoint.atomic_save({"model": model.state_dict(), "config": cfg.to_dict(), "vocab": None, "epoch": 1}, path)
    assert main(["eval", str(path), "--max-examples", "2"]) == 2
    assert re.search(r"best\.pt: weights do not fit the model its config describes", capsys.readouterr().err)
    path.write_bytes(path.read_bytes()[:500])
    assert main(["eval", str(path)]) == 2
    assert "could not be loaded safely" in capsys.readouterr().err



# ---------------------------------------------------------------------------------- bad input, before any training
# One test per probe of the issue "refuses bad input before it starts", through main([...]): exit code 2, one
# line "savae-lite <cmd>: error: --flag: ...", no traceback, and nothing written to the output folder.
def _refused(argv, flag, capsys, tmp_path, cmd="train"):
    out = tmp_path / "run"
    if cmd == "train":
        argv = ["train", "--quick", "--no-progress", "--out-dir", str(out)] + argv
    t0 = time.perf_counter()
    assert main(argv) == 2
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert err.startswith(f"savae-lite {cmd}: error: {flag}"), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (out / "last.pt").exists() and not (out / "results.json").exists()
    return err, elapsed


def test_cli_kl_warmup_epochs_inf(capsys, tmp_path):
    _refused(["--kl-warmup-epochs", "inf"], "--kl-warmup-epochs: must be finite", capsys, tmp_path)


def test_cli_negative_kl_start(capsys, tmp_path):
    _refused(["--kl-start", "-5"], "--kl-start: must be finite and in [0, 1], got -5.0", capsys, tmp_path)


@pytest.mark.parametrize("argv,flag", [(["--kl-start", "nan"], "--kl-start"),
                                       (["--kl-warmup-epochs", "-1"], "--kl-warmup-epochs")])
def test_cli_annealing_switched_off_silently(argv, flag, capsys, tmp_path):
    _refused(argv, flag, capsys, tmp_path)


def test_cli_negative_max_steps_per_epoch(capsys, tmp_path):
    _refused(["--max-steps-per-epoch", "-2"], "--max-steps-per-epoch: must be >= 1", capsys, tmp_path)


@pytest.mark.parametrize("argv,flag", [
    (["--lr", "nan"], "--lr"), (["--lr", "inf"], "--lr"), (["--svi-lr-mu", "-1"], "--svi-lr-mu"),
    (["--grad-clip", "-1"], "--grad-clip"), (["--lr-decay", "0"], "--lr-decay"),
    (["--checkpoint-every", "-5"], "--checkpoint-every"), (["--iw-samples", "-3"], "--iw-samples"),
    (["--test-svi-steps", "-2"], "--test-svi-steps"), (["--svi-momentum", "5"], "--svi-momentum"),
])
def test_cli_values_accepted_without_a_word(argv, flag, capsys, tmp_path):
    _refused(argv, flag + ":", capsys, tmp_path)


@pytest.mark.parametrize("argv,flag", [(["--model", "dec_hidden=-4"], "--model dec_hidden: must be >= 1"),
                                       (["--max-sentences", "0"], "--max-sentences: must be >= 1")])
def test_cli_error_names_the_flag(argv, flag, capsys, tmp_path):
    err, _ = _refused(argv, flag, capsys, tmp_path)
    assert "max_len" not in err


def _no_data_may_be_built(monkeypatch):
    import savae_lite.train as train_mod

    def boom(*args, **kwargs):
        raise AssertionError("data was built although --out-dir is unusable")

    monkeypatch.setattr(train_mod, "build_data", boom)


@pytest.mark.parametrize("case", ["file", "inside-a-file", "not-writable"])
def test_cli_unusable_out_dir_fails_before_training(case, capsys, tmp_path, monkeypatch):
    from savae_lite import preflight

    _no_data_may_be_built(monkeypatch)
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    target = {"file": blocker, "inside-a-file": blocker / "run", "not-writable": tmp_path / "locked"}[case]
    if case == "not-writable":
        target.mkdir()
        target.chmod(0o555)
        if os.access(target, os.W_OK):  # running as root: make the write probe fail instead
            def refuse(*args, **kwargs):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(preflight.tempfile, "mkstemp", refuse)
    try:
        t0 = time.perf_counter()
        assert main(["train", "--quick", "--no-progress", "--out-dir", str(target)]) == 2
        elapsed = time.perf_counter() - t0
    finally:
        if case == "not-writable":
            target.chmod(0o755)
    err = capsys.readouterr().err
    assert err.startswith("savae-lite train: error: --out-dir: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("results.json"))
    assert elapsed < 10  # no epoch was trained (and build_data above was never called)


def _untrained_checkpoint(path, **config_changes):
    """best.pt of an untrained ptb-quick model on 40 sentences (no training needed to evaluate it)."""
    from savae_lite.build import build_model
    from savae_lite.presets import preset

    cfg = preset("ptb-quick")
    cfg.data.max_sentences = 40
    vocab = len(load_text("ptb", max_len=cfg.data.max_len, max_sentences=40).vocab)
    model = build_model(cfg, vocab)
    config = cfg.to_dict()
    for section, changes in config_changes.items():
        config[section].update(changes)
    checkpoint.atomic_save({"model": model.state_dict(), "config": config, "vocab": None, "epoch": 1}, path)
    return path


def test_cli_eval_of_checkpoint_without_config(capsys, tmp_path):
    path = _untrained_checkpoint(tmp_path / "best.pt")
    ck = checkpoint.load(path)
    del ck["config"]
    checkpoint.atomic_save(ck, path)
    _refused(["eval", str(path)], f"checkpoint {path} has no config", capsys, tmp_path, cmd="eval")
    checkpoint.atomic_save({"weights": 1}, path)
    _refused(["eval", str(path)], f"checkpoint {path} has no model and config", capsys, tmp_path, cmd="eval")


def test_cli_eval_of_checkpoint_with_unknown_config_field(capsys, tmp_path):
    path = _untrained_checkpoint(tmp_path / "best.pt", train={"bogus": 1})
    err, _ = _refused(["eval", str(path)], f"checkpoint {path}: its config cannot be used", capsys, tmp_path,
                      cmd="eval")
    assert "train.bogus" in err


@pytest.mark.parametrize("argv,flag", [(["train", "--iw-max-examples", "0"], "--iw-max-examples: must be >= 1"),
                                       (["eval", "--max-examples", "-5"], "--max-examples: must be >= 1"),
                                       (["eval", "--max-examples", "0"], "--max-examples: must be >= 1")])
def test_cli_evaluation_over_zero_examples_is_refused(argv, flag, capsys, tmp_path):
    """These wrote NLL 0.0, PPL 1.0, IW-NLL 0.0 with exit code 0: a perfect score from nothing."""
    if argv[0] == "eval":
        argv = ["eval", str(_untrained_checkpoint(tmp_path / "best.pt"))] + argv[1:]
        _refused(argv, flag, capsys, tmp_path, cmd="eval")
    else:
        _refused(argv[1:], flag, capsys, tmp_path)


def test_cli_eval_is_seeded(capsys, tmp_path):
    """Two identical `savae-lite eval` calls print identical numbers (test-time SVI and IW samples are random);
    --seed picks another stream."""
    path = str(_untrained_checkpoint(tmp_path / "best.pt"))
    argv = ["eval", path, "--max-examples", "8", "--iw-samples", "3"]
    outputs = []
    for extra in ([], [], ["--seed", "7"]):
        assert main(argv + extra) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    first, other = json.loads(outputs[0]), json.loads(outputs[2])
    assert first["seed"] == 3435 and other["seed"] == 7
    assert first["iw"]["iw_nll"] != other["iw"]["iw_nll"]


def test_cli_huge_finite_loss_is_no_overflow_error(capsys, tmp_path):
    """lr 1e3 drives the loss to huge finite values: the progress bar's perplexity used to raise OverflowError
    (hiding the divergence, without a step number). Now the run either trains on or stops at the step whose loss
    is no longer finite, naming it."""
    code = main(["train", "--quick", "--lr", "1000", "--epochs", "1", "--iw-samples", "0", "--max-steps-per-epoch",
                 "18", "--out-dir", str(tmp_path / "run")])  # with the progress bar
    err = capsys.readouterr().err
    assert "OverflowError" not in err and "Traceback" not in err
    assert code == 0 or (code == 2 and re.search(r"savae-lite train: error: .*(at step \d+|diverged)", err)), err
