"""``inuprep``: the BIDS App's entry point."""

import logging
import os
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

from inuprep.cli.parser import build_parser
from inuprep.runtime import (
    Terminated,
    die_with_parent,
    ensure_login_name,
    ensure_writable_home,
    existing_ancestor,
    raise_if_terminated,
    stop_descendants,
    terminate_on_signals,
    unwritable_reason,
)

EXIT_OK, EXIT_SUBJECT_FAILED, EXIT_USAGE = 0, 1, 2
LOGGER = logging.getLogger("inuprep")


def configure_logging(settings) -> Path:
    """Send inuprep's progress to the screen and nipype's chatter to a log file; return the file."""
    log_file = settings.work_dir / "logs" / f"nipype_{settings.run_uuid}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(log_file)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    nipype_handlers = [file_handler]
    if settings.verbose:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.INFO if settings.verbose > 1 else logging.WARNING)
        nipype_handlers.append(console)
    nipype = logging.getLogger("nipype")
    nipype.handlers = nipype_handlers
    nipype.propagate = False
    for name in ("nipype.workflow", "nipype.interface", "nipype.utils", "nipype.filemanip"):
        logging.getLogger(name).setLevel(logging.DEBUG if settings.verbose > 1 else logging.INFO)
    progress, problems = logging.StreamHandler(sys.stdout), logging.StreamHandler(sys.stderr)
    progress.addFilter(lambda record: record.levelno < logging.WARNING)
    problems.setLevel(logging.WARNING)
    LOGGER.handlers = [progress, problems]
    LOGGER.setLevel(logging.DEBUG if settings.verbose else logging.INFO)
    LOGGER.propagate = False
    logging.raiseExceptions = False  # a log on a full disk must not print tracebacks over the progress
    return log_file


def crash_reason(crash_file: Path) -> str:
    """Return the last exception line of a nipype text crash file (the one-line reason)."""
    lines = crash_file.read_text(errors="replace").splitlines()
    errors = [line.strip() for line in lines if re.match(r"^\s*[\w.]*(Error|Exception)\b.*:", line)]
    return errors[-1] if errors else f"see {crash_file}"


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


def crash_files(settings, subject: str = "*") -> list[Path]:
    """Return this run's nipype crash files (of one participant, or of all): where failures are read."""
    return sorted(settings.output_dir.glob(f"sub-{subject}/log/{settings.run_uuid}/crash-*.txt"))


def is_figure_crash(crash_file: Path) -> bool:
    """Return whether a crash file is a report figure's (a warning: the image's derivatives stand)."""
    from inuprep.workflows.single_image import FIGURES_NODE

    return re.search(rf"-{FIGURES_NODE}-[0-9a-f-]{{36}}\.txt$", crash_file.name) is not None


def figure_warnings(subject: str, settings) -> list[str]:
    """Return one line per figure of ``subject``'s report that could not be drawn."""
    crashes = [crash for crash in crash_files(settings, subject) if is_figure_crash(crash)]
    return [f"{crash_reason(crash)} (details: {crash})" for crash in crashes]


def run_failures(subject: str, runs, settings, broken: str | None) -> list[str]:
    """Return one line per failure of ``subject``'s images: its crash files, else each missing derivative.

    ``broken``: why the workflow raised without writing any crash file (a plugin or scheduler error, a
    broken worker pool), in which case nothing it reports as done can be trusted.
    """
    from inuprep.utils.bids import output_paths

    crashes = [
        f"{crash_reason(crash)} (details: {crash})"
        for crash in crash_files(settings, subject)
        if not is_figure_crash(crash)
    ]
    if any("No space left on device" in crash for crash in crashes):  # one cause, often many crash files
        free = {
            f"{name} {folder}": shutil.disk_usage(existing_ancestor(folder)).free
            for name, folder in written_folders(settings)
        }
        where = min(free, key=free.get)
        crash_dir = settings.output_dir / f"sub-{subject}" / "log" / settings.run_uuid
        return [
            f"a disk filled up during the run ({where} has {free[where] / 1e6:.0f} MB free now): free "
            f"space, then rerun the same command to resume from the finished steps (details: {crash_dir})"
        ]
    if crashes:
        return crashes
    if broken:
        return [f"not processed: the workflow stopped ({broken})"]
    lines = []
    for run in runs:
        paths = output_paths(run, settings.methods)
        expected = [paths[f"{method}_file"] for method in settings.methods] + [paths["metrics_tsv"]]
        missing = [path.name for path in expected if not (settings.output_dir / path).is_file()]
        if missing:
            lines.append(f"{run.path.name}: {', '.join(missing)} not written (see {settings.work_dir}/logs)")
    return lines


