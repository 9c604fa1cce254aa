"""Group level: the paper's Table 1 (mean(std) per tissue and method) per contrast, a figure, an HTML page."""

import json
import re
from pathlib import Path

import pandas as pd

from inuprep.evaluation.metrics import summary_columns
from inuprep.evaluation.table import FIELD_STEP_COLUMNS
from inuprep.methods import LABELS
from inuprep.reports import render
from inuprep.reports.figures import group_figure, sites_figure
from inuprep.utils.bids import sidecar_path, split_name
from inuprep.utils.io import atomic_write_text, replacing, write_json

_REC = re.compile(r"_rec-([A-Za-z0-9]+)_")


def table_key(tsv: Path) -> str:
    """Return the contrast a metrics table belongs to, as discovery found it (its sidecar's ``Contrast``).

    Tables written before the sidecar recorded it fall back to the name: the source suffix, or
    dixon-<rec> for Dixon images.
    """
    try:
        return json.loads(tsv.with_suffix(".json").read_text())["Contrast"]
    except (OSError, ValueError, KeyError):
        pass
    name = tsv.name
    if "dixon" in name.lower() and _REC.search(name):
        return f"dixon-{_REC.search(name).group(1)}"
    return dict(split_name(name)[0]).get("space", "unknown")


def collect_metrics(output_dir: Path) -> dict[str, pd.DataFrame]:
    """Return {contrast: one row per image and method} from a participant-level output folder."""
    tables = {}
    for tsv in sorted(output_dir.glob("sub-*/**/*_metrics.tsv")):
        frame = pd.read_csv(tsv, sep="\t")
        frame.insert(0, "source", tsv.name.replace("_metrics.tsv", ""))
        frame.insert(0, "subject", tsv.name.split("_")[0][4:])
        tables.setdefault(table_key(tsv), []).append(frame)
    return {key: pd.concat(frames, ignore_index=True) for key, frames in sorted(tables.items())}


def summary_table(images: pd.DataFrame) -> pd.DataFrame:
    """Return one row per tissue (CV), CJV (and the error when known), the field's GM/WM step, one column
    per method, each cell mean(std) over images."""
    metrics = summary_columns(images.columns) + [c for c in FIELD_STEP_COLUMNS if c in images.columns]
    methods = [m for m in LABELS if m in set(images.method)]
    rows = []
    for metric in metrics:
        grouped = images.groupby("method")[metric]
        mean, std, count = grouped.mean(), grouped.std(ddof=1), grouped.count()
        kind, _, tissue = metric.partition("_") if metric.startswith("cv_") else (metric, "", "")
        row = {"metric": kind, "tissue": tissue, "n_images": int(count.max())}
        for method in methods:
            row[method] = (
                "n/a" if pd.isna(mean[method]) else f"{mean[method]:.4f}({std.fillna(0)[method]:.4f})"
            )
        rows.append(row)
    if "recommended" in images.columns:  # the self-check: how many images recommend each method
        checked = images[images.recommended.notna() & (images.method != "original")]
        counts = checked.groupby("method").recommended.sum()
        row = {"metric": "recommended", "tissue": "", "n_images": int(checked.groupby("source").ngroups)}
        rows.append({**row, **{m: str(int(counts.get(m, 0))) for m in methods if m != "original"}})
    return pd.DataFrame(rows)


def site_means(images: pd.DataFrame, entries: list[dict]) -> pd.DataFrame:
    """Return one row per image and kind (each correction, and ``harmonized``) with its ``site``, ``source``
    and tissue means (``mean_<tissue>``), read from the metrics table ``images`` and the harmonized images'
    sidecars (``TissueMeans``): no image is read.

    ``entries``: one per image, with its ``source`` (as the metrics table names it), ``site`` and ``files``
    ({method or 'harmonized': image}).
    """
    site = {entry["source"]: entry["site"] for entry in entries}
    columns = ["source", "method", *(c for c in images.columns if c.startswith("mean_"))]
    rows = images.loc[images.source.isin(site) & (images.method != "original"), columns]
    harmonized = []
    for entry in entries:
        if "harmonized" in entry["files"]:
            means = json.loads(sidecar_path(entry["files"]["harmonized"]).read_text()).get("TissueMeans", {})
            means = {f"mean_{tissue.lower()}": mean for tissue, mean in means.items()}
            harmonized.append({"source": entry["source"], "method": "harmonized", **means})
    frame = pd.concat([rows, pd.DataFrame(harmonized, columns=columns)], ignore_index=True)
    return frame.assign(site=frame.source.map(site))


