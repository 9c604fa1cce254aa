"""Nyul-Udupa standardisation with intensity-normalization (3.x on Python 3.11, 4.x on Python 3.12+).

The library's standard scale runs between two output values it is given; they are the references' mean
intensities at the lowest and highest landmark, so the result is on the references' own scale (not 1-100).

The two library generations share the maths (the mean of each reference's landmarks mapped linearly from
its end percentiles onto the two output values; a piecewise-linear map, extrapolated, from an image's
landmarks onto that scale) but not the API: 3.x has ``normalizers.population.nyul.NyulNormalizer``, 4.x
``methods.nyul.fit_array`` and ``NyulTransform``. The model file is ours in both (3.x's layout: the scale
over the landmark percentiles), so a model fitted under one reads under the other.
"""

from pathlib import Path

import numpy as np

from inuprep.harmonizers.nyul.settings import NyulSettings

HISTOGRAM = "standard_histogram.npy"  # rows: the standard scale, the landmark percentiles


def landmarks(settings: NyulSettings) -> np.ndarray:
    """Return the landmark percentiles: both ends and every ``step`` percent between (3.x's expression, so
    that its models and ours agree)."""
    between = np.arange(settings.step, 100 - settings.step + settings.step, settings.step)
    return np.concatenate([[settings.min_percentile], between, [settings.max_percentile]])


def fit(images: list, contrast: str | None, settings: NyulSettings, folder: Path) -> list[float]:
    """Write the references' standard histogram into ``folder``; Nyul learns no loss."""
    ends = [
        np.percentile(data[mask], [settings.min_percentile, settings.max_percentile]) for data, mask in images
    ]
    low, high = (float(end) for end in np.mean(ends, axis=0))
    percentiles = landmarks(settings)
    try:  # 4.x
        from intensity_normalization.methods import nyul

        datas, masks = [data for data, _ in images], [mask.astype(bool) for _, mask in images]
        scale = nyul.fit_array(
            datas, masks, landmarks=percentiles, output_min_value=low, output_max_value=high
        ).standard_scale
    except ImportError:  # 3.x
        from intensity_normalization.adapters.images import NumpyImageAdapter

        normalizer = _normalizer_3x(settings, low, high)
        normalizer.fit_population(
            [NumpyImageAdapter(data) for data, _ in images], [NumpyImageAdapter(mask) for _, mask in images]
        )
        scale = normalizer.standard_scale
    np.save(folder / HISTOGRAM, np.vstack([np.asarray(scale, np.float64), percentiles]))
    return []


def apply(data: np.ndarray, mask: np.ndarray, contrast: str | None, settings: NyulSettings, folder: Path):
    """Return ``data`` mapped piecewise-linearly from its landmarks (inside ``mask``) onto the standard's;
    magnitudes stay non-negative."""
    data = np.asarray(data, np.float32)
    try:  # 4.x
        from intensity_normalization.methods.nyul import NyulTransform

        scale, percentiles = np.load(folder / HISTOGRAM)
        mapped = NyulTransform(scale, percentiles).transform_array(data, np.asarray(mask, bool))
    except ImportError:  # 3.x
        from intensity_normalization.adapters.images import NumpyImageAdapter

        normalizer = _normalizer_3x(settings)
        normalizer.load_standard_histogram(str(folder / HISTOGRAM))
        mapped = normalizer.transform(NumpyImageAdapter(data), NumpyImageAdapter(mask)).get_data()
    return np.clip(mapped, 0, None).astype(np.float32)


def _normalizer_3x(settings: NyulSettings, low: float = 1.0, high: float = 100.0):
    from intensity_normalization.normalizers.population.nyul import NyulNormalizer

    return NyulNormalizer(
        output_min_value=low,
        output_max_value=high,
        min_percentile=settings.min_percentile,
        max_percentile=settings.max_percentile,
        percentile_after_min=settings.step,
        percentile_before_max=100 - settings.step,
        percentile_step=settings.step,
    )
