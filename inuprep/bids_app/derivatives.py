"""BIDS derivative names, dataset-level files and atomic writes."""

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from inuprep import __version__
from inuprep.runtime import container_type

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
)


def split_name(source: str | Path) -> tuple[list[tuple[str, str]], str, str]:
    """Return the (key, value) entities, the suffix and the extension of a BIDS file name."""
    name = Path(source).name
    stem, dot, extension = name.partition(".")
    *pairs, suffix = stem.split("_")
    entities = [tuple(pair.split("-", 1)) for pair in pairs]
    if not entities or any(len(pair) != 2 for pair in entities):
        raise ValueError(f"{name}: not a BIDS file name")
    return entities, suffix, dot + extension


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


@contextmanager
def replacing(dest: Path, suffix: str = ".tmp"):
    """Yield a temporary path beside ``dest``; it becomes ``dest`` only if the block succeeds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_copy(src: str | Path, dest: Path) -> Path:
    """Copy ``src`` to ``dest`` through a temporary name in the same folder, so no half file remains."""
    with replacing(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest


def atomic_write_text(text: str, dest: Path) -> Path:
    """Write ``text`` to ``dest`` atomically."""
    with replacing(dest) as tmp:
        tmp.write_text(text)
    return dest


def write_json(data: dict, dest: Path) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return atomic_write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", dest)


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


def check_unique(paths: list[Path]) -> None:
    """Raise ValueError if two outputs would share one name."""
    seen = set()
    for path in paths:
        if path in seen:
            raise ValueError(f"two inputs map to the output name {path}; rename one input (add run-)")
        seen.add(path)
