"""WhiteStripe (Shinohara et al. 2014), written here rather than taken from intensity-normalization: its
``WhiteStripeNormalizer`` returns z-scores only (the stripe's mean and deviation are private), while
harmonization needs them to put an image on the references' scale; and it estimates the density with a
Gaussian KDE over every voxel (minutes at 1 mm), where a smoothed histogram finds the same mode.
"""

from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelmax

from inuprep.harmonizers.whitestripe.settings import WhiteStripeSettings

STRIPE = "white_stripe.npz"


def white_matter_mode(values: np.ndarray, last_peak: bool) -> float:
    """Return the white matter's intensity mode: with ``last_peak`` (a T1w brain: white matter is the
    brightest tissue) the last peak of the histogram below its 96th percentile, else the largest peak."""
    values = values[values <= np.percentile(values, 96)] if last_peak else values
    counts, edges = np.histogram(values, bins=256)
    density = gaussian_filter1d(counts.astype(float), 2)
    centres = (edges[:-1] + edges[1:]) / 2
    peaks = argrelmax(density)[0]
    if not last_peak or not len(peaks):
        return float(centres[np.argmax(density)])
    return float(centres[peaks[-1]])


def stripe(data: np.ndarray, mask: np.ndarray, contrast: str | None, width: float, wm=None):
    """Return the mean and standard deviation of the white stripe of ``data``: around the white-matter
    mode of the brain ``mask``'s histogram or, given a (non-empty) white-matter mask ``wm``, around the
    largest peak of the white matter's own."""
    in_wm = wm is not None and bool(wm.any())
    values = data[wm if in_wm else mask].astype(np.float64)
    quantile = float(np.mean(values < white_matter_mode(values, last_peak=not in_wm and contrast != "T2w")))
    low, high = np.quantile(values, [max(quantile - width, 0.0), min(quantile + width, 1.0)])
    inside = values[(values > low) & (values < high)]
    return float(inside.mean()), float(inside.std())


def fit(images: list, contrast: str | None, settings: WhiteStripeSettings, folder: Path) -> list[float]:
    """Write the references' mean white-stripe mean and deviation into ``folder``."""
    stripes = np.array(
        [stripe(data, mask, contrast, settings.width, tissues["WM"]) for data, mask, tissues in images]
    )
    np.savez(folder / STRIPE, mean=stripes[:, 0].mean(), sd=stripes[:, 1].mean())
    return []


def apply(data, mask, contrast: str | None, settings: WhiteStripeSettings, folder: Path, tissues: dict):
    """Return ``data`` with its white stripe given the references' mean and deviation (non-negative)."""
    reference = np.load(folder / STRIPE)
    mean, sd = stripe(data, mask, contrast, settings.width, tissues["WM"])
    scaled = (data - mean) / sd * float(reference["sd"]) + float(reference["mean"])
    return np.clip(scaled, 0, None).astype(np.float32)
