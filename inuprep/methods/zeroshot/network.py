"""A light 3D CNN of depthwise-separable convolutions that maps an image to two smooth maps."""

import torch
from torch import nn


class SeparableConv3d(nn.Module):
    """A depthwise 3x3x3 convolution followed by a pointwise 1x1x1 convolution."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.depthwise = nn.Conv3d(in_channels, in_channels, 3, padding=1, groups=in_channels)
        self.pointwise = nn.Conv3d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ZeroShotNet(nn.Module):
    """Return two maps per voxel of a (downsampled) image: the curve parameter and the bias map.

    Three separable blocks of ``width`` channels with a skip connection (the third block sees the first
    two concatenated), then a pointwise head with two outputs; about 3k parameters at width 16. The
    activations (tanh for alpha, sigmoid for B in the paper) are applied by the caller.
    """

    def __init__(self, width: int = 16, in_channels: int = 1):
        super().__init__()
        self.stem = nn.Conv3d(in_channels, width, 1)
        self.block1 = SeparableConv3d(width, width)
        self.block2 = SeparableConv3d(width, width)
        self.block3 = SeparableConv3d(2 * width, width)
        self.head = nn.Conv3d(width, 2, 1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = self.act(self.stem(x))
        h1 = self.act(self.block1(h0))
        h2 = self.act(self.block2(h1))
        h3 = self.act(self.block3(torch.cat([h1, h2], dim=1)))
        return self.head(h3)


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
