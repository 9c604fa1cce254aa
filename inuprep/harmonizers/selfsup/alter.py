"""Random acquisition changes of a reference image, the self-supervised harmonizer's training inputs (numpy).

An altered patch is what another scanner or protocol might have made of the same anatomy: a monotone
intensity curve (a contrast or a scaling change), a smooth multiplicative field (a residual bias), a lower
resolution (a Gaussian blur) and Rician noise, in that order, then standardised like any input (its
landmarks onto the references' standard, :mod:`.standard`). The families are generic: none was chosen to
match the benchmark's protocols.
"""

import numpy as np
from scipy.ndimage import gaussian_filter

from inuprep.harmonizers.selfsup.standard import landmarks, standardize

#: where the curve's knots lie, in units of the brain's 99th percentile
KNOTS = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 3.0])
CURVE_SPREAD = 0.5  # standard deviation of the log of each segment's slope
FIELD_LOG_SD = 0.05  # of each of the field's 26 low-frequency coefficients
MAX_FWHM = 3.0  # voxels
MAX_NOISE = 0.03  # Rician sigma, of the 99th percentile
MARGIN = 4  # voxels around a patch, so that the blur sees its neighbours
SAMPLE = 20000  # brain voxels that estimate an altered image's landmarks


def curve(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return the knots and values of a random increasing piecewise-linear curve (value 1 at 1)."""
    slopes = np.exp(rng.normal(0.0, CURVE_SPREAD, len(KNOTS) - 1))
    values = np.concatenate([[0.0], np.cumsum(slopes * np.diff(KNOTS))])
    return KNOTS, values / np.interp(1.0, KNOTS, values)


def log_field(coefficients: np.ndarray, coords: list[np.ndarray], shape: tuple) -> np.ndarray:
    """Return the log-field ``sum_k c_k prod_axis cos(pi k (x + 1/2) / n)`` at ``coords`` (voxel indices,
    one broadcastable array per axis): the lowest frequencies (0-2 half-periods across ``shape``)."""
    cosines = [
        [np.cos(np.pi * k * (c + 0.5) / n) for k in range(coefficients.shape[0])]
        for c, n in zip(coords, shape, strict=True)
    ]
    total = 0.0
    for (i, j, k), a in np.ndenumerate(coefficients):
        total = total + a * cosines[0][i] * cosines[1][j] * cosines[2][k]
    return total


def altered_patch(reference, brain, voxels, standard, corner: tuple, size: tuple, rng) -> np.ndarray:
    """Return the ``size`` patch at ``corner`` of ``reference`` as a random acquisition would show it,
    standardised onto ``standard`` from the altered brain's landmarks (estimated on a sample of ``voxels``,
    the brain's indices, before blur and noise), zero outside ``brain``."""
    low = [max(c - MARGIN, 0) for c in corner]
    high = [min(c + s + MARGIN, n) for c, s, n in zip(corner, size, reference.shape, strict=True)]
    box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    knots, values = curve(rng)
    coefficients = rng.normal(0.0, FIELD_LOG_SD, (3, 3, 3))
    coefficients[0, 0, 0] = 0.0
    field = np.exp(log_field(coefficients, np.ogrid[box], reference.shape))
    patch = np.interp(reference[box], knots, values) * field
    inside = brain[box].astype(np.float32)
    fwhm = rng.uniform(0.0, MAX_FWHM)
    if fwhm > 0.5:
        sigma = fwhm / 2.3548
        patch = gaussian_filter(patch * inside, sigma) / np.maximum(gaussian_filter(inside, sigma), 1e-3)
    noise = rng.uniform(0.0, MAX_NOISE)
    patch = np.hypot(patch + rng.normal(0, noise, patch.shape), rng.normal(0, noise, patch.shape))
    voxels = voxels[rng.integers(0, len(voxels), SAMPLE)]
    sample = np.interp(reference[tuple(voxels.T)], knots, values)
    sample *= np.exp(log_field(coefficients, list(voxels.T), reference.shape))
    patch = standardize(patch, landmarks(sample), standard) * inside
    inner = tuple(slice(c - a, c - a + s) for c, a, s in zip(corner, low, size, strict=True))
    return patch[inner].astype(np.float32)
