"""The group level: find the images that should have metrics, write the summaries (inuprep.reports.group)."""

import logging
from pathlib import Path

from inuprep.reports.group import collect_metrics, write_group_outputs

LOGGER = logging.getLogger("inuprep")


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


def run_group(settings) -> int:
    """Write per contrast ``group_<key>.tsv`` (+ .json, + ``_images.tsv``, + .png) and ``group.html``;
    return the exit code."""
    out = settings.output_dir
    tables = collect_metrics(out)
    if not tables:
        LOGGER.error(f"inuprep: error: no *_metrics.tsv under {out}; run the participant level first")
        return 2
    missing = [
        path.name.replace("_metrics.tsv", "") for path in expected_metrics(settings) if not path.is_file()
    ]
    for key, table, images in write_group_outputs(out, tables, missing):
        counts = f"{images['source'].nunique()} image(s) from {images['subject'].nunique()} participant(s)"
        LOGGER.info(f"{key}: {counts} -> {out / f'group_{key}.tsv'}\n{table.to_string(index=False)}")
    if missing:
        LOGGER.warning(
            f"warning: {len(missing)} image(s) have no metrics (failed or not run): {', '.join(missing)}"
        )
    LOGGER.info(f"Summary: {out / 'group.html'}")
    return 0
