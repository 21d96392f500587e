"""The variational family (gaussian.py): sampling, the closed-form KL to the prior and the log-densities."""
import math

import pytest
import torch

from savae_lite import gaussian


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


def test_log_prior_is_the_standard_normal_density():
    z = torch.randn(4, 3, dtype=torch.float64)
    zeros = torch.zeros_like(z)
    torch.testing.assert_close(gaussian.log_prior(z), gaussian.log_density(z, zeros, zeros))
    assert float(gaussian.log_prior(torch.zeros(1, 2, dtype=torch.float64))) == pytest.approx(-math.log(2 * math.pi))


def test_sample_is_the_reparameterisation_and_kl_vanishes_at_the_prior():
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[math.log(4.0), 0.0]])
    eps = torch.tensor([[0.5, -1.0]])
    torch.testing.assert_close(gaussian.sample(mu, logvar, eps), torch.tensor([[2.0, -3.0]]))
    assert float(gaussian.kl_to_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max()) == 0.0
    # 1-d closed form: KL(N(m, s^2) || N(0, 1)) = (m^2 + s^2 - 1 - log s^2) / 2, summed over dimensions
    expected = 0.5 * (1.0 + 4.0 - 1.0 - math.log(4.0)) + 0.5 * 4.0
    assert float(gaussian.kl_to_standard_normal(mu, logvar)) == pytest.approx(expected, rel=1e-6)

