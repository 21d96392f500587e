"""Algorithm 1 (differentiable SVI) against brute-force autograd through the same K momentum steps."""
import pytest
import torch

from savae_lite.checks import relative_error
from savae_lite.models.text import TextModelConfig, TextVAE
from savae_lite.svi import SVIConfig
from savae_lite.unrolled import unrolled_loss_autograd, unrolled_svi
from tests.conftest import tiny_sentences, tiny_text_vae


def compare(model, x, cfg, hvp, seed=1):
    mu0, lv0 = model.encode(x)
    mu0 = mu0.detach().requires_grad_(True)
    lv0 = lv0.detach().requires_grad_(True)
    params = [p for p in model.decoder_parameters() if p.requires_grad]
    torch.manual_seed(seed)
    f = unrolled_loss_autograd(model, x, mu0, lv0, cfg)
    ref = torch.autograd.grad(f, [mu0, lv0, *params])
    torch.manual_seed(seed)
    out = unrolled_svi(model, x, mu0, lv0, cfg, hvp=hvp, params=params)
    assert torch.allclose(out.loss, f.detach())
    got = [out.grad_mu0, out.grad_logvar0, *out.grad_theta]
    return relative_error(got[:2], ref[:2]), relative_error(got[2:], ref[2:])


@pytest.mark.parametrize("hvp,tol", [("exact", 1e-4), ("fd", 1e-2)])
@pytest.mark.parametrize("clip", [None, 0.2])
def test_text_vae_matches_autograd(hvp, tol, clip):
    """Dropout on (same masks replayed) and, with clip=0.2, per-example clipping active on most steps."""
    model = tiny_text_vae()
    x = tiny_sentences(5, 7)
    cfg = SVIConfig(steps=6, lr_mu=0.3, lr_logvar=0.2, momentum=0.5, clip=clip)
    err_lambda, err_theta = compare(model, x, cfg, hvp)
    assert err_lambda < tol and err_theta < tol, (err_lambda, err_theta)


def test_clipping_is_active_in_the_clipped_case():
    model = tiny_text_vae()
    x = tiny_sentences(5, 7)
    mu, lv = model.encode(x)
    with torch.enable_grad():
        mu = mu.detach().requires_grad_(True)
        from savae_lite.objectives import neg_elbo

        g, = torch.autograd.grad(neg_elbo(model, x, mu, lv.detach()).sum(), [mu])
    assert (g.norm(dim=-1) > 0.2).sum() >= 3


def test_fd_float32_is_close():
    """The default (float32) finite-difference step is accurate enough for training."""
    torch.manual_seed(0)
    model = TextVAE(TextModelConfig.tiny(20))
    x = tiny_sentences(4, 6)
    cfg = SVIConfig(steps=4, lr_mu=0.3, lr_logvar=0.3, clip=None)
    err_lambda, err_theta = compare(model, x, cfg, "fd")
    assert err_lambda < 2e-2 and err_theta < 2e-2


def test_zero_steps_is_the_vae_gradient():
    model = tiny_text_vae(dropout=0.0)
    x = tiny_sentences(4, 6)
    mu0, lv0 = model.encode(x)
    params = [p for p in model.decoder_parameters()]
    torch.manual_seed(3)
    out = unrolled_svi(model, x, mu0, lv0, SVIConfig(steps=0), hvp="fd", params=params)
    torch.manual_seed(3)
    from savae_lite.objectives import neg_elbo

    f = neg_elbo(model, x, mu0, lv0).sum()
    ref = torch.autograd.grad(f, [mu0, lv0, *params])
    assert relative_error([out.grad_mu0, out.grad_logvar0, *out.grad_theta], ref) < 1e-12


def test_unknown_backend_is_rejected():
    model = tiny_text_vae()
    x = tiny_sentences(2, 5)
    mu, lv = model.encode(x)
    with pytest.raises(ValueError, match="hvp"):
        unrolled_svi(model, x, mu, lv, SVIConfig(steps=1), hvp="magic")


@pytest.mark.parametrize("hvp,tol", [("exact", 1e-4), ("fd", 1e-2)])
def test_image_vae_matches_autograd(hvp, tol):
    image = pytest.importorskip("savae_lite.models.image")
    torch.manual_seed(0)
    cfg = image.ImageModelConfig.tiny()
    cfg.image_size = 8
    model = image.ImageVAE(cfg).double().eval()  # eval: BatchNorm of the encoder uses running statistics
    x = (torch.rand(3, 1, 8, 8) > 0.5).double()
    err_lambda, err_theta = compare(model, x, SVIConfig(steps=4, lr_mu=0.05, lr_logvar=0.05, clip=3.0), hvp)
    assert err_lambda < tol and err_theta < tol, (err_lambda, err_theta)


def test_fd_backend_matches_exact_in_float32_with_clipping():
    """The fd back-end's single-buffer theta accumulation (no per-step caches) in float32, K = 20, with the
    per-example clip active, against the exact back-end (itself checked against brute force above)."""
    torch.manual_seed(0)
    model = TextVAE(TextModelConfig(vocab_size=60, emb_dim=16, enc_hidden=16, dec_hidden=24, latent_dim=4))
    x = tiny_sentences(6, 8, vocab=60)
    mu0, lv0 = (t.detach() for t in model.encode(x))
    cfg = SVIConfig(steps=20, lr_mu=0.2, lr_logvar=0.2, clip=1.0)
    outs = {}
    for hvp in ("fd", "exact"):
        torch.manual_seed(1)
        outs[hvp] = unrolled_svi(model, x, mu0, lv0, cfg, hvp=hvp)
    fd, ex = outs["fd"], outs["exact"]
    assert relative_error([fd.grad_mu0, fd.grad_logvar0], [ex.grad_mu0, ex.grad_logvar0]) < 2e-2
    assert relative_error(fd.grad_theta, ex.grad_theta) < 2e-3
    assert fd.fd_perturbation.shape == (20,) and float(fd.fd_perturbation[-1]) == pytest.approx(1.0)
    assert ex.fd_perturbation is None
