"""The command line (cli.py): help texts, clear errors that name the bad option, a quick training run and
evaluation of its checkpoint (also of a checkpoint that does not fit its config)."""
import json
import re

import pytest

from savae_lite import checkpoint
from savae_lite.cli import build_parser, config_from_args, main
from savae_lite.data import load_text


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
    from savae_lite.config import preset

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