def write_report(subject: str, runs, settings, failures: list[str], methods: str) -> str:
    """Write the subject's HTML report; return a note for the summary line (a failure never raises)."""
    from inuprep.reports.subject import write_subject_report

    try:
        path = write_subject_report(subject, runs, settings.methods, settings.output_dir, failures, methods)
    except Exception as err:  # a report must never fail the run
        LOGGER.warning(f"sub-{subject}: the report could not be written ({type(err).__name__}: {err})")
        return ""
    return f" (report: {path})"


def select_images(settings) -> tuple[list, dict[str, list[str]]]:
    """Return the images that can start and {participant: reasons} for those that cannot (logged).

    Raises DiscoveryError (a usage error) for a dataset pybids cannot index, a selection that matches
    nothing, or a disk too small for the images.
    """
    from inuprep.inputs.discovery import discover_runs, load_layout, malformed_sidecars, summarize
    from inuprep.inputs.images import DiscoveryError

    bad_sidecars = malformed_sidecars(settings.bids_dir)
    layout = load_layout(settings.bids_dir, ignore=bad_sidecars)
    runs, warnings = discover_runs(
        layout, settings.participant_label, settings.session_label, settings.bids_filters
    )
    for warning in warnings:
        LOGGER.warning(f"warning: {warning}")
    if not runs:
        raise DiscoveryError(
            f"no T1w, T2w or Dixon images in {settings.bids_dir} match the selection; "
            "check --participant-label, --session-label and --bids-filter-file"
        )
    runs, failures = preflight(runs, bad_sidecars)
    for reasons in failures.values():
        for reason in reasons:
            LOGGER.error(f"inuprep: error: {reason}")
    full = disk_space_error(runs, settings) if runs else None
    if full:
        raise DiscoveryError(full)
    if runs:
        LOGGER.info(summarize(runs))
    return runs, failures


def chosen_harmonization(settings) -> tuple | None:
    """Return (models, correction) of ``--harmonize-model`` (one model per contrast), or None; raise
    ValueError (a usage error) for a model that cannot be used, two of one contrast or a correction that
    does not run."""
    if not settings.harmonize_model:
        return None
    from inuprep.harmonizers.model import read_model

    if settings.harmonize_correction not in settings.methods:
        raise ValueError(
            f"--harmonize-correction {settings.harmonize_correction} is not among --methods "
            f"{' '.join(settings.methods)}; add it or choose another"
        )
    models = {}
    for folder in settings.harmonize_model:
        model = read_model(folder)
        fitted_on = model.record.get("Correction", settings.harmonize_correction)
        if fitted_on != settings.harmonize_correction:
            raise ValueError(
                f"{folder}: fitted on the {fitted_on} correction; use --harmonize-correction {fitted_on}"
            )
        if model.contrast in models:
            raise ValueError(
                f"{folder}: a second {model.contrast or 'any-contrast'} model (with "
                f"{models[model.contrast].folder}); give one model per contrast"
            )
        models[model.contrast] = model
    return tuple(models.values()), settings.harmonize_correction


def configure_nipype(settings) -> None:
    """Set nipype's execution options for this run: text crash files, kept outputs, no version checks."""
    from nipype import config as nipype_config

    nipype_config.update_config(
        {
            "execution": {
                "crashfile_format": "txt",
                "stop_on_first_crash": settings.stop_on_first_crash,
                "remove_unnecessary_outputs": False,
                "get_linked_libs": False,
                "check_version": False,
            },
            "monitoring": {"enabled": False},
        }
    )


