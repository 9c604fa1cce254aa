"""Losses of the zero-shot method (the paper: L = L_hc + L_prior) and of the entropy and sharpen variants."""

import math

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


def sharpened(
    values: torch.Tensor,
    bins: int = 200,
    fwhm: float = 0.15,
    noise: float = 0.01,
    groups: torch.Tensor | None = None,
    n_groups: int = 1,
) -> torch.Tensor:
    """Return N4's sharpened value of each log intensity: the posterior mean E[u | v] (no gradient).

    As in ITK's N4BiasFieldCorrectionImageFilter::SharpenImage: a linearly binned histogram of the values,
    Wiener-deconvolved by a Gaussian of ``fwhm`` (log units) with ``noise``, gives the true-value
    distribution U; E(v) = [F * (u U)](v) / [F * U](v), interpolated at each value. With ``groups`` (an
    index in [0, n_groups) per value), each group's values are sharpened on the group's own histogram (the
    bins span every value).
    """
    with torch.no_grad():
        low, high = float(values.min()), float(values.max())
        slope = max(high - low, 1e-6) / (bins - 1)
        position = (values - low) / slope
        left = position.floor().clamp(0, bins - 2)
        weight = position - left
        size = 2 ** (math.ceil(math.log2(bins)) + 1)  # padded, as ITK does, against wrap-around
        offset = (size - bins) // 2
        index = left.long() + offset + (0 if groups is None else groups * size)
        histogram = values.new_zeros(n_groups * size)
        histogram.index_add_(0, index, 1 - weight).index_add_(0, index + 1, weight)
        histogram = histogram.view(n_groups, size)
        bin_index = torch.arange(size, dtype=values.dtype, device=values.device)
        taps = torch.minimum(bin_index, size - bin_index)  # circular distance from bin 0
        kernel = torch.exp(-4 * math.log(2) * (taps * slope / fwhm) ** 2)
        kernel = kernel / kernel.sum()
        spectrum = torch.fft.rfft(kernel)
        wiener = spectrum.conj() / (spectrum.abs() ** 2 + noise)
        u = torch.fft.irfft(torch.fft.rfft(histogram) * wiener, n=size).clamp_min(0)
        centres = low + (bin_index - offset) * slope
        numerator = torch.fft.irfft(torch.fft.rfft(u * centres) * spectrum, n=size)
        denominator = torch.fft.irfft(torch.fft.rfft(u) * spectrum, n=size)
        expected = torch.where(denominator.abs() > 1e-12, numerator / denominator, centres).flatten()
        return torch.lerp(expected[index], expected[index + 1], weight)
