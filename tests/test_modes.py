"""The training modes (modes.py): every :class:`Mode` record states what its step function actually does, and
each step sends the gradient the paper's mode defines to the encoder and the decoder."""
import dataclasses
import re
from collections import Counter

import pytest
import torch

from savae_lite import gaussian, modes
from savae_lite.checks import relative_error
from savae_lite.models.text import LSTMLanguageModel, TextModelConfig
from savae_lite.modes import LATENT_MODES, MODES, Mode, StepStats, get_mode, kl_between, training_step
from savae_lite.svi import SVIConfig, svi
from savae_lite.unrolled import unrolled_loss_autograd
from tests.conftest import tiny_sentences, tiny_text_vae

CFG = SVIConfig(steps=2, lr_mu=0.1, lr_logvar=0.1, momentum=0.5, clip=5.0)


def grad_norm(params) -> float:
    return sum(float(p.grad.pow(2).sum()) for p in params if p.grad is not None) ** 0.5


def grads(params) -> list[torch.Tensor]:
    return [p.grad.clone() for p in params]


@pytest.mark.parametrize("name", LATENT_MODES)
def test_mode_record_matches_what_its_step_does(name, monkeypatch):
    """latent / encoder / refines / unrolled / encoder_loss / init against the calls a step makes and the
    parameter groups that receive a non-zero gradient."""
    m = MODES[name]
    calls = Counter()

    def counted(key, fn):
        def wrapper(*args, **kwargs):
            calls[key] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(modes, "svi", counted("svi", modes.svi))
    monkeypatch.setattr(modes, "unrolled_svi", counted("unrolled", modes.unrolled_svi))
    model = tiny_text_vae(dropout=0.0)
    monkeypatch.setattr(model, "encode", counted("encode", model.encode))
    x = tiny_sentences(4, 6)
    torch.manual_seed(0)
    stats = training_step(model, x, name, CFG)
    enc, dec = list(model.encoder_parameters()), list(model.decoder_parameters())
    assert m.latent and m.name == name and get_mode(name) is m
    assert grad_norm(dec) > 0  # every latent mode trains the decoder
    assert (grad_norm(enc) > 0) == m.encoder
    assert (calls["encode"] > 0) == m.encoder
    assert (m.encoder_loss is not None) == m.encoder
    assert m.init == ("encoder" if m.encoder else "zeros")
    assert m.unrolled == (calls["unrolled"] > 0)
    assert m.refines == (calls["svi"] + calls["unrolled"] > 0)
    if not m.encoder:  # svi: lambda_0 = 0, the inference network gets no gradient at all
        assert all(p.grad is None for p in enc)
    assert isinstance(stats, StepStats) and stats.n == 4 and stats.tokens == 4 * 5
    stats.check_finite(name, 0)


@pytest.mark.parametrize("name", LATENT_MODES)
def test_only_the_unrolled_mode_reads_the_hvp_backend(name):
    model = tiny_text_vae(dropout=0.0)
    bogus = dataclasses.replace(CFG, hvp="no-such-backend")
    if MODES[name].unrolled:
        with pytest.raises(ValueError, match="hvp"):
            training_step(model, tiny_sentences(4, 6), name, bogus)
    else:
        training_step(model, tiny_sentences(4, 6), name, bogus)


def test_autoreg_needs_a_model_without_z_and_latent_modes_need_one():
    vae, lm = tiny_text_vae(dropout=0.0), LSTMLanguageModel(TextModelConfig.tiny(20))
    x = tiny_sentences(4, 6)
    assert not MODES["autoreg"].latent and not MODES["autoreg"].encoder and not MODES["autoreg"].refines
    assert LATENT_MODES == tuple(n for n in MODES if n != "autoreg")
    with pytest.raises(ValueError, match="'autoreg' needs a model without z; got TextVAE"):
        training_step(vae, x, "autoreg", CFG)
    for name in LATENT_MODES:
        with pytest.raises(ValueError, match=re.escape(f"mode {name!r} needs a model with a latent variable")):
            training_step(lm, x, name, CFG)
    # autoreg: the gradient of the batch-mean exact NLL, and no KL
    stats = training_step(lm, x, "autoreg", CFG)
    got = grads(lm.parameters())
    lm.zero_grad(set_to_none=True)
    (lm.neg_log_lik(x, None).mean()).backward()
    assert relative_error(got, grads(lm.parameters())) < 1e-6
    assert stats.kl == 0.0 and stats.loss == pytest.approx(stats.nll)


def test_vae_svi_trains_the_encoder_on_its_own_elbo():
    """vae+svi: the encoder's gradient is that of f(enc(x)) -- the vae mode's encoder gradient, same noise."""
    x = tiny_sentences(4, 6)
    out = {}
    for name in ("vae", "vae+svi"):
        model = tiny_text_vae(dropout=0.0)
        torch.manual_seed(3)
        training_step(model, x, name, CFG, kl_weight=0.6)
        out[name] = (grads(model.encoder_parameters()), model)
    assert relative_error(out["vae+svi"][0], out["vae"][0]) < 1e-12
    # ... while its decoder is trained at lambda_K, not at lambda_0
    dec_svi, dec_vae = (grads(out[n][1].decoder_parameters()) for n in ("vae+svi", "vae"))
    assert relative_error(dec_svi, dec_vae) > 1e-6


