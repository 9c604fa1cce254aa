"""The top-level workflow: one sub-workflow per participant, one per image inside it."""

from collections import defaultdict
from copy import deepcopy
from pathlib import Path

from nipype.pipeline import engine as pe

from inuprep.inputs.images import ImagePlan
from inuprep.utils.bids import check_unique, output_paths
from inuprep.workflows.segmentation import T1W_FIELDS
from inuprep.workflows.single_image import SEG_OUTPUTS, init_image_wf

#: name of the top-level workflow, and so of its folder in the work directory
TOP_WF = "inuprep_wf"


def subject_wf_name(subject: str) -> str:
    """Return the name of participant ``subject``'s workflow (its folder under ``<work_dir>/TOP_WF``)."""
    return f"sub_{subject}_wf"


def init_inuprep_wf(
    *,
    plans: list[ImagePlan],
    output_dir: Path,
    work_dir: Path,
    methods: tuple[str, ...],
    omp_nthreads: int,
    seed: int,
    run_uuid: str,
    self_check: bool = False,
    antsxnet_cache: Path | None = None,
) -> pe.Workflow:
    """Build the participant-level workflow of every planned image.

    Parameters
    ----------
    plans : list of ImagePlan
        The images found by :func:`inuprep.inputs.discovery.discover`, each with what belongs to it
        (:func:`inuprep.inputs.images.plan_images`).
    output_dir, work_dir : Path
        Derivatives root; nipype's working folder.
    methods : tuple of str
        Corrections to run (names of ``inuprep.methods.METHODS``).
    omp_nthreads, seed : int
        Threads per node; random seed of stochastic steps.
    run_uuid : str
        This run's identifier (its crash-file folder).
    self_check : bool
        Recommend one of two or more ``methods`` per image (:mod:`inuprep.evaluation.selfcheck`).
    antsxnet_cache : Path
        ANTsXNet cache with deep_atropos's files.

    Each participant's sub-workflow writes its crash files to ``<output_dir>/sub-<label>/log/<run>/``,
    which is how the App tells which participants failed.
    """
    check_unique([
        path for plan in plans
        for path in output_paths(plan.run, methods, plan.tissues, plan.harmonization is not None).values()
    ])  # fmt: skip
    workflow = pe.Workflow(name=TOP_WF, base_dir=str(work_dir))
    by_subject = defaultdict(list)
    for plan in plans:
        by_subject[plan.run.subject].append(plan)
    for subject, subject_plans in sorted(by_subject.items()):
        subject_wf = init_single_subject_wf(
            subject=subject, plans=subject_plans, methods=methods, output_dir=output_dir,
            omp_nthreads=omp_nthreads, seed=seed, antsxnet_cache=antsxnet_cache, self_check=self_check,
        )  # fmt: skip
        crash_dir = output_dir / f"sub-{subject}" / "log" / run_uuid
        subject_wf.config["execution"]["crashdump_dir"] = str(crash_dir)
        for node in subject_wf._get_all_nodes():  # nipype does not pass a sub-workflow's config down
            node.config = deepcopy(subject_wf.config)
        workflow.add_nodes([subject_wf])
    return workflow


def methods_text(workflow: pe.Workflow) -> str:
    """Return the ``__desc__`` of ``workflow`` and of its sub-workflows, breadth first, each text once."""
    paragraphs, level = [], [workflow]
    while level:
        paragraphs += [wf.__desc__ for wf in level if getattr(wf, "__desc__", None)]
        level = [node for wf in level for node in wf._graph.nodes() if isinstance(node, pe.Workflow)]
    return "\n\n".join(dict.fromkeys(paragraphs))


def init_single_subject_wf(
    *,
    subject: str,
    plans: list[ImagePlan],
    methods: tuple[str, ...],
    output_dir: Path,
    omp_nthreads: int,
    seed: int,
    antsxnet_cache: Path | None = None,
    self_check: bool = False,
) -> pe.Workflow:
    """Build the workflow of one participant: one image workflow per planned image.

    Parameters
    ----------
    subject : str
        Participant label without ``sub-``.
    plans : list of ImagePlan
        That participant's images.
    methods, output_dir, omp_nthreads, seed, antsxnet_cache, self_check
        As for :func:`init_inuprep_wf`.

    A T2w whose plan names its session's T1w is connected to that T1w's masks.
    """
    workflow = pe.Workflow(name=subject_wf_name(subject))
    workflow.__desc__ = (
        "The images were found with pybids [@pybids] and processed with nipype [@nipype] by inuprep; the "
        "versions of the software used are listed below."
    )
    image_wfs = {}
    for plan in plans:
        image_wfs[plan.run] = init_image_wf(
            plan=plan, methods=methods, output_dir=output_dir, omp_nthreads=omp_nthreads, seed=seed,
            antsxnet_cache=antsxnet_cache, self_check=self_check,
        )  # fmt: skip
        workflow.add_nodes([image_wfs[plan.run]])
    fields = [
        (f"outputnode.{out}", f"inputnode.{into}") for out, into in zip(SEG_OUTPUTS, T1W_FIELDS, strict=True)
    ]
    for plan in plans:
        if plan.t1w is not None:
            workflow.connect([(image_wfs[plan.t1w], image_wfs[plan.run], fields)])
    return workflow
