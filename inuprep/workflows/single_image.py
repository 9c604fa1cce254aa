"""The per-image workflow: check, tissue masks, one branch per correction, evaluation, derivatives and the
report's figures."""

from pathlib import Path

from nipype.interfaces.utility import IdentityInterface, Merge
from nipype.pipeline import engine as pe

from inuprep.evaluation.selfcheck import methods_text as selfcheck_text
from inuprep.inputs.images import ImagePlan, ImageRun
from inuprep.interfaces.checks import CheckImage
from inuprep.interfaces.evaluation import EvaluateCorrections
from inuprep.interfaces.reports import ImageFigures
from inuprep.interfaces.selfcheck import SelfCheck
from inuprep.utils.bids import split_extension
from inuprep.workflows.correction import init_correction_wf
from inuprep.workflows.harmonization import init_harmonization_wf
from inuprep.workflows.outputs import init_image_outputs_wf
from inuprep.workflows.segmentation import T1W_FIELDS, describe_masks, init_segmentation_wf

#: the node that draws the report's figures: its failure is a warning, not the image's (cli/failures.py)
FIGURES_NODE = "figures"
#: outputs of a T1w's workflow that feed its session's T2w (its inputs T1W_FIELDS, in this order)
SEG_OUTPUTS = ("anat_file", "dseg_file", "dseg_tsv", "probseg", "seg_metadata")


def image_wf_name(run: ImageRun) -> str:
    """Return a node-safe, unique name for the workflow of ``run``."""
    stem = split_extension(run.path.name)[0]
    return "image_" + "".join(c if c.isalnum() else "_" for c in stem) + "_wf"


def describe_image(plan: ImagePlan, self_check: bool = False) -> str:
    """Return the methods text of one image's workflow: its checks, masks and evaluation."""
    run, user_masks = plan.run, plan.user_masks
    masks = describe_masks(plan)
    regions = [label for label, _ in user_masks.regions]
    extra = f" and on the user's masks ({', '.join(regions)})" if regions else ""
    return (
        f"Each {run.label} image was checked (3D, finite values, a valid affine), its foreground found "
        f"with Otsu's threshold and corrected with each method below; {masks}. The original and every "
        f"correction were evaluated on the same masks{extra}: the coefficient of variation per tissue and "
        "the coefficient of joint variation [@cjv]"
        + (
            "; with the field known (a simulation), the relative error against the bias-free image after "
            "the best global scale and the correlation and slope of the removed log-field on the true one."
            if user_masks.bias_field
            else "."
        )
        + (
            " The same acquisition was also reconstructed with the scanner's receive-field normalisation "
            f"({plan.measured_reference.name}): the ratio of the two is a measured field, and each "
            "correction was compared with the normalised image and its removed log-field with the "
            "measured one (correlation, slope and residual)."
            if plan.measured_reference
            else ""
        )
        + (f" {selfcheck_text()}" if self_check else "")
    )


