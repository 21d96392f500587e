"""Sentences from a text VAE's decoder: samples from the prior, reconstructions, posterior samples and linear
paths in z.

Chapter: *Text VAEs and posterior collapse* (what a collapsed and a non-collapsed model write). Decoding feeds the
decoder its own previous word, one step at a time, from ``<s>`` until ``</s>`` or ``max_len`` words; ``greedy``
takes the most likely word, otherwise words are sampled (``temperature`` scales the logits).
"""
from __future__ import annotations

import torch

from savae_lite.data.vocab import BOS, EOS, SPECIALS, UNK, Vocab


@torch.no_grad()
def decode(model, z: torch.Tensor | None, vocab: Vocab, *, max_len: int = 30, greedy: bool = True,
           temperature: float = 1.0, batch: int | None = None, generator: torch.Generator | None = None,
           unk: bool = True) -> list[list[str]]:
    """Decode one sentence per row of ``z`` (N, Z) (a model without z: ``z=None`` and ``batch`` sentences).

    Returns lists of words without ``<s>`` / ``</s>``. Special tokens other than ``<unk>`` are never produced, and
    ``<unk>`` neither when ``unk=False`` (PTB's most frequent "word" would otherwise fill greedy sentences).
    """
    dec = model.decoder
    was_training = model.training
    model.eval()
    n = z.shape[0] if z is not None else batch
    if n is None:
        raise ValueError("decode: give z (N, Z) or, for a model without z, batch=N")
    device = next(model.parameters()).device
    bos, eos = vocab.stoi[BOS], vocab.stoi[EOS]
    banned = [vocab.stoi[s] for s in SPECIALS if s != EOS and (s != UNK or not unk)]
    tokens = torch.full((n, 1), bos, dtype=torch.long, device=device)
    z = z.to(device) if z is not None else None
    state, out, done = None, [[] for _ in range(n)], torch.zeros(n, dtype=torch.bool, device=device)
    for _ in range(max_len + 1):
        logits, state = dec.run(tokens, z, state)
        logits = logits[:, -1].float()
        logits[:, banned] = -float("inf")
        if greedy:
            nxt = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / temperature, -1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        for i in range(n):
            if not done[i] and int(nxt[i]) != eos:
                out[i].append(vocab.itos[int(nxt[i])])
        done |= nxt == eos
        if bool(done.all()):
            break
        tokens = nxt.unsqueeze(1)
    model.train(was_training)
    return out


def prior_samples(model, vocab: Vocab, n: int, *, generator: torch.Generator | None = None,
                  **kw) -> list[list[str]]:
    """Sentences decoded (greedily unless ``greedy=False``) from n draws z ~ N(0, I)."""
    z = torch.randn(n, model.latent_dim, generator=generator)
    return decode(model, z, vocab, generator=generator, **kw)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """The linear path z0 -> z1 (each (Z,)) at ``steps`` evenly spaced points, (steps, Z)."""
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return (1 - t) * z0.unsqueeze(0) + t * z1.unsqueeze(0)


def sentence(words: list[str]) -> str:
    """The words joined by spaces, or ``(empty)`` for a sentence without words (for printing)."""
    return " ".join(words) if words else "(empty)"
