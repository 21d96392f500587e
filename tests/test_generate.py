"""Decoding sentences (generate.py): greedy decoding is deterministic and stops at </s>, special tokens are never
produced, sampling follows its generator, and the linear path in z has the right end points."""
import torch

from savae_lite.data.vocab import SPECIALS, Vocab
from savae_lite.generate import decode, interpolate, prior_samples, sentence
from savae_lite.models.text import LSTMLanguageModel, TextModelConfig, TextVAE

VOCAB = Vocab(list(SPECIALS) + [f"w{i}" for i in range(16)])


def model(cls=TextVAE):
    torch.manual_seed(0)
    cfg = TextModelConfig.tiny(len(VOCAB))
    cfg.init_range = None
    return cls(cfg)


def test_greedy_is_deterministic_and_bounded():
    m = model()
    z = torch.randn(5, m.latent_dim, generator=torch.Generator().manual_seed(1))
    a, b = decode(m, z, VOCAB, max_len=7), decode(m, z, VOCAB, max_len=7)
    assert a == b and len(a) == 5
    assert all(len(s) <= 8 and not set(s) & {"<pad>", "<s>", "</s>"} for s in a)


def test_decode_matches_the_decoders_argmax():
    """The first greedy word is the argmax of the decoder's logits after <s> (with the specials masked)."""
    m = model().eval()
    z = torch.randn(3, m.latent_dim, generator=torch.Generator().manual_seed(2))
    logits, _ = m.decoder.run(torch.full((3, 1), VOCAB.stoi["<s>"]), z)
    logits = logits[:, 0]
    logits[:, [0, 2]] = -float("inf")
    for i, words in enumerate(decode(m, z, VOCAB, max_len=5)):
        first = int(logits[i].argmax())
        assert (words[0] if words else "</s>") == VOCAB.itos[first]


def test_sampling_follows_its_generator_and_the_model_mode_is_restored():
    m = model().train()
    def draw(seed):
        return prior_samples(m, VOCAB, 4, greedy=False, generator=torch.Generator().manual_seed(seed), max_len=6)

    assert draw(3) == draw(3) and m.training


def test_language_model_needs_a_batch():
    lm = model(LSTMLanguageModel)
    assert len(decode(lm, None, VOCAB, batch=2, max_len=4)) == 2


def test_interpolate_end_points():
    z0, z1 = torch.zeros(3), torch.ones(3)
    path = interpolate(z0, z1, 5)
    assert path.shape == (5, 3) and torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    assert torch.allclose(path[2], torch.full((3,), 0.5))
    assert sentence([]) == "(empty)" and sentence(["a", "b"]) == "a b"


def test_unk_can_be_banned():
    m = model()
    z = torch.randn(20, m.latent_dim, generator=torch.Generator().manual_seed(4))
    out = decode(m, z, VOCAB, max_len=6, greedy=False, unk=False, generator=torch.Generator().manual_seed(5))
    assert not any("<unk>" in s for s in out)
