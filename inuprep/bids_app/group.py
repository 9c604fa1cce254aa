"""Group level: every participant's metrics in one table per contrast, with mean(std) per method."""

import logging
import re

import pandas as pd

from inuprep.bids_app.derivatives import atomic_write_text

LOGGER = logging.getLogger("inuprep")
_MOD = re.compile(r"_mod-([A-Za-z0-9]+)_")
_REC = re.compile(r"_rec-([A-Za-z0-9]+)_")


def table_key(name: str) -> str:
    """Return the group a metrics file belongs to: its source suffix, or dixon-<rec> for Dixon images."""
    if "dixon" in name.lower() and _REC.search(name):
        return f"dixon-{_REC.search(name).group(1)}"
    match = _MOD.search(name)
    return match.group(1) if match else "unknown"


def collect_metrics(output_dir) -> dict[str, pd.DataFrame]:
    """Return {source suffix: long table of every image's metrics} from a participant-level output."""
    tables = {}
    for tsv in sorted(output_dir.glob("sub-*/**/*_metrics.tsv")):
        frame = pd.read_csv(tsv, sep="\t")
        frame.insert(0, "source", tsv.name.replace("_metrics.tsv", ""))
        frame.insert(0, "subject", tsv.name.split("_")[0][4:])
        tables.setdefault(table_key(tsv.name), []).append(frame)
    return {suffix: pd.concat(frames, ignore_index=True) for suffix, frames in tables.items()}


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """Return mean(std) of every metric per method, methods as columns."""
    metrics = [c for c in table.columns if c.startswith("cv_") or c == "cjv"]
    grouped = table.groupby("method", sort=False)[metrics]
    mean, std = grouped.mean(), grouped.std(ddof=1).fillna(0.0)
    return (mean.map("{:.4f}".format) + "(" + std.map("{:.4f}".format) + ")").T


def run_group(settings) -> int:
    """Write ``group_<suffix>.tsv`` per contrast and print its summary; return the exit code."""
    tables = collect_metrics(settings.output_dir)
    if not tables:
        LOGGER.error(
            f"inuprep: error: no *_metrics.tsv under {settings.output_dir}; run the participant level first"
        )
        return 2
    for suffix, table in tables.items():
        path = settings.output_dir / f"group_{suffix}.tsv"
        atomic_write_text(table.to_csv(sep="\t", index=False, float_format="%.6f"), path)
        LOGGER.info(f"{suffix}: {table['subject'].nunique()} participant(s), {len(table)} rows -> {path}")
        LOGGER.info(summary_table(table).to_string())
    return 0
