"""The one evaluator (evaluate.py): the multi-sample bound, the IW-NLL against it, the test-time q, the test
report of every mode and the even spread of an IW subset."""
import math

import pytest
import torch

import savae_lite.evaluate as evaluate_mod
from savae_lite import gaussian
from savae_lite.evaluate import bound_terms, evaluate, spread_subset
from savae_lite.models.text import LSTMLanguageModel, TextModelConfig
from savae_lite.modes import MODES
from savae_lite.svi import SVIConfig, svi
from tests.conftest import tiny_sentences

REFINE = SVIConfig(steps=3, lr_mu=0.05, lr_logvar=0.05)


def test_bound_with_samples_is_the_mean_of_single_sample_bounds(toy):
    """samples=S draws S z per example (rows grouped by example); its reconstruction term is the mean of S
    single-sample terms with exactly those draws, and KL is the closed form."""
    model, x = toy
    B, S = x.shape[0], 5
    with torch.no_grad():
        mu, lv = model.encode(x)
        torch.manual_seed(4)
        recon, kl = bound_terms(model, x, mu, lv, samples=S)
        torch.manual_seed(4)
        eps = torch.randn(B * S, model.latent_dim, dtype=mu.dtype).view(B, S, -1)
        singles = torch.stack([model.neg_log_lik(x, gaussian.sample(mu, lv, eps[:, s])) for s in range(S)], 1)
    torch.testing.assert_close(recon, singles.mean(1))
    torch.testing.assert_close(kl, gaussian.kl_to_standard_normal(mu, lv))
    torch.manual_seed(4)
    out = evaluate(model, [x], samples=S)  # same draws: the evaluator adds nothing random before them
    assert out["recon"] == pytest.approx(float(singles.mean()), abs=1e-5)
    assert out["nll_bound"] == pytest.approx(float(singles.mean() + kl.mean()), abs=1e-5)


def test_multi_sample_bound_matches_the_exact_elbo_in_expectation(toy):
    """The linear Gaussian model's ELBO is known in closed form: the S-sample bound is within 4 standard errors
    of it, the standard error estimated from the single-draw variance of each example."""
    model, x = toy
    B, S = x.shape[0], 400
    with torch.no_grad():
        mu, lv = model.encode(x)
        exact = -model.exact_elbo(x, mu, lv).mean()
        draws = model.neg_log_lik(x.repeat_interleave(S, 0),
                                  gaussian.sample(mu.repeat_interleave(S, 0), lv.repeat_interleave(S, 0))).view(B, S)
    se = float(draws.var(1).sum() / S) ** 0.5 / B
    torch.manual_seed(11)
    out = evaluate(model, [x[:10], x[10:]], samples=S)
    assert abs(out["nll_bound"] - float(exact)) < 4 * se + 1e-5
    assert out["examples"] == B and out["tokens"] == B * x.shape[1]


def test_iw_nll_is_below_the_bound_and_above_the_true_nll(toy):
    """On average: -log p(x) <= IW-NLL (S = 50) <= -ELBO. The encoder here is a poor proposal, so single IW
    estimates are noisy (heavy-tailed weights): the bound uses 200 draws and the lower side 20 repeats."""
    model, x = toy
    torch.manual_seed(2)
    out = evaluate(model, [x], samples=200, iw_samples=50)
    assert out["iw_nll"] < out["nll_bound"]
    assert out["iw_samples"] == 50 and out["ppl_iw"] == pytest.approx(math.exp(out["iw_nll"] * 16 / out["tokens"]),
                                                                       rel=1e-5)
    with torch.no_grad():
        true_nll = float(-model.log_marginal(x).mean())
    runs = torch.tensor([evaluate(model, [x], iw_samples=50)["iw_nll"] for _ in range(20)], dtype=torch.float64)
    assert float(runs.mean()) > true_nll - 4 * float(runs.std()) / 20**0.5
    assert float(runs.mean()) < out["nll_bound"]


def test_test_time_q_from_zeros_or_encoder_and_refined(toy):
    model, x = toy
    model, x = model.float(), x.float()  # see test_zeros_init_follows_the_model_dtype
    mu, lv = evaluate_mod.test_time_q(model, x, init="zeros")
    assert torch.equal(mu, torch.zeros(16, 2)) and torch.equal(lv, mu)
    with torch.no_grad():
        enc = model.encode(x)
    assert all(torch.equal(a, b) for a, b in zip(evaluate_mod.test_time_q(model, x), enc))
    torch.manual_seed(6)
    refined = evaluate_mod.test_time_q(model, x, init="zeros", refine=REFINE)
    torch.manual_seed(6)
    zeros = torch.zeros(16, 2)
    assert all(torch.equal(a, b) for a, b in zip(refined, svi(model, x, zeros, zeros, REFINE)))


def test_zeros_init_follows_the_model_dtype(toy):
    model, x = toy  # float64
    mu, lv = evaluate_mod.test_time_q(model, x, init="zeros", refine=REFINE)
    assert mu.dtype == lv.dtype == torch.float64


