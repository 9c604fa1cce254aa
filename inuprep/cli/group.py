"""The group level: find the images that should have metrics, write the summaries (inuprep.reports.group)."""

import logging
from pathlib import Path

from inuprep.inputs.discovery import Discovery, discover, site_of
from inuprep.inputs.images import DiscoveryError
from inuprep.reports.group import collect_metrics, write_group_outputs
from inuprep.utils.bids import output_paths

LOGGER = logging.getLogger("inuprep")


def site_images(found: Discovery, output_dir: Path, methods: tuple[str, ...]) -> list[dict]:
    """Return, per image with a segmentation, its contrast, site, ``source`` (its metrics table's name), its
    dseg and the images written of it (each correction and the harmonized image): what the group table's
    site_cv and the sites figure read."""
    entries = []
    for run in found.runs:
        paths = {k: output_dir / v for k, v in output_paths(run, methods, (), True).items()}
        if not paths["dseg_file"].is_file():
            continue
        kinds = [*methods, "harmonized"]
        files = {kind: paths[f"{kind}_file"] for kind in kinds if paths[f"{kind}_file"].is_file()}
        source = paths["metrics_tsv"].name.removesuffix("_metrics.tsv")
        entries.append({"contrast": run.label, "site": site_of(found.layout, run), "source": source,
                        "files": files, "dseg": paths["dseg_file"]})  # fmt: skip
    return entries


def run_group(settings) -> int:
    """Write per contrast ``group_<key>.tsv`` (+ .json, + ``_images.tsv``, + .png) and ``group.html``;
    return the exit code."""
    out = settings.output_dir
    tables = collect_metrics(out)
    if not tables:
        LOGGER.error(f"inuprep: error: no *_metrics.tsv under {out}; run the participant level first")
        return 2
    try:  # the input dataset, indexed once for both the table and the harmonization's references
        found = discover(settings.bids_dir, settings.participant_label, settings.session_label,
                         settings.bids_filters, settings.bids_database_dir)  # fmt: skip
    except DiscoveryError as err:
        LOGGER.warning(f"warning: cannot list the input images to find missing ones ({err})")
        found = Discovery(None, [], [], {})
    expected = [out / output_paths(run, settings.methods)["metrics_tsv"] for run in found.runs]
    missing = [path.name.replace("_metrics.tsv", "") for path in expected if not path.is_file()]
    sites = site_images(found, out, settings.methods)
    for key, table, images in write_group_outputs(out, tables, missing, sites):
        counts = f"{images['source'].nunique()} image(s) from {images['subject'].nunique()} participant(s)"
        LOGGER.info(f"{key}: {counts} -> {out / f'group_{key}.tsv'}\n{table.to_string(index=False)}")
    if missing:
        LOGGER.warning(
            f"warning: {len(missing)} image(s) have no metrics (failed or not run): {', '.join(missing)}"
        )
    LOGGER.info(f"Summary: {out / 'group.html'}")
    return fit_harmonization(settings, found) if settings.harmonize_fit and not settings.reports_only else 0


def reference_images(settings, found: Discovery) -> dict[str, list[tuple[Path, Path, Path, Path]]]:
    """Return {contrast: [(corrected image, brain mask, dseg, dseg.tsv)]} of the reference group
    ``--harmonize-reference`` selects in the indexed dataset ``found``, for the contrasts it names; raise
    DiscoveryError for a dataset that could not be indexed or a correction not written yet."""
    if found.layout is None:
        raise DiscoveryError(
            f"{settings.bids_dir}: the input dataset could not be indexed (see the warning above); fix it"
        )
    filters = settings.harmonize_reference
    runs = found.select(settings.participant_label, settings.session_label, filters)
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


def fit_harmonization(settings, found: Discovery) -> int:
    """Fit one model per contrast of the reference group under ``<output_dir>/harmonization/``; return the
    exit code (2: no references, a correction missing, a model folder already there)."""
    from inuprep.harmonizers import HARMONIZERS
    from inuprep.harmonizers.model import fit_model
    from inuprep.image import ImageError, load_with_mask
    from inuprep.segmentation.labels import tissue_masks

    harmonizer = HARMONIZERS[settings.harmonize_fit]
    try:
        groups = reference_images(settings, found)
        for contrast, pairs in groups.items():
            folder = settings.output_dir / "harmonization" / f"{harmonizer.name}_{contrast}"
            if folder.exists():
                raise DiscoveryError(f"{folder} exists; remove it to fit the model again")
            images = [
                (*load_with_mask(image, mask)[:3], tissue_masks(dseg, harmonizer.tissues, table))
                for image, mask, dseg, table in pairs
            ]
            masks = [f"given: {mask.relative_to(settings.output_dir)}" for _, mask, _, _ in pairs]
            record = {
                "Correction": settings.harmonize_correction,
                "ReferenceFilter": settings.harmonize_reference,
            }
            references = [files[0] for files in pairs]
            fit_model(harmonizer, harmonizer.settings(), references, images, contrast, folder, masks, record)
            LOGGER.info(f"{contrast}: {harmonizer.label} model fitted on {len(pairs)} image(s) -> {folder}")
    except (DiscoveryError, ImageError) as err:
        LOGGER.error(f"inuprep: error: {err}")
        return 2
    return 0
