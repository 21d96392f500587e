"""Grids of small images: a batch tiled into one picture, and labelled rows of such pictures.

Chapter: *Image VAEs with a gated PixelCNN decoder* (data, reconstructions and prior samples per training mode).
:func:`tile` is plain torch; :func:`show_rows` draws with matplotlib (the ``book`` extra), imported only there.
Images are (N, 1, H, W) or (N, H, W) with values in [0, 1], 1 = ink (the Omniglot loader's convention); they are
drawn dark on white.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch


def tile(images: torch.Tensor, ncol: int | None = None, pad: int = 1, pad_value: float = 0.25) -> torch.Tensor:
    """Tile N images of H x W into one (R (H + pad) + pad, C (W + pad) + pad) float tensor, row by row.

    ``images``: (N, 1, H, W) or (N, H, W), N >= 1. ``ncol``: images per row (default: all in one row);
    R = ceil(N / ncol). Empty cells of the last row and the ``pad``-pixel borders take ``pad_value``.
    """
    if not isinstance(images, torch.Tensor) or images.dim() not in (3, 4) or images.shape[0] == 0:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images: expected a non-empty batch (N, 1, H, W) or (N, H, W), got {shape}")
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"images: expected one channel, got {images.shape[1]}")
        images = images[:, 0]
    n, h, w = images.shape
    ncol = n if ncol is None else ncol
    if ncol < 1 or pad < 0:
        raise ValueError(f"ncol must be >= 1 and pad >= 0, got ncol={ncol}, pad={pad}")
    nrow = math.ceil(n / ncol)
    out = torch.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad), float(pad_value))
    for i, img in enumerate(images.detach().float().cpu()):
        r, c = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        out[top:top + h, left:left + w] = img
    return out


def show_rows(rows: Mapping[str, torch.Tensor], ncol: int | None = None, scale: float = 0.45,
              label_width: float = 2.2):
    """One labelled strip per entry of ``rows`` (label -> images (N, 1, H, W)), stacked top to bottom, all with
    ``ncol`` images per line (default: the longest entry's N). Returns the matplotlib figure (not shown)."""
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows: nothing to show")
    ncol = ncol or max(x.shape[0] for x in rows.values())
    tiles = {k: tile(x, ncol) for k, x in rows.items()}
    side = next(iter(rows.values())).shape[-1]
    heights = [t.shape[0] for t in tiles.values()]
    width = ncol * (side + 1) * scale / 10 + label_width
    fig, axes = plt.subplots(len(tiles), 1, figsize=(width, sum(heights) * scale / 10 + 0.1 * len(tiles)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (label, t) in zip(axes[:, 0], tiles.items()):
        ax.imshow(t.numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest", aspect="equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")
    return fig