@pytest.mark.parametrize("name", MODES)
def test_report_keys_and_test_time_q_per_mode(name, toy, monkeypatch):
    """``exact`` for autoreg; otherwise ``no_refine`` only with an encoder, ``refine`` always, ``iw`` with the
    mode's own test-time q (refined iff the mode refines) -- and every q starts where the mode's init says."""
    m = MODES[name]
    seen = []
    real = evaluate_mod.test_time_q

    def spy(model, x, init="encoder", refine=None):
        seen.append((init, refine))
        return real(model, x, init, refine)

    monkeypatch.setattr(evaluate_mod, "test_time_q", spy)
    if not m.latent:
        torch.manual_seed(0)
        lm = LSTMLanguageModel(TextModelConfig.tiny(20))
        x = tiny_sentences(4, 6)
        assert set(evaluate_mod.test_report(lm, [x], name, REFINE, iw_samples=0)) == {"exact"}
        rep = evaluate_mod.test_report(lm, [x], name, REFINE, iw_samples=3, iw_max_examples=2)
        assert set(rep) == {"exact", "iw"} and not seen
        with torch.no_grad():
            per = lm.eval().neg_log_lik(x, None)
            assert rep["exact"]["nll"] == pytest.approx(float(per.mean()), rel=1e-5)
            # the IW examples of the latent models (rows 0 and 2 of 4): the exact NLL on those
            assert rep["iw"]["iw_nll"] == pytest.approx(float(per[[0, 2]].mean()), rel=1e-5)
        assert rep["iw"]["examples"] == 2 and rep["iw"]["selection"] == "spread evenly over the split"
        assert rep["exact"]["ppl"] == pytest.approx(math.exp(rep["exact"]["nll"] * 4 / 20), rel=1e-5)
        return
    model, x = toy
    model, x = model.float(), x.float()  # the svi mode's zeros init is float32 (see above)
    rep = evaluate_mod.test_report(model, [x[:8], x[8:]], name, REFINE, iw_samples=3, iw_max_examples=6)
    assert set(rep) == ({"no_refine"} if m.encoder else set()) | {"refine", "iw"}
    assert rep["refine"]["svi_steps"] == REFINE.steps and rep["refine"]["examples"] == 16
    iw = rep["iw"]
    assert iw["proposal"] == ("refined" if m.refines else "encoder") and iw["iw_samples"] == 3
    assert iw["examples"] == 6 and iw["selection"] == "spread evenly over the split"
    assert {init for init, _ in seen} == {m.init}
    # one call per batch: no_refine (2 batches), refine (2), then IW on the 6 examples (2 sub-batches)
    refined = [r is not None for _, r in seen]
    assert refined == ([False, False] if m.encoder else []) + [True, True] + [m.refines] * 2
    whole = evaluate_mod.test_report(model, [x], name, REFINE, iw_samples=2)
    assert whole["iw"]["selection"] == "the whole split"


def test_model_without_z_gets_its_exact_nll_and_training_mode_is_restored():
    torch.manual_seed(0)
    lm = LSTMLanguageModel(TextModelConfig(vocab_size=20, emb_dim=8, enc_hidden=8, dec_hidden=8, latent_dim=0,
                                           dropout=0.5))
    batches = [tiny_sentences(3, 5, seed=1), tiny_sentences(2, 7, seed=2)]
    lm.train()
    out = evaluate(lm, batches)
    assert lm.training
    with torch.no_grad():
        lm.eval()
        total = sum(float(lm.neg_log_lik(b, None).sum()) for b in batches)
    assert out["nll"] == pytest.approx(total / 5, rel=1e-5) and out["tokens"] == 3 * 4 + 2 * 6
    assert out["ppl"] == pytest.approx(math.exp(total / 24), rel=1e-5)


def test_spread_subset_takes_examples_across_batches():
    batches = [torch.full((4, 2), i) for i in range(5)]  # 20 examples, batch i holds value i
    sub = spread_subset(batches, 5)
    assert sum(x.shape[0] for x in sub) == 5
    assert sorted({int(x[0, 0]) for x in sub}) == [0, 1, 2, 3, 4]
    assert spread_subset(batches, None) == batches


# ---------------------------------------------------------------------------------- nothing to evaluate
@pytest.mark.parametrize("subset", [[], "n=0", "n=-5"])
def test_evaluation_over_zero_examples_raises(subset, toy):
    """No metric of nothing: it used to return NLL 0.0, PPL 1.0 and IW-NLL 0.0, a perfect score."""
    model, x = toy
    batches = subset if isinstance(subset, list) else spread_subset([x[:8], x[8:]], int(subset[2:]))
    assert batches == []
    for kwargs in ({}, {"refine": REFINE}, {"iw_samples": 3}):
        with pytest.raises(ValueError, match="no examples to evaluate"):
            evaluate(model, batches, **kwargs)


def test_report_with_zero_iw_examples_raises(toy):
    model, x = toy
    with pytest.raises(ValueError, match="no examples"):
        evaluate_mod.test_report(model, [x], "savae", REFINE, iw_samples=3, iw_max_examples=0)


def test_exact_model_over_zero_examples_raises():
    model = LSTMLanguageModel(TextModelConfig.tiny(20))
    with pytest.raises(ValueError, match="no examples"):
        evaluate(model, [])


def test_perplexity_never_overflows():
    from savae_lite.objectives import perplexity

    assert perplexity(1e6, 10) == math.inf  # exp(1e5): beyond a float
    assert perplexity(709.0, 1) == pytest.approx(math.exp(709.0))
    assert perplexity(-1e6, 10) == 0.0
    assert math.isnan(perplexity(math.nan, 10))
    assert perplexity(math.inf, 10) == math.inf
    assert perplexity(2.0, 0) == pytest.approx(math.exp(2.0))  # unchanged: tokens floored at 1
