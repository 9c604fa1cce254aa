"""One correction branch per method, all with the same inputs and outputs."""

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline import engine as pe

from inuprep.interfaces.correction import N4Correction, ZeroShotCorrection
from inuprep.n4 import N4Settings
from inuprep.zeroshot.correct import ZeroShotSettings


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
    # the interfaces' defaults are these settings' defaults
    if method == "n4":
        settings, interface = N4Settings(), N4Correction(num_threads=omp_nthreads)
    elif method == "zeroshot":
        settings = ZeroShotSettings(seed=seed)
        interface = ZeroShotCorrection(num_threads=omp_nthreads, seed=seed)
    else:
        raise ValueError(f"unknown correction method '{method}'; choose from n4, zeroshot")
    workflow = pe.Workflow(name=name or f"{method}_wf")
    workflow.__desc__ = settings.describe()
    inputnode = pe.Node(IdentityInterface(fields=["in_file", "mask_file"]), name="inputnode")
    outputnode = pe.Node(IdentityInterface(fields=["out_file", "bias_field", "metadata"]), name="outputnode")
    correct = pe.Node(interface, name="correct", n_procs=omp_nthreads, mem_gb=1.5)
    workflow.connect([
        (inputnode, correct, [("in_file", "in_file"), ("mask_file", "mask_file")]),
        (correct, outputnode, [("out_file", "out_file"), ("bias_field", "bias_field"),
                               ("metadata", "metadata")]),
    ])  # fmt: skip
    return workflow
