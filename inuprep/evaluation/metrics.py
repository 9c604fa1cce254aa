"""Homogeneity metrics of a corrected image inside tissue masks (pure numpy)."""

import numpy as np

from inuprep.segmentation.labels import labels_by_tissue


def coefficient_of_variation(values: np.ndarray) -> float:
    """Return CV = std / mean of the intensities of one tissue (the paper's metric).

    CV is scale-free, but a global curve that compresses contrast lowers it without removing any bias.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2 or values.mean() == 0:
        return float("nan")
    return float(values.std() / values.mean())


def coefficient_of_joint_variation(high: np.ndarray, low: np.ndarray) -> float:
    """Return CJV = (sd_high + sd_low) / |mean_high - mean_low| (MRIQC; Ganzetti et al. 2016).

    For T1w, ``high`` is WM and ``low`` GM. Compressing contrast does not lower CJV.
    """
    high = np.asarray(high, dtype=np.float64)
    low = np.asarray(low, dtype=np.float64)
    if high.size < 2 or low.size < 2 or high.mean() == low.mean():
        return float("nan")
    return float((high.std() + low.std()) / abs(high.mean() - low.mean()))


def relative_mae(estimate: np.ndarray, clean: np.ndarray) -> float:
    """Return mean|s * estimate - clean| / mean(clean), s the least-squares global scale."""
    estimate = np.asarray(estimate, dtype=np.float64)
    clean = np.asarray(clean, dtype=np.float64)
    scale = np.dot(estimate, clean) / np.dot(estimate, estimate)
    return float(np.mean(np.abs(scale * estimate - clean)) / np.mean(clean))


def tissue_relative_mae(estimate: np.ndarray, clean: np.ndarray, brain: np.ndarray, tissues: dict) -> dict:
    """Return Simko et al.'s relative MAE per tissue, ``rmae_<tissue>``: mean|s * estimate - clean| /
    mean(clean) inside each tissue mask, s the least-squares global scale inside ``brain`` (one for all)."""
    est, ref = np.asarray(estimate, dtype=np.float64), np.asarray(clean, dtype=np.float64)
    scale = np.dot(est[brain], ref[brain]) / np.dot(est[brain], est[brain])
    return {
        f"rmae_{name}": float(np.mean(np.abs(scale * est[mask] - ref[mask])) / np.mean(ref[mask]))
        for name, mask in tissues.items()
    }


def field_fit(estimate: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Return the correlation and the slope of the estimated log-field regressed on the true one, and the
    standard deviation of their difference (the field left in or added, whatever its scale).

    A slope below 1 is a shrunk field (part of the bias left in); the correlation ignores the scale.
    """
    est, true = np.log(np.asarray(estimate, np.float64)), np.log(np.asarray(truth, np.float64))
    constant = np.ptp(est) == 0  # no field estimated (the original): no correlation, slope 0
    return {
        "field_corr": float("nan") if constant else float(np.corrcoef(est, true)[0, 1]),
        "field_slope": float(np.cov(est, true)[0, 1] / np.var(true, ddof=1)),
        "field_residual": float(np.std(est - true)),
    }


def field_anatomy(estimate: np.ndarray, truth: np.ndarray, wm: np.ndarray, gm: np.ndarray) -> float:
    """Return how much of the anatomy an estimated field took in: the WM-minus-GM step of its log-residual.

    The residual log(estimate / truth) inside WM and GM is regressed on a quadratic in the voxel coordinates
    (a smooth misfit, e.g. a field under-recovered in the centre) and a WM indicator; the indicator's
    coefficient is returned, in log units. A field that follows the anatomy is higher over WM than GM at the
    same place (> 0: the correction darkened WM against GM, squashing the contrast); log(WM / GM mean) of the
    clean image is the whole contrast.
    """
    region = np.asarray(wm, bool) | np.asarray(gm, bool)
    residual = np.log(np.asarray(estimate, np.float64)[region] / np.asarray(truth, np.float64)[region])
    coords = [c / max(n - 1, 1) * 2 - 1 for c, n in zip(np.nonzero(region), region.shape, strict=True)]
    columns = [np.ones_like(residual), *coords]
    columns += [a * b for i, a in enumerate(coords) for b in coords[i:]]
    columns.append(np.asarray(wm, bool)[region].astype(np.float64))
    coefficients, *_ = np.linalg.lstsq(np.stack(columns, axis=1), residual, rcond=None)
    return float(coefficients[-1])


