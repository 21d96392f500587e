"""The two-stack gated PixelCNN (models/pixelcnn.py) is autoregressive in raster order and has no blind spot.

Chapter: Images (PixelCNN).
"""
import pytest
import torch
from torch.autograd.functional import jacobian

from savae_lite.models.image import ImageModelConfig, ImageVAE
from savae_lite.models.pixelcnn import (
    GatedLayer,
    GatedPixelCNN,
    HorizontalConv,
    VerticalConv,
    bernoulli_nll,
    horizontal_mask,
    shift_down,
)
from savae_lite.receptive_field import spread_weights  # random weights under which no dependency vanishes

SIZE = 8
TINY = 1e-12  # a dependency counts as present above this; absent ones must be exactly 0


def raster_jacobian(fn, x):
    """d fn(x)_i / d x_j for a (1, C, H, W) -> (1, C_out, H, W) map: a (C_out*H*W, C, H*W) tensor, raster order."""
    J = jacobian(lambda inp: fn(inp).flatten(), x, vectorize=True)  # (C_out*H*W, 1, C, H, W)
    return J.reshape(J.shape[0], x.shape[1], -1)


def dependencies(J):
    """(n, C, n) Jacobian -> (n, n) |d out_i / d in_j| summed over input channels."""
    return J.abs().sum(1)


def raster_positions(size):
    idx = torch.arange(size * size)
    return idx // size, idx % size


def expected_field(size, reach):
    """(n, n) bool: which x_j logit i of a two-stack PixelCNN with total reach P = sum k // 2 sees.

    Same row: the P pixels left of i. Rows above: the P + 1 rows right above, columns within P of i's.
    """
    r, c = raster_positions(size)
    dr = r[:, None] - r[None, :]  # row of i minus row of j
    dc = c[:, None] - c[None, :]
    same_row = (dr == 0) & (dc >= 1) & (dc <= reach)
    above = (dr >= 1) & (dr <= reach + 1) & (dc.abs() <= reach)
    return same_row | above


def earlier(n):
    """(n, n) bool: j < i in raster order."""
    return torch.ones(n, n, dtype=torch.bool).tril(-1)


def assert_exact_field(dep, field):
    """Output i depends on input j exactly where ``field`` says: present above TINY, absent exactly 0."""
    assert dep[~field].abs().max() == 0, "an output sees an input outside its receptive field"
    assert dep[field].min() > TINY, "an output misses an input inside its receptive field"


def assert_causal(J, strict):
    n = J.shape[0]
    future = torch.ones(n, n, dtype=torch.bool).triu(0 if strict else 1)  # j >= i (strict) or j > i
    dep = dependencies(J)  # (i, j): does output i depend on input j
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
    assert horizontal_mask(3, "A").tolist() == [[1, 0]]
    assert horizontal_mask(3, "B").tolist() == [[1, 1]]
    assert horizontal_mask(7, "A").tolist() == [[1, 1, 1, 0]]
    with pytest.raises(ValueError):
        horizontal_mask(4, "A")
    with pytest.raises(ValueError):
        horizontal_mask(3, "C")


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_vertical_and_horizontal_convs_alone(kernel_size):
    """Each stack's convolution reads exactly its window; the shifted vertical stack only rows strictly above."""
    torch.manual_seed(0)
    p, n = kernel_size // 2, SIZE * SIZE
    x = torch.randn(1, 2, SIZE, SIZE, dtype=torch.float64)
    r, c = raster_positions(SIZE)
    dr, dc = r[:, None] - r[None, :], c[:, None] - c[None, :]

    vertical = VerticalConv(2, 1, kernel_size).double()
    assert vertical(x).shape == (1, 1, SIZE, SIZE)
    window = (dr >= 0) & (dr <= p) & (dc.abs() <= p)  # includes the current row, right of i too
    assert_exact_field(dependencies(raster_jacobian(vertical, x)), window)
    shifted = (dr >= 1) & (dr <= p + 1) & (dc.abs() <= p)
    assert_exact_field(dependencies(raster_jacobian(lambda t: shift_down(vertical(t)), x)), shifted)
    assert not (shifted & ~earlier(n)).any()  # the shifted window is strictly in the past

    for mask_type in "AB":
        conv = HorizontalConv(2, 1, kernel_size, mask_type).double()
        assert conv(x).shape == (1, 1, SIZE, SIZE)
        J = raster_jacobian(conv, x)
        row = (dr == 0) & (dc >= (1 if mask_type == "A" else 0)) & (dc <= p)
        assert_exact_field(dependencies(J), row)
        centre = dependencies(J).diagonal()
        assert (centre == 0).all() if mask_type == "A" else (centre != 0).all()


