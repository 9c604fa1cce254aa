"""CV and CJV, and why CJV is the honest one."""

import numpy as np
import pytest

from inuprep.evaluation.metrics import (
    coefficient_of_joint_variation,
    coefficient_of_variation,
    field_anatomy,
    field_tissue_step,
    known_field_metrics,
    relative_mae,
    tissue_metrics,
)


def test_formulas():
    assert coefficient_of_variation(np.array([1.0, 3.0])) == pytest.approx(0.5)
    high, low = np.array([9.0, 11.0]), np.array([4.0, 6.0])
    assert coefficient_of_joint_variation(high, low) == pytest.approx((1 + 1) / 5)
    assert np.isnan(coefficient_of_variation(np.array([2.0])))


def test_compressing_contrast_lowers_cv_but_not_cjv():
    rng = np.random.default_rng(0)
    gm, wm = rng.normal(60, 6, 5000), rng.normal(100, 6, 5000)
    squash = np.sqrt  # a global curve: no bias removed
    assert coefficient_of_variation(squash(wm)) < coefficient_of_variation(wm)
    assert coefficient_of_joint_variation(squash(wm), squash(gm)) == pytest.approx(
        coefficient_of_joint_variation(wm, gm), rel=0.05
    )
    assert coefficient_of_joint_variation(3 * wm, 3 * gm) == pytest.approx(
        coefficient_of_joint_variation(wm, gm)
    )


def test_tissue_metrics_uses_the_label_table():
    dseg = np.array([1, 1, 2, 2, 3, 3])
    data = np.array([1.0, 1.0, 4.0, 6.0, 9.0, 11.0])
    row = tissue_metrics(data, dseg, {1: "CSF", 2: "GM", 3: "WM"}, ("WM", "GM"))
    assert row["cv_csf"] == 0
    assert row["cv_gm"] == pytest.approx(0.2)
    assert row["cjv"] == pytest.approx(0.4)


def test_labels_of_one_tissue_are_pooled_and_cjv_needs_a_pair():
    dseg = np.array([2, 2, 4, 4, 3, 3])  # deep_atropos: 2 cortical GM, 4 deep GM
    data = np.array([4.0, 4.0, 6.0, 6.0, 9.0, 11.0])
    row = tissue_metrics(data, dseg, {2: "GM", 4: "GM", 3: "WM"}, ("WM", "GM"))
    assert set(row) == {"cv_gm", "cv_wm", "cjv"} and row["cv_gm"] == pytest.approx(0.2)
    assert np.isnan(tissue_metrics(data, dseg, {3: "bladder"}, None)["cjv"])


def test_relative_mae_ignores_a_global_scale():
    clean = np.array([1.0, 2.0, 3.0, 4.0])
    assert relative_mae(5 * clean, clean) == pytest.approx(0.0)
    assert relative_mae(clean + np.array([0.5, -0.5, 0.5, -0.5]), clean) > 0.1


def test_known_field_metrics_tell_a_recovered_field_from_a_shrunk_one():
    rng = np.random.default_rng(0)
    clean = rng.uniform(50, 150, 4000)
    field = np.exp(rng.normal(0, 0.2, 4000))
    original = clean * field
    perfect = known_field_metrics(original, 3 * clean, field)  # the truth up to a global scale
    assert perfect["rel_error"] == pytest.approx(0, abs=1e-9)
    assert (perfect["field_corr"], perfect["field_slope"]) == pytest.approx((1, 1))
    half = known_field_metrics(original, original / np.sqrt(field), field)  # half of the log-field removed
    assert half["field_slope"] == pytest.approx(0.5) and half["field_corr"] == pytest.approx(1)
    none = known_field_metrics(original, original, field)
    assert none["field_slope"] == 0 and np.isnan(none["field_corr"])
    assert 0 < half["rel_error"] < none["rel_error"] == pytest.approx(relative_mae(original, clean))
    # voxels where the image, the correction or the field is not positive do not count
    broken = known_field_metrics(np.r_[original, 0.0], np.r_[3 * clean, 5.0], np.r_[field, 1.0])
    assert broken == pytest.approx(perfect)


def test_a_field_that_follows_the_anatomy_is_detected():
    """A planted field higher over WM (by 8 % after smoothing at 6 mm) is told apart from a smooth misfit
    of the same size (a field under-recovered by 20 % in the centre, where the deep WM is)."""
    from scipy.ndimage import gaussian_filter

    from inuprep.simulation.fields import random_field, template_anatomy

    _, wm, gm, _ = template_anatomy(3.0)
    truth = random_field("coil", wm.shape, 3.0, seed=2)
    planted = truth * np.exp(0.08 * gaussian_filter(wm.astype(float), 2.0))
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in wm.shape], indexing="ij")
    shrunk = truth * np.exp(-0.2 * np.exp(-(x**2 + y**2 + z**2) / 0.3))
    assert field_anatomy(truth, truth, wm, gm) == pytest.approx(0, abs=1e-9)
    assert field_anatomy(planted, truth, wm, gm) > 0.02
    assert abs(field_anatomy(shrunk, truth, wm, gm)) < 0.01


def test_the_field_tissue_step_tells_a_large_scale_field_from_one_at_the_anatomy_s_scale():
    """A centre-bright field (smooth, 60 mm) steps between GM and WM as is, not once its 8 mm trend is
    removed; a field that copies the WM mask at 3 mm steps in both; no field, in neither."""
    from scipy.ndimage import gaussian_filter

    from inuprep.simulation.fields import template_anatomy

    _, wm, gm, _ = template_anatomy(3.0)
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in wm.shape], indexing="ij")
    centre = np.exp(0.3 * np.exp(-(x**2 + y**2 + z**2) / 0.5))
    copied = np.exp(0.1 * gaussian_filter(wm.astype(float), 1.0))
    zooms = (3.0, 3.0, 3.0)
    flat = field_tissue_step(np.ones(wm.shape), gm, wm, zooms)
    assert flat == {"field_gm_wm": 0.0, "field_gm_wm_detrended": 0.0}
    smooth = field_tissue_step(centre, gm, wm, zooms)
    assert smooth["field_gm_wm"] < -0.01 and abs(smooth["field_gm_wm_detrended"]) < 0.1 * abs(
        smooth["field_gm_wm"]
    )
    anatomy = field_tissue_step(copied, gm, wm, zooms)
    assert anatomy["field_gm_wm"] < -0.03 and anatomy["field_gm_wm_detrended"] < -0.02
    assert np.isnan(field_tissue_step(centre, gm & False, wm, zooms)["field_gm_wm"])
