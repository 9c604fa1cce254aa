"""Every derivative of one image, written under its BIDS name."""

from pathlib import Path

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline import engine as pe

from inuprep.bids_app.derivatives import derivative_path, split_name
from inuprep.bids_app.discovery import ImageRun
from inuprep.interfaces.derivatives import DerivativesSink
from inuprep.segmentation import BRAIN_LABELS, DIXON_LABELS, INTENSITY_LABELS


def tissue_names(run: ImageRun, dixon_pair: bool = False, user_dseg: bool = False) -> tuple[str, ...]:
    """Return the tissues that get a ``probseg`` map: none for a user's dseg, else its segmentation's."""
    if user_dseg:
        return ()
    if run.contrast == "dixon":
        return tuple((DIXON_LABELS if dixon_pair else INTENSITY_LABELS).values())
    return tuple(BRAIN_LABELS.values())


def output_paths(
    run: ImageRun, methods: tuple[str, ...], tissues: tuple[str, ...] | None = None
) -> dict[str, Path]:
    """Return {output field: path relative to the derivatives root} for every derivative of ``run``.

    Corrected images keep the source's suffix and add ``desc-<method>``; outputs with a suffix of their
    own (masks, fields, tables) carry the source's suffix as ``mod-``, so a T1w and a T2w of one session
    never share a name.
    """
    src, nii = run.path, ".nii.gz"
    _, mod, _ = split_name(src)
    mask_desc = "fg" if run.contrast == "dixon" else "brain"
    paths = {}
    for method in methods:
        paths[f"{method}_file"] = derivative_path(src, desc=method, extension=nii)
        paths[f"{method}_field"] = derivative_path(
            src, mod=mod, desc=method, suffix="biasfield", extension=nii
        )
    paths["mask_file"] = derivative_path(src, mod=mod, desc=mask_desc, suffix="mask", extension=nii)
    paths["dseg_file"] = derivative_path(src, mod=mod, suffix="dseg", extension=nii)
    paths["dseg_tsv"] = derivative_path(src, mod=mod, suffix="dseg", extension=".tsv")
    for tissue in tissue_names(run) if tissues is None else tissues:
        paths[f"probseg_{tissue}"] = derivative_path(
            src, mod=mod, label=tissue, suffix="probseg", extension=nii
        )
    paths["metrics_tsv"] = derivative_path(src, mod=mod, suffix="metrics", extension=".tsv")
    paths["metrics_json"] = derivative_path(src, mod=mod, suffix="metrics", extension=".json")
    return paths


def _pick(files, index):
    return files[index]


def init_image_outputs_wf(
    *,
    run: ImageRun,
    methods: tuple[str, ...],
    tissues: tuple[str, ...],
    output_dir: Path,
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
        The tissues whose posterior maps are stored, in the segmentation's order.
    output_dir : Path
        Derivatives root.
    name : str
        Workflow name.

    Inputs
    ------
    <method>_file, <method>_field, <method>_metadata
        Corrected image, field and sidecar metadata of each method.
    mask_file, dseg_file, dseg_tsv, probseg_files, seg_metadata
        Tissue masks and how they were made.
    metrics_tsv, metrics_json
        The evaluation table and its data dictionary.

    The workflow has no outputs: its nodes write under ``output_dir``.
    """
    workflow = pe.Workflow(name=name)
    paths = output_paths(run, methods, tissues)
    fields = [f"{m}_{kind}" for m in methods for kind in ("file", "field", "metadata")]
    fields += ["mask_file", "dseg_file", "dseg_tsv", "probseg_files", "seg_metadata"]
    fields += ["metrics_tsv", "metrics_json"]
    inputnode = pe.Node(IdentityInterface(fields=fields), name="inputnode")
    sources = {"Sources": [f"bids:raw:{run.path.relative_to(run.path.parents[2 + bool(run.session)])}"]}

    def sink(key, **meta):
        return pe.Node(
            DerivativesSink(out_path=str(output_dir / paths[key]), extra_meta={**sources, **meta}),
            name=f"ds_{key}",
            run_without_submitting=True,
        )

    connections = []
    for method in methods:
        ds_file = sink(f"{method}_file", SkullStripped=False)
        ds_field = sink(f"{method}_field", Description="multiplicative field: source = corrected x field")
        connections += [
            (inputnode, ds_file, [(f"{method}_file", "in_file"), (f"{method}_metadata", "meta_dict")]),
            (inputnode, ds_field, [(f"{method}_field", "in_file"), (f"{method}_metadata", "meta_dict")]),
        ]
    for key in ("mask_file", "dseg_file"):
        connections.append((inputnode, sink(key), [(key, "in_file"), ("seg_metadata", "meta_dict")]))
    for index, tissue in enumerate(tissues):
        ds_prob = sink(f"probseg_{tissue}")
        connections.append((inputnode, ds_prob, [(("probseg_files", _pick, index), "in_file")]))
    for key in ("dseg_tsv", "metrics_tsv", "metrics_json"):
        ds_table = pe.Node(
            DerivativesSink(out_path=str(output_dir / paths[key])),
            name=f"ds_{key}",
            run_without_submitting=True,
        )
        connections.append((inputnode, ds_table, [(key, "in_file")]))
    workflow.connect(connections)
    return workflow
