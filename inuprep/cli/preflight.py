"""Checks before a run: the folders it reads and writes, each image's header and sidecars, the disk."""

import logging
import os
import shutil
from collections import defaultdict
from pathlib import Path

from inuprep.runtime import existing_ancestor, unwritable_reason

LOGGER = logging.getLogger("inuprep")


def folder_error(settings) -> str | None:
    """Return why the run cannot use its bids_dir, output_dir or work folder (None: it can); checks only."""
    from inuprep.inputs.discovery import check_bids_root
    from inuprep.inputs.images import DiscoveryError

    inside = settings.output_dir.is_relative_to(settings.bids_dir)
    if inside and "derivatives" not in settings.output_dir.relative_to(settings.bids_dir).parts:
        return (
            f"output_dir {settings.output_dir} is inside bids_dir; use "
            "<bids_dir>/derivatives/inuprep or a folder outside the dataset"
        )
    try:
        check_bids_root(settings.bids_dir)
    except DiscoveryError as err:
        return str(err)
    old = next(settings.output_dir.glob("sub-*/**/*_mod-*_metrics.tsv"), None)
    if old is not None:  # names before the BIDS schema's (mod- is a raw-data entity): never mix the two
        return (
            f"output_dir {settings.output_dir} holds outputs of an earlier inuprep, named with mod- "
            f"({old.name}); write to a new folder or remove that one"
        )
    for name, folder in (("output_dir", settings.output_dir), ("--work-dir", settings.work_dir)):
        reason = unwritable_reason(folder)
        if reason:
            return (
                f"{name} {folder} {reason}; make it writable or choose another folder "
                "(in a container: bind a writable host folder there)"
            )
    return None


def preflight(runs, bad_sidecars: dict):
    """Split ``runs`` into those that can start and {subject: [one-line reasons]}.

    An image fails here when its header does not read as 3D or a sidecar that describes it is malformed.
    """
    from inuprep.image import ImageError, check_header
    from inuprep.inputs.discovery import describes

    readable, failures = [], defaultdict(list)
    for run in runs:
        reasons = [
            f"{path}: not valid JSON ({why}); fix or remove it"
            for path, why in bad_sidecars.items()
            if describes(path, run.path)
        ]
        try:
            check_header(run.path)
        except ImageError as err:
            reasons.insert(0, str(err))
        failures[run.subject] += [reason for reason in reasons if reason not in failures[run.subject]]
        if not reasons:
            readable.append(run)
    return readable, failures


def written_folders(settings) -> tuple[tuple[str, Path], ...]:
    """Return the folders a run writes into, each with the name the user gave it."""
    return (("--work-dir", settings.work_dir), ("output_dir", settings.output_dir))


def disk_space_error(runs, settings) -> str | None:
    """Return why the work or output folder's disk cannot hold the run (an estimate), else None.

    Each image needs about (2 + 2 x methods) float32 copies of itself in the work folder (checked image,
    corrections, fields, masks) and as many in the output folder (measured at 3 mm: 3 copies each for N4
    alone), less what a resumed run's finished steps already hold there.
    """
    import nibabel as nb
    import numpy as np

    from inuprep.workflows.base import TOP_WF, subject_wf_name

    volume = sum(4 * int(np.prod(nb.load(run.path).shape[:3])) for run in runs)
    resumed = {settings.work_dir / TOP_WF / subject_wf_name(run.subject) for run in runs}
    done = sum(path.stat().st_size for folder in resumed for path in folder.rglob("*") if path.is_file())
    needed, disks = defaultdict(int), {}  # by device: work and output may share one
    for name, folder in written_folders(settings):
        existing = existing_ancestor(folder)
        device = os.stat(existing).st_dev
        needed[device] += volume * (2 + 2 * len(settings.methods)) - (done if name == "--work-dir" else 0)
        disks.setdefault(device, (f"{name} {folder}", shutil.disk_usage(existing).free))
    for device, (where, free) in disks.items():
        if free < needed[device]:
            return (
                f"{where} has {free / 1e6:.0f} MB free; {len(runs)} image(s) need about "
                f"{needed[device] / 1e6:.0f} MB there; free space or choose another folder"
            )
    return None


def validated(runs, failures: dict, bids_dir: Path, scratch: Path) -> list:
    """Return the ``runs`` whose participant the BIDS validator (when installed) finds no error in; add the
    others' errors to ``failures`` (a participant that failed a check of ours keeps that reason alone).

    Raises DiscoveryError for an error of the dataset itself (e.g. its ``dataset_description.json``).
    """
    from inuprep.inputs.images import DiscoveryError
    from inuprep.inputs.validation import VALIDATOR, find_validator, validate_dataset

    executable = find_validator()
    if executable is None:
        LOGGER.info(f"BIDS validation skipped: {VALIDATOR} is not installed (pip install {VALIDATOR})")
        return runs
    subjects = {run.subject for run in runs}
    try:
        found = validate_dataset(bids_dir, subjects, executable, scratch)
    except OSError as err:
        LOGGER.warning(f"warning: BIDS validation skipped: {err}")
        return runs
    if found.errors.get(""):
        raise DiscoveryError(found.errors[""][0])
    failed = [subject for subject in found.errors if subject in subjects]
    counts = ", ".join(f"{code} x{n}" for code, n in found.warnings.most_common()) or "none"
    LOGGER.info(  # on the progress stream: recommendations, not problems of the run
        f"BIDS validation ({VALIDATOR}): errors in {len(failed)} of {len(subjects)} participant(s); "
        f"warnings: {counts} (details: {VALIDATOR} {bids_dir})"
    )
    for subject in sorted(subjects):
        if found.errors.get(subject) and not failures.get(subject):
            failures[subject] = found.errors[subject]
    return [run for run in runs if run.subject not in found.errors]


def select_images(settings) -> tuple[list, dict[str, list[str]]]:
    """Return the images that can start and {participant: reasons} for those that cannot (logged).

    Raises DiscoveryError (a usage error) for a dataset pybids cannot index, a selection that matches
    nothing, or a disk too small for the images.
    """
    from inuprep.inputs.discovery import discover, summarize
    from inuprep.inputs.images import DiscoveryError

    found = discover(
        settings.bids_dir,
        settings.participant_label,
        settings.session_label,
        settings.bids_filters,
        settings.bids_database_dir,
    )
    for warning in found.warnings:
        LOGGER.warning(f"warning: {warning}")
    if not found.runs:
        raise DiscoveryError(
            f"no T1w, T2w or Dixon images in {settings.bids_dir} match the selection; "
            "check --participant-label, --session-label and --bids-filter-file"
        )
    runs, failures = preflight(found.runs, found.bad_sidecars)
    if settings.bids_validation and not settings.reports_only:
        runs = validated(runs, failures, settings.bids_dir, settings.work_dir)
    for reasons in failures.values():
        for reason in reasons:
            LOGGER.error(f"inuprep: error: {reason}")
    full = disk_space_error(runs, settings) if runs and not settings.reports_only else None
    if full:
        raise DiscoveryError(full)
    if runs:
        LOGGER.info(summarize(runs))
    return runs, failures
