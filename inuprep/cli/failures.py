"""What went wrong in a run, per participant: its crash files (one line each), else what is missing."""

import re
import shutil
from pathlib import Path

from inuprep.cli.preflight import written_folders
from inuprep.runtime import existing_ancestor


def crash_reason(crash_file: Path) -> str:
    """Return the last exception line of a nipype text crash file (the one-line reason)."""
    lines = crash_file.read_text(errors="replace").splitlines()
    errors = [line.strip() for line in lines if re.match(r"^\s*[\w.]*(Error|Exception)\b.*:", line)]
    return errors[-1] if errors else f"see {crash_file}"


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
