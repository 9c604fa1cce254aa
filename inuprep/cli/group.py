"""The group level: find the images that should have metrics, write the summaries (inuprep.reports.group)."""

import logging
from pathlib import Path

from inuprep.reports.group import collect_metrics, write_group_outputs
from inuprep.utils.bids import output_paths

LOGGER = logging.getLogger("inuprep")


def input_images(settings) -> tuple:
    """Return (layout, runs) of the selected images of the input dataset; (None, []) if it is unreadable."""
    from inuprep.inputs.discovery import discover_runs, load_layout, malformed_sidecars
    from inuprep.inputs.images import DiscoveryError

    try:
        layout = load_layout(settings.bids_dir, ignore=malformed_sidecars(settings.bids_dir))
        runs, _ = discover_runs(
            layout, settings.participant_label, settings.session_label, settings.bids_filters
        )
    except DiscoveryError as err:
        LOGGER.warning(f"warning: cannot list the input images to find missing ones ({err})")
        return None, []
    return layout, runs


def site_images(settings, layout, runs) -> list[dict]:
    """Return, per image with a segmentation, its contrast, site and the images whose tissue means the
    group table compares across sites: each correction written and the harmonized image."""
    from inuprep.inputs.discovery import site_of

    entries = []
    for run in runs:
        paths = {k: settings.output_dir / v for k, v in output_paths(run, settings.methods, (), True).items()}
        if not paths["dseg_file"].is_file():
            continue
        kinds = [*settings.methods, "harmonized"]
        files = {kind: paths[f"{kind}_file"] for kind in kinds if paths[f"{kind}_file"].is_file()}
        entries.append({"contrast": run.label, "site": site_of(layout, run), "files": files,
                        "dseg": paths["dseg_file"], "dseg_tsv": paths["dseg_tsv"]})  # fmt: skip
    return entries


def run_group(settings) -> int:
    """Write per contrast ``group_<key>.tsv`` (+ .json, + ``_images.tsv``, + .png) and ``group.html``;
    return the exit code."""
    out = settings.output_dir
    tables = collect_metrics(out)
    if not tables:
        LOGGER.error(f"inuprep: error: no *_metrics.tsv under {out}; run the participant level first")
        return 2
    layout, runs = input_images(settings)
    expected = [out / output_paths(run, settings.methods)["metrics_tsv"] for run in runs]
    missing = [path.name.replace("_metrics.tsv", "") for path in expected if not path.is_file()]
    for key, table, images in write_group_outputs(out, tables, missing, site_images(settings, layout, runs)):
        counts = f"{images['source'].nunique()} image(s) from {images['subject'].nunique()} participant(s)"
        LOGGER.info(f"{key}: {counts} -> {out / f'group_{key}.tsv'}\n{table.to_string(index=False)}")
    if missing:
        LOGGER.warning(
            f"warning: {len(missing)} image(s) have no metrics (failed or not run): {', '.join(missing)}"
        )
    LOGGER.info(f"Summary: {out / 'group.html'}")
    return fit_harmonization(settings) if settings.harmonize_fit else 0


def reference_images(settings) -> dict[str, list[tuple[Path, Path, Path, Path]]]:
    """Return {contrast: [(corrected image, brain mask, dseg, dseg.tsv)]} of the reference group
    ``--harmonize-reference`` selects, for the contrasts it names; raise DiscoveryError for a correction
    not written yet."""
    from inuprep.inputs.discovery import discover_runs, load_layout, malformed_sidecars
    from inuprep.inputs.images import DiscoveryError
    from inuprep.utils.bids import output_paths

    layout = load_layout(settings.bids_dir, ignore=malformed_sidecars(settings.bids_dir))
    filters = settings.harmonize_reference
    runs, _ = discover_runs(layout, settings.participant_label, settings.session_label, filters)
    correction, groups = settings.harmonize_correction, {}
    for run in runs:
        if run.contrast.lower() not in filters:
            continue
        paths = output_paths(run, (correction,))
        files = tuple(settings.output_dir / paths[key]
                      for key in (f"{correction}_file", "mask_file", "dseg_file", "dseg_tsv"))  # fmt: skip
        if not all(path.is_file() for path in files):
            raise DiscoveryError(
                f"{files[0]}: not written; run the participant level with --methods {correction} first"
            )
        groups.setdefault(run.label, []).append(files)
    if not groups:
        raise DiscoveryError(f"--harmonize-reference {filters} selects no image; check its queries")
    return groups


def fit_harmonization(settings) -> int:
    """Fit one model per contrast of the reference group under ``<output_dir>/harmonization/``; return the
    exit code (2: no references, a correction missing, a model folder already there)."""
    from inuprep.harmonizers import HARMONIZERS
    from inuprep.harmonizers.model import fit_model
    from inuprep.image import ImageError, load_with_mask
    from inuprep.inputs.images import DiscoveryError
    from inuprep.segmentation import tissue_mask

    harmonizer = HARMONIZERS[settings.harmonize_fit]
    try:
        groups = reference_images(settings)
        for contrast, pairs in groups.items():
            folder = settings.output_dir / "harmonization" / f"{harmonizer.name}_{contrast}"
            if folder.exists():
                raise DiscoveryError(f"{folder} exists; remove it to fit the model again")
            images = [
                (*load_with_mask(image, mask)[1:], tissue_mask(dseg, dseg_tsv, "WM"))
                for image, mask, dseg, dseg_tsv in pairs
            ]
            record = {
                "Correction": settings.harmonize_correction,
                "ReferenceFilter": settings.harmonize_reference,
            }
            references = [files[0] for files in pairs]
            fit_model(harmonizer, harmonizer.settings(), references, images, contrast, folder, record)
            LOGGER.info(f"{contrast}: {harmonizer.label} model fitted on {len(pairs)} image(s) -> {folder}")
    except (DiscoveryError, ImageError) as err:
        LOGGER.error(f"inuprep: error: {err}")
        return 2
    return 0
