"""LSTM text models: the VAE of Kim et al. (2018) and the ``autoreg`` LSTM language model.

Chapter: *SVI* (a small text VAE refined by SVI) and *SA-VAE* (the synthetic oracle is its decoder); the
chapter that trains it on real text (PTB) is still to be written.

A batch x is a LongTensor (B, T): ``<s> w_1 .. w_n </s>`` followed by ``<pad>`` (id ``pad_idx``) when sentences
of different lengths share a batch. The decoder reads x[:, :-1] and predicts x[:, 1:] (so ``</s>`` is predicted
and ``<s>`` is not); padded targets are ignored.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from savae_lite.models.base import LatentVariableModel


@dataclass
class TextModelConfig:
    """Sizes of the LSTM VAE / LM. Defaults are the paper's Yahoo set-up; see :meth:`small` and :meth:`tiny`."""

    vocab_size: int = 20_000
    emb_dim: int = 512
    enc_hidden: int = 1024
    dec_hidden: int = 1024
    latent_dim: int = 32
    dropout: float = 0.5  # on decoder input embeddings and before the softmax
    word_dropout: float = 0.0  # probability of replacing a decoder input word by <unk> (training only)
    pad_idx: int = 0
    unk_idx: int = 1
    init_range: float | None = 0.1  # every parameter ~ uniform(-r, r) after construction (train_text.py); None: torch's
    z_at: str = "input"  # input: [emb; z] at every step and h_0 = Linear(z) (the paper's text model); output:
    #                      z only at the output layer, logits = out(tanh(mix([h_t; z]))) (the synthetic oracle)

    def __post_init__(self):
        if self.z_at not in ("input", "output"):
            raise ValueError(f"z_at: {self.z_at!r} is not input or output")
        for name in ("pad_idx", "unk_idx"):  # an id the embedding does not have fails obscurely (AssertionError)
            value = getattr(self, name)
            if isinstance(value, int) and isinstance(self.vocab_size, int) and not 0 <= value < self.vocab_size:
                raise ValueError(f"{name}: must be a token id in [0, vocab_size={self.vocab_size}), got {value}")

    @classmethod
    def paper(cls, vocab_size: int = 20_000) -> "TextModelConfig":
        """The paper's Yahoo sizes (the defaults: embeddings 512, LSTMs 1024, Z = 32)."""
        return cls(vocab_size=vocab_size)

    @classmethod
    def small(cls, vocab_size: int = 10_000) -> "TextModelConfig":
        """A CPU-sized model: minutes per epoch on PTB with 2 cores."""
        return cls(vocab_size=vocab_size, emb_dim=128, enc_hidden=256, dec_hidden=256, latent_dim=32)

    @classmethod
    def tiny(cls, vocab_size: int = 50) -> "TextModelConfig":
        """A test-sized model (embeddings 8, LSTMs 12, Z = 3, no dropout): seconds per run."""
        return cls(vocab_size=vocab_size, emb_dim=8, enc_hidden=12, dec_hidden=12, latent_dim=3, dropout=0.0)


def init_uniform(model: nn.Module, r: float | None) -> None:
    """Draw every parameter of ``model`` from uniform(-r, r), as the original code does for its text models
    (``r=None`` keeps PyTorch's default initialisation)."""
    if r is None:
        return
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-r, r)


