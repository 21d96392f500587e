"""Receptive fields of PixelCNN decoders, measured from gradients: which earlier pixels a pixel's logit reads.

Chapter: *Image VAEs with a gated PixelCNN decoder* shows the blind spot of a single masked stack
(:class:`SingleStackPixelCNN`) and its absence in the two-stack gated decoder
(:class:`~savae_lite.models.pixelcnn.GatedPixelCNN`) with :func:`dependency_map`.

A pixel's dependency map is the absolute gradient of its logit with respect to the image, summed over input
channels and over a batch of random binary images (one backward pass for the whole batch: the images are
independent). It is exactly zero where the logit cannot depend on the pixel (a masked weight, a pixel outside
the reach) -- masks multiply weights by exact zeros -- and, with random weights (:func:`spread_weights`),
nonzero where it can. :func:`two_stack_field` is the expected field of the two-stack decoder: P = sum k // 2
pixels to the left in the same row, and the P + 1 rows above within P columns of the pixel's (so every earlier
pixel once P >= size - 1).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from savae_lite.models.pixelcnn import GatedPixelCNN, check_kernel_size


class MaskedConv2d(nn.Conv2d):
    """A k x k convolution whose kernel sees the rows above and the pixels left of the centre in its own row,
    and the centre itself only for mask ``'B'`` (van den Oord et al., 2016a): (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str):
        check_kernel_size(kernel_size)
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        mask = torch.zeros(kernel_size, kernel_size)
        p = kernel_size // 2
        mask[:p] = 1.0
        mask[p, : p + (mask_type == "B")] = 1.0
        self.mask_type = mask_type
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W) with the masked kernel."""
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class SingleStackPixelCNN(nn.Module):
    """The original PixelCNN's single masked stack, for the receptive-field comparison only: one masked k x k
    convolution per kernel size (mask A first, then B) with tanh between layers, and a 1 x 1 head;
    x (B, C_in, H, W) -> logits (B, 1, H, W). Its field grows up and to the left, but never reaches the pixels
    above and to the right that a deeper layer would need: the blind spot."""

    def __init__(self, in_channels: int, channels: int, kernel_sizes: Sequence[int]):
        super().__init__()
        if len(kernel_sizes) == 0:
            raise ValueError("need at least one layer")
        self.layers = nn.ModuleList(MaskedConv2d(in_channels if i == 0 else channels, channels, k,
                                                 "A" if i == 0 else "B") for i, k in enumerate(kernel_sizes))
        self.head = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C_in, H, W) -> logits (B, 1, H, W)."""
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return self.head(x)


def spread_weights(net: nn.Module, gain: float = 1.5, seed: int = 0) -> nn.Module:
    """Give ``net`` random weights large enough that no dependency vanishes numerically (fixed seed); returns it."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * gain / math.sqrt(p[0].numel()))
            else:
                p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) - 0.5)
    return net


def _logits_fn(model: nn.Module, samples: int, size: int, like: torch.Tensor, g: torch.Generator):
    """x -> logits for a two-stack or single-stack PixelCNN, an image VAE (random z) or a PixelCNN LM."""
    from savae_lite.models.image import ImageVAE, PixelCNNLM

    if isinstance(model, ImageVAE):
        z = torch.randn(samples, model.latent_dim, generator=g, dtype=like.dtype).to(like.device)
        return lambda x: model.logits(x, z)
    if isinstance(model, PixelCNNLM):
        return model.logits
    if isinstance(model, GatedPixelCNN) and model.cond_channels > 0:
        cond = torch.randn(samples, model.cond_channels, size, size, generator=g, dtype=like.dtype)
        return lambda x: model(x, cond.to(like.device))
    return model


def dependency_map(model: nn.Module, size: int, pixel: tuple[int, int], samples: int = 4,
                   seed: int = 0) -> torch.Tensor:
    """The absolute gradient of logit(pixel) with respect to the image, summed over input channels and
    ``samples`` random binary images: (size, size).

    ``model``: a :class:`~savae_lite.models.pixelcnn.GatedPixelCNN` (random conditioning maps when it has
    some), a :class:`SingleStackPixelCNN`, an :class:`~savae_lite.models.image.ImageVAE` (z ~ N(0, I)) or a
    :class:`~savae_lite.models.image.PixelCNNLM`; any other module is called on the images alone, which have
    as many channels as its first convolution reads. Zero exactly where the logit cannot read the pixel."""
    r, c = pixel
    if not (0 <= r < size and 0 <= c < size):
        raise ValueError(f"pixel: {pixel} is outside a {size} x {size} image")
    like = next(model.parameters())
    g = torch.Generator().manual_seed(seed)
    in_channels = _in_channels(model)
    x = torch.bernoulli(torch.full((samples, in_channels, size, size), 0.5, dtype=like.dtype), generator=g)
    x = x.to(like.device).requires_grad_(True)
    logits = _logits_fn(model, samples, size, like, g)(x)
    (grad,) = torch.autograd.grad(logits[:, 0, r, c].sum(), x)
    return grad.abs().sum((0, 1)).detach().cpu()


def _in_channels(model: nn.Module) -> int:
    """The image channels a model reads: 1 for the image models, else the first convolution's input channels."""
    from savae_lite.models.image import ImageVAE, PixelCNNLM

    if isinstance(model, (ImageVAE, PixelCNNLM)):
        return 1
    first = next((p for p in model.parameters() if p.dim() == 4), None)
    if first is None:
        raise ValueError(f"model: {type(model).__name__} has no convolution; expected a PixelCNN")
    return first.shape[1]


def past(size: int, pixel: tuple[int, int]) -> torch.Tensor:
    """(size, size) bool: the pixels before ``pixel`` in raster order."""
    r, c = pixel
    return (torch.arange(size * size) < r * size + c).view(size, size)


def two_stack_field(size: int, pixel: tuple[int, int], reach: int) -> torch.Tensor:
    """(size, size) bool: the pixels a two-stack PixelCNN of reach P = sum k // 2 reads for ``pixel``: the P to
    its left in its row, and rows r - P - 1 .. r - 1 within P columns of c."""
    r, c = pixel
    rows = torch.arange(size)[:, None].expand(size, size)
    cols = torch.arange(size)[None, :].expand(size, size)
    same_row = (rows == r) & (cols < c) & (cols >= c - reach)
    above = (rows < r) & (rows >= r - reach - 1) & ((cols - c).abs() <= reach)
    return same_row | above


def blind_spot(model: nn.Module, size: int, pixel: tuple[int, int], window: int | None = None,
               **kw) -> torch.Tensor:
    """(size, size) bool: earlier pixels (within the two-stack field of reach ``window``, when given) that the
    logit of ``pixel`` does not read at all."""
    missed = past(size, pixel) & (dependency_map(model, size, pixel, **kw) == 0)
    return missed if window is None else missed & two_stack_field(size, pixel, window)


def wedge(missed: torch.Tensor, pixel: tuple[int, int], reach: int) -> torch.Tensor:
    """(size, size) bool: the pixels of ``missed`` (a (size, size) bool map, e.g. :func:`blind_spot`'s) in the
    wedge above and to the right of ``pixel`` that a single masked stack cannot see: columns right of the
    pixel's, rows from r - ``reach`` down. The rest of a single stack's misses lie in the two-stack window's top
    row (r - reach - 1), which the vertical stack's shift reaches one row further. Chapter 6."""
    r, c = pixel
    rows, cols = torch.arange(missed.shape[-2])[:, None], torch.arange(missed.shape[-1])[None, :]
    return missed & (rows >= r - reach) & (cols > c)  # the two conditions broadcast to (size, size)
