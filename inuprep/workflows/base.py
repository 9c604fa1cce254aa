"""The top-level workflow: one sub-workflow per participant, one per image inside it."""

from collections import defaultdict
from copy import deepcopy

from nipype.pipeline import engine as pe

from inuprep.bids_app.derivatives import check_unique
from inuprep.bids_app.discovery import ImageRun
from inuprep.bids_app.settings import Settings
from inuprep.workflows.image import init_image_wf
from inuprep.workflows.outputs import output_paths


def init_inuprep_wf(*, settings: Settings, runs: list[ImageRun]) -> pe.Workflow:
    """Build the participant-level workflow of every selected image.

    Parameters
    ----------
    settings : Settings
        The run's settings (output and work folders, methods, threads).
    runs : list of ImageRun
        The images found by :func:`inuprep.bids_app.discovery.discover_runs`.

    Each participant's sub-workflow writes its crash files to ``<output_dir>/sub-<label>/log/<run>/``,
    which is how the App tells which participants failed.
    """
    check_unique([path for run in runs for path in output_paths(run, settings.methods).values()])
    workflow = pe.Workflow(name="inuprep_wf", base_dir=str(settings.work_dir))
    by_subject = defaultdict(list)
    for run in runs:
        by_subject[run.subject].append(run)
    for subject, subject_runs in sorted(by_subject.items()):
        subject_wf = init_single_subject_wf(subject=subject, runs=subject_runs, settings=settings)
        crash_dir = settings.output_dir / f"sub-{subject}" / "log" / settings.run_uuid
        subject_wf.config["execution"]["crashdump_dir"] = str(crash_dir)
        for node in subject_wf._get_all_nodes():  # nipype does not pass a sub-workflow's config down
            node.config = deepcopy(subject_wf.config)
        workflow.add_nodes([subject_wf])
    return workflow


def init_single_subject_wf(*, subject: str, runs: list[ImageRun], settings: Settings) -> pe.Workflow:
    """Build the workflow of one participant: one image workflow per run.

    Parameters
    ----------
    subject : str
        Participant label without ``sub-``.
    runs : list of ImageRun
        That participant's images.
    settings : Settings
        The run's settings.
    """
    workflow = pe.Workflow(name=f"sub_{subject}_wf")
    workflow.add_nodes(
        [
            init_image_wf(
                run=run,
                methods=settings.methods,
                output_dir=settings.output_dir,
                omp_nthreads=settings.omp_nthreads,
                seed=settings.seed,
            )
            for run in runs
        ]
    )
    return workflow
