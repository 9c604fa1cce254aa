"""Random acquisition changes of a reference image, the self-supervised harmonizer's training inputs (numpy).

An altered volume is what another scanner or protocol might have made of the same anatomy: a monotone
intensity curve (a contrast or a scaling change), a smooth multiplicative field (a residual bias), a lower
resolution (a Gaussian blur) and Rician noise, in that order. A share of the inputs (``IDENTITY``) is left
unaltered, so that the network also learns to leave an image of the references' own look alone. The
families are generic: none was chosen to match the benchmark's protocols. The whole volume is altered, so
that its landmarks are then estimated exactly as ``apply`` estimates an image's.
"""

import numpy as np
from scipy.ndimage import gaussian_filter

#: where the curve's knots lie, in units of the brain's 99th percentile
KNOTS = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 3.0])
CURVE_SPREAD = 0.5  # standard deviation of the log of each segment's slope
FIELD_LOG_SD = 0.05  # of each of the field's 26 low-frequency coefficients
MAX_FWHM = 3.0  # voxels
MAX_NOISE = 0.03  # Rician sigma, of the 99th percentile
IDENTITY = 0.2  # share of training inputs left as they are


def curve(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return the knots and values of a random increasing piecewise-linear curve (value 1 at 1)."""
    slopes = np.exp(rng.normal(0.0, CURVE_SPREAD, len(KNOTS) - 1))
    values = np.concatenate([[0.0], np.cumsum(slopes * np.diff(KNOTS))])
    return KNOTS, values / np.interp(1.0, KNOTS, values)


def log_field(coefficients: np.ndarray, shape: tuple) -> np.ndarray:
    """Return the log-field ``sum_ijk c_ijk cos(pi i (x + 1/2) / nx) cos(pi j ...) cos(pi k ...)`` over
    ``shape``: the lowest frequencies (0-2 half-periods across each axis)."""
    cosines = [
        np.cos(np.pi * np.arange(n_freq)[:, None] * (np.arange(n) + 0.5) / n)
        for n_freq, n in zip(coefficients.shape, shape, strict=True)
    ]
    return np.einsum("ijk,ix,jy,kz->xyz", coefficients, *cosines, optimize=True)


def altered(reference: np.ndarray, brain: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return ``reference`` (scaled to its brain's 99th percentile, zero outside ``brain``) as a random
    acquisition would show it, zero outside ``brain``; with probability ``IDENTITY``, ``reference`` itself."""
    if rng.random() < IDENTITY:
        return reference
    knots, values = curve(rng)
    coefficients = rng.normal(0.0, FIELD_LOG_SD, (3, 3, 3))
    coefficients[0, 0, 0] = 0.0
    image = np.interp(reference, knots, values) * np.exp(log_field(coefficients, reference.shape))
    inside = brain.astype(np.float32)
    fwhm = rng.uniform(0.0, MAX_FWHM)
    if fwhm > 0.5:
        sigma = fwhm / 2.3548
        image = gaussian_filter(image * inside, sigma) / np.maximum(gaussian_filter(inside, sigma), 1e-3)
    noise = rng.uniform(0.0, MAX_NOISE)
    image = np.hypot(image + rng.normal(0, noise, image.shape), rng.normal(0, noise, image.shape))
    return np.where(brain, image, 0).astype(np.float32)
