"""Sizes, schedule and evaluation budget of the synthetic experiment (:mod:`savae_lite.synthetic`).

Chapter: *SA-VAE* (the synthetic experiment).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from savae_lite.models.text import TextModelConfig
from savae_lite.svi import SVIConfig


@dataclass
class SyntheticConfig:
    """Sizes, schedule and evaluation budget of the synthetic experiment.

    The defaults follow our (unverified) notes of the paper's set-up: a 2-dimensional latent, a one-layer LSTM of
    100 units, 1,000 words, sentences of 5 words, 5,000 training sentences, z entering the output layer at every
    step (``z_at='output'``). Presets: default (full: 3 training seeds, each mode trained until the validation
    bound stops improving), :meth:`quick` (under a minute), :meth:`micro` (seconds, for tests).
    """

    vocab_size: int = 1004  # ids 4..vocab_size-1 are words
    emb_dim: int = 100
    hidden: int = 100  # encoder and decoder LSTM width
    latent_dim: int = 2
    length: int = 5  # words per sentence (the sequence is <s> + length words)
    z_at: str = "output"  # how z enters the generator (oracle and learned): output layer, or input + h_0
    oracle_scale: float = 1.0  # oracle decoder weights ~ uniform(-scale, scale) ...
    oracle_recurrent_scale: float = 0.6  # ... except hidden-to-hidden: uniform(-this, this) (not chaotic)
    n_train: int = 5000
    n_valid: int = 500
    n_test: int = 500
    seeds: int = 3  # training seeds (initialisation and data order); the oracle and its corpus stay the same
    batch_size: int = 50
    epochs: int = 30  # at most; training stops earlier when the validation bound stops improving ...
    patience: int = 3  # ... for this many epochs (the best epoch's parameters are kept)
    optimizer: str = "adam"  # adam | sgd
    lr: float = 3e-3
    grad_clip: float = 5.0  # global norm, before every optimiser step
    kl_start: float = 0.1  # KL weight at the first step, rising linearly ...
    kl_warmup_epochs: float = 5.0  # ... to 1 over this many epochs (0: weight 1 throughout)
    # K = 10 rather than the paper's text K = 20: the whole experiment must fit in two hours on two CPU cores
    svi: SVIConfig = field(default_factory=lambda: SVIConfig(steps=10, lr_mu=0.03, lr_logvar=0.03, momentum=0.5,
                                                            clip=5.0, hvp="fd"))
    elbo_samples: int = 10  # z samples per example in the reported test bound
    true_nll_samples: int = 1000  # importance samples for the oracle's -log p(x)
    true_nll_svi_steps: int = 100  # SVI steps (from 0) that fit the importance proposal
    proposal_std_scale: float = 1.5  # the proposal's std is the fitted q's std times this
    learned_iw_samples: int = 250  # importance samples for each Learned Gen model's -log p(x) (0: skip)

    @classmethod
    def quick(cls) -> "SyntheticConfig":
        """The book's quick mode: a small oracle and corpus, two seeds, three epochs (minutes on a
        CPU)."""
        return cls(vocab_size=54, emb_dim=32, hidden=32, n_train=600, n_valid=100, n_test=100, seeds=2,
                   epochs=3, patience=1, kl_warmup_epochs=1.0, lr=3e-3,
                   svi=SVIConfig(steps=10, lr_mu=0.05, lr_logvar=0.05, momentum=0.5, clip=5.0),
                   elbo_samples=5, true_nll_samples=300, true_nll_svi_steps=30, learned_iw_samples=50)

    @classmethod
    def micro(cls) -> "SyntheticConfig":
        """A test-sized experiment (seconds): tiny oracle, 40 training sentences of length 4."""
        return cls(vocab_size=20, emb_dim=8, hidden=8, length=4, n_train=40, n_valid=10, n_test=10, seeds=2,
                   batch_size=10, epochs=2, patience=1, kl_warmup_epochs=0.5, lr=3e-3,
                   svi=SVIConfig(steps=3, lr_mu=0.05, lr_logvar=0.05, momentum=0.5, clip=5.0),
                   elbo_samples=4, true_nll_samples=1000, true_nll_svi_steps=10, learned_iw_samples=10)

    def model_config(self) -> TextModelConfig:
        """The :class:`~savae_lite.models.text.TextModelConfig` of the oracle and of every
        model trained on its data (no dropout; z where ``z_at`` says)."""
        return TextModelConfig(vocab_size=self.vocab_size, emb_dim=self.emb_dim, enc_hidden=self.hidden,
                               dec_hidden=self.hidden, latent_dim=self.latent_dim, dropout=0.0, z_at=self.z_at)

    def to_dict(self) -> dict:
        """The configuration as a plain dict (for the record)."""
        return dataclasses.asdict(self)
