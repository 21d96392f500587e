import torch

from savae_lite.models.toy import LinearGaussianVAE, ToyModelConfig
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
    model = LinearGaussianVAE(ToyModelConfig())
    x = model.sample_data(8)
    mu0, lv0 = model.encode(x)
    svi(model, x, mu0, lv0, SVIConfig(steps=3))
    assert all(p.grad is None for p in model.parameters())
