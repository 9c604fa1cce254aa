"""Nyul-Udupa landmark standardisation in numpy: the self-supervised harmonizer's first and last step, and how
a voxel-grid method's result is carried back to an image's own grid (:mod:`inuprep.harmonizers.grid`).

Training and applying must map intensities the same way, so the mapping is written here in two short
functions (the ``nyul`` method uses intensity-normalization's). Beyond the end landmarks the mapping extends
linearly.
"""

import numpy as np

PERCENTILES = (1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99)


def landmarks(values: np.ndarray) -> np.ndarray:
    """Return the landmark intensities (``PERCENTILES``) of ``values``, made strictly increasing."""
    points = np.percentile(values, PERCENTILES).astype(np.float64)
    return np.maximum.accumulate(points + np.arange(len(points)) * 1e-6 * max(points[-1], 1e-6))


def standardize(data: np.ndarray, own: np.ndarray, standard: np.ndarray) -> np.ndarray:
    """Return ``data`` mapped piecewise-linearly from its landmarks ``own`` onto ``standard`` (linear
    beyond both ends, with the slopes of the end segments)."""
    mapped = np.interp(data, own, standard)
    low_slope = (standard[1] - standard[0]) / (own[1] - own[0])
    high_slope = (standard[-1] - standard[-2]) / (own[-1] - own[-2])
    mapped = np.where(data < own[0], standard[0] + (data - own[0]) * low_slope, mapped)
    return np.where(data > own[-1], standard[-1] + (data - own[-1]) * high_slope, mapped)
