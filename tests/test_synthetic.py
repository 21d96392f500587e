"""The synthetic experiment: the oracle, its samples, a micro run of every mode and the CLI entry point."""
import pytest
import torch

from savae_lite import experiments
from savae_lite.cli import main
from savae_lite.synthetic import FIRST_WORD, SYNTHETIC_MODES, SyntheticConfig, make_oracle, run_synthetic, sample_corpus


def micro_oracle(seed=0):
    return make_oracle(SyntheticConfig.micro().model_config(), seed)


def test_oracle_is_deterministic_in_its_seed():
    a, b, c = micro_oracle(0), micro_oracle(0), micro_oracle(1)
    for pa, pb, pc in zip(a.decoder.parameters(), b.decoder.parameters(), c.decoder.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.decoder.rnn.weight_hh_l0, c.decoder.rnn.weight_hh_l0)


def test_samples_have_the_right_shape_and_are_reproducible():
    oracle = micro_oracle()
    x1, z1 = sample_corpus(oracle, 7, 5, torch.Generator().manual_seed(3), return_z=True)
    x2 = sample_corpus(oracle, 7, 5, torch.Generator().manual_seed(3))
    x3 = sample_corpus(oracle, 7, 5, torch.Generator().manual_seed(4))
    assert x1.shape == (7, 6) and x1.dtype == torch.long and z1.shape == (7, oracle.latent_dim)
    assert torch.equal(x1, x2) and not torch.equal(x1, x3)
    assert (x1[:, 0] == 2).all() and (x1[:, 1:] >= FIRST_WORD).all() and (x1 < oracle.cfg.vocab_size).all()


def test_sampling_with_a_given_z():
    oracle = micro_oracle()
    z = torch.tensor([[0.5, -1.0]]).expand(3, -1)
    x, z_out = sample_corpus(oracle, 3, 4, torch.Generator().manual_seed(0), return_z=True, z=z)
    assert x.shape == (3, 5) and torch.equal(z_out, z)
    with pytest.raises(ValueError, match="shape"):
        sample_corpus(oracle, 2, 4, torch.Generator(), z=z)


def test_sampling_does_not_touch_the_global_rng():
    oracle = micro_oracle()
    torch.manual_seed(0)
    before = torch.get_rng_state()
    sample_corpus(oracle, 3, 4, torch.Generator().manual_seed(0))
    assert torch.equal(before, torch.get_rng_state())


def test_oracle_rejects_dropout():
    cfg = SyntheticConfig.micro().model_config()
    cfg.dropout = 0.1
    with pytest.raises(ValueError, match="dropout"):
        make_oracle(cfg, 0)


def test_micro_run_has_every_row_and_true_nll_below_the_oracle_bounds(tmp_path):
    out = run_synthetic(cfg=SyntheticConfig.micro(), seed=1, device="cpu", log=None, work_dir=tmp_path)
    rows = out["rows"]
    seeds = sorted({r["seed"] for r in rows})
    assert len(seeds) == SyntheticConfig.micro().seeds
    assert [(r["seed"], r["setting"], r["mode"]) for r in rows] == [
        (seed, s, m) for seed in seeds for s in ("Oracle Gen", "Learned Gen") for m in SYNTHETIC_MODES]
    true = out["true_nll"]["true_nll"]
    assert out["true_nll"]["true_nll_se"] > 0 and "upper-biased" in out["true_nll"]["estimator"]
    for r in rows:
        assert r["bound"] > 0 and r["kl"] >= 0
        if r["setting"] == "Oracle Gen":  # bounds of the oracle itself
            assert true <= r["bound"], r
    assert out["dataset"]["sentences"] == {"train": 40, "valid": 10, "test": 10}
    assert all("iw_nll" in r for r in rows if r["setting"] == "Learned Gen")


def test_unknown_experiment_is_a_clear_error(capsys):
    with pytest.raises(ValueError, match="synthetic"):
        experiments.run("nope")
    assert main(["experiment", "nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "synthetic" in err


def test_summary_is_the_mean_and_sd_over_seeds_and_a_rerun_resumes(tmp_path):
    import statistics

    cfg = SyntheticConfig.micro()
    out = run_synthetic(cfg=cfg, seed=2, device="cpu", log=None, work_dir=tmp_path)
    for entry in out["summary"]:
        mine = [r["bound"] for r in out["rows"] if (r["setting"], r["mode"]) == (entry["setting"], entry["mode"])]
        assert entry["seeds"] == len(mine) == cfg.seeds
        assert entry["bound"] == pytest.approx(statistics.fmean(mine), abs=1e-4)
        assert entry["bound_sd"] == pytest.approx(statistics.stdev(mine), abs=1e-4)
    logs = []
    again = run_synthetic(cfg=cfg, seed=2, device="cpu", log=logs.append, work_dir=tmp_path)
    assert sum("done earlier" in line for line in logs) == len(out["rows"])  # nothing trained again
    assert [r["bound"] for r in again["rows"]] == [r["bound"] for r in out["rows"]]
    logs = []  # another oracle seed (or quick mode, or config) never reuses these units
    run_synthetic(cfg=cfg, seed=3, device="cpu", log=logs.append, work_dir=tmp_path, seed_indices=[0])
    assert not any("done earlier" in line for line in logs)
    assert len([d for d in tmp_path.iterdir() if d.is_dir()]) == 2


def test_training_stops_when_validation_stops_improving():
    from savae_lite.synthetic import batches_of, fit

    cfg = SyntheticConfig.micro()
    cfg.epochs, cfg.patience, cfg.lr = 12, 1, 0.0  # lr 0: the bound only moves by Monte-Carlo noise
    oracle = make_oracle(cfg.model_config(), 0)
    data = sample_corpus(oracle, 20, cfg.length, torch.Generator().manual_seed(0))
    from savae_lite.models.text import TextVAE

    info = fit(TextVAE(cfg.model_config()), "vae", data, batches_of(data, 10), cfg, train_generator=True, seed=0)
    assert info["epochs_run"] == info["best_epoch"] + cfg.patience < cfg.epochs


def test_output_form_generator_uses_z_only_at_the_output():
    cfg = SyntheticConfig.micro().model_config()
    assert cfg.z_at == "output"
    oracle = make_oracle(cfg, 0)
    dec = oracle.decoder
    assert dec.h0 is None and dec.mix is not None and dec.rnn.input_size == cfg.emb_dim
    x = sample_corpus(oracle, 3, 4, torch.Generator().manual_seed(0))
    z1, z2 = torch.zeros(3, cfg.latent_dim), torch.ones(3, cfg.latent_dim)
    assert not torch.allclose(oracle.neg_log_lik(x, z1), oracle.neg_log_lik(x, z2))
