"""An image's metrics table: a row per method on the same masks, the truth's error and the self-check."""

import numpy as np
import pytest

from inuprep.evaluation.table import (
    KNOWN_FIELD_COLUMNS,
    SELF_CHECK_COLUMNS,
    metrics_dictionary,
    metrics_table,
)
from inuprep.segmentation.base import BRAIN_LABELS


@pytest.fixture
def labelled():
    """A 3-tissue label image and a clean image with one level per tissue, WM brightest."""
    label = {name: index for index, name in BRAIN_LABELS.items()}
    dseg = np.zeros((12, 12, 12), np.uint8)
    dseg[2:10, 2:10, 2:4], dseg[2:10, 2:10, 4:7], dseg[2:10, 2:10, 7:10] = (
        label["CSF"],
        label["GM"],
        label["WM"],
    )
    levels = np.zeros(4)
    levels[[label["CSF"], label["GM"], label["WM"]]] = 0.3, 0.6, 1.0
    rng = np.random.default_rng(0)
    clean = levels[dseg] + rng.normal(0, 0.01, dseg.shape) * (dseg > 0)
    return dseg, clean.astype(np.float32)


def test_rows_follow_the_images_and_a_perfect_correction_has_no_error(labelled):
    dseg, clean = labelled
    field = np.linspace(0.7, 1.4, 12, dtype=np.float32)[:, None, None] * np.ones_like(clean)
    biased = clean * field
    images = iter([("original", biased), ("perfect", clean * 1.7), ("none", biased)])  # read one at a time
    lesion = {"lesion": dseg == next(i for i, name in BRAIN_LABELS.items() if name == "GM")}
    table = metrics_table(images, dseg, BRAIN_LABELS, lesion, "user", field).set_index("method")
    assert list(table.index) == ["original", "perfect", "none"]
    assert table.loc["perfect", "rel_error"] < 1e-6 and table.loc["perfect", "field_slope"] == pytest.approx(
        1
    )
    assert table.loc["none", "rel_error"] == table.loc["original", "rel_error"] > 0.05
    assert table.loc["perfect", "cjv"] < table.loc["original", "cjv"]
    assert table.loc["perfect", "cv_lesion"] == table.loc["perfect", "cv_gm"]
    assert set(table.segmentation) == {"user"}


def test_the_self_check_adds_its_error_and_marks_one_method(labelled):
    dseg, clean = labelled
    check = {"Recommended": "n4", "EstimatedErrors": {"n4": -0.01, "zeroshot": 0.01}}
    images = [("original", clean), ("n4", clean), ("zeroshot", clean)]
    table = metrics_table(images, dseg, BRAIN_LABELS, {}, "template_priors", selfcheck=check)
    assert list(table.recommended) == [0, 1, 0]
    assert np.isnan(table.selfcheck_estimate[0]) and list(table.selfcheck_estimate[1:]) == [-0.01, 0.01]


def test_the_dictionary_describes_every_column_it_can_hold():
    check = {"Recommended": "n4", "EstimatedErrors": {}}
    plain = metrics_dictionary({1: "water", 2: "fat"}, ["lesion"], {"SegmentationSource": "dixon_water_fat"})
    full = metrics_dictionary(BRAIN_LABELS, [], {}, known_field=True, selfcheck=check)
    assert {"cv_water", "cv_fat", "cv_lesion", "cjv"} <= set(plain) and "(sd_water + sd_fat)" in str(
        plain["cjv"]
    )
    assert plain["SegmentationSource"] == "dixon_water_fat" and not set(KNOWN_FIELD_COLUMNS) & set(plain)
    assert set(KNOWN_FIELD_COLUMNS) | set(SELF_CHECK_COLUMNS) <= set(full) and full["SelfCheck"] == check


def test_a_measured_field_adds_its_own_columns_and_the_original_keeps_the_whole_field(labelled):
    dseg, clean = labelled
    measured = np.exp(np.linspace(-0.4, 0.4, 12, dtype=np.float32))[None, :, None] * np.ones_like(clean)
    half = np.sqrt(measured)
    images = iter([("original", clean * measured), ("scanner", clean * 2.0), ("half", clean * half)])
    table = metrics_table(images, dseg, BRAIN_LABELS, {}, "user", measured_field=measured)
    table = table.set_index("method")
    assert "rel_error" not in table.columns  # no known field: a measured one has columns of its own
    brain = dseg > 0
    whole = np.std(np.log(measured[brain]))
    assert table.loc["original", "measured_field_residual"] == pytest.approx(whole, rel=1e-6)
    assert table.loc["scanner", "measured_field_residual"] < 1e-6
    assert table.loc["scanner", "measured_field_corr"] == pytest.approx(1)
    assert table.loc["scanner", "measured_rel_error"] < 1e-6
    assert table.loc["half", "measured_field_slope"] == pytest.approx(0.5, abs=1e-4)
    assert table.loc["half", "measured_field_residual"] == pytest.approx(whole / 2, rel=1e-3)
    about = {"Reference": "sub-01_acq-prescannorm_T1w.nii.gz"}
    dictionary = metrics_dictionary(BRAIN_LABELS, [], {}, measured_field=about)
    assert dictionary["MeasuredField"] == about and "measured_field_residual" in dictionary
    assert "rel_error" not in dictionary
