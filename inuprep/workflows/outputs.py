"""Every derivative of one image, written under its BIDS name."""

from pathlib import Path

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline import engine as pe

from inuprep.inputs.images import ImageRun
from inuprep.interfaces.derivatives import DerivativesSink
from inuprep.utils.bids import output_paths

#: the dseg.tsv's own column, defined in the sidecar the table shares with its image (``_dseg.json``)
TISSUE = {
    "LongName": "evaluated as",
    "Description": "the tissue whose metrics this label counts in (deep GM as GM); n/a: not evaluated",
}


def _tissue(probseg, name):
    return probseg[name]


def init_image_outputs_wf(
    *,
    run: ImageRun,
    methods: tuple[str, ...],
    tissues: tuple[str, ...],
    output_dir: Path,
    harmonized: bool = False,
    name: str = "outputs_wf",
) -> pe.Workflow:
    """Build the sinks of one image's derivatives (names from :func:`output_paths`).

    Parameters
    ----------
    run : ImageRun
        The source image.
    methods : tuple of str
        Correction methods whose images and fields are stored.
    tissues : tuple of str
        The tissues whose posterior maps are stored (keys of the segmentation's ``probseg``).
    output_dir : Path
        Derivatives root.
    harmonized : bool
        Whether the image is harmonized too (``harmonized_file``, ``harmonized_metadata``).
    name : str
        Workflow name.

    Inputs
    ------
    <method>_file, <method>_field, <method>_metadata
        Corrected image, field and sidecar metadata of each method.
    mask_file, dseg_file, dseg_tsv, probseg, seg_metadata
        Tissue masks and how they were made.
    metrics_tsv, metrics_json
        The evaluation table and its data dictionary.
    harmonized_file, harmonized_metadata
        With ``harmonized``: the harmonized image and its sidecar metadata.

    The workflow has no outputs: its nodes write under ``output_dir``.
    """
    workflow = pe.Workflow(name=name)
    paths = output_paths(run, methods, tissues, harmonized)
    fields = [f"{m}_{kind}" for m in methods for kind in ("file", "field", "metadata")]
    fields += ["mask_file", "dseg_file", "dseg_tsv", "probseg", "seg_metadata"]
    fields += ["metrics_tsv", "metrics_json", "harmonized_file", "harmonized_metadata"]
    inputnode = pe.Node(IdentityInterface(fields=fields), name="inputnode")
    source = f"bids:raw:{run.path.relative_to(run.path.parents[2 + bool(run.session)])}"
    sources = {"Sources": [source], "SpatialReference": source}

    def sink(key, **meta):
        return pe.Node(
            DerivativesSink(out_path=str(output_dir / paths[key]), extra_meta={**sources, **meta}),
            name=f"ds_{key}",
            run_without_submitting=True,
        )

    connections = []
    for method in methods:
        ds_file = sink(f"{method}_file", SkullStripped=False, Description=f"the source corrected by {method}")
        ds_field = sink(
            f"{method}_field", Description=f"{method}'s multiplicative field: source = corrected x field"
        )
        connections += [
            (inputnode, ds_file, [(f"{method}_file", "in_file"), (f"{method}_metadata", "meta_dict")]),
            (inputnode, ds_field, [(f"{method}_field", "in_file"), (f"{method}_metadata", "meta_dict")]),
        ]
    if harmonized:
        ds_harmonized = sink(
            "harmonized_file",
            SkullStripped=False,
            Description="the correction on the reference group's scale",
        )
        connections.append((inputnode, ds_harmonized, [("harmonized_file", "in_file"),
                                                        ("harmonized_metadata", "meta_dict")]))  # fmt: skip
    dixon = run.contrast == "dixon"
    masks = {
        "mask_file": sink(
            "mask_file",
            Type="ROI" if dixon else "Brain",
            Description="the object (foreground)" if dixon else "the brain",
        ),
        "dseg_file": sink(
            "dseg_file", Description="the tissues every method was evaluated on", tissue=TISSUE
        ),
    }
    for key, ds_mask in masks.items():
        connections.append((inputnode, ds_mask, [(key, "in_file"), ("seg_metadata", "meta_dict")]))
    for tissue in tissues:
        ds_prob = sink(f"probseg_{tissue}", Description=f"the posterior probability of {tissue}")
        connections.append((inputnode, ds_prob, [(("probseg", _tissue, tissue), "in_file")]))
    for key in ("dseg_tsv", "metrics_tsv", "metrics_json"):
        ds_table = pe.Node(
            DerivativesSink(out_path=str(output_dir / paths[key])),
            name=f"ds_{key}",
            run_without_submitting=True,
        )
        connections.append((inputnode, ds_table, [(key, "in_file")]))
    workflow.connect(connections)
    return workflow
