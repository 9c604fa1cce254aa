"""The tissue model of the offline fallback: EM with spatial priors and a mean-field MRF."""

import numpy as np
from scipy.ndimage import gaussian_filter

from inuprep.segmentation.tissue_model import bounding_box, prior_em


def three_shells(noise: float, seed: int = 0):
    """Return a noisy image of three nested classes (CSF outside, GM, WM inside), its labels, its mask and
    blurred priors that are wrong near every boundary."""
    grid = np.indices((40, 40, 40)).astype(float) - 19.5
    radius = np.sqrt((grid**2).sum(axis=0))
    mask = radius < 18
    labels = np.where(radius < 9, 3, np.where(radius < 14, 2, 1)) * mask
    means = np.array([0.0, 0.2, 0.55, 0.9])
    rng = np.random.default_rng(seed)
    image = (means[labels] + rng.normal(0, noise, labels.shape)) * mask
    priors = [gaussian_filter((labels == k).astype(float), 3) for k in (1, 2, 3)]
    return image, labels, mask, priors


def test_em_recovers_the_classes_and_its_posteriors_are_probabilities():
    image, labels, mask, priors = three_shells(noise=0.08)
    posteriors = prior_em(image, mask, priors, prior_weight=0.1, mrf=0.0)
    stacked = np.stack(posteriors)
    assert np.allclose(stacked.sum(axis=0)[mask], 1, atol=1e-5) and not stacked[:, ~mask].any()
    found = (np.argmax(stacked, axis=0) + 1) * mask
    assert (found[mask] == labels[mask]).mean() > 0.97


def test_the_priors_name_the_classes_whatever_their_intensity_order():
    image, labels, mask, priors = three_shells(noise=0.05)
    reversed_contrast = np.where(mask, 1.2 - image, 0)  # a T2w-like order: WM darkest
    found = (np.argmax(prior_em(reversed_contrast, mask, priors, 0.1, 0.0), axis=0) + 1) * mask
    assert (found[mask] == labels[mask]).mean() > 0.97


def test_the_mrf_removes_isolated_errors():
    image, labels, mask, priors = three_shells(noise=0.17, seed=1)  # classes overlap: salt-and-pepper
    plain, smooth = (
        (np.argmax(prior_em(image, mask, priors, 0.1, mrf), axis=0) + 1) * mask for mrf in (0.0, 0.05)
    )
    errors_plain, errors_smooth = ((f[mask] != labels[mask]).mean() for f in (plain, smooth))
    assert errors_smooth < 0.85 * errors_plain


def test_bounding_box():
    mask = np.zeros((5, 6, 7), bool)
    mask[1:3, 2, 4:7] = True
    assert bounding_box(mask) == (slice(1, 3), slice(2, 3), slice(4, 7))
    assert bounding_box(np.zeros((2, 3, 4), bool)) == (slice(0, 2), slice(0, 3), slice(0, 4))
