"""A latent-variable model whose posterior and marginal likelihood are exact: the linear Gaussian model.

Chapter: *The amortization gap*.

    z ~ N(0, I_Z),   x | z ~ N(W z + b, sigma^2 I_D)
    p(x) = N(x; b, W W^T + sigma^2 I),   p(z | x) = N(m, S),  S = (I + W^T W / sigma^2)^-1,  m = S W^T (x - b) / sigma^2

The true posterior has a full covariance, so a diagonal q cannot match it: the best diagonal q (in closed form,
:meth:`LinearGaussianVAE.optimal_diagonal_q`) leaves the *approximation gap*; an encoder that cannot output that
best q for every x leaves the *amortization gap* on top.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from savae_lite import gaussian
from savae_lite.models.base import LatentVariableModel


@dataclass
class ToyModelConfig:
    """Sizes of the linear Gaussian toy model: data D, latent Z, the encoder's hidden width (0: a
    linear encoder), the observation noise's standard deviation and whether it is learned.

    Chapters: *The amortization gap* and *Stochastic variational inference*."""

    data_dim: int = 10
    latent_dim: int = 2
    enc_hidden: int = 0  # 0: a linear encoder; > 0: one tanh hidden layer of this width
    noise_std: float = 0.5
    learn_noise: bool = False


class LinearGaussianVAE(LatentVariableModel):
    """Linear Gaussian generative model with an MLP (or linear) encoder; x is float (B, D)."""

    def __init__(self, cfg: ToyModelConfig):
        super().__init__()
        self.cfg = cfg
        self.latent_dim = cfg.latent_dim
        D, Z, H = cfg.data_dim, cfg.latent_dim, cfg.enc_hidden
        layers: list[nn.Module] = [nn.Linear(D, H), nn.Tanh(), nn.Linear(H, 2 * Z)] if H > 0 else [nn.Linear(D, 2 * Z)]
        self.encoder = nn.Sequential(*layers)
        self.W = nn.Parameter(torch.randn(D, Z) / math.sqrt(Z))
        self.b = nn.Parameter(torch.zeros(D))
        self.log_std = nn.Parameter(torch.tensor(math.log(cfg.noise_std)), requires_grad=cfg.learn_noise)

    def encode(self, x):
        """x (B, D) -> mu (B, Z), logvar (B, Z)."""
        mu, logvar = self.encoder(x).chunk(2, -1)
        return mu, logvar

    def neg_log_lik(self, x, z):
        """x (B, D), z (B, Z) -> (B,) = -log N(x; W z + b, sigma^2 I)."""
        mean = z @ self.W.T + self.b
        var = torch.exp(2 * self.log_std)
        return 0.5 * ((x - mean).pow(2) / var + math.log(2 * math.pi) + 2 * self.log_std).sum(-1)

    def num_targets(self, x):
        """x (B, D) -> (B,) filled with D (float)."""
        return torch.full((x.shape[0],), float(x.shape[1]), dtype=x.dtype, device=x.device)

    # ---- exact quantities -------------------------------------------------------------------------
    def _posterior_precision(self) -> torch.Tensor:
        var = torch.exp(2 * self.log_std)
        return torch.eye(self.latent_dim, dtype=self.W.dtype, device=self.W.device) + self.W.T @ self.W / var

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x), (B,)."""
        eye = torch.eye(self.cfg.data_dim, dtype=x.dtype, device=x.device)
        cov = self.W @ self.W.T + torch.exp(2 * self.log_std) * eye
        dist = torch.distributions.MultivariateNormal(self.b, covariance_matrix=cov)
        return dist.log_prob(x)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact p(z | x): mean (B, Z) and covariance (Z, Z) (shared by all x)."""
        S = torch.linalg.inv(self._posterior_precision())
        m = (x - self.b) @ self.W @ S / torch.exp(2 * self.log_std)
        return m, S

    def optimal_diagonal_q(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """argmax over diagonal Gaussians of the ELBO: mean = posterior mean, var_j = 1 / Lambda_jj (Lambda =
        posterior precision). Returns (mu, logvar), each (B, Z)."""
        m, _ = self.posterior(x)
        prec_diag = torch.diagonal(self._posterior_precision())
        return m, (-torch.log(prec_diag)).expand_as(m)

    def exact_elbo(self, x, mu, logvar) -> torch.Tensor:
        """ELBO(x; mu, logvar) computed without sampling (Gaussian expectations in closed form), (B,)."""
        var = torch.exp(2 * self.log_std)
        mean = mu @ self.W.T + self.b
        # E_q ||x - W z - b||^2 = ||x - W mu - b||^2 + sum_j ||W_:j||^2 exp(logvar_j)
        sq = (x - mean).pow(2).sum(-1) + (torch.exp(logvar) * self.W.pow(2).sum(0)).sum(-1)
        exp_ll = -0.5 * (sq / var + self.cfg.data_dim * (math.log(2 * math.pi) + 2 * self.log_std))
        return exp_ll - gaussian.kl_to_standard_normal(mu, logvar)

    @torch.no_grad()
    def sample_data(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw n points x ~ p(x), (n, D)."""
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=self.W.dtype)
        noise = torch.randn(n, self.cfg.data_dim, generator=generator, dtype=self.W.dtype)
        return z @ self.W.T + self.b + torch.exp(self.log_std) * noise
