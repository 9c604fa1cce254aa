"""GetNet: a small 2D residual CNN mapping a log-image slice to its low-frequency log gain field."""

import torch
import torch.nn.functional as F
from torch import nn


class Residual(nn.Module):
    """Two 3x3 convolutions with a skip connection (a ResNet basic block without normalisation)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


class GetNet(nn.Module):
    """Map (log-image, mask), each (N, 2, 64, 64), to the log gain field on a 16 x 16 grid, (N, 1, 16, 16).

    An encoder of strided convolutions and residual blocks down to 4 x 4 (where every output sees the whole
    slice), then a decoder back to 16 x 16 that joins the encoder's features at 8 and 16; about 270k
    parameters. The field is defined up to a constant: callers centre it inside the mask.
    """

    widths = (16, 24, 32, 48, 64)  # at 64, 32, 16, 8 and 4 pixels

    def __init__(self):
        super().__init__()
        w = self.widths
        self.stem = nn.Conv2d(2, w[0], 3, padding=1)
        self.down = nn.ModuleList(
            nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(w[:-1], w[1:], strict=True)
        )
        self.blocks = nn.ModuleList([Residual(w[1]), Residual(w[2]), Residual(w[3]), Residual(w[4])])
        self.up8 = nn.Conv2d(w[4] + w[3], w[3], 3, padding=1)
        self.up16 = nn.Conv2d(w[3] + w[2], w[2], 3, padding=1)
        self.head = nn.Conv2d(w[2], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.stem(x))
        skips = []
        for down, block in zip(self.down, self.blocks, strict=True):
            h = block(F.relu(down(h)))
            skips.append(h)
        h16, h8 = skips[1], skips[2]
        h = F.relu(self.up8(torch.cat([F.interpolate(h, scale_factor=2.0), h8], dim=1)))
        h = F.relu(self.up16(torch.cat([F.interpolate(h, scale_factor=2.0), h16], dim=1)))
        return self.head(h)


def network_input(log_image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return the network's (N, 2, H, W) input: the log-image centred in the mask (0 outside); the mask."""
    centred = (log_image - masked_mean(log_image, mask)) * mask
    return torch.cat([centred, mask], dim=1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return the mean of each (N, 1, H, W) map inside its mask, shaped (N, 1, 1, 1)."""
    return (x * mask).sum(dim=(2, 3), keepdim=True) / mask.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)


def log_field(net: GetNet, log_image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return the network's log-field at the input's size (bilinear from 16 x 16), centred inside the mask."""
    coarse = net(network_input(log_image, mask))
    field = F.interpolate(coarse, size=log_image.shape[-2:], mode="bilinear", align_corners=False)
    return field - masked_mean(field, mask)
