"""Losses of the zero-shot method (the paper: L = L_hc + L_prior) and the entropy variant's."""

import torch
import torch.nn.functional as F


def smoothness(x: torch.Tensor) -> torch.Tensor:
    """Return L_smo = mean over voxels of (sum over axes of |forward difference|)^2 (Zero-DCE's TV term)."""
    corner = x[:, :, :-1, :-1, :-1]
    total = (
        (x[:, :, 1:, :-1, :-1] - corner).abs()
        + (x[:, :, :-1, 1:, :-1] - corner).abs()
        + (x[:, :, :-1, :-1, 1:] - corner).abs()
    )
    return (total**2).mean()


def spatial_consistency(enhanced: torch.Tensor, original: torch.Tensor, region: int = 4) -> torch.Tensor:
    """Return L_spa: (|E_i - E_j| - |Y_i - Y_j|)^2 between neighbouring region means (6-neighbourhood)."""
    e = F.avg_pool3d(enhanced, region, ceil_mode=True)
    y = F.avg_pool3d(original, region, ceil_mode=True)
    loss = enhanced.new_zeros(())
    for dim in (2, 3, 4):
        loss = loss + ((e.diff(dim=dim).abs() - y.diff(dim=dim).abs()) ** 2).mean()
    return loss


def exposure(enhanced: torch.Tensor, level: float = 0.6, region: int = 16) -> torch.Tensor:
    """Return L_exp: mean squared distance of region means to the exposure level E (Zero-DCE: 0.6)."""
    return ((F.avg_pool3d(enhanced, region, ceil_mode=True) - level) ** 2).mean()


def gaussian_kernel(sigma: float, like: torch.Tensor) -> torch.Tensor:
    """Return a normalised 1D Gaussian of ``sigma`` samples (+-3 sigma), on the dtype/device of ``like``."""
    radius = max(1, int(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=like.dtype, device=like.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    return kernel / kernel.sum()


def soft_histogram_entropy(
    values: torch.Tensor,
    bins: int = 64,
    bandwidth: float = 1.0,
    value_range: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Return the Shannon entropy of a differentiable histogram of ``values``.

    Every value is shared linearly between its two nearest bins (O(n), differentiable in the value), then
    the histogram is smoothed by a Gaussian of ``bandwidth`` bins. The bins span ``value_range`` (values
    outside fall in the end bins), by default the values' own range. A bias field blurs the histogram of the
    log image; removing it sharpens it (the principle of N3/N4). An adaptive range lets an optimiser lower
    the entropy by pushing a few values far out (every other value then shares fewer bins): give a fixed one.
    """
    low, high = value_range if value_range is not None else (values.min().detach(), values.max().detach())
    position = ((values - low) / max(float(high - low), 1e-6) * (bins - 1)).clamp(0, bins - 1)
    left = position.detach().floor().clamp(0, bins - 2)
    weight = position - left
    index = left.long()
    p = values.new_zeros(bins).index_add(0, index, 1 - weight).index_add(0, index + 1, weight)
    if bandwidth > 0:
        kernel = gaussian_kernel(bandwidth, values)
        p = F.conv1d(p[None, None], kernel[None, None], padding=kernel.numel() // 2)[0, 0]
    p = p / p.sum()
    return -(p * torch.log(p + 1e-12)).sum()
