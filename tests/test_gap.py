"""The amortization-gap helpers (gap.py): the toy problem, the exact gaps, toy fits and SVI paths."""
import math

import pytest
import torch

from savae_lite import gap
from savae_lite.models.toy import LinearGaussianVAE, ToyModelConfig
from savae_lite.runtime import set_seed
from savae_lite.svi import SVIConfig, svi


@pytest.fixture
def problem():
    return gap.make_toy_problem(n_train=64, n_test=32, column_cos=0.6, seed=3)


def test_toy_problem_shapes_and_geometry(problem):
    m = problem.model
    assert problem.x_train.shape == (64, 10) and problem.x_test.shape == (32, 10)
    expected = 1.5**2 * torch.tensor([[1.0, 0.6], [0.6, 1.0]])
    torch.testing.assert_close(m.W.T @ m.W, expected, atol=1e-5, rtol=1e-5)
    assert not any(p.requires_grad for p in m.parameters())
    again = gap.make_toy_problem(n_train=64, n_test=32, column_cos=0.6, seed=3)
    torch.testing.assert_close(again.x_test, problem.x_test)
    with pytest.raises(ValueError, match="column_cos"):
        gap.make_toy_problem(column_cos=1.0)


def test_optimal_linear_encoder_closes_the_amortization_gap(problem):
    model = gap.load_optimal_linear_encoder(gap.with_fixed_decoder(problem.model, enc_hidden=0))
    rep = gap.gap_report(model, problem.x_test)
    assert rep.amortization_gap.abs().max() < 1e-4
    # the approximation gap is the KL from the best diagonal q to the exact posterior
    mu, logvar = model.optimal_diagonal_q(problem.x_test)
    m, S = model.posterior(problem.x_test)
    kl = gap.kl_diag_to_full(mu, logvar, m, S)
    torch.testing.assert_close(rep.approximation_gap, kl, atol=1e-4, rtol=1e-4)
    # for Z = 2 and q* with the posterior's mean it is -1/2 log(1 - rho^2), rho the posterior correlation
    rho = S[0, 1] / torch.sqrt(S[0, 0] * S[1, 1])
    assert float(kl[0]) == pytest.approx(-0.5 * math.log(1 - float(rho) ** 2), rel=1e-4)
    table = rep.as_dict()
    assert set(table) == {"log p(x)", "best ELBO", "encoder ELBO", "approximation gap", "amortization gap"}
    assert len(table["log p(x)"]) == 32
    means = rep.mean()
    assert means["log p(x)"] >= means["best ELBO"] - 1e-5


def test_best_diagonal_q_beats_perturbations(problem):
    m = problem.model
    x = problem.x_test[:8]
    mu, logvar = m.optimal_diagonal_q(x)
    best = m.exact_elbo(x, mu, logvar)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        d_mu, d_lv = 0.05 * torch.randn(mu.shape, generator=g), 0.05 * torch.randn(mu.shape, generator=g)
        assert bool((m.exact_elbo(x, mu + d_mu, logvar + d_lv) < best).all())


def test_uncorrelated_columns_have_no_approximation_gap():
    p = gap.make_toy_problem(n_train=8, n_test=16, column_cos=0.0, seed=1)
    rep = gap.gap_report(gap.with_fixed_decoder(p.model), p.x_test)
    assert rep.approximation_gap.abs().max() < 1e-4


def test_fit_toy_fixed_decoder_trains_only_the_encoder(problem):
    before = gap.gap_report(gap.with_fixed_decoder(problem.model, enc_hidden=4, seed=0), problem.x_train)
    fit = gap.fit_toy(problem.x_train, enc_hidden=4, decoder=problem.model, steps=150, lr=2e-2, seed=0)
    torch.testing.assert_close(fit.model.W, problem.model.W)
    torch.testing.assert_close(fit.model.b, problem.model.b)
    after = gap.gap_report(fit.model, problem.x_train)
    assert float(after.amortization_gap.mean()) < 0.5 * float(before.amortization_gap.mean())
    assert len(fit.losses) == 150 and fit.seconds > 0


def test_fit_toy_joint_and_svi_modes_run(problem):
    fit = gap.fit_toy(problem.x_train, mode="vae", steps=20, batch_size=16, seed=0)
    assert fit.model.W.requires_grad and len(fit.losses) == 20
    # joint training moves the decoder away from its initialisation (fit_toy seeds it with set_seed(seed))
    set_seed(0)
    init = LinearGaussianVAE(ToyModelConfig(data_dim=problem.x_train.shape[1]))
    assert not torch.equal(fit.model.W, init.W) and not torch.equal(fit.model.b, init.b)
    torch.testing.assert_close(fit.model.log_std, init.log_std)  # the noise is not learned (learn_noise=False)
    fit = gap.fit_toy(problem.x_train, mode="vae+svi", steps=3, svi_cfg=SVIConfig(steps=2), seed=0)
    assert all(math.isfinite(v) for v in fit.losses)


def test_capacity_sweep_rows(problem):
    rows = gap.capacity_sweep(problem, widths=[0, 2], n_train_sizes=[16, 32], steps=3)
    assert len(rows) == 4
    assert {r["enc_hidden"] for r in rows} == {0, 2} and {r["n_train"] for r in rows} == {16, 32}
    assert all(r["test gap"] >= -1e-5 for r in rows)
    with pytest.raises(ValueError, match="n_train"):
        gap.capacity_sweep(problem, widths=[0], n_train_sizes=[1000], steps=1)


def test_svi_path_replays_one_trajectory(problem):
    m, x = problem.model, problem.x_test[:5]
    zeros = torch.zeros(5, 2)
    cfg = SVIConfig(steps=99, lr_mu=0.01, lr_logvar=0.01)
    path = gap.svi_path(m, x, zeros, zeros, cfg, checkpoints=[7, 0, 3], seed=11)
    assert [k for k, _, _ in path] == [0, 3, 7]
    torch.testing.assert_close(path[0][1], zeros)
    torch.manual_seed(11)
    mu7, lv7 = svi(m, x, zeros, zeros, SVIConfig(steps=7, lr_mu=0.01, lr_logvar=0.01))
    torch.testing.assert_close(path[2][1], mu7)
    torch.testing.assert_close(path[2][2], lv7)


def test_compare_gaps_reads_the_numbers_it_is_given():
    # the chapter's quick run: the 64-unit network (0.024) beats the linear encoder (0.052); full run: a tie
    assert gap.compare_gaps(0.052, 0.024) == "larger than"
    assert gap.compare_gaps(0.024, 0.052) == "smaller than"
    assert gap.compare_gaps(0.021, 0.026) == "about as small as"  # within GAP_ABS_TOL
    assert gap.compare_gaps(0.139, 0.120) == "about as small as"  # within GAP_REL_TOL of the larger
    assert gap.compare_gaps(0.050, 0.270) == "smaller than"
    assert gap.compare_gaps(1.0, 1.2, rel_tol=0.1) == "smaller than"


def test_catch_up_words():
    # momentum: no momentum trails beta = 0.5; after 100 steps it is still behind, after 300 it has caught up
    assert gap.catch_up(1.079, 0.372) == "is still behind"
    assert gap.catch_up(0.122, 0.116) == "has caught up with"
    assert gap.catch_up(0.05, 0.116) == "has overtaken"


def test_how_many():
    assert gap.how_many(6, 6, "encoder") == "every encoder"
    assert gap.how_many(4, 6, "encoder") == "4 of 6 encoders"
    assert gap.how_many(0, 6, "encoder") == "no encoder"
    with pytest.raises(ValueError):
        gap.how_many(7, 6, "encoder")
