"""The linear Gaussian VAE (models/toy.py): its exact posterior, marginal and best diagonal q."""
import torch

from savae_lite import gaussian


def test_optimal_diagonal_q_is_a_maximum(toy):
    model, x = toy
    mu, lv = model.optimal_diagonal_q(x)
    best = model.exact_elbo(x, mu, lv)
    assert (best <= model.log_marginal(x) + 1e-9).all()
    for _ in range(5):
        moved = model.exact_elbo(x, mu + 0.05 * torch.randn_like(mu), lv + 0.05 * torch.randn_like(lv))
        assert (moved <= best + 1e-9).all()


def test_exact_posterior_satisfies_bayes_rule(toy):
    """log p(z | x) = log p(x | z) + log p(z) - log p(x) at any z: posterior, likelihood and marginal agree."""
    model, x = toy
    with torch.no_grad():
        m, S = model.posterior(x)
        z = torch.randn(x.shape[0], model.latent_dim, dtype=x.dtype)
        post = torch.distributions.MultivariateNormal(m, covariance_matrix=S).log_prob(z)
        bayes = -model.neg_log_lik(x, z) + gaussian.log_prior(z) - model.log_marginal(x)
    torch.testing.assert_close(post, bayes, atol=1e-9, rtol=1e-9)