def site_spread(means: pd.DataFrame) -> pd.DataFrame:
    """Return one ``site_cv`` row per tissue: per method (and ``harmonized``), the coefficient of variation
    across sites of the sites' mean tissue means; empty with fewer than two sites.

    ``means``: from :func:`site_means`.
    """
    columns = [c for c in means.columns if c.startswith("mean_")]
    if means.empty or means.site.nunique() < 2 or not columns:
        return pd.DataFrame()
    by_site = means.groupby(["method", "site"])[columns].mean()
    spread = by_site.groupby("method").agg(lambda v: v.std(ddof=1) / v.mean()).T
    methods = [m for m in [*LABELS, "harmonized"] if m in spread.columns]
    table = spread[methods].map(lambda v: "n/a" if pd.isna(v) else f"{v:.4f}")
    table.insert(0, "n_images", means.source.nunique())
    table.insert(0, "tissue", [column.removeprefix("mean_") for column in table.index])
    table.insert(0, "metric", "site_cv")
    return table.reset_index(drop=True)


def data_dictionary(key: str, table: pd.DataFrame) -> dict:
    """Return the JSON data dictionary of ``group_<key>.tsv``."""
    metric = (
        "cv: coefficient of variation (std/mean) inside one tissue, the paper's metric; cjv: coefficient "
        "of joint variation (MRIQC), which compressing contrast does not improve; rel_error (images whose "
        "field is known): relative error against the bias-free image; measured_rel_error, "
        "measured_field_corr, measured_field_residual (images with a measured field: the same acquisition "
        "normalised by the scanner): error against the normalised image, correlation and residual of the "
        "log-field against the measured one; field_gm_wm, field_gm_wm_detrended: the GM-minus-WM "
        "difference of the log-field each correction removed, as is and without its smooth trend (a "
        "diagnostic, not a score: below 0 the correction divided WM by more than GM, as a real "
        "centre-bright field and a field that took in the WM core both do; CJV decides); recommended: the "
        "number of images "
        "whose self-check recommends the method (n_images: the images checked); site_cv (two sites or "
        "more): the coefficient of variation across sites (scanner and acq-) of the sites' mean tissue "
        "intensity, which harmonization should lower"
    )
    columns = {
        "metric": {"Description": metric},
        "tissue": {"Description": "the tissue of a cv row (from each image's dseg.tsv); empty otherwise"},
        "n_images": {"Description": f"{key} images with a value"},
    }
    for method in table.columns[3:]:
        label = LABELS.get(method, "the harmonized images (site_cv only)")
        columns[method] = {"Description": f"{label}: mean(standard deviation) over the images, 4 decimals"}
    return columns


def write_group_outputs(
    output_dir: Path, tables: dict[str, pd.DataFrame], missing: list[str], sites: list[dict] = ()
) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """Write per contrast ``group_<key>.tsv`` (+ .json, + ``_images.tsv``, + .png, + ``_sites.png`` when
    images were harmonized) and ``group.html``; return (contrast, summary table, images) of each.

    ``tables``: from :func:`collect_metrics`; ``missing``: the images without metrics, named on the page;
    ``sites``: per image its ``contrast``, the fields :func:`site_means` reads and its ``dseg``.
    """
    written, site_figures = [], {}
    for key, images in tables.items():
        entries = [entry for entry in sites if entry["contrast"] == key]
        spread = site_spread(site_means(images, entries))
        table = pd.concat([summary_table(images), spread], ignore_index=True).fillna("n/a")
        figure = output_dir / f"group_{key}_sites.png"
        if any("harmonized" in entry["files"] for entry in entries):
            with replacing(figure) as tmp:
                sites_figure(entries, key, tmp)
            site_figures[key] = figure.name
        else:
            figure.unlink(missing_ok=True)  # no earlier run's figure stays
        atomic_write_text(table.to_csv(sep="\t", index=False), output_dir / f"group_{key}.tsv")
        write_json(data_dictionary(key, table), output_dir / f"group_{key}.json")
        atomic_write_text(
            images.to_csv(sep="\t", index=False, float_format="%.6f"), output_dir / f"group_{key}_images.tsv"
        )
        with replacing(output_dir / f"group_{key}.png") as tmp:
            group_figure(images, key, tmp)
        written.append((key, table, images))
    sections = [
        {
            "key": key,
            "table": table.to_html(index=False, escape=True, border=0, classes="table"),
            "figure": f"group_{key}.png",
            "sites": site_figures.get(key),
        }
        for key, table, _ in written
    ]
    atomic_write_text(render("group.html", sections=sections, missing=missing), output_dir / "group.html")
    return written
