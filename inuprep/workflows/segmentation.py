"""The tissue masks of one image: which source makes them is decided here, when the graph is built."""

from pathlib import Path

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline import engine as pe

from inuprep.inputs.images import ImagePlan
from inuprep.interfaces.segmentation import (
    BrainSegmentation,
    DixonSegmentation,
    TemplatePriors,
    TransferSegmentation,
    UserSegmentation,
)
from inuprep.segmentation import deep_atropos
from inuprep.segmentation.base import WATER_FRACTION

#: the session's T1w outputs a T2w's segmentation reads
T1W_FIELDS = ("t1w_file", "t1w_dseg", "t1w_dseg_tsv", "t1w_probseg", "t1w_metadata")
OUTPUTS = ("mask_file", "dseg_file", "dseg_tsv", "probseg", "metadata")


def init_segmentation_wf(
    *,
    plan: ImagePlan,
    omp_nthreads: int,
    seed: int | None = None,
    antsxnet_cache: Path | None = None,
    name: str = "segmentation_wf",
) -> pe.Workflow:
    """Build the segmentation of one image from the first source that applies.

    The user's dseg (``--derivatives``), else a Dixon image's water/fat regions, else (a T2w with a T1w in
    its session) the T1w's masks moved onto it, else brain segmentation (deep_atropos or the offline
    fallback). Parameters are those of :func:`inuprep.workflows.single_image.init_image_wf`.

    Inputs
    ------
    in_file
        The checked image.
    corrected_files
        Its corrections (Dixon and brain classes are fitted to their consensus).
    t1w_file, t1w_dseg, t1w_dseg_tsv, t1w_probseg, t1w_metadata
        With ``plan.t1w``: the session's T1w and its masks.

    Outputs
    -------
    mask_file, dseg_file, dseg_tsv
        Object mask, labels and label table.
    probseg
        {tissue: posterior map} (empty for a user's dseg).
    metadata
        How the masks were made (the sidecar's ``SegmentationSource``, ``SegmentationMethod``...).
    """
    run, user_masks, dixon_pair = plan.run, plan.user_masks, plan.dixon_pair
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(
        IdentityInterface(fields=["in_file", "corrected_files", *T1W_FIELDS]), name="inputnode"
    )
    outputnode = pe.Node(IdentityInterface(fields=list(OUTPUTS)), name="outputnode")
    threads = {"num_threads": omp_nthreads, **({"seed": seed} if seed is not None else {})}
    inputs = ["in_file"]
    if user_masks.dseg:
        interface = UserSegmentation(user_dseg=str(user_masks.dseg), user_dseg_tsv=str(user_masks.dseg_tsv))
    elif run.contrast == "dixon":
        interface = DixonSegmentation(**threads)
        if dixon_pair:
            interface.inputs.water_file, interface.inputs.fat_file = (str(path) for path in dixon_pair)
        inputs.append("corrected_files")
    elif plan.t1w is not None:
        interface = TransferSegmentation(**threads)
        inputs += T1W_FIELDS
    else:
        interface = BrainSegmentation(contrast=run.contrast, **threads)
        if antsxnet_cache:
            interface.inputs.antsxnet_cache = str(antsxnet_cache)
        inputs.append("corrected_files")
    # deepbet works on a 256^3 grid (peak 2.2 GB at 1 mm), in the priors node when there is one
    cache = antsxnet_cache or deep_atropos.default_cache()
    brain = isinstance(interface, BrainSegmentation)
    fallback = brain and (run.contrast != "T1w" or bool(deep_atropos.missing_files(cache)))
    mem_gb = 3.0 if brain and not fallback else 1.0
    segment = pe.Node(interface, name="segment", n_procs=omp_nthreads, mem_gb=mem_gb)
    workflow.connect([
        (inputnode, segment, [(field, field) for field in inputs]),
        (segment, outputnode, [(field, field) for field in OUTPUTS]),
    ])  # fmt: skip
    if fallback:  # its brain mask and registered priors need no correction: computed beside them
        priors = pe.Node(TemplatePriors(**threads), name="priors", n_procs=omp_nthreads, mem_gb=3.0)
        priors.priority = 2  # the longest chain (priors -> masks -> evaluation) starts first (cli/plugin.py)
        workflow.connect([
            (inputnode, priors, [("in_file", "in_file")]),
            (priors, segment, [("brain_mask", "brain_mask"), ("priors", "priors")]),
        ])  # fmt: skip
    return workflow


def describe_masks(plan: ImagePlan) -> str:
    """Return the methods text of the masks :func:`init_segmentation_wf` makes (keep the two in one order)."""
    run = plan.run
    if plan.user_masks.dseg:
        return "the tissue masks were the user's segmentation (a BIDS dseg given with --derivatives)"
    if run.contrast == "dixon" and plan.dixon_pair:
        return (
            "the water and fat regions were taken from the water fraction of the acquisition's water and "
            f"fat images (water: a fraction of {WATER_FRACTION:g} or more), inside the Otsu foreground of "
            "their sum"
        )
    if run.contrast == "dixon":
        return (
            "as no water/fat pair was found, dim and bright regions were found by Atropos [@atropos] (two "
            "classes) in the consensus of the corrected images"
        )
    if plan.t1w is not None:
        return (
            "the tissue masks were those of the session's T1w image, moved onto it by a rigid registration "
            "(antspyx [@antsx], mutual information)"
        )
    return (
        "CSF, GM and WM masks were computed from the consensus of the corrected images with ANTsPyNet "
        "deep_atropos [@antsx] when its model files were available, else (the offline fallback) with "
        "deepbet brain extraction [@deepbet] and a Gaussian mixture with a Markov random field (Atropos's "
        "model [@atropos]) guided by the MNI152 tissue priors [@mni152] registered to the image; the masks' "
        "sidecar names the source used"
    )
