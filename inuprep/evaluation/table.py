"""The metrics table of one image: a row per method (the original first) on the same masks, and its data
dictionary (pure: arrays in, a table out)."""

from collections.abc import Iterable

import numpy as np
import pandas as pd

from inuprep.evaluation.metrics import (
    FIELD_TREND_MM,
    coefficient_of_variation,
    field_tissue_step,
    known_field_metrics,
    tissue_means,
    tissue_metrics,
)
from inuprep.methods import METHODS
from inuprep.segmentation.base import cjv_pair
from inuprep.segmentation.labels import labels_by_tissue


def field_columns(prefix: str, truth: str, field: str) -> dict:
    """Return the data dictionary of the columns :func:`known_field_metrics` adds, named ``<prefix>...``,
    against the ``truth`` (a bias-free image) of a ``field``."""
    return {
        f"{prefix}rel_error": {
            "LongName": f"relative error against {truth}",
            "Description": "mean |s x image - truth| / mean(truth) inside the labelled voxels, truth = "
            f"{truth} (source / field), s the least-squares global scale (lower: closer to the bias-free "
            "image)",
        },
        f"{prefix}field_corr": {
            "LongName": f"correlation of the estimated and the {field} log-field",
            "Description": f"Pearson correlation of log(source / image) and log({field} field) inside the "
            "labelled voxels (n/a for the original, which removes no field)",
        },
        f"{prefix}field_slope": {
            "LongName": f"slope of the estimated on the {field} log-field",
            "Description": f"least-squares slope of log(source / image) on log({field} field): 1 recovers "
            "the field, below 1 leaves part of it in (0 for the original)",
        },
        f"{prefix}field_residual": {
            "LongName": f"residual of the estimated against the {field} log-field",
            "Description": f"standard deviation of log(source / image) - log({field} field) inside the "
            "labelled voxels: the field left in or added (lower is better; the original's: the field's own)",
        },
    }


#: the columns a known field adds (``--derivatives``' _biasfield)
KNOWN_FIELD_COLUMNS = field_columns("", "the truth", "true")
#: the columns a measured field adds (the same acquisition normalised by the scanner: ``MeasuredField``)
MEASURED_FIELD_COLUMNS = field_columns("measured_", "the scanner's normalised image", "measured")


#: the columns of the field's GM/WM step (``field_tissue_step``; with GM and WM labels)
FIELD_STEP_COLUMNS = {
    "field_gm_wm": {
        "LongName": "GM-minus-WM difference of the log-field",
        "Description": "mean log(source / image) in GM minus that in WM, the field the correction removed "
        "(< 0: WM divided by more than GM; 0 for the original). A diagnostic beside CJV: a real "
        "centre-bright field and a field that took in the WM core look alike here",
    },
    "field_gm_wm_detrended": {
        "LongName": "GM-minus-WM difference of the log-field without its smooth trend",
        "Description": "the same after subtracting the log-field's Gaussian smoothing of sigma "
        f"{FIELD_TREND_MM:g} mm: what the field holds at the scale of the anatomy itself",
    },
}

#: the columns the self-check adds (inuprep.evaluation.selfcheck)
SELF_CHECK_COLUMNS = {
    "selfcheck_estimate": {
        "LongName": "self-check: estimated error against the methods' mean",
        "Description": "the self-check's estimate, without the truth, of how much the method's relative "
        "error differs from the mean over the methods (-0.05: 5 % lower), from what it left in the image "
        "(the metrics JSON's SelfCheck holds each signal and the weights; n/a for the original)",
    },
    "recommended": {
        "LongName": "recommended by the self-check",
        "Description": "1 for the method with the lowest selfcheck_estimate, 0 otherwise",
        "Levels": {"0": "not recommended", "1": "recommended"},
    },
}


