"""The image VAE and the plain PixelCNN (models/image.py) implement the LatentVariableModel interface and reject
images of the wrong size or dtype.

Chapter: Images (PixelCNN).
"""
import math

import pytest
import torch

from savae_lite.models.base import LatentVariableModel
from savae_lite.models.image import ImageModelConfig, ImageVAE, PixelCNNLM

CFG = ImageModelConfig.tiny()
S = CFG.image_size


def binary_images(b, size=S, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((b, 1, size, size), 0.3), generator=g)


def test_presets():
    assert ImageModelConfig.paper() == ImageModelConfig()
    assert ImageModelConfig.paper().kernel_sizes == (9, 9, 9, 7, 7, 7, 5, 5, 5, 3, 3, 3)
    small = ImageModelConfig.small()
    assert small.dec_layers == len(small.kernel_sizes) == 6
    with pytest.raises(ValueError):
        ImageModelConfig(dec_layers=3)


@pytest.mark.parametrize("size", [8, 12, 28])
def test_shapes(size):
    cfg = ImageModelConfig(**{**CFG.__dict__, "image_size": size})
    model = ImageVAE(cfg)
    assert isinstance(model, LatentVariableModel) and model.is_latent
    x = binary_images(3, size)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, cfg.latent_dim)
    nll = model.neg_log_lik(x, mu)
    assert nll.shape == (3,) and (nll > 0).all()
    assert model.num_targets(x).tolist() == [size * size] * 3


def test_encoder_and_decoder_parameters_split():
    model = ImageVAE(CFG)
    enc = {id(p) for p in model.encoder_parameters()}
    dec = {id(p) for p in model.decoder_parameters()}
    assert enc and dec and not enc & dec
    assert enc | dec == {id(p) for p in model.parameters()}
    assert id(model.z_to_maps.weight) in dec


def test_zero_logits_give_log2_per_pixel():
    model = ImageVAE(CFG)
    head = model.decoder.head
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    x = binary_images(4)
    z = torch.randn(4, CFG.latent_dim)
    assert torch.allclose(model.neg_log_lik(x, z), torch.full((4,), S * S * math.log(2)))


def test_z_of_batch_one_broadcasts():
    torch.manual_seed(0)
    model = ImageVAE(CFG)
    x = binary_images(3)
    z = torch.randn(1, CFG.latent_dim)
    assert torch.allclose(model.neg_log_lik(x, z), model.neg_log_lik(x, z.expand(3, -1)))


def test_double_backward_float64():
    torch.manual_seed(0)
    model = ImageVAE(CFG).double()
    x = binary_images(2).double()
    z = torch.randn(2, CFG.latent_dim, dtype=torch.float64, requires_grad=True)
    (gz,) = torch.autograd.grad(model.neg_log_lik(x, z).sum(), z, create_graph=True)
    v = torch.randn_like(z)
    params = list(model.decoder_parameters())
    hvps = torch.autograd.grad((gz * v).sum(), [z] + params, allow_unused=True)
    assert hvps[0].dtype == torch.float64 and hvps[0].abs().sum() > 0
    assert any(h is not None and h.abs().sum() > 0 for h in hvps[1:])
    # exact H_zz v agrees with a central finite difference of the gradient
    eps = 1e-6
    def grad_at(zz):
        zz = zz.detach().requires_grad_(True)
        return torch.autograd.grad(model.neg_log_lik(x, zz).sum(), zz)[0]
    fd = (grad_at(z + eps * v) - grad_at(z - eps * v)) / (2 * eps)
    assert torch.allclose(hvps[0], fd, rtol=1e-5, atol=1e-7)


