"""The self-supervised harmonizer's network: a small 2D U-Net whose output is added to the centre slice."""

import torch
from torch import nn


def _block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1), nn.LeakyReLU(0.1),
        nn.Conv2d(outputs, outputs, 3, padding=1), nn.LeakyReLU(0.1),
    )  # fmt: skip


class UNet(nn.Module):
    """Three levels (``width``, 2 ``width``, 4 ``width`` channels); input: ``context`` adjacent slices;
    output: the centre slice plus the predicted change. Height and width must be multiples of 4."""

    def __init__(self, width: int, context: int = 3):
        super().__init__()
        self.context = context
        self.down1, self.down2 = _block(context, width), _block(width, 2 * width)
        self.bottom = _block(2 * width, 4 * width)
        self.up2, self.up1 = _block(6 * width, 2 * width), _block(3 * width, width)
        self.out = nn.Conv2d(width, 1, 1)
        self.pool, self.upsample = nn.AvgPool2d(2), nn.Upsample(scale_factor=2, mode="bilinear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.down1(x)
        second = self.down2(self.pool(first))
        bottom = self.bottom(self.pool(second))
        second = self.up2(torch.cat([self.upsample(bottom), second], 1))
        first = self.up1(torch.cat([self.upsample(second), first], 1))
        return x[:, self.context // 2 : self.context // 2 + 1] + self.out(first)
