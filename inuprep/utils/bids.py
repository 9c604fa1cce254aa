"""BIDS names of the derivatives, and the files at the derivatives root.

The names are built here rather than with pybids' ``build_path``: that takes a path pattern per kind of
output and writes only the entities its patterns list, while a derivative keeps every entity of its source
(``part-``, ``chunk-``, a user's own) in BIDS order, which a plain split of the name gives exactly.
"""

from pathlib import Path

from inuprep import __version__
from inuprep.runtime import container_type
from inuprep.utils.io import atomic_write_text, write_json

#: entity keys in the order BIDS writes them (BIDS 1.10, appendix "Entity table")
ENTITY_ORDER = (
    "sub", "ses", "sample", "task", "tracksys", "acq", "nuc", "voi", "ce", "trc", "stain", "rec", "dir",
    "run", "mod", "echo", "flip", "inv", "mt", "part", "proc", "hemi", "space", "split", "recording",
    "chunk", "seg", "res", "den", "label", "desc",
)  # fmt: skip
#: outputs whose names BIDS does not define, listed in .bidsignore
BIDSIGNORE = (
    "logs/",
    "*.html",
    "*_biasfield.nii.gz",
    "*_biasfield.json",
    "*_metrics.tsv",
    "*_metrics.json",
    "group_*.tsv",
    "group_*.json",
    "group_*.png",
    "sub-*/figures/",
    "harmonization/",
)


#: the extensions of the files we read and write; any other dot belongs to the name (``scan_1.5T.nii.gz``)
EXTENSIONS = (".nii.gz", ".nii", ".tsv", ".json")


def split_extension(name: str) -> tuple[str, str]:
    """Return a file name's stem and its extension, one of ``EXTENSIONS`` (else no extension)."""
    extension = next((ext for ext in EXTENSIONS if name.endswith(ext)), "")
    return name.removesuffix(extension), extension


def split_name(source: str | Path) -> tuple[list[tuple[str, str]], str, str]:
    """Return the (key, value) entities, the suffix and the extension of a BIDS file name."""
    name = Path(source).name
    stem, extension = split_extension(name)
    *pairs, suffix = stem.split("_")
    entities = [tuple(pair.split("-", 1)) for pair in pairs]
    if not entities or any(len(pair) != 2 for pair in entities):
        raise ValueError(f"{name}: not a BIDS file name")
    return entities, suffix, extension


def derivative_path(
    source: str | Path, suffix: str | None = None, extension: str | None = None, **new
) -> Path:
    """Return the path, relative to the derivatives root, of an output derived from ``source``.

    Every entity of the source is kept in place; new entities (``desc``, ``mod``, ``label``...) are
    inserted in BIDS order; ``suffix`` and ``extension`` default to the source's.
    """
    entities, source_suffix, source_extension = split_name(source)
    merged = dict(entities)
    merged.update({key: value for key, value in new.items() if value is not None})
    unknown = set(merged) - set(ENTITY_ORDER)
    order = list(ENTITY_ORDER) + sorted(unknown)
    parts = [f"{key}-{merged[key]}" for key in order if key in merged]
    name = "_".join(parts + [suffix or source_suffix]) + (extension or source_extension)
    folder = Path(f"sub-{merged['sub']}")
    if "ses" in merged:
        folder /= f"ses-{merged['ses']}"
    datatype = Path(source).parent.name
    return folder / (datatype if datatype in {"anat", "func", "dwi", "fmap", "perf"} else "anat") / name


def figure_path(source: str | Path, kind: str) -> Path:
    """Return the path, relative to the derivatives root, of the report figure ``kind`` of ``source``
    (``sub-<label>/figures/<source's entities>_desc-<kind>_<suffix>.png``)."""
    subject = dict(split_name(source)[0])["sub"]
    return Path(f"sub-{subject}") / "figures" / derivative_path(source, desc=kind, extension=".png").name


def write_dataset_files(output_dir: Path, bids_dir: Path) -> None:
    """Write ``dataset_description.json`` and ``.bidsignore`` at the derivatives root."""
    container = container_type()
    description = {
        "Name": "inuprep: bias-field corrected images and homogeneity metrics",
        "BIDSVersion": "1.10.0",
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "inuprep",
                "Version": __version__,
                "CodeURL": "https://github.com/inuprep/inuprep",
                **({"Container": {"Type": container}} if container else {}),
            }
        ],
        "SourceDatasets": [{"URL": bids_dir.absolute().as_uri()}],
        "DatasetLinks": {"raw": bids_dir.absolute().as_uri()},
    }
    write_json(description, output_dir / "dataset_description.json")
    atomic_write_text("\n".join(BIDSIGNORE) + "\n", output_dir / ".bidsignore")


def sidecar_path(path: Path) -> Path:
    """Return the JSON sidecar beside an image or table: its name with the extension replaced by ``.json``
    (``scan_1.5T.nii.gz`` -> ``scan_1.5T.json``)."""
    return path.with_name(split_extension(path.name)[0] + ".json")


def check_unique(paths: list[Path]) -> None:
    """Raise ValueError if two outputs would share one name."""
    seen = set()
    for path in paths:
        if path in seen:
            raise ValueError(f"two inputs map to the output name {path}; rename one input (add run-)")
        seen.add(path)


def output_paths(
    run, methods: tuple[str, ...], tissues: tuple[str, ...] = (), harmonized: bool = False
) -> dict[str, Path]:
    """Return {output field: path relative to the derivatives root} for every derivative of ``run`` (an
    :class:`~inuprep.inputs.images.ImageRun`), with a ``probseg_<tissue>`` map for each of ``tissues`` and,
    when ``harmonized``, the harmonized image.

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
    if harmonized:
        paths["harmonized_file"] = derivative_path(src, desc="harmonized", extension=nii)
    paths["mask_file"] = derivative_path(src, mod=mod, desc=mask_desc, suffix="mask", extension=nii)
    paths["dseg_file"] = derivative_path(src, mod=mod, suffix="dseg", extension=nii)
    paths["dseg_tsv"] = derivative_path(src, mod=mod, suffix="dseg", extension=".tsv")
    for tissue in tissues:
        paths[f"probseg_{tissue}"] = derivative_path(
            src, mod=mod, label=tissue, suffix="probseg", extension=nii
        )
    paths["metrics_tsv"] = derivative_path(src, mod=mod, suffix="metrics", extension=".tsv")
    paths["metrics_json"] = derivative_path(src, mod=mod, suffix="metrics", extension=".json")
    return paths