@pytest.mark.parametrize("kernel_size", [3, 5, 7, 9])
def test_first_layer_alone_has_the_exact_receptive_field(kernel_size):
    """One layer + head: logit i sees x(r, c - p .. c - 1) and x(r - p - 1 .. r - 1, c - p .. c + p), nothing else."""
    net = spread_weights(GatedPixelCNN(1, 4, (kernel_size,)).double())
    x = torch.randn(1, 1, SIZE, SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    field = expected_field(SIZE, kernel_size // 2)
    assert not (field & ~earlier(SIZE * SIZE)).any()
    assert_exact_field(dependencies(raster_jacobian(net, x)), field)


@pytest.mark.parametrize("kernel_size", [3, 5, 7, 9])
def test_stack_sees_every_earlier_pixel(kernel_size):
    """No blind spot: with L * (k // 2) >= SIZE - 1, logit i depends on every x_j, j < i, and on no x_j, j >= i.

    The reach grows by k // 2 per layer; one layer fewer must still miss pixels (the depth is not generous).
    """
    p, n = kernel_size // 2, SIZE * SIZE
    depth = -(-(SIZE - 1) // p)  # the fewest layers whose reach covers the image
    x = torch.randn(1, 1, SIZE, SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    net = spread_weights(GatedPixelCNN(1, 4, (kernel_size,) * depth).double())
    J = raster_jacobian(net, x)
    assert_exact_field(dependencies(J), earlier(n))
    assert_causal(J, strict=True)
    if depth > 1:
        shallow = spread_weights(GatedPixelCNN(1, 4, (kernel_size,) * (depth - 1)).double())
        field = expected_field(SIZE, (depth - 1) * p)
        assert (earlier(n) & ~field).any()
        assert_exact_field(dependencies(raster_jacobian(shallow, x)), field)


def test_gated_stack_is_autoregressive():
    torch.manual_seed(0)
    net = GatedPixelCNN(1, 6, (7, 5, 3, 5, 3), cond_channels=0).double()
    x = torch.randn(1, 1, SIZE, SIZE, dtype=torch.float64)
    assert_causal(raster_jacobian(net, x), strict=True)
    # mixed kernel sizes: the reach is 3 + 2 + 1 + 2 + 1 = 9 >= SIZE - 1, so every earlier pixel is seen
    spread_weights(net)
    assert_exact_field(dependencies(raster_jacobian(net, x)), earlier(SIZE * SIZE))


def test_paper_decoder_has_no_blind_spot():
    """The paper-sized decoder (12 layers, kernels 9..3, 28 x 28): logit i sees every earlier pixel.

    The single-stack decoder this replaced missed 15 earlier pixels at (14, 14) and 54 at (20, 5).
    """
    cfg = ImageModelConfig.paper()
    torch.manual_seed(0)
    model = ImageVAE(cfg).double()
    spread_weights(model.decoder)
    s = cfg.image_size
    x = torch.bernoulli(torch.full((1, 1, s, s), 0.5, dtype=torch.float64),
                        generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    z = torch.randn(1, cfg.latent_dim, dtype=torch.float64)
    logits = model.logits(x, z)
    for r, c in [(14, 14), (20, 5), (1, 0), (0, s - 1), (s - 1, 0), (s - 1, s - 1)]:
        (g,) = torch.autograd.grad(logits[0, 0, r, c], x, retain_graph=True)
        g, i = g.flatten().abs(), r * s + c
        assert g[i:].max() == 0, f"pixel {(r, c)} sees the present or the future"
        assert g[:i].min() > TINY, f"pixel {(r, c)} misses {(g[:i] <= TINY).sum().item()} earlier pixels"


@pytest.mark.parametrize("kernel_sizes", [(3,), (5, 3, 3)])
def test_one_channel_decoder_never_sees_the_current_pixel(kernel_sizes):
    """With channels == in_channels == 1 the first layer must still not be residual: logit i never sees x_i.

    (The single-stack code put a residual connection around the mask-A layer whenever C_in == C, so there
    logit i did see x_i; this fails on that code.)
    """
    net = spread_weights(GatedPixelCNN(1, 1, kernel_sizes, cond_channels=2).double())
    x = torch.randn(1, 1, SIZE, SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    cond = torch.randn(1, 2, SIZE, SIZE, dtype=torch.float64)
    dep = dependencies(raster_jacobian(lambda t: net(t, cond), x))
    assert (dep.diagonal() == 0).all(), "logit i sees x_i: a residual connection around the mask-A layer"
    assert_exact_field(dep, expected_field(SIZE, sum(k // 2 for k in kernel_sizes)))


def test_first_layer_has_no_residual_connection():
    """Structure: the mask-A layer has no residual connection whatever the channel counts; mask-B ones do."""
    net = GatedPixelCNN(4, 4, (5, 3, 3))
    assert [layer.residual for layer in net.layers] == [False, True, True]
    assert net.layers[0].horizontal.mask_type == "A"
    assert all(layer.horizontal.mask_type == "B" for layer in net.layers[1:])
    assert not GatedLayer(4, 4, 3, "A").residual
    with pytest.raises(ValueError):
        GatedLayer(1, 4, 3, "B")  # a residual layer needs matching channel counts
    # the mask-A layer's output at i ignores x_i even though shapes would allow h + x
    layer = spread_weights(GatedLayer(1, 1, 3, "A").double())
    x = torch.randn(1, 1, SIZE, SIZE, dtype=torch.float64)
    J = raster_jacobian(lambda t: layer(t, t)[1], x)
    assert (dependencies(J).diagonal() == 0).all()


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
    assert Jz[0].abs().sum() > TINY
    # the conditioning term feeds both stacks of the first layer: 2C + 2C channels
    assert model.decoder.cond_term(model.cond_maps(z)).shape == (1, 4 * cfg.dec_channels, SIZE, SIZE)


def test_masks_are_buffers_built_once(monkeypatch):
    net = GatedPixelCNN(1, 4, (5, 3), cond_channels=2)
    names = [n for n, _ in net.named_buffers()]
    assert "layers.0.horizontal.mask" in names
    assert net.layers[1].horizontal.mask is None  # mask B: the kernel stops at the current pixel, nothing to mask
    assert all("mask" not in n for n, _ in net.named_parameters())
    calls = []
    import savae_lite.models.pixelcnn as pc
    monkeypatch.setattr(pc, "horizontal_mask", lambda *a: calls.append(a))
    net(torch.zeros(2, 1, 6, 6), torch.zeros(2, 2, 6, 6))
    assert calls == []
    # the masked entries of the weight get no gradient
    net(torch.rand(2, 1, 6, 6), torch.randn(2, 2, 6, 6)).sum().backward()
    conv = net.layers[0].horizontal
    assert (conv.weight.grad * (1 - conv.mask)).abs().max() == 0
    assert (conv.weight.grad * conv.mask).abs().max() > 0


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
