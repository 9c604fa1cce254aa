"""BIDS names of the derivatives, and the files at the derivatives root.

The names are built here rather than with pybids' ``build_path``: that takes a path pattern per kind of
output and writes only the entities its patterns list, while a derivative keeps every entity of its source
(``part-``, ``chunk-``, a user's own) in BIDS order, which a plain split of the name gives exactly. The order
and the entities come from the BIDS schema (``bidsschematools``, which pybids installs).
"""

import json
from functools import cache
from pathlib import Path

from inuprep import __version__
from inuprep.runtime import container_type
from inuprep.utils.io import atomic_write_text, write_json

#: outputs whose names BIDS does not define, listed in .bidsignore (folders without a trailing slash: the
#: schema validator matches those only)
BIDSIGNORE = (
    "logs",
    "*.html",
    "*_biasfield.nii.gz",
    "*_biasfield.json",
    "*_metrics.tsv",
    "*_metrics.json",
    "group_*.tsv",
    "group_*.json",
    "group_*.png",
    "sub-*/figures",
    "sub-*/log",  # crash files, only when a step failed
    "harmonization",
)


@cache
def entity_order() -> tuple[str, ...]:
    """Return the entity keys (``sub``, ``ses``...) in the order the BIDS schema writes them."""
    from bidsschematools.schema import load_schema

    schema = load_schema()
    return tuple(schema.objects.entities[name].name for name in schema.rules.entities)


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

    Every entity of the source is kept in place; new entities (``desc``, ``space``, ``label``...) are
    inserted in BIDS order; ``suffix`` and ``extension`` default to the source's.
    """
    entities, source_suffix, source_extension = split_name(source)
    merged = dict(entities)
    merged.update({key: value for key, value in new.items() if value is not None})
    unknown = set(merged) - set(entity_order())
    order = list(entity_order()) + sorted(unknown)
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


def read_description(bids_dir: Path) -> dict:
    """Return a dataset's ``dataset_description.json`` ({} when it is missing or unreadable)."""
    try:
        description = json.loads((bids_dir / "dataset_description.json").read_text())
    except (OSError, ValueError):
        return {}
    return description if isinstance(description, dict) else {}


def source_dataset(bids_dir: Path, raw: dict) -> dict:
    """Return the input dataset (``raw``: its description) as ``SourceDatasets`` lists it: its DOI (and
    version) when its description gives one, else its location (a container's own mount point says nothing
    to a reader: left out)."""
    doi = str(raw.get("DatasetDOI", "")).strip()
    if doi:
        doi = doi if doi.startswith("doi:") else "doi:" + doi.removeprefix("https://doi.org/")
        return {"DOI": doi, **({"Version": raw["DatasetVersion"]} if raw.get("DatasetVersion") else {})}
    return {} if container_type() else {"URL": bids_dir.absolute().as_uri()}


README = """# inuprep derivatives

Bias-field (intensity non-uniformity) corrections of the anatomical images of the dataset in
`SourceDatasets` (dataset_description.json), each with its estimated field, the tissue masks every method
was evaluated on, and the evaluation (`*_metrics.tsv`, described by `*_metrics.json`). Written by inuprep
{version}.

- `sub-<label>/[ses-<label>/]anat/`: per image, `desc-<method>_<suffix>` (the corrected image),
  `space-<suffix>_desc-<method>_biasfield` (source = corrected x field), `space-<suffix>_desc-brain_mask`
  (Dixon: `desc-fg`), `space-<suffix>_dseg` with its `dseg.tsv`, `space-<suffix>_label-<tissue>_probseg`
  and `space-<suffix>_metrics`. `space-<suffix>` names the image whose grid the file shares.
- `sub-<label>.html`, `sub-<label>/figures/`: the visual reports; `group*`: the group level's tables.
- `logs/`: the settings of every run, `CITATION.md` (the methods paragraph to cite) and `CITATION.bib`.

The files BIDS does not define are listed in `.bidsignore`.
"""


def write_dataset_files(output_dir: Path, bids_dir: Path) -> None:
    """Write ``dataset_description.json``, ``README.md`` and ``.bidsignore`` at the derivatives root.

    The input dataset's ``Authors`` are kept: the derivatives are of their data.
    """
    container = container_type()
    raw = read_description(bids_dir)
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
        **({"Authors": raw["Authors"]} if raw.get("Authors") else {}),
        "SourceDatasets": [source] if (source := source_dataset(bids_dir, raw)) else [],
        "DatasetLinks": {"raw": bids_dir.absolute().as_uri()},
    }
    write_json(description, output_dir / "dataset_description.json")
    atomic_write_text(README.format(version=__version__), output_dir / "README.md")
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
    own (masks, fields, tables) carry the source's suffix as ``space-`` (the image whose grid they share, as
    the NiPreps write ``space-T1w``), so a T1w and a T2w of one session never share a name.
    """
    src, nii = run.path, ".nii.gz"
    _, source_suffix, _ = split_name(src)
    mask_desc = "fg" if run.contrast == "dixon" else "brain"
    paths = {}
    for method in methods:
        paths[f"{method}_file"] = derivative_path(src, desc=method, extension=nii)
        paths[f"{method}_field"] = derivative_path(
            src, space=source_suffix, desc=method, suffix="biasfield", extension=nii
        )
    if harmonized:
        paths["harmonized_file"] = derivative_path(src, desc="harmonized", extension=nii)
    paths["mask_file"] = derivative_path(
        src, space=source_suffix, desc=mask_desc, suffix="mask", extension=nii
    )
    paths["dseg_file"] = derivative_path(src, space=source_suffix, suffix="dseg", extension=nii)
    paths["dseg_tsv"] = derivative_path(src, space=source_suffix, suffix="dseg", extension=".tsv")
    for tissue in tissues:
        paths[f"probseg_{tissue}"] = derivative_path(
            src, space=source_suffix, label=tissue, suffix="probseg", extension=nii
        )
    paths["metrics_tsv"] = derivative_path(src, space=source_suffix, suffix="metrics", extension=".tsv")
    paths["metrics_json"] = derivative_path(src, space=source_suffix, suffix="metrics", extension=".json")
    return paths
