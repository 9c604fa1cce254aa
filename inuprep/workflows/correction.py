"""One correction branch per method, all with the same inputs and outputs."""

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline import engine as pe

from inuprep.interfaces.correction import N4Correction, ZeroShotCorrection

DESCRIPTIONS = {
    "n4": (
        "N4 bias-field correction [N4ITK, @n4] was run with antspyx: B-spline control points every 200 mm, "
        "three fitting levels of 50 iterations, the image shrunk to a grid of about 4 mm for the fit, "
        "convergence threshold 1e-7, the fit restricted to the object's foreground."
    ),
    "zeroshot": (
        "Zero-shot bias correction [@zeroshot] was run with inuprep: a depthwise-separable 3D CNN of about "
        "3,000 parameters, optimised on this image alone (200 Adam steps, seeded), predicted a log-field "
        "on a grid of about 16 mm from the image and the voxel coordinates; the field, smoothed by a "
        "Gaussian of 32 mm, was chosen to minimise the entropy of the log-corrected intensities inside "
        "the object's foreground (inuprep's entropy variant)."
    ),
}


def init_correction_wf(
    *, method: str, omp_nthreads: int, seed: int = 0, name: str | None = None
) -> pe.Workflow:
    """Build the branch that corrects one image with ``method``.

    Parameters
    ----------
    method : str
        One of ``inuprep.bids_app.parser.METHODS``.
    omp_nthreads : int
        Threads the correction may use.
    seed : int
        Random seed (zero-shot).
    name : str
        Workflow name (default ``<method>_wf``).

    Inputs
    ------
    in_file
        Checked float32 image.
    mask_file
        Foreground mask.

    Outputs
    -------
    out_file
        Corrected image on the input's grid and intensity scale.
    bias_field
        Estimated multiplicative field.
    metadata
        Parameters, software and runtime for the sidecar.
    """
    if method not in DESCRIPTIONS:
        raise ValueError(f"unknown correction method '{method}'; choose from {sorted(DESCRIPTIONS)}")
    workflow = pe.Workflow(name=name or f"{method}_wf")
    workflow.__desc__ = DESCRIPTIONS[method]
    inputnode = pe.Node(IdentityInterface(fields=["in_file", "mask_file"]), name="inputnode")
    outputnode = pe.Node(IdentityInterface(fields=["out_file", "bias_field", "metadata"]), name="outputnode")
    if method == "n4":
        interface = N4Correction(num_threads=omp_nthreads)
    else:
        interface = ZeroShotCorrection(num_threads=omp_nthreads, seed=seed)
    correct = pe.Node(interface, name="correct", n_procs=omp_nthreads, mem_gb=1.5)
    workflow.connect([
        (inputnode, correct, [("in_file", "in_file"), ("mask_file", "mask_file")]),
        (correct, outputnode, [("out_file", "out_file"), ("bias_field", "bias_field"),
                               ("metadata", "metadata")]),
    ])  # fmt: skip
    return workflow