def check_tokens(x: torch.Tensor, cfg: TextModelConfig, values: bool = True) -> None:
    """Reject what the LSTMs would mis-read or fail on obscurely, with a message that says what is wrong.

    Shape and dtype are always checked: x must be an integer tensor (B, T) with B >= 1 and T >= 2 (``<s>`` and
    ``</s>`` at least). With ``values`` the ids are checked too: all in [0, vocab_size), and every row with at
    least two non-padding tokens (an empty sentence has no ``</s>`` to predict and no last hidden state). The
    value check reads two numbers back from the device; the models do it on every call on the CPU and in
    ``encode`` only on accelerators (where the SVI loop would otherwise wait for it at every step).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"text model: expected a LongTensor of token ids (B, T), got {type(x).__name__}")
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"text model: expected integer token ids (B, T), got dtype {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"text model: expected token ids of shape (B, T), got shape {tuple(x.shape)}")
    B, T = x.shape
    if B == 0:
        raise ValueError("text model: the batch is empty (B = 0)")
    if T < 2:
        raise ValueError(f"text model: sentences need at least <s> and </s> (T >= 2), got T = {T}")
    if not values:
        return
    lo, hi = (int(v) for v in torch.aminmax(x))
    if lo < 0 or hi >= cfg.vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"text model: token id {bad} is outside the vocabulary [0, {cfg.vocab_size}) "
                         "(an unknown word must be mapped to <unk> by the vocabulary first)")
    lengths = (x != cfg.pad_idx).sum(1)
    if int(lengths.min()) < 2:
        row = int(torch.argmin(lengths))
        raise ValueError(f"text model: sentence {row} of the batch is empty ({int(lengths[row])} non-padding "
                         "tokens; each needs at least <s> and </s>)")


class TextEncoder(nn.Module):
    """q_phi(z | x): embedding -> LSTM -> hidden state at the last real token -> (mu, logvar), each (B, Z)."""

    def __init__(self, cfg: TextModelConfig):
        super().__init__()
        self.pad_idx = cfg.pad_idx
        self.emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim, padding_idx=cfg.pad_idx)
        self.rnn = nn.LSTM(cfg.emb_dim, cfg.enc_hidden, batch_first=True)
        self.out = nn.Linear(cfg.enc_hidden, 2 * cfg.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T) token ids ``<s> .. </s>`` then padding -> mu (B, Z), logvar (B, Z), read
        from the LSTM's state at each row's ``</s>``."""
        h, _ = self.rnn(self.emb(x))  # (B, T, H)
        last = (x != self.pad_idx).sum(1) - 1  # index of </s> in each row
        h_last = h[torch.arange(x.shape[0], device=x.device), last]
        mu, logvar = self.out(h_last).chunk(2, -1)
        return mu, logvar


