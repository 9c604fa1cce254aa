"""Nyul-Udupa standardisation with intensity-normalization's ``NyulNormalizer``.

The library's standard scale runs between two output values it is given; they are the references' mean
intensities at the lowest and highest landmark, so the result is on the references' own scale (not 1-100).
"""

from pathlib import Path

import numpy as np
from intensity_normalization.adapters.images import NumpyImageAdapter
from intensity_normalization.normalizers.population.nyul import NyulNormalizer

from inuprep.harmonizers.nyul.settings import NyulSettings

HISTOGRAM = "standard_histogram.npy"  # the library's own file (save/load_standard_histogram)


def _normalizer(settings: NyulSettings, low: float = 1.0, high: float = 100.0) -> NyulNormalizer:
    return NyulNormalizer(
        output_min_value=low,
        output_max_value=high,
        min_percentile=settings.min_percentile,
        max_percentile=settings.max_percentile,
        percentile_after_min=settings.step,
        percentile_before_max=100 - settings.step,
        percentile_step=settings.step,
    )


def fit(images: list, contrast: str | None, settings: NyulSettings, folder: Path) -> list[float]:
    """Write the references' standard histogram into ``folder``; Nyul learns no loss."""
    ends = [
        np.percentile(data[mask], [settings.min_percentile, settings.max_percentile]) for data, mask in images
    ]
    low, high = np.mean(ends, axis=0)
    normalizer = _normalizer(settings, float(low), float(high))
    normalizer.fit_population(
        [NumpyImageAdapter(data) for data, _ in images], [NumpyImageAdapter(mask) for _, mask in images]
    )
    normalizer.save_standard_histogram(str(folder / HISTOGRAM))
    return []


def apply(data: np.ndarray, mask: np.ndarray, contrast: str | None, settings: NyulSettings, folder: Path):
    """Return ``data`` mapped piecewise-linearly from its landmarks (inside ``mask``) onto the standard's;
    magnitudes stay non-negative."""
    normalizer = _normalizer(settings)
    normalizer.load_standard_histogram(str(folder / HISTOGRAM))
    mapped = normalizer.transform(NumpyImageAdapter(data), NumpyImageAdapter(mask)).get_data()
    return np.clip(mapped, 0, None).astype(np.float32)
