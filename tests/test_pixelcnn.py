"""Masked convolutions and the gated PixelCNN are autoregressive in raster order.

Chapter: Images (PixelCNN).
"""
import pytest
import torch
from torch.autograd.functional import jacobian

from savae_lite.models.image import ImageModelConfig, ImageVAE
from savae_lite.models.pixelcnn import GatedPixelCNN, MaskedConv2d, bernoulli_nll, causal_mask

SIZE = 8


def raster_jacobian(fn, x):
    """d fn(x)_i / d x_j for a (1, C, H, W) -> (1, 1, H, W) map, as an (H*W, C, H*W) tensor in raster order."""
    J = jacobian(lambda inp: fn(inp).flatten(), x, vectorize=True)  # (H*W, 1, C, H, W)
    return J.reshape(J.shape[0], x.shape[1], -1)


def assert_causal(J, strict):
    n = J.shape[0]
    future = torch.ones(n, n, dtype=torch.bool).triu(0 if strict else 1)  # j >= i (strict) or j > i
    dep = J.abs().sum(1)  # (i, j): does output i depend on input j
    assert dep[future].abs().max() == 0, "an output sees the present or the future"
    # ... and it does see its immediate past: the left neighbour and the pixel above.
    for i in [1, SIZE - 1, SIZE, SIZE + 1, n // 2 + 3, n - SIZE, n - 1]:
        if i % SIZE > 0:
            assert dep[i, i - 1] != 0
        if i >= SIZE:
            assert dep[i, i - SIZE] != 0
    if not strict:
        assert (dep.diagonal() != 0).all()


def test_mask_shapes():
    assert causal_mask(3, "A").tolist() == [[1, 1, 1], [1, 0, 0]]
    assert causal_mask(3, "B").tolist() == [[1, 1, 1], [1, 1, 0]]
    with pytest.raises(ValueError):
        causal_mask(4, "A")


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_single_masked_conv(mask_type):
    torch.manual_seed(0)
    conv = MaskedConv2d(2, 1, 5, mask_type).double()
    x = torch.randn(1, 2, SIZE, SIZE, dtype=torch.float64)
    assert conv(x).shape == (1, 1, SIZE, SIZE)
    J = raster_jacobian(conv, x)
    strict = mask_type == "A"
    n = SIZE * SIZE
    assert J.abs().sum(1)[torch.ones(n, n, dtype=torch.bool).triu(0 if strict else 1)].max() == 0
    centre = J.abs().sum(1).diagonal()
    assert (centre == 0).all() if strict else (centre != 0).all()


def test_gated_stack_is_autoregressive():
    torch.manual_seed(0)
    net = GatedPixelCNN(1, 6, (7, 5, 3, 5, 3), cond_channels=0).double()
    x = torch.randn(1, 1, SIZE, SIZE, dtype=torch.float64)
    assert_causal(raster_jacobian(net, x), strict=True)


def test_conditioning_does_not_break_the_order_and_reaches_every_pixel():
    torch.manual_seed(0)
    cfg = ImageModelConfig(latent_dim=3, enc_channels=4, dec_layers=3, dec_channels=6,
                           kernel_sizes=(5, 3, 3), cond_maps=2, image_size=SIZE)
    model = ImageVAE(cfg).double()
    x = torch.randn(1, 1, SIZE, SIZE, dtype=torch.float64)
    z = torch.randn(1, 3, dtype=torch.float64)
    assert_causal(raster_jacobian(lambda inp: model.logits(inp, z), x), strict=True)
    # z reaches every logit, the first pixel (top-left corner) included
    Jz = jacobian(lambda zz: model.logits(x, zz).flatten(), z)  # (H*W, 1, Z)
    assert (Jz.abs().sum((1, 2)) != 0).all()


def test_masks_are_buffers_built_once(monkeypatch):
    net = GatedPixelCNN(1, 4, (5, 3), cond_channels=2)
    names = [n for n, _ in net.named_buffers()]
    assert "layers.0.conv.mask" in names and "layers.1.conv.mask" in names
    assert all("mask" not in n for n, _ in net.named_parameters())
    calls = []
    import savae_lite.models.pixelcnn as pc
    monkeypatch.setattr(pc, "causal_mask", lambda *a: calls.append(a))
    net(torch.zeros(2, 1, 6, 6), torch.zeros(2, 2, 6, 6))
    assert calls == []
    # the masked entries of the weight get no gradient
    net(torch.rand(2, 1, 6, 6), torch.randn(2, 2, 6, 6)).sum().backward()
    conv = net.layers[0].conv
    assert (conv.weight.grad * (1 - conv.mask)).abs().max() == 0


def test_bernoulli_nll_of_zero_logits():
    x = torch.randint(0, 2, (3, 1, 5, 5)).float()
    nll = bernoulli_nll(torch.zeros_like(x), x)
    assert torch.allclose(nll, torch.full((3,), 25 * torch.log(torch.tensor(2.0)).item()))


def test_top_rows_alone_give_the_same_logits():
    """Row r depends only on rows <= r, so sampling may run the network on the top rows only."""
    torch.manual_seed(0)
    net = GatedPixelCNN(1, 4, (5, 3, 3), cond_channels=2).double()
    x = torch.randn(2, 1, SIZE, SIZE, dtype=torch.float64)
    term = net.cond_term(torch.randn(2, 2, SIZE, SIZE, dtype=torch.float64))
    full = net(x, cond_term=term)
    for rows in [1, 3, SIZE]:
        top = net(x[:, :, :rows], cond_term=term[:, :, :rows])
        assert torch.allclose(top, full[:, :, :rows], atol=1e-12)
    with pytest.raises(ValueError):
        net(x)  # conditioning is required when the network was built with it