def metrics_table(
    images: Iterable[tuple[str, np.ndarray]],
    dseg: np.ndarray,
    tissues: dict[int, str],
    regions: dict[str, np.ndarray],
    source: str,
    known_field: np.ndarray | None = None,
    selfcheck: dict | None = None,
    measured_field: np.ndarray | None = None,
    zooms: tuple[float, ...] | None = None,
) -> pd.DataFrame:
    """Return one row per image of ``images`` ((method, data) pairs read one at a time, the original
    first): CV per tissue and per region of ``regions`` ({name: mask}), CJV and, with a ``known_field``, the
    error against the truth (original / field, inside the labels); the same columns, ``measured_``, against
    a ``measured_field``; with a ``selfcheck`` (:meth:`SelfCheckResult.to_dict`), each method's estimated
    error and whether it is recommended; with the voxel size ``zooms`` and a GM/WM table, the GM-minus-WM
    difference of each correction's log-field (:func:`field_tissue_step`); last, the mean intensity per
    tissue."""
    pair = cjv_pair(tissues.values())
    brain = dseg > 0
    field = known_field[brain] if known_field is not None else None
    measured = measured_field[brain] if measured_field is not None else None
    by_name = labels_by_tissue(tissues)
    step = zooms is not None and {"GM", "WM"} <= set(by_name)
    gm, wm = (np.isin(dseg, by_name[name]) for name in ("GM", "WM")) if step else (None, None)
    rows, source_image = [], None
    for method, data in images:
        if source_image is None:  # the original, first
            source_image, original = data, data[brain]
        row = {"method": method, "segmentation": source, **tissue_metrics(data, dseg, tissues, pair)}
        for name, region in regions.items():
            row[f"cv_{name.lower()}"] = coefficient_of_variation(data[region])
        if field is not None:
            row.update(known_field_metrics(original, data[brain], field))
        if measured is not None:
            metrics = known_field_metrics(original, data[brain], measured)
            row.update({f"measured_{name}": value for name, value in metrics.items()})
        if step:  # the field this correction removed: source / corrected where both are positive
            positive = (source_image > 0) & (data > 0)
            removed = np.divide(source_image, data, out=np.ones_like(data), where=positive)
            row.update(field_tissue_step(removed, gm, wm, zooms))
        if selfcheck:
            row["selfcheck_estimate"] = selfcheck["EstimatedErrors"].get(method, float("nan"))
            row["recommended"] = int(method == selfcheck["Recommended"])
        means = tissue_means(data, dseg, tissues)
        rows.append({**row, **{f"mean_{name.lower()}": mean for name, mean in means.items()}})
    return pd.DataFrame(rows)


def metrics_dictionary(
    tissues: dict[int, str],
    regions: list[str],
    segmentation: dict,
    known_field: bool = False,
    selfcheck: dict | None = None,
    measured_field: dict | None = None,
) -> dict:
    """Return the JSON data dictionary of :func:`metrics_table`'s columns, with how the masks were made
    (``segmentation``), where a measured field came from (``measured_field``) and the self-check."""
    pair = cjv_pair(tissues.values())
    columns = {
        "method": {"Description": f"correction: original (none), {', '.join(METHODS)}"},
        "segmentation": {
            "Description": "source of the tissue masks: deep_atropos, template_priors (offline fallback), "
            "T1w (the session's T1w masks), dixon_water_fat, intensity (dim/bright) or user"
        },
    }
    for name in [*dict.fromkeys(tissues.values()), *regions]:
        columns[f"cv_{name.lower()}"] = {
            "LongName": f"coefficient of variation in {name}",
            "Description": f"std / mean of the intensities inside the {name} mask (lower: more homogeneous)",
        }
    formula = (
        f"(sd_{pair[0]} + sd_{pair[1]}) / |mean_{pair[0]} - mean_{pair[1]}|"
        if pair
        else "n/a: the label table has no WM/GM or water/fat pair"
    )
    columns["cjv"] = {
        "LongName": "coefficient of joint variation",
        "Description": f"{formula} (MRIQC); unlike CV it does not improve when contrast is compressed",
    }
    if known_field:
        columns.update(KNOWN_FIELD_COLUMNS)
    if measured_field:
        columns.update(MEASURED_FIELD_COLUMNS)
    if {"GM", "WM"} <= set(tissues.values()):
        columns.update(FIELD_STEP_COLUMNS)
    for name in dict.fromkeys(tissues.values()):
        columns[f"mean_{name.lower()}"] = {
            "LongName": f"mean intensity in {name}",
            "Description": f"mean of the intensities inside the {name} mask, in the image's units: the group "
            "level's site_cv compares it across sites",
        }
    dictionary = {**columns, **segmentation, **({"MeasuredField": measured_field} if measured_field else {})}
    if selfcheck:
        dictionary.update({**SELF_CHECK_COLUMNS, "SelfCheck": selfcheck})
    return dictionary
