"""The LSTM text VAE / LM (models/text.py): shapes, padding is transparent, word dropout, determinism, and
clear errors for malformed token batches."""
import pytest
import torch

from savae_lite.models.text import LSTMLanguageModel, TextModelConfig, TextVAE
from savae_lite.modes import training_step
from savae_lite.svi import SVIConfig
from tests.conftest import tiny_sentences


def model(cls=TextVAE, **kw):
    torch.manual_seed(0)
    cfg = TextModelConfig.tiny(20)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cls(cfg).eval()


def test_shapes():
    m = model()
    x = tiny_sentences(5, 7)
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert m.neg_log_lik(x, mu).shape == (5,)
    assert m.token_nll(x, mu).shape == (5, 6)
    assert torch.equal(m.num_targets(x), torch.full((5,), 6.0))


def test_padding_gives_the_same_numbers_as_equal_length_batches():
    m = model()
    short, long = tiny_sentences(2, 5, seed=1), tiny_sentences(3, 8, seed=2)
    padded = torch.zeros(5, 8, dtype=torch.long)
    padded[:2, :5], padded[2:] = short, long
    mu, logvar = m.encode(padded)
    mu_s, logvar_s = m.encode(short)
    mu_l, _ = m.encode(long)
    assert torch.allclose(mu[:2], mu_s, atol=1e-6) and torch.allclose(logvar[:2], logvar_s, atol=1e-6)
    assert torch.allclose(mu[2:], mu_l, atol=1e-6)
    z = torch.randn(5, 3)
    nll = m.neg_log_lik(padded, z)
    assert torch.allclose(nll[:2], m.neg_log_lik(short, z[:2]), atol=1e-5)
    assert torch.allclose(nll[2:], m.neg_log_lik(long, z[2:]), atol=1e-5)
    assert torch.equal(m.num_targets(padded), torch.tensor([4.0, 4.0, 7.0, 7.0, 7.0]))


def test_language_model_has_no_latent():
    lm = model(LSTMLanguageModel)
    assert not lm.is_latent and lm.neg_log_lik(tiny_sentences(2, 5), None).shape == (2,)


def test_word_dropout_only_in_training():
    m = model(word_dropout=1.0)
    x = tiny_sentences(3, 6)
    z = torch.zeros(3, 3)
    eval_nll = m.neg_log_lik(x, z)
    m.train()
    train_nll = m.neg_log_lik(x, z)
    assert not torch.allclose(eval_nll, train_nll)


def test_encoder_and_decoder_parameters_partition_the_model():
    m = model()
    enc = {id(p) for p in m.encoder_parameters()}
    dec = {id(p) for p in m.decoder_parameters()}
    assert enc and dec and not enc & dec and enc | dec == {id(p) for p in m.parameters()}


def test_deterministic_under_a_seed():
    a, b = model(dropout=0.3).train(), model(dropout=0.3).train()
    x = tiny_sentences(3, 6)
    torch.manual_seed(7)
    na = a.neg_log_lik(x, torch.randn(3, 3))
    torch.manual_seed(7)
    nb = b.neg_log_lik(x, torch.randn(3, 3))
    assert torch.equal(na, nb)


def test_original_initialisation_is_uniform_in_the_range():
    import dataclasses

    torch.manual_seed(0)
    cfg = TextModelConfig.tiny(30)
    for model in (TextVAE(cfg), LSTMLanguageModel(cfg)):
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        assert flat.abs().max() <= 0.1 and flat.abs().max() > 0.09 and flat.std() > 0.05
    default = TextVAE(dataclasses.replace(cfg, init_range=None))
    assert max(float(p.detach().abs().max()) for p in default.parameters()) > 0.1


@pytest.mark.parametrize("make,match", [
    (lambda x: x.float(), "integer token ids"),
    (lambda x: x[0], r"shape \(B, T\)"),
    (lambda x: x[None], r"shape \(B, T\)"),
    (lambda x: x[:, :1], "at least <s> and </s>"),
    (lambda x: x[:0], "batch is empty"),
    (lambda x: torch.where(x == 5, 20, x), r"token id 20 is outside the vocabulary \[0, 20\)"),
    (lambda x: torch.where(x == 5, -3, x), r"token id -3 is outside"),
    (lambda x: torch.cat([x, torch.zeros_like(x[:1])]), "sentence 4 of the batch is empty"),
])
def test_text_models_reject_bad_token_batches(make, match):
    torch.manual_seed(0)
    vae, lm = TextVAE(TextModelConfig.tiny(20)), LSTMLanguageModel(TextModelConfig.tiny(20))
    x = tiny_sentences(4, 7)
    x[:, 3] = 5
    bad = make(x)
    z = torch.zeros(max(bad.shape[0] if bad.dim() else 1, 1), 3)
    for call in (lambda: vae.encode(bad), lambda: vae.neg_log_lik(bad, z), lambda: lm.neg_log_lik(bad),
                 lambda: training_step(vae, bad, "savae", SVIConfig(steps=1))):
        with pytest.raises(ValueError, match=match):
            call()
