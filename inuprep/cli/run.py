"""``inuprep``: the BIDS App's entry point."""

import logging
import sys
from pathlib import Path

from inuprep.cli.parser import parse_args
from inuprep.runtime import (
    Terminated,
    ensure_writable_home,
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


def write_report(subject: str, runs, settings, failures: list[str], methods: str) -> str:
    """Write the subject's HTML report; return a note for the summary line (a failure never raises)."""
    from inuprep.reports.subject import write_subject_report

    try:
        path = write_subject_report(subject, runs, settings.methods, settings.output_dir, failures, methods)
    except Exception as err:  # a report must never fail the run
        LOGGER.warning(f"sub-{subject}: the report could not be written ({type(err).__name__}: {err})")
        return ""
    return f" (report: {path})"


def remove_interrupted_writes_of(settings, subjects) -> None:
    """Remove what an interrupted run's writes left in the output folder (its top, logs and ``subjects``'
    folders: not another participant's, whose run may be live elsewhere), saying how many."""
    from inuprep.utils.io import remove_interrupted_writes

    out = settings.output_dir
    removed = remove_interrupted_writes(out) + remove_interrupted_writes(out / "logs")
    for subject in subjects:
        removed += remove_interrupted_writes(out / f"sub-{subject}", recursive=True)
    if removed:
        LOGGER.info(f"Removed {len(removed)} temporary file(s) a killed run had left in {out}")


def run_participants(settings) -> int:
    """Select the images, build and run the participant workflow, report each participant; return the
    exit code."""
    from inuprep.cli.failures import figure_warnings
    from inuprep.cli.preflight import select_images
    from inuprep.cli.workflow import build_workflow, execute, harmonization_plan
    from inuprep.utils.bids import write_dataset_files
    from inuprep.workflows.base import methods_text, subject_wf_name

    try:
        harmonization = harmonization_plan(settings)
        runs, failures = select_images(settings)
        if not runs:
            return EXIT_USAGE
        workflow = build_workflow(settings, runs, harmonization)
    except ValueError as err:  # a DiscoveryError, or two inputs that would share an output name
        LOGGER.error(f"inuprep: error: {err}")
        return EXIT_USAGE
    subjects = {run.subject for run in runs}
    methods = {subject: methods_text(workflow.get_node(subject_wf_name(subject))) for subject in subjects}
    if settings.reports_only:  # the pages again, from the outputs there: nothing runs
        return report_subjects(settings, runs, failures, methods)
    remove_interrupted_writes_of(settings, subjects)
    write_dataset_files(settings.output_dir, settings.bids_dir)
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
    for subject in sorted(subjects):
        for warning in figure_warnings(subject, settings):
            LOGGER.warning(f"sub-{subject}: a report figure could not be drawn: {warning}")
    return report_subjects(settings, runs, failures, methods, broken)


def report_subjects(settings, runs, failures: dict, methods: dict, broken: str | None = None) -> int:
    """Write each participant's report and its summary line (failures: those before the run, and the
    outputs it lacks now); return the exit code."""
    from inuprep.cli.failures import run_failures
    from inuprep.reports.citation import write_citation

    if methods:
        LOGGER.info(
            f"Methods and references to cite: {write_citation(list(methods.values()), settings.output_dir)}"
        )
    for subject in sorted({run.subject for run in runs} | set(failures)):
        subject_runs = [run for run in runs if run.subject == subject]
        failures[subject] += run_failures(subject, subject_runs, settings, broken)
        report = write_report(subject, subject_runs, settings, failures[subject], methods.get(subject, ""))
        if failures[subject]:
            LOGGER.error(f"sub-{subject}: FAILED: " + "; ".join(failures[subject]) + report)
        else:
            LOGGER.info(f"sub-{subject}: done{report}")
    return EXIT_SUBJECT_FAILED if any(failures.values()) else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the App; return 0 (all good), 1 (some participant failed) or 2 (usage or input error)."""
    args = parse_args(argv)
    from inuprep.cli.settings import Settings

    try:
        settings = Settings.from_args(args)
    except (ValueError, OSError) as err:
        print(f"inuprep: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    from inuprep.cli.preflight import folder_error

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
