"""A tissue model with spatial priors: a Gaussian per class, EM, and a mean-field Markov random field.

The same model as the Atropos call it replaced (prior-weighted mixing, MRF smoothing, a few iterations), in
numpy on the brain's bounding box, many times faster (``benchmarks/README.md``, "How good are the tissue
masks?"). Pure: arrays in, arrays out.
"""

import numpy as np
from scipy.ndimage import uniform_filter


def prior_em(
    data: np.ndarray,
    mask: np.ndarray,
    priors: list[np.ndarray],
    prior_weight: float,
    mrf: float,
    iterations: int = 5,
) -> list[np.ndarray]:
    """Return each class's posterior map (zero outside ``mask``), the classes in the order of ``priors``.

    Intensities inside ``mask`` are modelled as a mixture of one Gaussian per class whose mixing weight at a
    voxel is ``(1 - prior_weight) x`` the class's share of the brain ``+ prior_weight x`` its prior there
    (Atropos's prior weighting). EM starts from the priors; every E step also adds ``mrf`` times the sum of
    the class's posterior over the 26 neighbours to its log-probability (a mean-field Potts model).
    """
    box = bounding_box(mask)
    inside = mask[box]
    values = np.asarray(data[box], dtype=np.float64)[inside]
    prior = np.stack([np.asarray(p[box], dtype=np.float64)[inside] for p in priors])
    total = prior.sum(axis=0)
    prior = np.where(total > 0, prior / np.where(total > 0, total, 1), 1 / len(priors))
    posterior = prior
    for _ in range(iterations):
        counts = posterior.sum(axis=1) + 1e-9
        means = posterior @ values / counts
        variances = np.maximum((posterior * (values - means[:, None]) ** 2).sum(axis=1) / counts, 1e-12)
        mixing = (1 - prior_weight) * (counts / counts.sum())[:, None] + prior_weight * prior
        log_p = np.log(mixing + 1e-12) - 0.5 * (
            np.log(2 * np.pi * variances)[:, None] + (values - means[:, None]) ** 2 / variances[:, None]
        )
        if mrf:
            log_p += mrf * neighbour_sums(posterior, inside)
        log_p -= log_p.max(axis=0)
        posterior = np.exp(log_p)
        posterior /= posterior.sum(axis=0)
    maps = []
    for k in range(len(priors)):
        full = np.zeros(mask.shape, dtype=np.float32)
        full[box][inside] = posterior[k]
        maps.append(full)
    return maps


def neighbour_sums(posterior: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Return, per class and voxel of ``inside``, the sum of the class's posterior over its 26 neighbours."""
    sums = np.empty_like(posterior)
    grid = np.zeros(inside.shape, dtype=np.float32)
    for k, p in enumerate(posterior):
        grid[inside] = p
        sums[k] = uniform_filter(grid, size=3, mode="constant")[inside] * 27 - p
    return sums


def bounding_box(mask: np.ndarray) -> tuple[slice, ...]:
    """Return the slices of the smallest box holding every voxel of ``mask`` (the whole grid if empty)."""
    if not mask.any():
        return tuple(slice(0, n) for n in mask.shape)
    axes = np.nonzero(mask)
    return tuple(slice(int(a.min()), int(a.max()) + 1) for a in axes)