def init_image_wf(
    *,
    plan: ImagePlan,
    methods: tuple[str, ...],
    output_dir: Path,
    omp_nthreads: int,
    seed: int | None = None,
    antsxnet_cache: Path | None = None,
    self_check: bool = False,
    name: str | None = None,
) -> pe.Workflow:
    """Build the workflow that corrects and evaluates one image, writes its derivatives and draws its
    report figures (under ``sub-<label>/figures/``).

    Parameters
    ----------
    plan : ImagePlan
        The image (its entities and contrast) and what belongs to it: the session's T1w whose masks a T2w
        reuses (connected to the ``t1w_*`` inputs), a Dixon image's (water, fat) pair, the user's masks
        (``--derivatives``: a dseg that replaces the computed masks, label masks evaluated too, a known
        field) and the harmonization of one correction (written as ``desc-harmonized``).
        ``ImagePlan(run)`` plans an image alone.
    methods : tuple of str
        Corrections to run; the original is always evaluated beside them.
    output_dir : Path
        Derivatives root.
    omp_nthreads : int
        Threads per node.
    seed : int
        Random seed of the stochastic steps (default: each step's own).
    antsxnet_cache : Path
        ANTsXNet cache with deep_atropos's files (default: ``$INUPREP_ANTSXNET_CACHE`` or ``~/.keras``).
    self_check : bool
        With two methods or more: recommend one for this image (:mod:`inuprep.evaluation.selfcheck`), in
        the metrics and the report.
    name : str
        Workflow name (default from the file name).

    Inputs
    ------
    in_file
        The source image (set from ``plan.run.path``).
    t1w_file, t1w_dseg, t1w_dseg_tsv, t1w_probseg, t1w_metadata
        With ``plan.t1w``: the session's T1w and its masks (that workflow's ``SEG_OUTPUTS``).

    Outputs
    -------
    metrics_tsv
        CV per tissue and CJV of the original and of every method, on the same masks.
    anat_file, dseg_file, dseg_tsv, probseg, seg_metadata
        The checked image and its masks (a T1w's feed its session's T2w).
    """
    run, user_masks, harmonization = plan.run, plan.user_masks, plan.harmonization
    workflow = pe.Workflow(name=name or image_wf_name(run))
    self_check = self_check and len(methods) > 1
    workflow.__desc__ = describe_image(plan, self_check)
    inputnode = pe.Node(IdentityInterface(fields=["in_file", *T1W_FIELDS]), name="inputnode")
    inputnode.inputs.in_file = str(run.path)
    outputnode = pe.Node(IdentityInterface(fields=["metrics_tsv", *SEG_OUTPUTS]), name="outputnode")
    check = pe.Node(CheckImage(), name="check")
    segmentation_wf = init_segmentation_wf(
        plan=plan, omp_nthreads=omp_nthreads, seed=seed, antsxnet_cache=antsxnet_cache
    )
    corrections = pe.Node(Merge(len(methods)), name="corrections", run_without_submitting=True)
    fields = pe.Node(Merge(len(methods)), name="fields", run_without_submitting=True)
    metadata = pe.Node(Merge(len(methods)), name="metadata", run_without_submitting=True)
    images = pe.Node(Merge(2), name="images", run_without_submitting=True)  # the original, then each
    evaluate = pe.Node(
        EvaluateCorrections(methods=["original", *methods], contrast=run.label), name="evaluate"
    )
    if user_masks.bias_field:
        evaluate.inputs.known_field = str(user_masks.bias_field)
    if plan.measured_reference:
        evaluate.inputs.measured_reference = str(plan.measured_reference)
    if user_masks.regions:
        evaluate.inputs.region_names = [label for label, _ in user_masks.regions]
        evaluate.inputs.region_files = [str(path) for _, path in user_masks.regions]
    outputs_wf = init_image_outputs_wf(
        run=run, methods=methods, tissues=plan.tissues, output_dir=output_dir, harmonized=bool(harmonization)
    )
    figures = pe.Node(
        ImageFigures(methods=list(methods), output_dir=str(output_dir)), name=FIGURES_NODE, mem_gb=1
    )

    connections = [
        (inputnode, check, [("in_file", "in_file")]),
        (check, images, [("out_file", "in1")]),
        (corrections, images, [("out", "in2")]),
        (check, segmentation_wf, [("out_file", "inputnode.in_file")]),
        (corrections, segmentation_wf, [("out", "inputnode.corrected_files")]),
        (images, evaluate, [("out", "in_files")]),
        (segmentation_wf, evaluate, [("outputnode.dseg_file", "dseg_file"),
                                     ("outputnode.dseg_tsv", "dseg_tsv"),
                                     ("outputnode.metadata", "segmentation")]),
        (segmentation_wf, outputs_wf, [("outputnode.mask_file", "inputnode.mask_file"),
                                       ("outputnode.dseg_file", "inputnode.dseg_file"),
                                       ("outputnode.dseg_tsv", "inputnode.dseg_tsv"),
                                       ("outputnode.probseg", "inputnode.probseg"),
                                       ("outputnode.metadata", "inputnode.seg_metadata")]),
        (evaluate, outputs_wf, [("out_tsv", "inputnode.metrics_tsv"),
                                ("out_json", "inputnode.metrics_json")]),
        (evaluate, outputnode, [("out_tsv", "metrics_tsv")]),
        (inputnode, figures, [("in_file", "source")]),
        (corrections, figures, [("out", "corrected_files")]),
        (fields, figures, [("out", "field_files")]),
        (metadata, figures, [("out", "metadata")]),
        (segmentation_wf, figures, [("outputnode.dseg_file", "dseg_file"),
                                    ("outputnode.dseg_tsv", "dseg_tsv")]),
        (check, outputnode, [("out_file", "anat_file")]),
        (segmentation_wf, outputnode, [("outputnode.dseg_file", "dseg_file"),
                                       ("outputnode.dseg_tsv", "dseg_tsv"),
                                       ("outputnode.probseg", "probseg"),
                                       ("outputnode.metadata", "seg_metadata")]),
    ]  # fmt: skip
    if plan.t1w is not None:
        connections.append((inputnode, segmentation_wf, [(f, f"inputnode.{f}") for f in T1W_FIELDS]))
    correction_wfs = {}
    for index, method in enumerate(methods, start=1):
        correction_wf = correction_wfs[method] = init_correction_wf(
            method=method, omp_nthreads=omp_nthreads, seed=seed
        )
        connections += [
            (check, correction_wf, [("out_file", "inputnode.in_file"), ("mask_file", "inputnode.mask_file")]),
            (correction_wf, corrections, [("outputnode.out_file", f"in{index}")]),
            (correction_wf, fields, [("outputnode.bias_field", f"in{index}")]),
            (correction_wf, metadata, [("outputnode.metadata", f"in{index}")]),
            (correction_wf, outputs_wf, [("outputnode.out_file", f"inputnode.{method}_file"),
                                         ("outputnode.bias_field", f"inputnode.{method}_field"),
                                         ("outputnode.metadata", f"inputnode.{method}_metadata")]),
        ]  # fmt: skip
    if self_check:
        selfcheck = pe.Node(SelfCheck(methods=list(methods)), name="selfcheck", mem_gb=1)
        connections += [
            (check, selfcheck, [("out_file", "in_file")]),
            (fields, selfcheck, [("out", "field_files")]),
            (segmentation_wf, selfcheck, [("outputnode.dseg_file", "dseg_file"),
                                          ("outputnode.dseg_tsv", "dseg_tsv")]),
            (selfcheck, evaluate, [("check", "selfcheck")]),
            (selfcheck, figures, [("check", "selfcheck")]),
        ]  # fmt: skip
    if harmonization:
        model, correction = harmonization.model, harmonization.correction
        harmonization_wf = init_harmonization_wf(
            model_dir=model.folder, correction=correction, description=model.record.get("Description", "")
        )
        connections += [
            (correction_wfs[correction], harmonization_wf, [("outputnode.out_file", "inputnode.in_file")]),
            (segmentation_wf, harmonization_wf, [("outputnode.mask_file", "inputnode.mask_file"),
                                                 ("outputnode.dseg_file", "inputnode.dseg_file"),
                                                 ("outputnode.dseg_tsv", "inputnode.dseg_tsv")]),
            (harmonization_wf, outputs_wf, [("outputnode.out_file", "inputnode.harmonized_file"),
                                            ("outputnode.metadata", "inputnode.harmonized_metadata")]),
            (harmonization_wf, figures, [("outputnode.out_file", "harmonized_file")]),
        ]  # fmt: skip
        figures.inputs.harmonized_from = correction
    workflow.connect(connections)
    return workflow
