"""The oracle generator of the synthetic experiment, the corpus sampled from it, and its own -log p*(x).

Chapter: *SA-VAE* (the synthetic experiment). See :mod:`savae_lite.synthetic` for the set-up.
"""
from __future__ import annotations

import math

import torch

from savae_lite import objectives
from savae_lite.evaluate import bound_terms, test_time_q
from savae_lite.models.text import TextModelConfig, TextVAE
from savae_lite.synthetic.config import SyntheticConfig

BOS = 2  # <s>
FIRST_WORD = 4  # ids 0..3 are <pad> <unk> <s> </s>


def make_oracle(cfg: TextModelConfig, seed: int, scale: float = 1.0, recurrent_scale: float = 0.6) -> TextVAE:
    """A TextVAE whose *decoder* weights are uniform(-scale, scale) drawn from ``seed`` (the oracle generator),
    except the LSTM's hidden-to-hidden matrix, uniform(-recurrent_scale, recurrent_scale).

    Its encoder keeps PyTorch's default initialisation and is not used by the oracle itself. The output bias of
    the special ids 0..3 is set to -30 so that the oracle (almost surely) only emits words. Dropout must be 0.
    """
    if cfg.dropout != 0 or cfg.word_dropout != 0:
        raise ValueError("make_oracle: the oracle must have dropout = word_dropout = 0")
    if cfg.vocab_size <= FIRST_WORD:
        raise ValueError(f"make_oracle: vocab_size must exceed {FIRST_WORD} (ids 0..3 are special)")
    gen = torch.Generator().manual_seed(seed)
    model = TextVAE(cfg)
    with torch.no_grad():
        for name, p in model.decoder.named_parameters():
            s = recurrent_scale if name == "rnn.weight_hh_l0" else scale
            p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * s)
        model.decoder.out.weight[:FIRST_WORD] = 0.0
        model.decoder.out.bias[:FIRST_WORD] = -30.0
    return model.eval()


@torch.no_grad()
def sample_corpus(oracle: TextVAE, n: int, length: int, generator: torch.Generator,
                  return_z: bool = False, z: torch.Tensor | None = None):
    """Ancestral sampling: z ~ N(0, I), then w_t ~ p*(w_t | w_<t, z) for t = 1..length.

    Returns a LongTensor (n, length + 1) of sentences ``<s> w_1 .. w_length`` (on the oracle's device), and the
    latents (n, Z) when ``return_z``. ``generator`` is a CPU generator; the draws do not touch the global RNG.
    ``z`` (n, Z), when given, replaces the draw from the prior (sentences given a chosen z).
    """
    dec = oracle.decoder
    device = next(oracle.parameters()).device
    if z is None:
        z = torch.randn(n, oracle.latent_dim, generator=generator)
    elif z.shape != (n, oracle.latent_dim):
        raise ValueError(f"sample_corpus: z must have shape ({n}, {oracle.latent_dim}), got {tuple(z.shape)}")
    z = z.to(device)
    x = torch.full((n, length + 1), BOS, dtype=torch.long, device=device)
    state = None
    for t in range(length):
        logits, state = dec.run(x[:, t : t + 1], z, state)  # (n, 1, V), the decoder's own step
        probs = torch.softmax(logits[:, 0].double(), -1).cpu()
        x[:, t + 1] = torch.multinomial(probs, 1, generator=generator)[:, 0].to(device)
    if int((x[:, 1:] < FIRST_WORD).sum()):
        raise RuntimeError("sample_corpus: the oracle emitted a special symbol; raise its special-id bias")
    return (x, z) if return_z else x


def batches_of(x: torch.Tensor, batch_size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Split (N, T) into batches of rows; shuffled with ``generator`` when given."""
    idx = torch.randperm(x.shape[0], generator=generator) if generator is not None else torch.arange(x.shape[0])
    return [x[idx[i : i + batch_size].to(x.device)] for i in range(0, x.shape[0], batch_size)]


@torch.no_grad()
def true_nll(oracle, batches, cfg: SyntheticConfig) -> dict:
    """The oracle's own -log p*(x) on ``batches``, estimated by importance sampling.

    Proposal: the Gaussian fitted by ``true_nll_svi_steps`` SVI steps from 0 (same step sizes as the
    experiment), with its standard deviation widened by ``proposal_std_scale`` (a fitted q is narrower than the
    posterior; a wider proposal lowers the estimator's variance). With S samples the estimate
    -log (1/S sum_s w_s) is *upper-biased* (Jensen: E log of an unbiased estimate of p(x) <= log p(x)); the bias
    shrinks like 1/S. ``true_nll_se`` is the standard error of the mean over the test sentences. Also returns
    the bound of the fitted q itself.
    """
    fit = cfg.svi.with_steps(cfg.true_nll_svi_steps)
    per_example, tot_bound = [], 0.0
    for x in batches:
        mu, logvar = test_time_q(oracle, x, "zeros", fit)
        recon, kl = bound_terms(oracle, x, mu, logvar, cfg.elbo_samples)
        wide = logvar + 2 * math.log(cfg.proposal_std_scale)
        per_example.append(objectives.iw_nll(oracle, x, mu, wide, cfg.true_nll_samples, max_rows=2000))
        tot_bound += float((recon + kl).sum())
    values = torch.cat(per_example).double()
    n = values.numel()
    return {"true_nll": float(values.mean()), "true_nll_se": float(values.std() / math.sqrt(n)) if n > 1 else 0.0,
            "fitted_q_bound": tot_bound / n, "samples": cfg.true_nll_samples, "sentences": n,
            "estimator": f"{cfg.true_nll_samples}-sample importance-weighted estimate (upper-biased)",
            "proposal": f"q from {cfg.true_nll_svi_steps} SVI steps from 0, std x {cfg.proposal_std_scale}"}