class TextDecoder(nn.Module):
    """p_theta(x | z): an LSTM over word embeddings, conditioned on z in one of two ways (``cfg.z_at``).

    * ``'input'`` (the paper's text model): the input at each step is [embedding; z] and h_0 = Linear(z);
    * ``'output'`` (the synthetic experiment's generator): the LSTM sees words only and z enters the output
      layer at every step, p(x_{t+1} | x_<=t, z) = softmax(out(tanh(mix([h_t; z])))).

    With ``latent_dim == 0`` it is a plain LSTM language model (h_0 = 0).
    """

    def __init__(self, cfg: TextModelConfig, latent_dim: int):
        super().__init__()
        self.cfg = cfg
        self.latent_dim = latent_dim
        self.z_input = latent_dim > 0 and cfg.z_at == "input"
        self.z_output = latent_dim > 0 and cfg.z_at == "output"
        self.emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim, padding_idx=cfg.pad_idx)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = nn.LSTM(cfg.emb_dim + (latent_dim if self.z_input else 0), cfg.dec_hidden, batch_first=True)
        self.h0 = nn.Linear(latent_dim, cfg.dec_hidden) if self.z_input else None
        self.mix = nn.Linear(cfg.dec_hidden + latent_dim, cfg.dec_hidden) if self.z_output else None
        self.out = nn.Linear(cfg.dec_hidden, cfg.vocab_size)

    @staticmethod
    def _with_z(t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """[t; z] along the last dimension, z (B, Z) repeated over the steps of t (B, T, D)."""
        return torch.cat([t, z.unsqueeze(1).expand(-1, t.shape[1], -1)], -1)

    def initial_state(self, z: torch.Tensor | None):
        """(h_0, c_0), each (1, B, H), or None for zeros."""
        if self.h0 is None:
            return None
        h0 = self.h0(z).unsqueeze(0)
        return h0, torch.zeros_like(h0)

    def run(self, tokens: torch.Tensor, z: torch.Tensor | None, state=None):
        """Input tokens (B, T) -> next-token logits (B, T, V) and the LSTM state after the last token."""
        e = self.drop(self.emb(tokens))  # (B, T, E)
        h, state = self.rnn(self._with_z(e, z) if self.z_input else e,
                            state if state is not None else self.initial_state(z))
        if self.z_output:
            h = torch.tanh(self.mix(self._with_z(h, z)))
        return self.out(self.drop(h)), state

    def logits(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """x (B, T), z (B, Z) or None -> next-token logits (B, T-1, V) for targets x[:, 1:]."""
        inp = x[:, :-1]
        if self.training and self.cfg.word_dropout > 0:
            drop = torch.rand(inp.shape, device=x.device) < self.cfg.word_dropout
            drop[:, 0] = False  # keep <s>
            inp = inp.masked_fill(drop & (inp != self.cfg.pad_idx), self.cfg.unk_idx)
        return self.run(inp, z)[0]

    def token_nll(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """-log p(x_t | x_<t, z) per target token, (B, T-1); 0 at padded positions."""
        logits = self.logits(x, z)
        tgt = x[:, 1:]
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none",
                              ignore_index=self.cfg.pad_idx)
        return nll.view(tgt.shape)


class TextVAE(LatentVariableModel):
    """LSTM VAE (Bowman et al. 2016; Kim et al. 2018 set-up): ``encoder`` (phi) + ``decoder`` (theta)."""

    def __init__(self, cfg: TextModelConfig):
        super().__init__()
        self.cfg = cfg
        self.latent_dim = cfg.latent_dim
        self.encoder = TextEncoder(cfg)
        self.decoder = TextDecoder(cfg, cfg.latent_dim)
        init_uniform(self, cfg.init_range)

    def encode(self, x):
        """x (B, T) token ids -> mu (B, Z), logvar (B, Z): the inference network q_phi(z | x).

        Chapters: *Differentiable SVI* and *Text VAEs and posterior collapse*."""
        check_tokens(x, self.cfg)
        return self.encoder(x)

    def neg_log_lik(self, x, z):
        """x (B, T), z (B, Z) -> (B,) = -log p(x | z), summed over the predicted tokens
        (``w1 .. </s>``; padding contributes 0)."""
        check_tokens(x, self.cfg, values=x.device.type == "cpu")
        return self.decoder.token_nll(x, z).sum(1)

    def token_nll(self, x, z):
        """Per-token -log p(x_t | x_<t, z), (B, T-1); 0 at padded positions (the per-token terms of
        :meth:`neg_log_lik`, e.g. for output saliency)."""
        check_tokens(x, self.cfg, values=x.device.type == "cpu")
        return self.decoder.token_nll(x, z)

    def num_targets(self, x):
        """x (B, T) -> (B,) predicted tokens per sentence (words and ``</s>``, float)."""
        return (x[:, 1:] != self.cfg.pad_idx).sum(1).to(torch.get_default_dtype())


class LSTMLanguageModel(LatentVariableModel):
    """The ``autoreg`` baseline: the same decoder without a latent variable."""

    def __init__(self, cfg: TextModelConfig):
        super().__init__()
        self.cfg = cfg
        self.latent_dim = 0
        self.decoder = TextDecoder(cfg, 0)
        init_uniform(self, cfg.init_range)

    def neg_log_lik(self, x, z=None):
        """x (B, T), z ignored -> (B,) = -log p(x), summed over the predicted tokens.

        Chapter: *Text VAEs and posterior collapse* (the ``autoreg`` baseline)."""
        check_tokens(x, self.cfg)
        return self.decoder.token_nll(x, None).sum(1)

    def num_targets(self, x):
        """x (B, T) -> (B,) predicted tokens per sentence (words and ``</s>``, float)."""
        return (x[:, 1:] != self.cfg.pad_idx).sum(1).to(torch.get_default_dtype())