def test_pixelcnn_lm():
    torch.manual_seed(0)
    lm = PixelCNNLM(CFG)
    assert lm.latent_dim == 0 and not lm.is_latent
    assert list(lm.encoder_parameters()) == []
    x = binary_images(3)
    assert lm.neg_log_lik(x, None).shape == (3,)
    assert lm.num_targets(x).tolist() == [S * S] * 3
    with pytest.raises(NotImplementedError):
        lm.encode(x)
    lm.double()
    xd = x.double().requires_grad_(False)
    p = next(lm.parameters())
    (g,) = torch.autograd.grad(lm.neg_log_lik(xd).sum(), p, create_graph=True)
    (gg,) = torch.autograd.grad(g.pow(2).sum(), p)
    assert gg.dtype == torch.float64


@pytest.mark.parametrize("cls", [ImageVAE, PixelCNNLM])
def test_sample_is_binary_and_seeded(cls):
    cfg = ImageModelConfig(**{**CFG.__dict__, "image_size": 8})
    torch.manual_seed(0)
    model = cls(cfg)
    torch.manual_seed(1)
    a = model.sample(3)
    torch.manual_seed(1)
    b = model.sample(3)
    assert a.shape == (3, 1, 8, 8)
    assert ((a == 0) | (a == 1)).all()
    assert torch.equal(a, b)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(model.sample(2, generator=g1), model.sample(2, generator=g2))
    assert model.double().sample(2).dtype == torch.float64


def test_sample_with_given_z():
    torch.manual_seed(0)
    model = ImageVAE(ImageModelConfig(**{**CFG.__dict__, "image_size": 8}))
    z = torch.randn(1, CFG.latent_dim)
    assert model.sample(4, z=z).shape == (4, 1, 8, 8)


def test_deterministic_under_seed():
    def run():
        torch.manual_seed(3)
        model = ImageVAE(CFG)
        x = binary_images(2)
        mu, logvar = model.encode(x)
        return torch.cat([mu.flatten(), model.neg_log_lik(x, mu)])
    assert torch.equal(run(), run())


def test_sample_matches_a_naive_full_image_loop():
    cfg = ImageModelConfig(**{**CFG.__dict__, "image_size": 6})
    torch.manual_seed(0)
    model = ImageVAE(cfg)
    z = torch.randn(3, cfg.latent_dim)
    fast = model.sample(3, z=z, generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    x = torch.zeros(3, 1, 6, 6)
    with torch.no_grad():
        for i in range(36):
            r, c = divmod(i, 6)
            x[:, :, r, c] = torch.bernoulli(torch.sigmoid(model.logits(x, z)[:, :, r, c]), generator=g)
    assert torch.equal(fast, x)


@pytest.mark.parametrize("cls", [ImageVAE, PixelCNNLM])
def test_one_channel_decoder_does_not_see_the_current_pixel(cls):
    """dec_channels == 1 (equal to the image's one channel): logit i depends on x_<i only, never on x_i."""
    size = 6
    cfg = ImageModelConfig(**{**CFG.__dict__, "image_size": size, "dec_channels": 1})
    torch.manual_seed(0)
    model = cls(cfg).double()
    assert not model.decoder.layers[0].residual
    x = binary_images(1, size).double()
    z = torch.randn(1, cfg.latent_dim, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda t: model.logits(t, z).flatten(), x)  # (n, 1, 1, H, W)
    dep = J.reshape(size * size, size * size).abs()
    assert dep.triu().max() == 0  # neither the present (diagonal) nor the future
    assert dep[1:].sum(1).min() > 0  # every logit but the first sees some earlier pixel


@pytest.mark.parametrize("x,match", [
    (torch.zeros(2, 1, 10, 10), r"12.*12"),
    (torch.zeros(2, 12, 12), r"\(B, 1, 12, 12\)|shape"),
    (torch.zeros(2, 1, 12, 12, dtype=torch.uint8), "dtype|float"),
])
def test_image_model_rejects_wrong_size_or_dtype(x, match):
    model = ImageVAE(ImageModelConfig.tiny())
    for call in (lambda: model.encode(x), lambda: model.neg_log_lik(x, torch.zeros(x.shape[0], 4))):
        with pytest.raises(ValueError, match=match):
            call()
