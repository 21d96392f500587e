"""Measuring the approximation and amortization gaps on the linear Gaussian toy model (Cremer et al., 2018).

Chapter: *The amortization gap* (and *SVI*, which closes the gap one example at a time).

For a data point x and a diagonal Gaussian q(z; lambda), lambda = (mu, logvar)::

    log p(x) = ELBO(x; lambda) + KL(q(z; lambda) || p(z | x))

and the encoder's shortfall splits into two non-negative parts::

    log p(x) - ELBO(x; enc(x))
        = [log p(x) - ELBO(x; lambda*)]  +  [ELBO(x; lambda*) - ELBO(x; enc(x))]
             approximation gap                 amortization gap

where lambda* is the best diagonal Gaussian for this x. On :class:`~savae_lite.models.toy.LinearGaussianVAE`
all three numbers are exact (no sampling): ``log_marginal``, ``optimal_diagonal_q`` and ``exact_elbo``.

Everything here is a thin layer over the package: models are trained on :class:`savae_lite.loop.TrainingLoop`
and refined with :func:`savae_lite.svi.svi`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn

from savae_lite.loop import TrainingLoop
from savae_lite.models.toy import LinearGaussianVAE, ToyModelConfig
from savae_lite.runtime import set_seed
from savae_lite.svi import SVIConfig, svi

__all__ = [
    "ToyProblem", "make_toy_problem", "with_fixed_decoder", "FitResult", "fit_toy", "GapReport", "gap_report",
    "kl_diag_to_full", "optimal_linear_encoder", "load_optimal_linear_encoder", "capacity_sweep", "svi_path",
    "GAP_REL_TOL", "GAP_ABS_TOL", "compare_gaps", "catch_up", "how_many",
]


# ---- the data-generating model ---------------------------------------------------------------------------
@dataclass
class ToyProblem:
    """A fixed "true" linear Gaussian model (parameters frozen) and data sampled from it, (N, D) each."""

    model: LinearGaussianVAE
    x_train: torch.Tensor
    x_test: torch.Tensor


def make_toy_problem(n_train: int = 1000, n_test: int = 500, *, data_dim: int = 10, latent_dim: int = 2,
                     noise_std: float = 0.5, column_norm: float = 1.5, column_cos: float = 0.8, seed: int = 0,
                     device: str | torch.device = "cpu") -> ToyProblem:
    """Build the true model x = W z + b + noise_std * eps and sample train / test data from it.

    The columns of W all have norm ``column_norm`` and pairwise cosine ``column_cos``, so that
    W^T W = column_norm^2 * C with C the equicorrelation matrix. A non-zero cosine makes the exact posterior
    p(z | x) correlated, which a diagonal q cannot represent (the approximation gap); ``column_cos=0`` gives
    a diagonal posterior and no approximation gap. b is drawn from N(0, I). Deterministic given ``seed``.
    """
    if not -1.0 / max(latent_dim - 1, 1) < column_cos < 1.0:
        raise ValueError(f"column_cos must lie in (-1/(Z-1), 1) for a valid W; got {column_cos}")
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(data_dim, latent_dim, generator=g))  # orthonormal columns (D, Z)
    corr = (1 - column_cos) * torch.eye(latent_dim) + column_cos * torch.ones(latent_dim, latent_dim)
    W = column_norm * q @ torch.linalg.cholesky(corr).T  # W^T W = column_norm^2 * corr
    model = LinearGaussianVAE(ToyModelConfig(data_dim=data_dim, latent_dim=latent_dim, noise_std=noise_std))
    with torch.no_grad():
        model.W.copy_(W)
        model.b.copy_(torch.randn(data_dim, generator=g))
    model.requires_grad_(False)
    x = model.sample_data(n_train + n_test, generator=g)
    model = model.to(device)
    return ToyProblem(model=model, x_train=x[:n_train].to(device), x_test=x[n_train:].to(device))


def with_fixed_decoder(decoder: LinearGaussianVAE, enc_hidden: int = 0, seed: int = 0) -> LinearGaussianVAE:
    """A new model with a fresh encoder of width ``enc_hidden`` (0: linear) and a frozen copy of
    ``decoder``'s generative parameters (W, b, noise) — the "oracle generator" set-up."""
    set_seed(seed)
    cfg = ToyModelConfig(**{**decoder.cfg.__dict__, "enc_hidden": enc_hidden})
    model = LinearGaussianVAE(cfg).to(decoder.W.device)
    with torch.no_grad():
        for name in ("W", "b", "log_std"):
            getattr(model, name).copy_(getattr(decoder, name))
    for p in model.decoder_parameters():
        p.requires_grad_(False)
    return model


