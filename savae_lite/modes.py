"""The six training modes compared by Kim et al. (2018), and He et al. (2019)'s aggressive training: one
:class:`Mode` record each, read by the trainer, the evaluator, the experiments and the benchmark, and one small
step function each.

Chapter: *SA-VAE* (all modes side by side). A step function takes a batch, writes gradients into ``.grad`` of
the parameters it trains (scaled to a *batch mean*) and returns :class:`StepStats` for logging.

============== =====================================================================================
mode           what is trained on what
============== =====================================================================================
``autoreg``    a model without z (LSTM LM / PixelCNN) on -log p(x)
``vae``        encoder and decoder on f(enc(x)) (the amortised ELBO)
``svi``        decoder on f(lambda_K), lambda_K from K SVI steps started at 0 (no encoder)
``vae+svi``    decoder on f(lambda_K) from SVI started at enc(x); encoder on its own f(enc(x))
``vae+svi+kl`` decoder as above; encoder on KL(q(lambda_0) || stop_grad(q(lambda_K)))
``savae``      decoder and encoder on the total derivative of f(lambda_K) (:mod:`savae_lite.unrolled`)
``aggressive`` the ``vae`` step, preceded by encoder-only steps while the encoder lags (:mod:`~.aggressive`)
============== =====================================================================================

f = -log p(x | z) + kl_weight * KL(q || p), one reparameterised sample.

A mode that keeps state across steps (``aggressive``) also names a hooks class (:mod:`savae_lite.hooks`), which the
loop and the trainer call without knowing which mode they run. Adding a mode: its step function (or a hooks class
in a module of its own), one :class:`Mode` record in :data:`MODES`, and its name in the config's list of mode
names (``savae_lite.registry.MODE_NAMES``).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch.distributions import Normal, kl_divergence

from savae_lite.aggressive import AggressiveTraining
from savae_lite.hooks import ModeHooks
from savae_lite.objectives import elbo_terms
from savae_lite.svi import SVIConfig, svi
from savae_lite.unrolled import unrolled_svi


@dataclass
class StepStats:
    """Batch sums (floats) for logging: the loss that was differentiated, NLL and KL at the final lambda."""

    loss: float
    nll: float
    kl: float
    n: int  # examples
    tokens: float  # predicted symbols
    clip_fired: int = 0  # hvp='original' only: reverse steps whose joint clip fired (of ``clip_steps``)
    clip_steps: int = 0

    def check_finite(self, mode: str, step: int) -> None:
        """Raise ``FloatingPointError`` naming the quantity, the step and the mode if the loss,
        NLL or KL is not finite."""
        for name in ("loss", "nll", "kl"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise FloatingPointError(f"non-finite {name} ({value}) at step {step} in mode {mode!r}")


def _accumulate(params, grads, scale: float) -> None:
    for p, g in zip(params, grads):
        if g is None:
            continue
        g = g * scale
        p.grad = g if p.grad is None else p.grad + g


def _stats(loss, nll, kl, model, x) -> StepStats:
    return StepStats(float(loss.detach()), float(nll.sum()), float(kl.sum()), x.shape[0],
                     float(model.num_targets(x).sum()))


def step_autoreg(model, x, svi_cfg, kl_weight):
    """``autoreg``: a model without z trained on -log p(x). x (B, ...); gradients of the batch mean
    in ``.grad``; ``svi_cfg`` and ``kl_weight`` are unused.

    Chapter: *SA-VAE* (all modes side by side)."""
    nll = model.neg_log_lik(x, None)
    (nll.sum() / x.shape[0]).backward()
    return _stats(nll.sum(), nll.detach(), torch.zeros_like(nll), model, x)


def step_vae(model, x, svi_cfg, kl_weight):
    """``vae`` (and ``aggressive``'s joint step): encoder and decoder on the amortised ELBO f(enc(x)).

    x (B, ...); lambda_0 = (mu, logvar), each (B, Z); one reparameterised sample; gradients of the
    batch mean of -log p(x | z) + kl_weight * KL in ``.grad``. Chapter: *SA-VAE*."""
    mu, logvar = model.encode(x)
    t = elbo_terms(model, x, mu, logvar)
    loss = t.loss(kl_weight).sum()
    (loss / x.shape[0]).backward()
    return _stats(loss, t.nll.detach(), t.kl.detach(), model, x)


def _decoder_on_svi(model, x, mu0, logvar0, svi_cfg, kl_weight):
    """SVI from lambda_0 (no gradient), then backprop f(lambda_K) into the decoder. Returns the terms."""
    mu, logvar = svi(model, x, mu0, logvar0, svi_cfg, kl_weight)
    t = elbo_terms(model, x, mu, logvar)
    loss = t.loss(kl_weight).sum()
    if loss.requires_grad:  # False when the decoder is frozen (e.g. training against a fixed oracle)
        (loss / x.shape[0]).backward()
    return loss, t, mu, logvar


def step_svi(model, x, svi_cfg, kl_weight):
    """``svi``: no encoder; K SVI steps from lambda_0 = 0 (each (B, Z)), then the decoder on
    f(lambda_K). x (B, ...); gradients of the batch mean in ``.grad``.

    Chapters: *Stochastic variational inference* and *SA-VAE*."""
    B, Z = x.shape[0], model.latent_dim
    zeros = torch.zeros(B, Z, device=next(model.parameters()).device, dtype=next(model.parameters()).dtype)
    loss, t, _, _ = _decoder_on_svi(model, x, zeros, zeros, svi_cfg, kl_weight)
    return _stats(loss, t.nll.detach(), t.kl.detach(), model, x)


def step_vae_svi(model, x, svi_cfg, kl_weight):
    """``vae+svi``: the encoder on its own ELBO f(enc(x)); the decoder on f(lambda_K), K SVI steps
    from lambda_0 = enc(x) (no gradient into the encoder through SVI). x (B, ...); lambda (B, Z).

    Chapter: *SA-VAE*."""
    mu0, logvar0 = model.encode(x)
    enc = list(model.encoder_parameters())
    enc_loss = elbo_terms(model, x, mu0, logvar0).loss(kl_weight).sum() / x.shape[0]
    _accumulate(enc, torch.autograd.grad(enc_loss, enc, allow_unused=True), 1.0)
    loss, t, _, _ = _decoder_on_svi(model, x, mu0.detach(), logvar0.detach(), svi_cfg, kl_weight)
    return _stats(loss, t.nll.detach(), t.kl.detach(), model, x)


def kl_between(mu_q, logvar_q, mu_p, logvar_p):
    """KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p)) for diagonal Gaussians, (B, Z) -> (B,)."""
    q = Normal(mu_q, torch.exp(0.5 * logvar_q))
    p = Normal(mu_p, torch.exp(0.5 * logvar_p))
    return kl_divergence(q, p).sum(-1)


def step_vae_svi_kl(model, x, svi_cfg, kl_weight):
    """``vae+svi+kl``: the decoder on f(lambda_K) as in :func:`step_vae_svi`; the encoder on
    KL(q(lambda_0) || stop_grad(q(lambda_K))). x (B, ...); lambda (B, Z).

    Chapter: *SA-VAE*."""
    mu0, logvar0 = model.encode(x)
    loss, t, mu_K, logvar_K = _decoder_on_svi(model, x, mu0.detach(), logvar0.detach(), svi_cfg, kl_weight)
    enc = list(model.encoder_parameters())
    enc_loss = kl_between(mu0, logvar0, mu_K, logvar_K).sum() / x.shape[0]
    _accumulate(enc, torch.autograd.grad(enc_loss, enc, allow_unused=True), 1.0)
    return _stats(loss, t.nll.detach(), t.kl.detach(), model, x)


def step_savae(model, x, svi_cfg, kl_weight):
    """``savae``: encoder and decoder on the total derivative of f(lambda_K) through the K SVI steps
    (Algorithm 1, :func:`~savae_lite.unrolled.unrolled_svi`; the HVP back-end from ``svi_cfg``).

    x (B, ...); lambda_0 = enc(x), each (B, Z); gradients of the batch mean in ``.grad``.
    Chapters: *Differentiable SVI* (the algorithm) and *SA-VAE* (training with it)."""
    mu0, logvar0 = model.encode(x)
    params = [p for p in model.decoder_parameters() if p.requires_grad]
    out = unrolled_svi(model, x, mu0, logvar0, svi_cfg, kl_weight=kl_weight, params=params)
    scale = 1.0 / x.shape[0]
    _accumulate(params, out.grad_theta, scale)
    torch.autograd.backward([mu0, logvar0], [out.grad_mu0 * scale, out.grad_logvar0 * scale])
    stats = _stats(out.loss, out.nll, out.kl, model, x)
    if out.clip_fired is not None:  # hvp='original': how often its joint clip replaced the derivative
        stats = dataclasses.replace(stats, clip_fired=int(out.clip_fired.sum()), clip_steps=out.clip_fired.numel())
    return stats


@dataclass(frozen=True)
class Mode:
    """What a training mode is, in one place: everything else in the package reads these facts."""

    name: str
    step: Callable[..., StepStats]  # (model, x, svi_cfg, kl_weight) -> StepStats, gradients in .grad
    latent: bool  # the model has a latent z (False: an autoregressive model alone)
    encoder: bool  # an inference network gives lambda_0 (False: lambda_0 = 0)
    refines: bool  # its q at test time is lambda_0 refined by K SVI steps
    unrolled: bool  # trained through the SVI steps (Algorithm 1; the only mode that uses ``SVIConfig.hvp``)
    encoder_loss: str | None  # what the inference network is trained on (None: no inference network)
    hooks: Callable[[], ModeHooks] = ModeHooks  # makes the loop's hooks (:mod:`savae_lite.hooks`; default: none)

    @property
    def init(self) -> str:
        """Where lambda_0 comes from at test time (``'encoder'`` or ``'zeros'``)."""
        return "encoder" if self.encoder else "zeros"


#: Every training mode's :class:`Mode` record, by name (the table above).
#:
#: :meta hide-value:
MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("autoreg", step_autoreg, latent=False, encoder=False, refines=False, unrolled=False, encoder_loss=None),
    Mode("vae", step_vae, latent=True, encoder=True, refines=False, unrolled=False, encoder_loss="f(lambda_0)"),
    Mode("svi", step_svi, latent=True, encoder=False, refines=True, unrolled=False, encoder_loss=None),
    Mode("vae+svi", step_vae_svi, latent=True, encoder=True, refines=True, unrolled=False,
         encoder_loss="f(lambda_0)"),
    Mode("vae+svi+kl", step_vae_svi_kl, latent=True, encoder=True, refines=True, unrolled=False,
         encoder_loss="KL(q(lambda_0) || q(lambda_K))"),
    Mode("savae", step_savae, latent=True, encoder=True, refines=True, unrolled=True,
         encoder_loss="total derivative of f(lambda_K)"),
    Mode("aggressive", step_vae, latent=True, encoder=True, refines=False, unrolled=False,
         encoder_loss="f(lambda_0), with encoder-only steps until it catches up (He et al. 2019)",
         hooks=AggressiveTraining),
)}
LATENT_MODES = tuple(name for name, m in MODES.items() if m.latent)


def get_mode(mode: str | Mode) -> Mode:
    """The :class:`Mode` record named ``mode`` (a record is returned as is)."""
    if isinstance(mode, Mode):
        return mode
    if mode not in MODES:
        raise ValueError(f"--mode: unknown training mode {mode!r}; choose one of {', '.join(MODES)}")
    return MODES[mode]


def training_step(model, x: torch.Tensor, mode: str | Mode, svi_cfg: SVIConfig,
                  kl_weight: float = 1.0) -> StepStats:
    """Compute one batch's gradients for ``mode`` (accumulated into ``.grad``; call ``zero_grad`` first).

    ``svi_cfg`` gives K, the SVI step sizes and, for ``savae``, the HVP back-end.
    """
    m = get_mode(mode)
    if m.latent != model.is_latent:
        kind = "a model with a latent variable" if m.latent else "a model without z"
        raise ValueError(f"mode {m.name!r} needs {kind}; got {type(model).__name__}")
    return m.step(model, x, svi_cfg, kl_weight)
