"""Receptive fields measured from gradients (receptive_field.py): the two-stack gated PixelCNN reads exactly its
causal window (every earlier pixel once deep enough), a single masked stack misses pixels above and to the right.

Chapter: *Image VAEs with a gated PixelCNN decoder*.
"""
import pytest
import torch
from torch import nn

from savae_lite.build import build_model
from savae_lite.models.pixelcnn import GatedPixelCNN
from savae_lite.presets import preset
from savae_lite.receptive_field import (
    MaskedConv2d,
    SingleStackPixelCNN,
    blind_spot,
    dependency_map,
    past,
    spread_weights,
    two_stack_field,
    wedge,
)

SIZE = 12
KERNELS = (5, 3, 3, 3)
REACH = sum(k // 2 for k in KERNELS)  # 5
PIXELS = [(8, 6), (SIZE - 1, SIZE - 1), (1, 0), (0, 3), (6, SIZE - 1)]


@pytest.mark.parametrize("pixel", PIXELS)
def test_two_stack_reads_exactly_its_causal_window(pixel):
    net = spread_weights(GatedPixelCNN(1, 6, KERNELS, cond_channels=2).double())
    dep = dependency_map(net, SIZE, pixel)
    field = two_stack_field(SIZE, pixel, REACH)
    assert not (field & ~past(SIZE, pixel)).any()  # the window is in the past
    assert dep[~field].max() == 0, "the logit reads a pixel outside its window (the present or the future)"
    assert (dep[field] > 0).all(), "the logit misses a pixel of its window: a blind spot"
    assert not blind_spot(net, SIZE, pixel, window=REACH).any()


def test_a_deep_enough_two_stack_reads_every_earlier_pixel():
    net = spread_weights(GatedPixelCNN(1, 4, (5,) * 6).double())  # reach 12 >= SIZE - 1
    for pixel in PIXELS:
        assert torch.equal(dependency_map(net, SIZE, pixel) > 0, past(SIZE, pixel))


@pytest.mark.parametrize("pixel", [(8, 6), (SIZE - 1, 2), (5, 5)])
def test_a_single_stack_has_a_blind_spot_above_right(pixel):
    """Same depth and kernels: causal too, but earlier pixels inside the two-stack window are never read, and
    they all lie above and to the right of the pixel."""
    single = spread_weights(SingleStackPixelCNN(1, 6, KERNELS).double())
    dep = dependency_map(single, SIZE, pixel)
    assert dep[~past(SIZE, pixel)].max() == 0
    missed = blind_spot(single, SIZE, pixel, window=REACH)
    missed[: max(pixel[0] - REACH, 0)] = False  # row r - P - 1: the two-stack's extra row (its shift), not a hole
    assert missed.any(), "a single masked stack should miss earlier pixels"
    rows, cols = missed.nonzero(as_tuple=True)
    assert (rows < pixel[0]).all() and (cols > pixel[1]).all()
    assert (dep[pixel[0], max(pixel[1] - REACH, 0): pixel[1]] > 0).all()  # its row, leftwards, is read


def test_wedge_keeps_the_misses_above_right_within_the_reach():
    """By hand: a miss left of the pixel, one in the window's extra top row and two above-right; only the
    last two are the wedge. On a single stack the wedge and the top row together are all its misses."""
    pixel, reach = (6, 4), 3
    missed = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    missed[5, 2] = missed[2, 6] = missed[3, 5] = missed[6 - 1, 7] = True
    got = wedge(missed, pixel, reach)
    assert got.sum() == 2 and got[3, 5] and got[5, 7] and not got[2, 6] and not got[5, 2]
    assert not wedge(torch.zeros_like(missed), pixel, reach).any()
    single = spread_weights(SingleStackPixelCNN(1, 6, KERNELS).double())
    for pix in [(8, 6), (5, 5)]:
        miss = blind_spot(single, SIZE, pix, window=REACH)
        w = wedge(miss, pix, REACH)
        assert w.any() and not (w & ~miss).any()
        top_row = miss.clone()
        top_row[pix[0] - REACH:] = False
        assert torch.equal(w | top_row, miss), "a single stack's misses: the wedge and the window's top row"


def test_the_maps_can_fail():
    """An unmasked convolution reads the future, a mask-A convolution does not read the centre: the maps show it."""
    plain = spread_weights(nn.Conv2d(1, 1, 3, padding=1).double())
    dep = dependency_map(plain, SIZE, (5, 5))
    assert dep[~past(SIZE, (5, 5))].max() > 0
    conv = spread_weights(MaskedConv2d(1, 1, 3, "A").double())
    dep = dependency_map(conv, SIZE, (5, 5))
    assert dep[5, 5] == 0 and dep[5, 4] > 0 and dep[4, 6] > 0 and dep[6, 5] == 0
    with pytest.raises(ValueError, match="pixel"):
        dependency_map(conv, SIZE, (SIZE, 0))
    with pytest.raises(ValueError, match="convolution"):
        dependency_map(nn.Linear(2, 2), SIZE, (0, 0))


def test_the_study_decoder_at_its_own_initialisation():
    """The image study's VAE (float32, default initialisation, random z): exactly the two-stack window of reach 8."""
    cfg = preset("omniglot-study")
    torch.manual_seed(0)
    model = build_model(cfg)
    reach = sum(k // 2 for k in cfg.model["kernel_sizes"])
    for pixel in [(14, 14), (27, 3), (2, 27)]:
        dep = dependency_map(model, 28, pixel)
        assert torch.equal(dep > 0, two_stack_field(28, pixel, reach))
