import math

import pytest
import torch

from savae_lite import gaussian, objectives
from savae_lite.models.toy import LinearGaussianVAE, ToyModelConfig


def test_kl_closed_form_matches_monte_carlo():
    torch.manual_seed(0)
    mu = torch.randn(3, 4, dtype=torch.float64)
    logvar = torch.randn(3, 4, dtype=torch.float64) * 0.5
    z = gaussian.sample(mu.unsqueeze(0).expand(200_000, -1, -1), logvar.unsqueeze(0).expand(200_000, -1, -1))
    mc = (gaussian.log_density(z, mu, logvar) - gaussian.log_prior(z)).mean(0)
    assert torch.allclose(mc, gaussian.kl_to_standard_normal(mu, logvar), atol=0.03)


def test_log_density_matches_torch_distributions():
    mu, logvar, z = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    ref = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    assert torch.allclose(gaussian.log_density(z, mu, logvar), ref, atol=1e-5)


@pytest.fixture
def toy():
    torch.manual_seed(0)
    model = LinearGaussianVAE(ToyModelConfig(data_dim=5, latent_dim=2, noise_std=0.6)).double()
    x = model.sample_data(16, torch.Generator().manual_seed(2))
    return model, x


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


def test_optimal_diagonal_q_is_a_maximum(toy):
    model, x = toy
    mu, lv = model.optimal_diagonal_q(x)
    best = model.exact_elbo(x, mu, lv)
    assert (best <= model.log_marginal(x) + 1e-9).all()
    for _ in range(5):
        assert (model.exact_elbo(x, mu + 0.05 * torch.randn_like(mu), lv + 0.05 * torch.randn_like(lv)) <= best + 1e-9).all()


def test_mutual_information_bounds():
    torch.manual_seed(0)
    # identical posteriors: z carries no information about x
    mu = torch.zeros(64, 3)
    assert abs(objectives.mutual_information(mu, torch.zeros(64, 3))) < 0.3
    # well separated posteriors: MI close to log B
    mu = torch.randn(512, 3) * 50
    mi = objectives.mutual_information(mu, torch.full((512, 3), -4.0))
    assert abs(mi - math.log(512)) < 0.25


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


def test_spread_subset_takes_examples_across_batches():
    from savae_lite.evaluate import spread_subset

    batches = [torch.full((4, 2), i) for i in range(5)]  # 20 examples, batch i holds value i
    sub = spread_subset(batches, 5)
    assert sum(x.shape[0] for x in sub) == 5
    assert sorted({int(x[0, 0]) for x in sub}) == [0, 1, 2, 3, 4]
    assert spread_subset(batches, None) == batches
