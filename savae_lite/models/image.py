"""The image models: a VAE with a ResNet encoder and a gated PixelCNN decoder, and the plain PixelCNN (autoreg).

Chapter: *Image VAEs with a gated PixelCNN decoder*.

Images are binary, x (B, 1, H, W) with values in {0, 1}, H = W = ``image_size``. The decoder is
p(x | z) = prod_i Bernoulli(x_i; sigmoid(logit_i(x_<i, z))): z -> Linear -> ``cond_maps`` feature maps of
H x W, which condition a two-stack (vertical + horizontal) gated PixelCNN without a blind spot: a logit sees
every earlier pixel within its receptive field, and with the ``paper()`` decoder that is every earlier pixel of
the 28 x 28 image (see ``pixelcnn.py``). Everything is a single batched forward pass
(no loop over pixels), so ``neg_log_lik`` is cheap and twice differentiable (exact Hessian-vector products
in differentiable SVI). Only ``sample`` loops over pixels, in raster order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from savae_lite.models.base import LatentVariableModel
from savae_lite.models.pixelcnn import GatedPixelCNN, bernoulli_nll
from savae_lite.models.resnet import ResNetEncoder


@dataclass
class ImageModelConfig:
    """Sizes of the image VAE / PixelCNN. The defaults are the original Omniglot set-up (``paper()``)."""

    latent_dim: int = 32
    enc_channels: int = 64
    dec_layers: int = 12
    dec_channels: int = 32
    kernel_sizes: tuple[int, ...] = (9, 9, 9, 7, 7, 7, 5, 5, 5, 3, 3, 3)
    cond_maps: int = 4
    image_size: int = 28

    def __post_init__(self):
        self.kernel_sizes = tuple(self.kernel_sizes)
        if len(self.kernel_sizes) != self.dec_layers:
            raise ValueError(f"dec_layers={self.dec_layers} but {len(self.kernel_sizes)} kernel sizes")

    @classmethod
    def paper(cls) -> "ImageModelConfig":
        """Kim et al. (2018), Omniglot: 64-channel ResNet, 12 gated layers of 32 channels, kernels 9..3."""
        return cls()

    @classmethod
    def small(cls) -> "ImageModelConfig":
        """A CPU-sized model: 32-channel ResNet, 6 gated layers of 32 channels, kernels 7, 7, 5, 5, 3, 3."""
        return cls(latent_dim=32, enc_channels=32, dec_layers=6, dec_channels=32, kernel_sizes=(7, 7, 5, 5, 3, 3))

    @classmethod
    def tiny(cls) -> "ImageModelConfig":
        """For tests: 12 x 12 images, Z = 4, 8-channel ResNet, 3 gated layers of 8 channels."""
        return cls(latent_dim=4, enc_channels=8, dec_layers=3, dec_channels=8, kernel_sizes=(5, 3, 3),
                   cond_maps=4, image_size=12)


def sample_raster(logits_fn: Callable[[torch.Tensor], torch.Tensor], n: int, size: int,
                  like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Ancestral sampling in raster order: x_i ~ Bernoulli(sigmoid(logit_i(x_<i))); -> (n, 1, size, size) in {0, 1}.

    ``logits_fn`` maps the top rows x[:, :, :r + 1] (n, 1, r + 1, size) to their logits (same shape): a
    PixelCNN's row r never depends on lower rows, so rows below the current one are not computed.
    One forward pass per pixel: simple, and fine for showing a few samples. ``like`` gives dtype and device.
    """
    x = torch.zeros(n, 1, size, size, dtype=like.dtype, device=like.device)
    for r in range(size):
        for c in range(size):
            p = torch.sigmoid(logits_fn(x[:, :, : r + 1])[:, :, r, c])
            x[:, :, r, c] = torch.bernoulli(p, generator=generator)
    return x


