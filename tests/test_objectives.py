"""Objectives and metrics (objectives.py): the sampled ELBO, IW-NLL, mutual information, active units,
perplexity and KL annealing."""
import math

import pytest
import torch

from savae_lite import objectives


def test_exact_elbo_matches_sampled_elbo(toy):
    model, x = toy
    mu, lv = model.encode(x)
    S = 20_000
    draws = -objectives.neg_elbo(model, x.repeat(S, 1), mu.repeat(S, 1), lv.repeat(S, 1)).view(S, -1)
    se = draws.std(0) / S**0.5
    assert ((draws.mean(0) - model.exact_elbo(x, mu, lv)).abs() < 4 * se + 1e-6).all()


def _repeated_iw(model, x, mu, lv, S, reps):
    B = x.shape[0]
    est = objectives.iw_nll(model, x.repeat(reps, 1), mu.repeat(reps, 1), lv.repeat(reps, 1), S,
                            max_rows=50_000).view(reps, B)
    return est.mean(0), est.std(0) / reps**0.5


def test_iw_nll_ordering_and_convergence(toy):
    """S = 1 equals -ELBO in expectation; the estimate decreases with S towards -log p(x) (exact here)."""
    model, x = toy
    mu, lv = model.encode(x)
    torch.manual_seed(1)
    neg_elbo = -model.exact_elbo(x, mu, lv)
    s1, se1 = _repeated_iw(model, x, mu, lv, 1, 20_000)
    assert ((s1 - neg_elbo).abs() < 4 * se1).all()
    iw10, se10 = _repeated_iw(model, x, mu, lv, 10, 2_000)
    iw100, se100 = _repeated_iw(model, x, mu, lv, 100, 200)
    exact = -model.log_marginal(x)
    assert (iw10 < neg_elbo).all()
    assert (iw100 < iw10 + 4 * se10).all()
    assert (iw100 > exact - 4 * se100).all()
    # with a good proposal (the best diagonal q) 5000 samples reach the exact value
    iw5000 = objectives.iw_nll(model, x, *model.optimal_diagonal_q(x), 5000, max_rows=20_000)
    assert torch.allclose(iw5000, exact, atol=0.02)


def test_mutual_information_bounds():
    """The docstring's promises: a collapsed posterior (every q(z|x) the same) gives exactly 0 (the noise of the
    shared draw cancels); posteriors so far apart that each z is explained by its own x alone give log N."""
    torch.manual_seed(0)
    # identical posteriors: z carries no information about x -- zero up to float32 round-off, not noise
    mu = torch.zeros(64, 3)
    assert abs(objectives.mutual_information(mu, torch.zeros(64, 3))) < 1e-5
    assert abs(objectives.mutual_information(torch.full((64, 3), 1.7), torch.full((64, 3), -0.6))) < 1e-5
    # the same with several chunks (the aggregate posterior must still be the mixture of all N posteriors)
    assert abs(objectives.mutual_information(torch.zeros(50, 2), torch.zeros(50, 2), chunk=7)) < 1e-5
    # well separated posteriors: MI close to log B
    mu = torch.randn(512, 3) * 50
    mi = objectives.mutual_information(mu, torch.full((512, 3), -4.0))
    assert abs(mi - math.log(512)) < 1e-4


def test_active_units():
    means = torch.cat([torch.randn(100, 2), torch.full((100, 1), 3.0) + 0.001 * torch.randn(100, 1)], 1)
    count, var = objectives.active_units(means)
    assert count == 2 and var.shape == (3,)


def test_perplexity_and_kl_annealing():
    assert objectives.perplexity(10 * math.log(5.0), 10) == pytest.approx(5.0)
    assert objectives.kl_weight_at(0, 0.1, 100) == pytest.approx(0.1)
    assert objectives.kl_weight_at(50, 0.1, 100) == pytest.approx(0.55)
    assert objectives.kl_weight_at(500, 0.1, 100) == 1.0
    assert objectives.kl_weight_at(0, 0.1, 0) == 1.0
