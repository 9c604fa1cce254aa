"""BIDS names: the inputs (an image to correct, its pairs and user masks) and every derivative."""

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from inuprep import __version__
from inuprep.runtime import container_type
from inuprep.segmentation import BRAIN_LABELS, DIXON_LABELS, INTENSITY_LABELS, Segmentation
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
    """Return the JSON sidecar beside an image or table (its name up to the first dot, then .json)."""
    return path.with_name(path.name.split(".")[0] + ".json")


def check_unique(paths: list[Path]) -> None:
    """Raise ValueError if two outputs would share one name."""
    seen = set()
    for path in paths:
        if path in seen:
            raise ValueError(f"two inputs map to the output name {path}; rename one input (add run-)")
        seen.add(path)


class DiscoveryError(ValueError):
    """The dataset or the selection cannot be used; the message is one line naming the fix."""


@dataclass(frozen=True)
class ImageRun:
    """One image to correct: where it is, its BIDS entities and its contrast."""

    path: Path
    subject: str
    contrast: str  # 'T1w', 'T2w' or 'dixon'
    session: str | None = None
    component: str | None = None  # Dixon: water, fat, in, out
    entities: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def label(self) -> str:
        """Return a short name for summaries and node names, e.g. 'T1w' or 'dixon-water'."""
        return f"dixon-{self.component}" if self.contrast == "dixon" else self.contrast


def _entities(path: Path) -> dict[str, str]:
    return dict(split_name(path)[0])


def session_t1w(run: ImageRun, runs: list[ImageRun]) -> ImageRun | None:
    """Return the T1w of ``run``'s participant and session whose masks a T2w reuses (first by path)."""
    if run.contrast != "T2w":
        return None
    t1ws = [r for r in runs if r.contrast == "T1w" and (r.subject, r.session) == (run.subject, run.session)]
    return min(t1ws, key=lambda r: str(r.path), default=None)


def dixon_pair(run: ImageRun, runs: list[ImageRun]) -> tuple[Path, Path] | None:
    """Return the (water, fat) images of ``run``'s Dixon acquisition, or None.

    The pair has names equal but for ``rec-``; failing that (components told apart by the sidecar's
    ImageType, in files numbered by ``run-``), equal but for ``rec-`` and ``run-`` when that leaves exactly
    one water and one fat image.
    """
    if run.contrast != "dixon":
        return None
    for ignored in (("rec",), ("rec", "run")):

        def key(r, ignored=ignored):
            return {k: v for k, v in _entities(r.path).items() if k not in ignored}, r.path.parent

        found = defaultdict(list)
        for other in runs:
            if other.contrast == "dixon" and key(other) == key(run):
                found[other.component].append(other.path)
        if len(found["water"]) == 1 and len(found["fat"]) == 1:
            return found["water"][0], found["fat"][0]
    return None


@dataclass(frozen=True)
class UserMasks:
    """Masks (and a known field) a user supplied for one image in a derivatives folder (``--derivatives``)."""

    dseg: Path | None = None
    dseg_tsv: Path | None = None
    regions: tuple[tuple[str, Path], ...] = ()  # (label, _mask file)
    bias_field: Path | None = None  # the true field of a simulation: the evaluation adds the error against it


def find_user_masks(derivatives: Path, run: ImageRun) -> UserMasks:
    """Return the ``_dseg``, ``_label-<name>_mask`` and known ``_biasfield`` files that apply to ``run``.

    A file of ``derivatives`` applies when each of its entities but ``label``, ``desc``, ``space`` and
    ``mod`` has the source's value (a mask without ``rec-`` serves every Dixon component), and ``mod-``,
    when present, names the source's suffix. A known field has no ``desc-`` or ``desc-truth`` (so that an
    inuprep output folder's estimated fields are not taken for the truth). Of several dsegs or fields the
    most specific wins. Raises DiscoveryError when a dseg has no ``dseg.tsv`` (its labels would have no
    names).
    """
    source, (_, source_suffix, _) = _entities(run.path), split_name(run.path)
    folder = derivatives / f"sub-{run.subject}" / (f"ses-{run.session}" if run.session else "") / "anat"
    dsegs, regions, fields = [], [], []
    for path in sorted(folder.glob("*.nii*")):
        try:
            pairs, suffix, _ = split_name(path)
        except ValueError:
            continue
        entities = dict(pairs)
        own = {k: v for k, v in entities.items() if k not in ("label", "desc", "space", "mod")}
        if any(source.get(k) != v for k, v in own.items()):
            continue
        if entities.get("mod", source_suffix) != source_suffix:
            continue
        if suffix == "dseg":
            dsegs.append((len(own), path))
        elif suffix == "mask" and "label" in entities:
            regions.append((entities["label"], path))
        elif suffix == "biasfield" and entities.get("desc", "truth") == "truth":
            fields.append((len(own), path))
    bias_field = max(fields, key=lambda item: item[0])[1] if fields else None
    if not dsegs:
        return UserMasks(regions=tuple(regions), bias_field=bias_field)
    dseg = max(dsegs, key=lambda item: item[0])[1]
    table = dseg.with_name(dseg.name.split(".")[0] + ".tsv")
    if not table.is_file():
        table = folder / "dseg.tsv"  # one table for the folder, as BIDS allows at a higher level
    if not table.is_file():
        raise DiscoveryError(f"{dseg}: no label table ({dseg.name.split('.')[0]}.tsv); name every label")
    return UserMasks(dseg=dseg, dseg_tsv=table, regions=tuple(regions), bias_field=bias_field)


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


def write_label_table(seg: Segmentation, path: Path) -> str:
    """Write a BIDS ``dseg.tsv`` (index, name, and the tissue each label is evaluated as) and return it."""
    rows = "".join(
        f"{index}\t{name}\t{seg.tissues.get(index, 'n/a')}\n" for index, name in sorted(seg.labels.items())
    )
    path.write_text("index\tname\ttissue\n" + rows)
    return str(path)


def read_label_table(path: str | Path) -> tuple[dict[int, str], dict[int, str]]:
    """Return the {index: name} and {index: evaluated tissue} tables of a ``dseg.tsv``."""
    import pandas as pd

    table = pd.read_csv(path, sep="\t", dtype={"name": str}, keep_default_na=False)
    labels = dict(zip(table["index"].astype(int), table["name"], strict=True))
    if "tissue" not in table:
        return labels, labels
    rows = table[table["tissue"] != "n/a"]
    return labels, dict(zip(rows["index"].astype(int), rows["tissue"].astype(str), strict=True))