#: the scale (Gaussian sigma, mm) whose trend :func:`field_tissue_step` removes from a log-field
FIELD_TREND_MM = 8.0


def field_tissue_step(field: np.ndarray, gm: np.ndarray, wm: np.ndarray, zooms) -> dict[str, float]:
    """Return the GM-minus-WM difference of the mean log-field, as is and with its smooth trend removed.

    ``field_gm_wm`` < 0: the correction divided WM by more than GM. A real centre-bright field (WM lies
    deeper than cortex) and a field that took in the WM core look alike here, so it is a diagnostic beside
    CJV, not a score. ``field_gm_wm_detrended`` is the same of the log-field minus its Gaussian smoothing of
    :data:`FIELD_TREND_MM` (sigma): what is left at the scale of the anatomy itself (sulci, the cortical
    ribbon), where no receive field varies.
    """
    from scipy.ndimage import gaussian_filter

    log = np.log(np.clip(np.asarray(field, np.float64), 1e-6, None))
    detrended = log - gaussian_filter(log, [FIELD_TREND_MM / float(z) for z in zooms], mode="nearest")
    gm, wm = np.asarray(gm, bool), np.asarray(wm, bool)
    if not (gm.any() and wm.any()):
        return {"field_gm_wm": float("nan"), "field_gm_wm_detrended": float("nan")}
    return {
        "field_gm_wm": float(log[gm].mean() - log[wm].mean()),
        "field_gm_wm_detrended": float(detrended[gm].mean() - detrended[wm].mean()),
    }


def known_field_metrics(original: np.ndarray, corrected: np.ndarray, field: np.ndarray) -> dict[str, float]:
    """Return a correction's error against a known multiplicative ``field`` (voxels of one region).

    The truth is ``original / field``; ``rel_error`` is the relative MAE of ``corrected`` against it after
    the best global scale, and ``field_corr`` / ``field_slope`` / ``field_residual`` compare the field the
    correction removed (``original / corrected``) with the true one (:func:`field_fit`). Voxels where any
    of the three is not positive are left out.
    """
    keep = (original > 0) & (corrected > 0) & (field > 0)
    original, corrected, field = original[keep], corrected[keep], field[keep]
    return {
        "rel_error": relative_mae(corrected, original / field),
        **field_fit(np.asarray(original, np.float64) / corrected, field),
    }


def tissue_metrics(
    data: np.ndarray, dseg: np.ndarray, tissues: dict[int, str], cjv_pair: tuple[str, str] | None
) -> dict[str, float]:
    """Return ``cv_<tissue>`` per tissue and ``cjv`` between the two tissues of ``cjv_pair`` (NaN if None).

    ``tissues`` maps labels to tissue names; labels sharing a name are pooled (e.g. cortical and deep GM).
    """
    by_name = {name: data[np.isin(dseg, indices)] for name, indices in labels_by_tissue(tissues).items()}
    row = {f"cv_{name.lower()}": coefficient_of_variation(v) for name, v in by_name.items()}
    row["cjv"] = (
        coefficient_of_joint_variation(by_name[cjv_pair[0]], by_name[cjv_pair[1]])
        if cjv_pair
        else float("nan")
    )
    return row


def tissue_means(data: np.ndarray, dseg: np.ndarray, tissues: dict[int, str]) -> dict[str, float]:
    """Return {tissue: mean intensity} (labels sharing a name pooled; NaN for an empty tissue): what the
    group level compares across sites, from the metrics tables and sidecars instead of the images."""
    pooled = {name: data[np.isin(dseg, indices)] for name, indices in labels_by_tissue(tissues).items()}
    return {name: float(v.mean()) if v.size else float("nan") for name, v in pooled.items()}


#: the columns of a known or a measured field that summaries show (``evaluation.table``)
FIELD_SUMMARY = ("rel_error", "measured_rel_error", "measured_field_corr", "measured_field_residual")


def summary_columns(columns) -> list[str]:
    """Return the columns of a metrics table that summaries show: CV per tissue, CJV, the error against a
    known field, and the error, log-field r and residual against a measured one, those present."""
    return [c for c in columns if c.startswith("cv_")] + ["cjv"] + [c for c in FIELD_SUMMARY if c in columns]
