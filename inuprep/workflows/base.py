"""The top-level workflow: one sub-workflow per participant, one per image inside it."""

from collections import defaultdict
from copy import deepcopy
from pathlib import Path

from nipype.pipeline import engine as pe

from inuprep.inputs.images import ImageRun, UserMasks, dixon_pair, find_user_masks, session_t1w
from inuprep.segmentation import tissue_names
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
    runs: list[ImageRun],
    output_dir: Path,
    work_dir: Path,
    methods: tuple[str, ...],
    omp_nthreads: int,
    seed: int,
    run_uuid: str,
    self_check: bool = False,
    derivatives: Path | None = None,
    antsxnet_cache: Path | None = None,
    harmonization: tuple | None = None,
) -> pe.Workflow:
    """Build the participant-level workflow of every selected image.

    Parameters
    ----------
    runs : list of ImageRun
        The images found by :func:`inuprep.inputs.discovery.discover_runs`.
    output_dir, work_dir : Path
        Derivatives root; nipype's working folder.
    methods : tuple of str
        Corrections to run (names of ``inuprep.methods.METHODS``).
    self_check : bool
        Recommend one of two or more ``methods`` per image (:mod:`inuprep.selfcheck`).
    omp_nthreads, seed : int
        Threads per node; random seed of stochastic steps.
    run_uuid : str
        This run's identifier (its crash-file folder).
    derivatives : Path
        A BIDS derivatives folder with the user's masks and known fields (``--derivatives``).
    antsxnet_cache : Path
        ANTsXNet cache with deep_atropos's files.
    harmonization : tuple of (tuple of Model, str)
        Harmonization models (one per contrast) and the correction they harmonize.

    Each participant's sub-workflow writes its crash files to ``<output_dir>/sub-<label>/log/<run>/``,
    which is how the App tells which participants failed.
    """
    user = {run: find_user_masks(derivatives, run) if derivatives else UserMasks() for run in runs}
    check_unique([
        path for run in runs
        for path in output_paths(run, methods, probseg_tissues(run, runs, user[run]),
                                 bool(harmonization_of(harmonization, run))).values()
    ])  # fmt: skip
    workflow = pe.Workflow(name=TOP_WF, base_dir=str(work_dir))
    by_subject = defaultdict(list)
    for run in runs:
        by_subject[run.subject].append(run)
    for subject, subject_runs in sorted(by_subject.items()):
        subject_wf = init_single_subject_wf(
            subject=subject, runs=subject_runs, user=user, methods=methods, output_dir=output_dir,
            omp_nthreads=omp_nthreads, seed=seed, antsxnet_cache=antsxnet_cache, harmonization=harmonization,
            self_check=self_check,
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


def harmonization_of(harmonization: tuple | None, run: ImageRun) -> tuple | None:
    """Return (model, correction) for ``run`` from ``harmonization`` (models, correction): the model of the
    image's contrast (else one of unknown contrast), or None."""
    if harmonization is None:
        return None
    models, correction = harmonization
    by_contrast = {model.contrast: model for model in models}
    model = by_contrast.get(run.label, by_contrast.get(None))
    return (model, correction) if model else None


def probseg_tissues(run: ImageRun, runs: list[ImageRun], user: UserMasks) -> tuple[str, ...]:
    """Return the tissues whose posterior maps ``run``'s workflow writes."""
    return tissue_names(run, dixon_pair=dixon_pair(run, runs) is not None, user_dseg=user.dseg is not None)


def init_single_subject_wf(
    *,
    subject: str,
    runs: list[ImageRun],
    user: dict[ImageRun, UserMasks],
    methods: tuple[str, ...],
    output_dir: Path,
    omp_nthreads: int,
    seed: int,
    antsxnet_cache: Path | None = None,
    harmonization: tuple | None = None,
    self_check: bool = False,
) -> pe.Workflow:
    """Build the workflow of one participant: one image workflow per run.

    Parameters
    ----------
    subject : str
        Participant label without ``sub-``.
    runs : list of ImageRun
        That participant's images.
    user : dict
        The masks ``--derivatives`` supplies, per run.
    methods, output_dir, omp_nthreads, seed, antsxnet_cache, harmonization, self_check
        As for :func:`init_inuprep_wf`.

    A T2w reuses the masks of its session's T1w (unless the user supplied a dseg for either: a user's
    labels have no posterior maps to move, and the T2w's own dseg wins); a Dixon image
    gets the water and fat images of its acquisition.
    """
    workflow = pe.Workflow(name=subject_wf_name(subject))
    workflow.__desc__ = (
        "The images were found with pybids [@pybids] and processed with nipype [@nipype] by inuprep; the "
        "versions of the software used are listed below."
    )
    image_wfs = {}
    t1w_of = {run: session_t1w(run, runs) for run in runs}
    t1w_of = {
        run: t1w if t1w and not (user[run].dseg or user[t1w].dseg) else None for run, t1w in t1w_of.items()
    }
    for run in runs:
        image_wfs[run] = init_image_wf(
            run=run,
            methods=methods,
            output_dir=output_dir,
            omp_nthreads=omp_nthreads,
            seed=seed,
            reuse_t1w=t1w_of[run] is not None,
            dixon_pair=dixon_pair(run, runs),
            user_masks=user[run],
            antsxnet_cache=antsxnet_cache,
            harmonization=harmonization_of(harmonization, run),
            self_check=self_check,
        )
        workflow.add_nodes([image_wfs[run]])
    fields = [
        (f"outputnode.{out}", f"inputnode.{into}") for out, into in zip(SEG_OUTPUTS, T1W_FIELDS, strict=True)
    ]
    for run, t1w in t1w_of.items():
        if t1w is not None:
            workflow.connect([(image_wfs[t1w], image_wfs[run], fields)])
    return workflow
