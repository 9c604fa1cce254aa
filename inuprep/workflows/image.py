"""The per-image workflow: check, tissue masks, one branch per correction, evaluation, derivatives."""

from pathlib import Path

from nipype.interfaces.utility import IdentityInterface, Merge
from nipype.pipeline import engine as pe

from inuprep.bids_app.discovery import ImageRun
from inuprep.interfaces.evaluation import EvaluateCorrections
from inuprep.interfaces.images import CheckImage
from inuprep.interfaces.segmentation import SegmentTissues
from inuprep.workflows.correction import init_correction_wf
from inuprep.workflows.outputs import init_image_outputs_wf


def _segmentation_method(metadata):
    return metadata["SegmentationMethod"]


def image_wf_name(run: ImageRun) -> str:
    """Return a node-safe, unique name for the workflow of ``run``."""
    stem = run.path.name.split(".")[0]
    return "image_" + "".join(c if c.isalnum() else "_" for c in stem) + "_wf"


def init_image_wf(
    *,
    run: ImageRun,
    methods: tuple[str, ...],
    output_dir: Path,
    omp_nthreads: int,
    seed: int = 0,
    name: str | None = None,
) -> pe.Workflow:
    """Build the workflow that corrects and evaluates one image.

    Parameters
    ----------
    run : ImageRun
        The image, its entities and its contrast.
    methods : tuple of str
        Corrections to run; the original is always evaluated beside them.
    output_dir : Path
        Derivatives root.
    omp_nthreads : int
        Threads per node.
    seed : int
        Random seed of stochastic corrections.
    name : str
        Workflow name (default from the file name).

    Inputs
    ------
    in_file
        The source image (set from ``run.path``).

    Outputs
    -------
    metrics_tsv
        CV per tissue and CJV of the original and of every method, on the same masks.
    """
    workflow = pe.Workflow(name=name or image_wf_name(run))
    workflow.__desc__ = (
        f"The {run.label} image was checked (3D, finite values, valid affine) and its foreground found "
        "with Otsu's threshold. Tissue masks were computed once, from the consensus of every corrected "
        "image, "
        "and shared by the evaluation of every method and of the original: the coefficient of variation "
        "per tissue and the coefficient of joint variation [@cjv]."
    )
    inputnode = pe.Node(IdentityInterface(fields=["in_file"]), name="inputnode")
    inputnode.inputs.in_file = str(run.path)
    outputnode = pe.Node(IdentityInterface(fields=["metrics_tsv"]), name="outputnode")
    check = pe.Node(CheckImage(), name="check")
    segment = pe.Node(
        SegmentTissues(contrast=run.contrast, num_threads=omp_nthreads),
        name="segment",
        n_procs=omp_nthreads,
        mem_gb=3.0,  # deepbet works on a 256^3 grid
    )
    images = pe.Node(Merge(1 + len(methods)), name="images", run_without_submitting=True)
    evaluate = pe.Node(EvaluateCorrections(methods=["original", *methods]), name="evaluate")
    outputs_wf = init_image_outputs_wf(run=run, methods=methods, output_dir=output_dir)

    connections = [
        (inputnode, check, [("in_file", "in_file")]),
        (check, images, [("out_file", "in1")]),
        (images, segment, [("out", "in_files")]),
        (images, evaluate, [("out", "in_files")]),
        (segment, evaluate, [("dseg_file", "dseg_file"), ("dseg_tsv", "dseg_tsv"),
                             (("metadata", _segmentation_method), "segmentation")]),
        (segment, outputs_wf, [("mask_file", "inputnode.mask_file"), ("dseg_file", "inputnode.dseg_file"),
                               ("dseg_tsv", "inputnode.dseg_tsv"),
                               ("probseg_files", "inputnode.probseg_files"),
                               ("metadata", "inputnode.seg_metadata")]),
        (evaluate, outputs_wf, [("out_tsv", "inputnode.metrics_tsv"),
                                ("out_json", "inputnode.metrics_json")]),
        (evaluate, outputnode, [("out_tsv", "metrics_tsv")]),
    ]  # fmt: skip
    for index, method in enumerate(methods, start=2):
        correction_wf = init_correction_wf(method=method, omp_nthreads=omp_nthreads, seed=seed)
        connections += [
            (check, correction_wf, [("out_file", "inputnode.in_file"), ("mask_file", "inputnode.mask_file")]),
            (correction_wf, images, [("outputnode.out_file", f"in{index}")]),
            (correction_wf, outputs_wf, [("outputnode.out_file", f"inputnode.{method}_file"),
                                         ("outputnode.bias_field", f"inputnode.{method}_field"),
                                         ("outputnode.metadata", f"inputnode.{method}_metadata")]),
        ]  # fmt: skip
    workflow.connect(connections)
    return workflow
