"""Masked convolutions and a gated PixelCNN: the autoregressive image decoder p(x | z) = prod_i p(x_i | x_<i, z).

Chapter: Images (PixelCNN).

Pixels are ordered in raster order (row by row, left to right). A *masked* convolution lets the output at
pixel i see only input pixels that come before i (mask ``'A'``) or before-or-at i (mask ``'B'``). Stacking
one mask-A layer followed by mask-B layers keeps the whole network autoregressive: logit i depends on
x_0 .. x_{i-1} only.

Two implementation choices, both for speed and both exact:

* The kernel rows *below* the centre row are always masked, so they are not stored at all: the kernel is
  (k // 2 + 1) x k and the input is padded only above (and left/right). This halves the work of a 9x9 layer.
  The remaining mask (zeros right of the centre in the last kernel row, and at the centre for ``'A'``) is built
  once in ``__init__`` and kept as a buffer; ``forward`` multiplies the weight by it (cheap: weight-sized).
* Conditioning maps (functions of z only, never of pixels) enter the first layer through a separate,
  *unmasked* convolution whose output is added to the masked one. This equals concatenating the maps to the
  image channels with a mask that leaves the conditioning channels open; it lets even the first pixel x_0
  depend on z (with a fully masked concatenation x_0 would see nothing).

Like the original SA-VAE decoder this is a single-stack PixelCNN: it has the well-known "blind spot"
(some pixels above-right of i are not in its receptive field); it is still a valid autoregressive model.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def causal_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """The (k // 2 + 1, k) mask of the kept (top) part of a k x k kernel; 1 = visible.

    All rows above the centre are visible; in the centre row the columns left of the centre are visible, the
    centre itself only for mask ``'B'``.
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    p = kernel_size // 2
    mask = torch.ones(p + 1, kernel_size)
    mask[p, p + (mask_type == "B"):] = 0.0
    return mask


class MaskedConv2d(nn.Module):
    """Masked 'same' convolution: (B, C_in, H, W) -> (B, C_out, H, W); output at i sees inputs < i (A) or <= i (B)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str, bias: bool = True):
        super().__init__()
        self.kernel_size, self.mask_type = kernel_size, mask_type
        mask = causal_mask(kernel_size, mask_type)
        # Initialise like an nn.Conv2d with the same kept kernel, then let the mask act in forward.
        conv = nn.Conv2d(in_channels, out_channels, tuple(mask.shape), bias=bias)
        self.weight = conv.weight  # (C_out, C_in, k // 2 + 1, k)
        self.bias = conv.bias
        self.register_buffer("mask", mask, persistent=False)  # (k // 2 + 1, k), built once

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.kernel_size // 2
        x = F.pad(x, (p, p, p, 0))  # left, right, top, bottom: nothing below, the future is never read
        return F.conv2d(x, self.weight * self.mask, self.bias)

    def extra_repr(self) -> str:
        c_out, c_in = self.weight.shape[:2]
        return f"{c_in}, {c_out}, kernel_size={self.kernel_size}, mask_type={self.mask_type!r}"


class GatedResidualLayer(nn.Module):
    """One gated PixelCNN layer: (B, C_in, H, W) [+ cond term (B|1, 2C, H, W)] -> (B, C, H, W).

    h = masked_conv(x) [+ cond_term]  (2C channels);  out = 1x1 conv(tanh(h_a) * sigmoid(h_b)) [+ x].
    ``cond_term = self.cond(cond_maps)`` is an unmasked convolution of the conditioning maps; it does not
    depend on x, so it is computed once by the caller (``GatedPixelCNN.cond_term``).
    The residual connection is used when ``C_in == C`` (all layers but the first).
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int, mask_type: str, cond_channels: int = 0):
        super().__init__()
        self.conv = MaskedConv2d(in_channels, 2 * channels, kernel_size, mask_type)
        self.cond = (nn.Conv2d(cond_channels, 2 * channels, kernel_size, padding=kernel_size // 2, bias=False)
                     if cond_channels > 0 else None)
        self.out = nn.Conv2d(channels, channels, 1)
        self.residual = in_channels == channels

    def forward(self, x: torch.Tensor, cond_term: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv(x)
        if cond_term is not None:
            h = h + cond_term  # a (1, ...) term broadcasts over the batch without copying
        a, b = h.chunk(2, dim=1)
        out = self.out(torch.tanh(a) * torch.sigmoid(b))
        return out + x if self.residual else out


class GatedPixelCNN(nn.Module):
    """Gated PixelCNN: image (B, C_in, H, W) [+ cond maps (B|1, C_c, H, W)] -> logits (B, 1, H, W).

    Layer 1: mask A (sees strictly earlier pixels) plus the unmasked conditioning; layers 2..L: mask B with a
    residual connection; a final 1x1 convolution gives one Bernoulli logit per pixel. Logit i is a function of
    x_<i and of the conditioning only.
    """

    def __init__(self, in_channels: int, channels: int, kernel_sizes: Sequence[int], cond_channels: int = 0):
        super().__init__()
        if len(kernel_sizes) == 0:
            raise ValueError("need at least one layer")
        self.cond_channels = cond_channels
        self.layers = nn.ModuleList(
            GatedResidualLayer(in_channels if i == 0 else channels, channels, k, "A" if i == 0 else "B",
                               cond_channels if i == 0 else 0)
            for i, k in enumerate(kernel_sizes))
        self.head = nn.Conv2d(channels, 1, 1)

    def cond_term(self, cond: torch.Tensor | None) -> torch.Tensor | None:
        """Conditioning maps (B|1, C_c, H, W) -> the first layer's added pre-activation (B|1, 2C, H, W)."""
        if self.cond_channels == 0:
            return None
        if cond is None:
            raise ValueError("this PixelCNN was built with conditioning channels; pass cond")
        return self.layers[0].cond(cond)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None,
                cond_term: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C_in, H', W) -> logits (B, 1, H', W). Pass ``cond`` maps, or their precomputed ``cond_term``.

        Rows of the output depend only on rows at or above them, so ``H' < H`` (the top H' rows of x, with
        ``cond_term[:, :, :H']``) gives exactly the top H' rows of the full output; sampling uses this.
        """
        if cond_term is None:
            cond_term = self.cond_term(cond)
        h = self.layers[0](x, cond_term)
        for layer in self.layers[1:]:
            h = layer(h)
        return self.head(h)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log prod_i Bernoulli(x_i; sigmoid(logit_i)); logits, x (B, C, H, W) -> (B,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
