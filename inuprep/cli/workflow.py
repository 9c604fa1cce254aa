"""Build the participant workflow from the settings and run it with progress lines."""

import logging
import os
from pathlib import Path

from inuprep.cli.failures import crash_files
from inuprep.harmonizers.model import HarmonizationPlan, read_model
from inuprep.runtime import (
    Terminated,
    die_with_parent,
    ensure_login_name,
    hold_lock,
    raise_if_terminated,
    stop_descendants,
    terminate_on_signals,
)

LOGGER = logging.getLogger("inuprep")


def harmonization_plan(settings) -> HarmonizationPlan | None:
    """Return the plan of ``--harmonize-model`` (one model per contrast), or None; raise ValueError (a
    usage error) for a model that cannot be used, two of one contrast or a correction that does not run."""
    if not settings.harmonize_model:
        return None
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
    return HarmonizationPlan(tuple(models.values()), settings.harmonize_correction)


def build_workflow(settings, runs: list, harmonization: HarmonizationPlan | None):
    """Return the participant workflow of ``runs``, each image planned once (its T1w, Dixon pair, the
    user's masks, its harmonization); raise ValueError (DiscoveryError) for a user's dseg without labels or
    two images that would share an output name."""
    from inuprep.inputs.images import plan_images
    from inuprep.workflows.base import init_inuprep_wf

    configure_nipype(settings)
    plans = plan_images(runs, settings.derivatives, harmonization)
    return init_inuprep_wf(plans=plans, **settings.workflow_args())


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


def lock_participants(subjects: list[str], work_dir: Path) -> list:
    """Return the held locks of ``subjects`` in ``work_dir`` (taken in order), waiting while another run works
    on one: a run killed whose workers are still ending (they share its steps' folders), or the same
    participant started twice."""

    def waiting(subject):
        return lambda: LOGGER.info(
            f"sub-{subject}: another run works on it in {work_dir}; waiting for it to end"
        )

    return [hold_lock(work_dir / "locks" / f"sub-{subject}.lock", waiting(subject)) for subject in subjects]


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
            locks = lock_participants(sorted({run.subject for run in runs}), settings.work_dir)
            try:
                if plugin["plugin"] == "MultiProc":  # an instance: nipype takes one in place of the name
                    from inuprep.cli.plugin import SafeMultiProcPlugin

                    plugin["plugin"] = SafeMultiProcPlugin(plugin_args=plugin.pop("plugin_args"))
                workflow.run(**plugin)
            finally:
                for lock in locks:  # its workers' copies hold it until they have ended
                    lock.close()
                raise_if_terminated()  # a signal a node's interface swallowed (the Linear plugin)
    except Terminated:
        stop_descendants()
        raise
    except Exception as err:  # nipype raises once at the end; failures are read from crash files
        LOGGER.debug(f"nipype: {err}")
        if not crash_files(settings):
            return f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0]}"
    return None