# ---- training ------------------------------------------------------------------------------------------
@dataclass
class FitResult:
    """A trained toy model, its training loss per step (batch-mean -ELBO estimate, nats) and wall time (s)."""

    model: LinearGaussianVAE
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def fit_toy(x_train: torch.Tensor, *, enc_hidden: int = 0, decoder: LinearGaussianVAE | None = None,
            mode: str = "vae", steps: int = 1000, lr: float = 1e-2, batch_size: int | None = None,
            svi_cfg: SVIConfig | None = None, seed: int = 0) -> FitResult:
    """Train a :class:`~savae_lite.models.toy.LinearGaussianVAE` on ``x_train`` (N, D) with Adam on
    :class:`~savae_lite.loop.TrainingLoop`.

    ``decoder=None``: encoder and decoder are learned jointly from a random initialisation. Otherwise the
    decoder is a frozen copy of ``decoder`` and only the encoder is trained (see :func:`with_fixed_decoder`).
    ``mode`` is any latent training mode of :mod:`savae_lite.modes` (``vae``, ``svi``, ``vae+svi``, ...),
    with ``svi_cfg`` for the modes that run SVI. ``batch_size=None`` uses the full training set every step;
    otherwise batches are drawn at random (with a generator seeded by ``seed``). No gradient clipping, no KL
    annealing.
    """
    if decoder is None:
        set_seed(seed)
        model = LinearGaussianVAE(ToyModelConfig(data_dim=x_train.shape[1], enc_hidden=enc_hidden)).to(x_train.device)
    else:
        model = with_fixed_decoder(decoder, enc_hidden, seed)
    loop = TrainingLoop(model, mode, svi_cfg if svi_cfg is not None else SVIConfig(), optimizer="adam", lr=lr,
                        grad_clip=0.0)
    g = torch.Generator().manual_seed(seed)
    n = x_train.shape[0]
    losses = []
    start = time.perf_counter()
    for _ in range(steps):
        if batch_size is None or batch_size >= n:
            x = x_train
        else:
            x = x_train[torch.randint(0, n, (batch_size,), generator=g).to(x_train.device)]
        stats = loop.step(x)
        losses.append(stats.loss / stats.n)
    return FitResult(model=model, losses=losses, seconds=time.perf_counter() - start)


# ---- the gaps ------------------------------------------------------------------------------------------
@dataclass
class GapReport:
    """Exact per-example quantities (N,) in nats for one model and one data set."""

    log_px: torch.Tensor  # log p(x)
    best_elbo: torch.Tensor  # ELBO at the best diagonal q (lambda*)
    encoder_elbo: torch.Tensor  # ELBO at the encoder's q (enc(x))

    @property
    def approximation_gap(self) -> torch.Tensor:
        """log p(x) - ELBO(lambda*) = KL(q_lambda* || p(z | x)) >= 0."""
        return self.log_px - self.best_elbo

    @property
    def amortization_gap(self) -> torch.Tensor:
        """ELBO(lambda*) - ELBO(enc(x)) >= 0."""
        return self.best_elbo - self.encoder_elbo

    def as_dict(self) -> dict[str, list[float]]:
        """Columns for a table (e.g. ``pandas.DataFrame(report.as_dict())``)."""
        cols = {"log p(x)": self.log_px, "best ELBO": self.best_elbo, "encoder ELBO": self.encoder_elbo,
                "approximation gap": self.approximation_gap, "amortization gap": self.amortization_gap}
        return {k: v.detach().cpu().tolist() for k, v in cols.items()}

    def mean(self) -> dict[str, float]:
        """Averages over the examples of every column of :meth:`as_dict`."""
        return {k: sum(v) / len(v) for k, v in self.as_dict().items()}


@torch.no_grad()
def gap_report(model: LinearGaussianVAE, x: torch.Tensor) -> GapReport:
    """log p(x), best diagonal ELBO and encoder ELBO of ``model`` on x (N, D), all exact."""
    mu_star, logvar_star = model.optimal_diagonal_q(x)
    mu_enc, logvar_enc = model.encode(x)
    return GapReport(log_px=model.log_marginal(x), best_elbo=model.exact_elbo(x, mu_star, logvar_star),
                     encoder_elbo=model.exact_elbo(x, mu_enc, logvar_enc))


