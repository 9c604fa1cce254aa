"""Harmonization of one image's correction with a model folder fitted on a reference group."""

from pathlib import Path

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline import engine as pe

from inuprep.harmonizers.model import read_model
from inuprep.interfaces.evaluation import AddTissueMeans
from inuprep.interfaces.harmonization import Harmonize


def init_harmonization_wf(
    *, model_dir: Path, correction: str, description: str, name: str = "harmonization_wf"
) -> pe.Workflow:
    """Build the branch that puts one corrected image on a model's intensity scale.

    Parameters
    ----------
    model_dir : Path
        A model folder written by ``inuprep-harmonize fit`` (checked when the graph is built).
    correction : str
        The method whose corrected image is harmonized (recorded in the sidecar).
    description : str
        The model's methods sentence (its ``model.json``'s ``Description``).
    name : str
        Workflow name.

    Inputs
    ------
    in_file
        The corrected image.
    mask_file
        Its brain mask.
    dseg_file, dseg_tsv
        Its tissue labels and their table: the tissue means, and the tissues of a method that uses them
        (WhiteStripe's white matter, the tissue method's anchors).

    Outputs
    -------
    out_file
        The harmonized image.
    metadata
        Method, model, references and correction for the sidecar, and its mean per tissue
        (``TissueMeans``, which the group level compares across sites).
    """
    workflow = pe.Workflow(name=name)
    workflow.__desc__ = f"{description} The {correction} correction of each image was harmonized."
    inputnode = pe.Node(
        IdentityInterface(fields=["in_file", "mask_file", "dseg_file", "dseg_tsv"]), name="inputnode"
    )
    outputnode = pe.Node(IdentityInterface(fields=["out_file", "metadata"]), name="outputnode")
    harmonize = pe.Node(
        Harmonize(model_dir=str(model_dir), correction=correction), name="harmonize", mem_gb=1
    )
    means = pe.Node(AddTissueMeans(), name="tissue_means")
    connections = [
        (inputnode, harmonize, [("in_file", "in_file"), ("mask_file", "mask_file")]),
        (harmonize, outputnode, [("out_file", "out_file")]),
        (harmonize, means, [("out_file", "in_file"), ("metadata", "metadata")]),
        (inputnode, means, [("dseg_file", "dseg_file"), ("dseg_tsv", "dseg_tsv")]),
        (means, outputnode, [("metadata", "metadata")]),
    ]
    if read_model(Path(model_dir)).harmonizer.tissues:  # its table lies beside it (the segmentation's cwd)
        connections += [(inputnode, harmonize, [("dseg_file", "dseg_file")])]
    workflow.connect(connections)
    return workflow
