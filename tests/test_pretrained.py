"""Committed checkpoints (pretrained.py): export keeps a finished run in half precision with its config,
vocabulary and record; load gives the same predictions to half-precision accuracy; load_or_train prefers the
file and otherwise trains (and a second call with the exported file does not train)."""
import pytest
import torch

from savae_lite import pretrained
from savae_lite.presets import preset
from savae_lite.svi import SVIConfig


def tiny_cfg(out_dir):
    cfg = preset("ptb-collapse-quick")
    cfg.data.max_sentences, cfg.data.max_len, cfg.data.vocab_size = 60, 10, 200
    cfg.model = {"emb_dim": 8, "enc_hidden": 8, "dec_hidden": 8, "latent_dim": 2}
    cfg.train.mode, cfg.train.epochs, cfg.train.max_steps_per_epoch = "vae", 1, 2
    cfg.train.svi = SVIConfig(steps=2, lr_mu=0.03, lr_logvar=0.03)
    cfg.train.iw_samples, cfg.train.device, cfg.train.progress = 0, "cpu", False
    cfg.train.out_dir = str(out_dir)
    return cfg


def test_export_load_round_trip(tmp_path, monkeypatch):
    cfg = tiny_cfg(tmp_path / "run")
    trained = pretrained.load_or_train(cfg, tmp_path / "missing.pt")
    assert trained.source.startswith("trained") and trained.vocab is not None
    out = pretrained.export(tmp_path / "run", tmp_path / "small.pt")
    ck = torch.load(out, weights_only=True)
    assert all(v.dtype == torch.float16 for v in ck["model"].values() if v.is_floating_point())
    assert ck["record"]["test"] and ck["record"]["environment"]["git_commit"]

    def no_training(*a, **k):
        raise AssertionError("trained although the checkpoint exists")

    monkeypatch.setattr("savae_lite.train.Trainer", no_training)
    loaded = pretrained.load_or_train(cfg, out)
    assert loaded.source == f"checkpoint {out}" and loaded.vocab == trained.vocab and not loaded.model.training
    x = torch.tensor([[2, 5, 6, 7, 3]])
    with torch.no_grad():
        a, b = trained.model.encode(x)[0], loaded.model.encode(x)[0]
    assert torch.allclose(a, b, atol=2e-3) and not torch.equal(a, b)


def test_export_refuses_an_unfinished_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text('{"status": "running"}')
    torch.save({"model": {}}, run / "best.pt")
    with pytest.raises(ValueError, match="not finished"):
        pretrained.export(run, tmp_path / "x.pt")


def test_cli_export_writes_the_checkpoint_and_names_a_bad_folder(tmp_path, capsys):
    from savae_lite.cli import main

    cfg = tiny_cfg(tmp_path / "run")
    pretrained.load_or_train(cfg, None)
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "ck" / "small.pt")]) == 0
    assert pretrained.load(tmp_path / "ck" / "small.pt").vocab is not None
    assert "small.pt" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "nowhere"), str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert "run_dir" in err and "nowhere" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()