def test_vae_svi_kl_trains_the_encoder_towards_the_refined_q():
    """vae+svi+kl: the encoder's gradient is that of mean_i KL(q(lambda_0) || stop_grad(q(lambda_K)))."""
    x = tiny_sentences(4, 6)
    model = tiny_text_vae(dropout=0.0)
    torch.manual_seed(3)
    training_step(model, x, "vae+svi+kl", CFG, kl_weight=0.6)
    got = grads(model.encoder_parameters())
    ref_model = tiny_text_vae(dropout=0.0)
    torch.manual_seed(3)
    mu0, lv0 = ref_model.encode(x)
    mu_k, lv_k = svi(ref_model, x, mu0, lv0, CFG, 0.6)
    kl = 0.5 * (lv_k - lv0 + (lv0.exp() + (mu0 - mu_k).pow(2)) / lv_k.exp() - 1).sum(-1)
    ref = torch.autograd.grad(kl.mean(), list(ref_model.encoder_parameters()))
    assert relative_error(got, ref) < 1e-10


def test_savae_step_is_the_total_derivative_through_the_svi_steps():
    """savae: encoder and decoder gradients are those of mean_i f_i(lambda_K) differentiated through the K steps
    (brute-force autograd), with both back-ends."""
    x = tiny_sentences(4, 6)
    cfg = SVIConfig(steps=3, lr_mu=0.3, lr_logvar=0.2, momentum=0.5, clip=1.0)
    ref_model = tiny_text_vae(dropout=0.0)
    torch.manual_seed(5)
    mu0, lv0 = ref_model.encode(x)
    (unrolled_loss_autograd(ref_model, x, mu0, lv0, cfg, kl_weight=0.8) / x.shape[0]).backward()
    ref = grads(ref_model.parameters())
    for hvp, tol in (("exact", 1e-8), ("fd", 1e-3)):
        model = tiny_text_vae(dropout=0.0)
        torch.manual_seed(5)
        training_step(model, x, "savae", dataclasses.replace(cfg, hvp=hvp), kl_weight=0.8)
        assert relative_error(grads(model.parameters()), ref) < tol, hvp


def test_savae_mode_with_zero_steps_equals_vae_mode():
    grads = {}
    for mode in ("vae", "savae"):
        model = tiny_text_vae(dropout=0.0)
        torch.manual_seed(5)
        training_step(model, tiny_sentences(4, 6), mode, SVIConfig(steps=0), kl_weight=0.7)
        grads[mode] = [p.grad.clone() for p in model.parameters()]
    assert relative_error(grads["savae"], grads["vae"]) < 1e-12


def test_kl_between_matches_the_formula_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu_q, lv_q, mu_p, lv_p = (torch.randn(3, 4, generator=g, dtype=torch.float64) * s for s in (1.0, 0.5, 1.0, 0.5))
    kl = kl_between(mu_q, lv_q, mu_p, lv_p)
    formula = 0.5 * (lv_p - lv_q + (lv_q.exp() + (mu_q - mu_p).pow(2)) / lv_p.exp() - 1).sum(-1)
    assert kl.shape == (3,)
    torch.testing.assert_close(kl, formula, rtol=1e-12, atol=1e-12)
    S = 100_000
    z = gaussian.sample(mu_q.expand(S, -1, -1), lv_q.expand(S, -1, -1),
                        torch.randn(S, 3, 4, generator=g, dtype=torch.float64))
    log_ratio = gaussian.log_density(z, mu_q, lv_q) - gaussian.log_density(z, mu_p, lv_p)  # (S, 3)
    se = log_ratio.std(0) / S**0.5
    assert ((log_ratio.mean(0) - kl).abs() < 4 * se).all()
    zeros = torch.zeros_like(mu_q)
    torch.testing.assert_close(kl_between(mu_q, lv_q, zeros, zeros), gaussian.kl_to_standard_normal(mu_q, lv_q))
    assert float(kl_between(mu_q, lv_q, mu_q, lv_q).abs().max()) == 0.0


def test_unknown_mode_in_training_step():
    model = tiny_text_vae(dropout=0.0)
    with pytest.raises(ValueError, match="unknown training mode 'magic'; choose one of autoreg, vae"):
        training_step(model, tiny_sentences(2, 5), "magic", SVIConfig(steps=1))
    record = Mode("custom", modes.step_vae, latent=True, encoder=True, refines=False, unrolled=False,
                  encoder_loss="f(lambda_0)")
    assert get_mode(record) is record


def test_step_stats_check_finite_names_quantity_step_and_mode():
    StepStats(1.0, 1.0, 0.0, 2, 4.0).check_finite("vae", 3)
    with pytest.raises(FloatingPointError, match=r"non-finite kl \(inf\) at step 7 in mode 'svi'"):
        StepStats(1.0, 1.0, float("inf"), 2, 4.0).check_finite("svi", 7)
    with pytest.raises(FloatingPointError, match=r"non-finite loss \(nan\)"):
        StepStats(float("nan"), 1.0, 0.0, 2, 4.0).check_finite("vae", 0)
