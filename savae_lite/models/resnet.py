"""The ResNet inference network of the image VAE: q_phi(z | x) = N(mu(x), diag exp(logvar(x))).

Chapter: *Image VAEs with a gated PixelCNN decoder*.

Layout (as in the original SA-VAE Omniglot set-up): a 3x3 stem convolution to C channels, then 3 x
[residual block (two 3x3 convolutions with BatchNorm and ReLU), stride-2 3x3 convolution], which takes
28 x 28 -> 14 -> 7 -> 4; flatten and one linear layer to (mu, logvar).

BatchNorm makes ``encode`` depend on the batch in ``train()`` mode; call ``eval()`` for per-example results.
"""
from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """(B, C, H, W) -> (B, C, H, W): relu(x + BN(conv(relu(BN(conv(x))))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(h)))


def downsampled_size(size: int, num_blocks: int = 3) -> int:
    """Side length after ``num_blocks`` stride-2, padding-1, 3x3 convolutions (28 -> 14 -> 7 -> 4)."""
    for _ in range(num_blocks):
        size = (size - 1) // 2 + 1
    return size


class ResNetEncoder(nn.Module):
    """x (B, C_in, H, H) -> mu (B, Z), logvar (B, Z)."""

    def __init__(self, latent_dim: int, channels: int = 64, image_size: int = 28, in_channels: int = 1,
                 num_blocks: int = 3):
        super().__init__()
        self.latent_dim = latent_dim
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(channels), nn.ReLU()]
        for _ in range(num_blocks):
            layers += [ResidualBlock(channels),
                       nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        side = downsampled_size(image_size, num_blocks)
        self.head = nn.Linear(channels * side * side, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C_in, H, H) -> mu (B, Z), logvar (B, Z)."""
        h = self.features(x).flatten(1)  # (B, C * side * side)
        mu, logvar = self.head(h).chunk(2, dim=-1)
        return mu, logvar
