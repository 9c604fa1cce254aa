"""One correction branch per method, all with the same inputs and outputs."""

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline import engine as pe

from inuprep.interfaces.correction import correction_interface
from inuprep.methods import METHODS

#: the ``priority`` of a method's node (higher starts first among the ready nodes, ``cli/plugin.py``): N4 is
#: the longest correction on a CPU by far (``benchmarks/participant_time.py``); below the brain mask and
#: registration (``workflows/segmentation.py``), which the tissue masks wait for
PRIORITY = {"n4": 1}


def init_correction_wf(
    *, method: str, omp_nthreads: int, seed: int | None = None, name: str | None = None
) -> pe.Workflow:
    """Build the branch that corrects one image with ``method``.

    Parameters
    ----------
    method : str
        A name of ``inuprep.methods.METHODS``.
    omp_nthreads : int
        Threads the correction may use.
    seed : int
        Random seed of a seeded method (default: its settings' own).
    name : str
        Workflow name (default ``<method>_wf``).

    Inputs
    ------
    in_file
        Checked float32 image.
    mask_file
        Foreground mask (optional: without one, the image's foreground).

    Outputs
    -------
    out_file
        Corrected image on the input's grid and intensity scale.
    bias_field
        Estimated multiplicative field.
    metadata
        Parameters, software and runtime for the sidecar.
    """
    if method not in METHODS:
        raise ValueError(f"unknown correction method '{method}'; choose from {', '.join(METHODS)}")
    entry = METHODS[method]
    seeded = {"seed": seed} if entry.seeded and seed is not None else {}
    # the interface's inputs default to the settings' defaults
    interface = correction_interface(method)(num_threads=omp_nthreads, **seeded)
    workflow = pe.Workflow(name=name or f"{method}_wf")
    workflow.__desc__ = entry.settings(**seeded).describe()
    inputnode = pe.Node(IdentityInterface(fields=["in_file", "mask_file"]), name="inputnode")
    outputnode = pe.Node(IdentityInterface(fields=["out_file", "bias_field", "metadata"]), name="outputnode")
    correct = pe.Node(interface, name="correct", n_procs=omp_nthreads, mem_gb=1.5)
    correct.priority = PRIORITY.get(method, 0)  # started first among the ready ones (cli/plugin.py)
    workflow.connect([
        (inputnode, correct, [("in_file", "in_file"), ("mask_file", "mask_file")]),
        (correct, outputnode, [("out_file", "out_file"), ("bias_field", "bias_field"),
                               ("metadata", "metadata")]),
    ])  # fmt: skip
    return workflow
