"""The command line: help texts, clear errors, a quick training run and evaluation of its checkpoint."""
import json

import pytest

from savae_lite.cli import build_parser, config_from_args, main


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--mode", "--hvp", "--train-svi-steps", "--test-svi-steps", "--kl-start", "--device", "--data-dir", "--quick", "--on-nan"):
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
    assert main(["eval", str(out / "best.pt"), "--max-examples", "8", "--out", str(tmp_path / "e.json")]) == 0
    metrics = json.loads((tmp_path / "e.json").read_text())
    assert metrics["refine"]["examples"] == 8 and metrics["no_refine"]["nll_bound"] > 0