def kl_diag_to_full(mu: torch.Tensor, logvar: torch.Tensor, m: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(m, S)) for mu, logvar, m (B, Z) and one covariance S (Z, Z) -> (B,).

    Used to check that the approximation gap is exactly the KL from the best diagonal q to the posterior.
    """
    Z = mu.shape[-1]
    P = torch.linalg.inv(S)
    d = m - mu
    trace = (torch.diagonal(P) * logvar.exp()).sum(-1)
    maha = ((d @ P) * d).sum(-1)
    return 0.5 * (trace + maha - Z + torch.logdet(S) - logvar.sum(-1))


@torch.no_grad()
def optimal_linear_encoder(model: LinearGaussianVAE) -> tuple[torch.Tensor, torch.Tensor]:
    """The affine map x -> lambda*(x) of the toy model: weight (2Z, D) and bias (2Z,).

    mu*(x) = S W^T (x - b) / sigma^2 is affine in x and logvar* = -log diag(Lambda) does not depend on x, so a
    *linear* encoder can reach amortization gap 0 (for this model only).
    """
    _, S = model.posterior(model.b.unsqueeze(0))
    A = S @ model.W.T / torch.exp(2 * model.log_std)  # (Z, D)
    _, logvar = model.optimal_diagonal_q(model.b.unsqueeze(0))
    weight = torch.cat([A, torch.zeros_like(A)], 0)
    bias = torch.cat([-A @ model.b, logvar[0]], 0)
    return weight, bias


def load_optimal_linear_encoder(model: LinearGaussianVAE) -> LinearGaussianVAE:
    """Set a linear encoder (``enc_hidden=0``) to :func:`optimal_linear_encoder`; returns ``model``."""
    layer = model.encoder[0]
    if len(model.encoder) != 1 or not isinstance(layer, nn.Linear):
        raise ValueError("load_optimal_linear_encoder needs a linear encoder (ToyModelConfig.enc_hidden = 0)")
    weight, bias = optimal_linear_encoder(model)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return model


def capacity_sweep(problem: ToyProblem, widths: list[int], n_train_sizes: list[int], *, steps: int = 1000,
                   lr: float = 1e-2, seeds: tuple[int, ...] = (0,)) -> list[dict]:
    """Train one encoder per (width, training-set size, seed) against the true (fixed) decoder and measure
    the mean amortization gap on the training points it saw and on the held-out points.

    Returns one dict per run: ``enc_hidden`` (0 = linear), ``n_train``, ``seed``, ``train gap``,
    ``test gap`` (nats, averaged over examples) and ``seconds``.
    """
    rows = []
    for n_train in n_train_sizes:
        if n_train > problem.x_train.shape[0]:
            raise ValueError(f"n_train={n_train} exceeds the {problem.x_train.shape[0]} training points")
        x = problem.x_train[:n_train]
        for width in widths:
            for seed in seeds:
                fit = fit_toy(x, enc_hidden=width, decoder=problem.model, steps=steps, lr=lr, seed=seed)
                rows.append({"enc_hidden": width, "n_train": n_train, "seed": seed,
                             "train gap": float(gap_report(fit.model, x).amortization_gap.mean()),
                             "test gap": float(gap_report(fit.model, problem.x_test).amortization_gap.mean()),
                             "seconds": fit.seconds})
    return rows


# ---- SVI trajectories ----------------------------------------------------------------------------------
def svi_path(model, x: torch.Tensor, mu0: torch.Tensor, logvar0: torch.Tensor, cfg: SVIConfig,
             checkpoints: list[int], seed: int = 0) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    """The SVI iterate lambda_K = (mu_K, logvar_K) at each K in ``checkpoints`` (one trajectory).

    :func:`savae_lite.svi.svi` returns only its last iterate; re-running it for K steps with the same seed
    replays the same noise, so each returned iterate lies on the same path. Costs sum(checkpoints) steps.
    """
    out = []
    for K in sorted(set(int(k) for k in checkpoints)):
        if K < 0:
            raise ValueError(f"checkpoints must be >= 0, got {K}")
        torch.manual_seed(seed)
        mu, logvar = svi(model, x, mu0, logvar0, cfg.with_steps(K))
        out.append((K, mu, logvar))
    return out



# ---- the words the chapters glue -----------------------------------------------------------------------
#: Two gaps that differ by at most this fraction of the larger one read as equal (see :func:`compare_gaps`).
GAP_REL_TOL = 0.25
#: ... or by at most this many nats (differences this small are training noise on the toy model).
GAP_ABS_TOL = 0.01


def compare_gaps(gap: float, other: float, *, rel_tol: float = GAP_REL_TOL, abs_tol: float = GAP_ABS_TOL) -> str:
    """How ``gap`` compares with ``other`` (both gaps in nats, lower is better), as words for the prose:
    "about as small as" when they differ by at most ``max(abs_tol, rel_tol * max(gap, other))``, else
    "smaller than" or "larger than"."""
    tol = max(abs_tol, rel_tol * max(abs(gap), abs(other)))
    if abs(gap - other) <= tol:
        return "about as small as"
    return "smaller than" if gap < other else "larger than"


def catch_up(trailing_end: float, leading_end: float, **tol) -> str:
    """How a gap curve that trailed another ends against it, from the two curves' last gaps (nats):
    "has caught up with" (about equal, :func:`compare_gaps`), "is still behind" or "has overtaken"."""
    return {"about as small as": "has caught up with", "larger than": "is still behind",
            "smaller than": "has overtaken"}[compare_gaps(trailing_end, leading_end, **tol)]


def how_many(k: int, n: int, noun: str) -> str:
    """``k`` of ``n`` things as words: "every encoder" when ``k == n``, "no encoder" when 0, else
    "4 of 6 encoders" (nouns whose plural adds an s)."""
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"how_many: need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if k == n:
        return f"every {noun}"
    return f"no {noun}" if k == 0 else f"{k} of {n} {noun}s"