def check_images(x: torch.Tensor, size: int) -> None:
    """Reject a batch that is not float (B, 1, size, size) with a message naming what was expected."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 1 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"images: expected a batch of shape (B, 1, {size}, {size}), got {shape}")
    if tuple(x.shape[2:]) != (size, size):
        raise ValueError(f"images: expected {size}x{size} pixels (the model's image_size), got "
                         f"{x.shape[2]}x{x.shape[3]}")
    if not x.is_floating_point():
        raise ValueError(f"images: expected a float tensor with values in [0, 1], got dtype {x.dtype}")


class ImageVAE(LatentVariableModel):
    """VAE for binary images: ResNet q(z | x), two-stack gated PixelCNN p(x | z) (z enters its first layer).

    ``encode``: x (B, 1, H, W) -> mu, logvar (B, Z);  ``neg_log_lik``: x (B, 1, H, W), z (B, Z) -> (B,);
    ``logits``: -> (B, 1, H, W). A z of batch 1 is broadcast over x's batch without copying.
    """

    def __init__(self, config: ImageModelConfig | None = None):
        super().__init__()
        self.config = config = config or ImageModelConfig()
        self.latent_dim = config.latent_dim
        self.image_size = config.image_size
        self.encoder = ResNetEncoder(config.latent_dim, config.enc_channels, config.image_size)
        self.z_to_maps = nn.Linear(config.latent_dim, config.cond_maps * config.image_size ** 2)
        self.decoder = GatedPixelCNN(1, config.dec_channels, config.kernel_sizes, cond_channels=config.cond_maps)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 1, H, W) binary images -> mu (B, Z), logvar (B, Z) from the ResNet encoder.

        Chapter: *Image VAEs with a gated PixelCNN decoder*."""
        check_images(x, self.image_size)
        return self.encoder(x)

    def cond_maps(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, Z) -> conditioning maps (B, cond_maps, H, W) (a view of the linear layer's output)."""
        s = self.image_size
        return self.z_to_maps(z).view(z.shape[0], -1, s, s)

    def logits(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x (B, 1, H, W), z (B or 1, Z) -> per-pixel Bernoulli logits (B, 1, H, W); logit i sees x_<i and z."""
        return self.decoder(x, self.cond_maps(z))

    def neg_log_lik(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """x (B, 1, H, W), z (B, Z) -> (B,) = -log p(x | z), summed over the pixels (Bernoulli);
        ``ValueError`` for z = None."""
        if z is None:
            raise ValueError("ImageVAE needs z; use PixelCNNLM for the model without a latent")
        check_images(x, self.image_size)
        return bernoulli_nll(self.logits(x, z), x)

    def num_targets(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, H, W) -> (B,) predicted pixels per image (H x W, float)."""
        return torch.full((x.shape[0],), float(x.shape[-2] * x.shape[-1]), dtype=x.dtype, device=x.device)

    @torch.no_grad()
    def sample(self, n: int, z: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw n images (n, 1, H, W) in {0, 1}; z (n, Z) or (1, Z), default z ~ N(0, I)."""
        like = self.z_to_maps.weight
        if z is None:
            z = torch.randn(n, self.latent_dim, dtype=like.dtype, device=like.device, generator=generator)
        term = self.decoder.cond_term(self.cond_maps(z.to(like)))  # (n | 1, 4C, H, W), computed once
        return sample_raster(lambda xr: self.decoder(xr, cond_term=term[:, :, : xr.shape[2]]),
                             n, self.image_size, like, generator)


class PixelCNNLM(LatentVariableModel):
    """The ``autoreg`` baseline: the same gated PixelCNN without z; p(x) = prod_i p(x_i | x_<i).

    ``neg_log_lik``: x (B, 1, H, W), z ignored (None) -> (B,). No encoder (``latent_dim == 0``).
    """

    latent_dim = 0

    def __init__(self, config: ImageModelConfig | None = None):
        super().__init__()
        self.config = config = config or ImageModelConfig()
        self.image_size = config.image_size
        self.decoder = GatedPixelCNN(1, config.dec_channels, config.kernel_sizes, cond_channels=0)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Not available: the ``autoreg`` model has no inference network (``NotImplementedError``)."""
        raise NotImplementedError("PixelCNNLM is an autoregressive model without an inference network")

    def logits(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, 1, H, W) -> per-pixel Bernoulli logits (B, 1, H, W); logit i sees x_<i only."""
        return self.decoder(x)

    def neg_log_lik(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, 1, H, W), z ignored -> (B,) = -log p(x), summed over the pixels (Bernoulli)."""
        check_images(x, self.image_size)
        return bernoulli_nll(self.logits(x), x)

    def num_targets(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, H, W) -> (B,) predicted pixels per image (H x W, float)."""
        return torch.full((x.shape[0],), float(x.shape[-2] * x.shape[-1]), dtype=x.dtype, device=x.device)

    @torch.no_grad()
    def sample(self, n: int, z: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw n images (n, 1, H, W) in {0, 1}; z is ignored."""
        like = self.decoder.head.weight
        return sample_raster(self.decoder, n, self.image_size, like, generator)
