"""Group level: the paper's Table 1 (mean(std) per tissue and method) per contrast, a figure, an HTML page."""

import html
import json
import logging
import re
from pathlib import Path

import pandas as pd

from inuprep.methods import LABELS
from inuprep.metrics import summary_columns
from inuprep.reports.figures import group_figure
from inuprep.utils.bids import split_name
from inuprep.utils.io import atomic_write_text, replacing, write_json

LOGGER = logging.getLogger("inuprep")
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
    return dict(split_name(name)[0]).get("mod", "unknown")


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
    """Return one row per tissue (CV), CJV (and the error when known), one column per method, each cell
    mean(std) over images."""
    metrics = summary_columns(images.columns)
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
    return pd.DataFrame(rows)


def data_dictionary(key: str, table: pd.DataFrame) -> dict:
    """Return the JSON data dictionary of ``group_<key>.tsv``."""
    metric = (
        "cv: coefficient of variation (std/mean) inside one tissue, the paper's metric; cjv: coefficient "
        "of joint variation (MRIQC), which compressing contrast does not improve; rel_error (images whose "
        "field is known): relative error against the bias-free image"
    )
    columns = {
        "metric": {"Description": metric},
        "tissue": {"Description": "the tissue of a cv row (from each image's dseg.tsv); empty otherwise"},
        "n_images": {"Description": f"{key} images with a value"},
    }
    for method in table.columns[3:]:
        columns[method] = {
            "Description": f"{LABELS[method]}: mean(standard deviation) over the images, 4 decimals",
        }
    return columns


def expected_metrics(settings) -> list[Path]:
    """Return the metrics file every selected image of the input dataset would have (empty if unreadable)."""
    from inuprep.inputs.discovery import discover_runs, load_layout, malformed_sidecars
    from inuprep.inputs.images import DiscoveryError
    from inuprep.utils.bids import output_paths

    try:
        layout = load_layout(settings.bids_dir, ignore=malformed_sidecars(settings.bids_dir))
        runs, _ = discover_runs(
            layout, settings.participant_label, settings.session_label, settings.bids_filters
        )
    except DiscoveryError as err:
        LOGGER.warning(f"warning: cannot list the input images to find missing ones ({err})")
        return []
    return [settings.output_dir / output_paths(run, settings.methods)["metrics_tsv"] for run in runs]


def summary_page(sections: list[tuple[str, pd.DataFrame, str]], missing: list[str]) -> str:
    """Return the HTML summary: per contrast, the table and the figure; then the images without metrics."""
    body = []
    for key, table, figure in sections:
        body.append(f"<h2>{html.escape(key)}</h2>")
        body.append(table.to_html(index=False, escape=True, border=0, classes="table"))
        body.append(f'<img src="{html.escape(figure)}" alt="{html.escape(key)} metrics per image">')
    if missing:
        items = "".join(f"<li>{html.escape(name)}</li>" for name in missing)
        body.append(f"<h2>Missing</h2><p>{len(missing)} image(s) have no metrics (failed or not run):</p>"
                    f"<ul>{items}</ul>")  # fmt: skip
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>inuprep: group summary</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{padding:0.2em 0.8em;text-align:right}img{max-width:100%}</style></head><body>"
        "<h1>inuprep: group summary</h1><p>Coefficient of variation (CV) per tissue and coefficient of joint "
        "variation (CJV), mean(std) over images, for the original and each correction, all on the same "
        "masks. Lower is more homogeneous; CV also falls when contrast is squashed, CJV does not. Where the "
        "true field is known (--derivatives), rel_error is each image's error against the bias-free one.</p>"
        + "".join(body)
        + "</body></html>\n"
    )


def run_group(settings) -> int:
    """Write per contrast ``group_<key>.tsv`` (+ .json, + ``_images.tsv``, + .png) and ``group.html``."""
    out = settings.output_dir
    tables = collect_metrics(out)
    if not tables:
        LOGGER.error(f"inuprep: error: no *_metrics.tsv under {out}; run the participant level first")
        return 2
    sections = []
    for key, images in tables.items():
        table = summary_table(images)
        atomic_write_text(table.to_csv(sep="\t", index=False), out / f"group_{key}.tsv")
        write_json(data_dictionary(key, table), out / f"group_{key}.json")
        atomic_write_text(
            images.to_csv(sep="\t", index=False, float_format="%.6f"), out / f"group_{key}_images.tsv"
        )
        with replacing(out / f"group_{key}.png") as tmp:
            group_figure(images, key, tmp)
        sections.append((key, table, f"group_{key}.png"))
        counts = f"{images['source'].nunique()} image(s) from {images['subject'].nunique()} participant(s)"
        LOGGER.info(f"{key}: {counts} -> {out / f'group_{key}.tsv'}\n{table.to_string(index=False)}")
    missing = [
        path.name.replace("_metrics.tsv", "") for path in expected_metrics(settings) if not path.is_file()
    ]
    if missing:
        LOGGER.warning(
            f"warning: {len(missing)} image(s) have no metrics (failed or not run): {', '.join(missing)}"
        )
    atomic_write_text(summary_page(sections, missing), out / "group.html")
    LOGGER.info(f"Summary: {out / 'group.html'}")
    return 0
