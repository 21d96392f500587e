import pytest
import torch

from savae_lite.models.toy import LinearGaussianVAE, ToyModelConfig
from savae_lite.objectives import neg_elbo
from savae_lite.svi import SVIConfig, SVITrace, clip_jvp, clip_per_example, svi


def test_clip_per_example_bounds_rows_and_keeps_small_ones():
    g = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    c = clip_per_example(g, 1.0)
    assert torch.allclose(c[0].norm(), torch.tensor(1.0)) and torch.equal(c[1], g[1])


def test_clip_jvp_is_the_jacobian_of_clip():
    torch.manual_seed(0)
    g = torch.randn(4, 3, dtype=torch.float64) * 2
    u = torch.randn(4, 3, dtype=torch.float64)
    _, jvp = torch.autograd.functional.jvp(lambda t: clip_per_example(t, 1.5), g, u)
    assert torch.allclose(clip_jvp(g, u, 1.5), jvp)


def test_svi_increases_the_elbo_on_average():
    torch.manual_seed(0)
    model = LinearGaussianVAE(ToyModelConfig(data_dim=6, latent_dim=2)).double()
    x = model.sample_data(64, torch.Generator().manual_seed(1))
    mu0, lv0 = model.encode(x)
    mu, lv = svi(model, x, mu0, lv0, SVIConfig(steps=30, lr_mu=0.05, lr_logvar=0.05, clip=None))
    before = model.exact_elbo(x, mu0, lv0).mean()
    after = model.exact_elbo(x, mu, lv).mean()
    assert after > before + 1.0


def test_svi_approaches_the_closed_form_optimum():
    torch.manual_seed(0)
    model = LinearGaussianVAE(ToyModelConfig(data_dim=6, latent_dim=2)).double()
    x = model.sample_data(32, torch.Generator().manual_seed(1))
    zeros = torch.zeros(32, 2, dtype=torch.float64)
    trace = SVITrace()
    mu, lv = svi(model, x, zeros, zeros, SVIConfig(steps=300, lr_mu=0.02, lr_logvar=0.02, clip=None), trace=trace)
    best = model.exact_elbo(x, *model.optimal_diagonal_q(x)).mean()
    got = model.exact_elbo(x, mu, lv).mean()
    assert float(best - got) < 0.05 * abs(float(best))
    assert len(trace.loss) == 301


def test_svi_does_not_touch_parameters_or_lambda0():
    """SVI's result is a constant for autograd: no graph back to lambda_0 (hence the encoder) or to theta
    through the K steps, nothing written into ``.grad``, lambda_0 not modified in place."""
    torch.manual_seed(0)
    model = LinearGaussianVAE(ToyModelConfig(enc_hidden=4)).double()
    x = model.sample_data(8)
    mu0, lv0 = model.encode(x)  # attached to the encoder's graph
    mu0_before, lv0_before = mu0.detach().clone(), lv0.detach().clone()
    mu, lv = svi(model, x, mu0, lv0, SVIConfig(steps=3))
    assert all(p.grad is None for p in model.parameters())
    assert not mu.requires_grad and not lv.requires_grad and mu.grad_fn is None and lv.grad_fn is None
    assert torch.equal(mu0.detach(), mu0_before) and torch.equal(lv0.detach(), lv0_before)
    with pytest.raises(RuntimeError):  # nothing to differentiate: the iterates carry no graph
        (mu.sum() + lv.sum()).backward()
    # the loss at lambda_K reaches theta only through the final evaluation, never the encoder or lambda_0
    torch.manual_seed(1)
    loss = neg_elbo(model, x, mu, lv).sum()
    assert torch.autograd.grad(loss, [mu0, lv0], retain_graph=True, allow_unused=True) == (None, None)
    loss.backward()
    assert all(p.grad is None for p in model.encoder_parameters())
    # theta's gradient is that of f at the constant lambda_K (same noise), with nothing from the SVI path
    torch.manual_seed(1)
    params = [p for p in model.decoder_parameters() if p.requires_grad]
    ref = torch.autograd.grad(neg_elbo(model, x, mu.detach().clone(), lv.detach().clone()).sum(), params)
    for p, g in zip(params, ref):
        assert torch.equal(p.grad, g)


def test_zero_steps_return_a_detached_copy_of_lambda0():
    model = LinearGaussianVAE(ToyModelConfig())
    x = model.sample_data(4)
    mu0, lv0 = model.encode(x)
    trace = SVITrace()
    mu, lv = svi(model, x, mu0, lv0, SVIConfig(steps=0), trace=trace)
    assert torch.equal(mu, mu0.detach()) and torch.equal(lv, lv0.detach()) and not mu.requires_grad
    assert len(trace.loss) == 1  # only the final evaluation
