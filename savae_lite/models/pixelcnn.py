"""The gated PixelCNN with a vertical and a horizontal stack: the image decoder p(x | z) = prod_i p(x_i | x_<i, z).

Chapter: *Image VAEs with a gated PixelCNN decoder*.

Pixels are ordered in raster order (row by row, left to right); logit i may depend on x_0 .. x_{i-1} only. As in
the Gated PixelCNN of van den Oord et al. (2016), which the original SA-VAE image decoder also uses, every layer
carries two feature maps of C channels over the whole image:

* the **vertical** stack v: a (k // 2 + 1) x k convolution over the rows above the current one *and the
  current row* (all k columns around the pixel). It sees pixels to the right of i in i's own row, so it is
  never read at the same row: before it feeds the horizontal stack it is shifted down by one row
  (``shift_down``), so pixel (r, c) receives v from row r - 1, i.e. only from strictly earlier rows;
* the **horizontal** stack h: a 1 x (k // 2 + 1) convolution over the current row, from k // 2 pixels to the
  left up to the current pixel -- excluded in the first layer (mask ``'A'``: the last kernel column is masked),
  included in all later layers (mask ``'B'``: no mask needed). It receives the shifted vertical stack through a
  1 x 1 convolution.

Both stacks use gated units tanh(a) * sigmoid(b) (the convolutions give 2C channels, split in two halves a, b).
The horizontal stack has a 1 x 1 convolution after its gate and a residual connection -- in every layer but the
first: the first layer's output at i must not contain x_i, so its layer has no residual connection at all,
whatever the channel counts (``GatedLayer.residual`` is ``mask_type == 'B'``). The output head is a 1 x 1
convolution of the last horizontal stack into one Bernoulli logit per pixel.

Receptive field. With kernel sizes k_1 .. k_L and P = sum_l k_l // 2, logit (r, c) sees x(r, c') for
c - P <= c' < c, and every x(r', c') with r - P - 1 <= r' < r and ``|c' - c| <= P``: no blind spot, every earlier
pixel in that window (the paper decoder has P = 30 >= 27, so every logit of a 28 x 28 image sees *all* earlier
pixels). A single masked stack misses pixels above-right of i; this decoder replaced one that did.

Conditioning on z: ``cond_channels`` maps (functions of z only, never of pixels) enter the first layer through a
separate *unmasked* k x k convolution whose output is added to the pre-activations of both stacks. The maps may
be seen by every pixel, so even the first pixel x_0 depends on z. The term does not depend on x, so it is
computed once per z (``GatedPixelCNN.cond_term``) and reused, e.g. by every step of sampling.

Speed, both exact: nothing below the current row is ever computed (the vertical kernel keeps only its top
k // 2 + 1 rows and inputs are padded above only; the horizontal kernel keeps only its left half), so running
the network on the top H' rows gives exactly the top H' rows of the full output; and the last layer's vertical
gate, which nothing reads, is skipped.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def check_kernel_size(kernel_size: int) -> None:
    """Raise ``ValueError`` unless ``kernel_size`` is odd and positive (a kernel has a centre)."""
    if kernel_size < 1 or kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")


def horizontal_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """The (1, k // 2 + 1) mask of a horizontal kernel (pixels c - k // 2 .. c of the row); 1 = visible.

    Mask ``'A'`` hides the current pixel (the last column), mask ``'B'`` hides nothing.
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    check_kernel_size(kernel_size)
    mask = torch.ones(1, kernel_size // 2 + 1)
    if mask_type == "A":
        mask[0, -1] = 0.0
    return mask


def shift_down(t: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W) with row r holding row r - 1 of t, and zeros in row 0."""
    return F.pad(t, (0, 0, 1, 0))[:, :, : t.shape[2]]


class VerticalConv(nn.Module):
    """(B, C_in, H, W) -> (B, C_out, H, W); output (r, c) sees inputs in rows r - k//2 .. r, columns c ± k//2.

    The kernel is (k // 2 + 1) x k and the input is padded above and at the sides only: the current row is
    included (including pixels right of c), rows below never are. Shift the result down (``shift_down``)
    before a pixel of the same row reads it.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        check_kernel_size(kernel_size)
        self.kernel_size = kernel_size
        conv = nn.Conv2d(in_channels, out_channels, (kernel_size // 2 + 1, kernel_size))
        self.weight = conv.weight  # (C_out, C_in, k // 2 + 1, k)
        self.bias = conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W); output row i sees input rows <= i only (the
        input is padded above, never below)."""
        p = self.kernel_size // 2
        return F.conv2d(F.pad(x, (p, p, p, 0)), self.weight, self.bias)  # pad left, right, top; never below

    def extra_repr(self) -> str:
        """Channels and the effective (k // 2 + 1, k) kernel, for ``print(model)``."""
        c_out, c_in = self.weight.shape[:2]
        return f"{c_in}, {c_out}, kernel_size=({self.kernel_size // 2 + 1}, {self.kernel_size})"


class HorizontalConv(nn.Module):
    """(B, C_in, H, W) -> (B, C_out, H, W); output (r, c) sees inputs (r, c - k//2 .. c - 1) (A) or .. c (B).

    The kernel is 1 x (k // 2 + 1) and the input is padded on the left only. For mask ``'A'`` the last kernel
    column (the current pixel) is multiplied by a mask built once in ``__init__`` and kept as a buffer (the
    masked weight entries get no gradient); mask ``'B'`` needs no mask.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str):
        super().__init__()
        mask = horizontal_mask(kernel_size, mask_type)
        self.kernel_size, self.mask_type = kernel_size, mask_type
        conv = nn.Conv2d(in_channels, out_channels, (1, kernel_size // 2 + 1))
        self.weight = conv.weight  # (C_out, C_in, 1, k // 2 + 1)
        self.bias = conv.bias
        if mask_type == "A":
            self.register_buffer("mask", mask, persistent=False)  # (1, k // 2 + 1)
        else:
            self.mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W); output pixel j sees input pixels <= j of its row
        (< j for mask ``'A'``)."""
        weight = self.weight if self.mask is None else self.weight * self.mask
        return F.conv2d(F.pad(x, (self.kernel_size // 2, 0)), weight, self.bias)  # pad on the left only

    def extra_repr(self) -> str:
        """Channels, the (1, k // 2 + 1) kernel and the mask type, for ``print(model)``."""
        c_out, c_in = self.weight.shape[:2]
        return f"{c_in}, {c_out}, kernel_size=(1, {self.kernel_size // 2 + 1}), mask_type={self.mask_type!r}"


def gate(t: torch.Tensor) -> torch.Tensor:
    """Gated unit: (B, 2C, H, W) -> tanh(first C channels) * sigmoid(last C channels), (B, C, H, W)."""
    a, b = t.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One two-stack gated layer: v, h (B, C_in, H, W) [+ cond term (B|1, 4C, H, W)] -> v', h' (B, C, H, W).

    v_pre = vertical(v) [+ cond_v]                                      (2C channels)
    h_pre = horizontal(h) + link(shift_down(v_pre)) [+ cond_h]          (2C channels)
    v' = gate(v_pre);   h' = out(gate(h_pre)) [+ h, mask 'B' only]

    ``cond_term = self.cond(cond_maps)`` (an unmasked k x k convolution, first layer only; channels
    [:2C] go to the vertical, [2C:] to the horizontal stack) does not depend on x: the caller computes it once.
    The residual connection exists exactly in mask-'B' layers (which need ``C_in == C``); a mask-'A' layer
    has none, so its output at i never contains x_i, even when ``C_in == C``.
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int, mask_type: str, cond_channels: int = 0):
        super().__init__()
        self.residual = mask_type == "B"
        if self.residual and in_channels != channels:
            raise ValueError(f"a mask-'B' layer is residual and needs in_channels == channels, got "
                             f"{in_channels} != {channels}")
        self.vertical = VerticalConv(in_channels, 2 * channels, kernel_size)
        self.horizontal = HorizontalConv(in_channels, 2 * channels, kernel_size, mask_type)
        self.link = nn.Conv2d(2 * channels, 2 * channels, 1)  # vertical -> horizontal, after the shift
        self.out = nn.Conv2d(channels, channels, 1)
        self.cond = (nn.Conv2d(cond_channels, 4 * channels, kernel_size, padding=kernel_size // 2, bias=False)
                     if cond_channels > 0 else None)

    def forward(self, v: torch.Tensor, h: torch.Tensor, cond_term: torch.Tensor | None = None,
                need_vertical: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
        """v, h (B, C_in, H, W) -> (v' or None when not ``need_vertical``, h'), both (B, C, H, W)."""
        v_pre = self.vertical(v)
        cond_v = cond_h = None
        if cond_term is not None:
            cond_v, cond_h = cond_term.chunk(2, dim=1)  # a (1, ...) term broadcasts over the batch
            v_pre = v_pre + cond_v
        h_pre = self.horizontal(h) + self.link(shift_down(v_pre))
        if cond_h is not None:
            h_pre = h_pre + cond_h
        h_new = self.out(gate(h_pre))
        if self.residual:
            h_new = h_new + h
        return (gate(v_pre) if need_vertical else None), h_new


class GatedPixelCNN(nn.Module):
    """Two-stack gated PixelCNN: image (B, C_in, H, W) [+ cond maps (B|1, C_c, H, W)] -> logits (B, 1, H, W).

    Layer 1 (mask A, no residual) reads the image in both stacks plus the unmasked conditioning; layers 2..L
    (mask B) are residual on the horizontal stack; a final 1 x 1 convolution of the horizontal stack gives one
    Bernoulli logit per pixel. Logit i is a function of x_<i and of the conditioning only, and with
    sum_l k_l // 2 >= max(H, W) - 1 of *every* x_j, j < i.
    """

    def __init__(self, in_channels: int, channels: int, kernel_sizes: Sequence[int], cond_channels: int = 0):
        super().__init__()
        if len(kernel_sizes) == 0:
            raise ValueError("need at least one layer")
        self.cond_channels = cond_channels
        self.layers = nn.ModuleList(
            GatedLayer(in_channels if i == 0 else channels, channels, k, "A" if i == 0 else "B",
                       cond_channels if i == 0 else 0)
            for i, k in enumerate(kernel_sizes))
        self.head = nn.Conv2d(channels, 1, 1)

    def cond_term(self, cond: torch.Tensor | None) -> torch.Tensor | None:
        """Conditioning maps (B|1, C_c, H, W) -> the first layer's added pre-activations (B|1, 4C, H, W)."""
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
        v, h = x, x
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            v, h = layer(v, h, cond_term if i == 0 else None, need_vertical=i < last)
        return self.head(h)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log prod_i Bernoulli(x_i; sigmoid(logit_i)); logits, x (B, C, H, W) -> (B,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