def execute(workflow, runs, settings) -> str | None:
    """Run the workflow with progress lines; return why it stopped without any crash file (else None).

    Raises Terminated when a signal stopped the run (its worker processes are stopped by then).
    """
    from inuprep.cli.progress import Progress
    from inuprep.workflows.single_image import image_wf_name

    plugin = settings.plugin_settings()
    ensure_login_name()  # nipype's SLURM/SGE/PBS plugins name jobs after it
    images = {image_wf_name(run): f"sub-{run.subject} {run.label} ({run.path.name})" for run in runs}
    plugin["plugin_args"]["status_callback"] = Progress(images, LOGGER)
    os.register_at_fork(after_in_child=die_with_parent)  # workers end with the App, even on SIGKILL
    try:
        with terminate_on_signals():  # the forked workers inherit it
            try:
                if plugin["plugin"] == "MultiProc":  # an instance: nipype takes one in place of the name
                    from inuprep.cli.plugin import SafeMultiProcPlugin

                    plugin["plugin"] = SafeMultiProcPlugin(plugin_args=plugin.pop("plugin_args"))
                workflow.run(**plugin)
            finally:
                raise_if_terminated()  # a signal a node's interface swallowed (the Linear plugin)
    except Terminated:
        stop_descendants()
        raise
    except Exception as err:  # nipype raises once at the end; failures are read from crash files
        LOGGER.debug(f"nipype: {err}")
        if not crash_files(settings):
            return f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0]}"
    return None


def run_participants(settings) -> int:
    """Select the images, build and run the participant workflow, report each participant; return the
    exit code."""
    from inuprep.utils.bids import write_dataset_files
    from inuprep.workflows.base import init_inuprep_wf, methods_text, subject_wf_name

    try:
        harmonization = chosen_harmonization(settings)
        runs, failures = select_images(settings)
        if not runs:
            return EXIT_USAGE
        configure_nipype(settings)
        workflow = init_inuprep_wf(runs=runs, harmonization=harmonization, **settings.workflow_args())
    except ValueError as err:  # a DiscoveryError, or two inputs that would share an output name
        LOGGER.error(f"inuprep: error: {err}")
        return EXIT_USAGE
    write_dataset_files(settings.output_dir, settings.bids_dir)
    subjects = {run.subject for run in runs}
    methods = {subject: methods_text(workflow.get_node(subject_wf_name(subject))) for subject in subjects}
    LOGGER.info(f"Settings written to {settings.write()}")
    if settings.write_graph:
        workflow.write_graph(graph2use="colored", format="svg", simple_form=True)
    try:
        broken = execute(workflow, runs, settings)
    except Terminated as stop:
        LOGGER.error(
            f"inuprep: {stop}; its processes are stopped and finished steps kept in {settings.work_dir}: "
            "rerun the same command to resume"
        )
        return stop.code
    for subject in sorted(subjects | set(failures)):
        subject_runs = [run for run in runs if run.subject == subject]
        failures[subject] += run_failures(subject, subject_runs, settings, broken)
        for warning in figure_warnings(subject, settings):
            LOGGER.warning(f"sub-{subject}: a report figure could not be drawn: {warning}")
        report = write_report(subject, subject_runs, settings, failures[subject], methods.get(subject, ""))
        if failures[subject]:
            LOGGER.error(f"sub-{subject}: FAILED: " + "; ".join(failures[subject]) + report)
        else:
            LOGGER.info(f"sub-{subject}: done{report}")
    return EXIT_SUBJECT_FAILED if any(failures.values()) else EXIT_OK


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
    for name, folder in (("output_dir", settings.output_dir), ("--work-dir", settings.work_dir)):
        reason = unwritable_reason(folder)
        if reason:
            return (
                f"{name} {folder} {reason}; make it writable or choose another folder "
                "(in a container: bind a writable host folder there)"
            )
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the App; return 0 (all good), 1 (some participant failed) or 2 (usage or input error)."""
    args = build_parser().parse_args(argv)
    from inuprep.cli.settings import Settings

    try:
        settings = Settings.from_args(args)
    except (ValueError, OSError) as err:
        print(f"inuprep: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    error = folder_error(settings)
    if error:
        print(f"inuprep: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    ensure_writable_home(settings.work_dir / "home")
    configure_logging(settings)
    if settings.analysis_level == "group":
        from inuprep.cli.group import run_group

        return run_group(settings)
    return run_participants(settings)


if __name__ == "__main__":
    sys.exit(main())
