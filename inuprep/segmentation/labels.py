"""Label tables (BIDS ``dseg.tsv``), the tissue masks they define, and a user's own labels."""

from pathlib import Path

import nibabel as nb
import numpy as np

from inuprep.segmentation.base import Segmentation, SegmentationError, on_same_grid


def labels_by_tissue(tissues: dict[int, str]) -> dict[str, list[int]]:
    """Return {tissue name: its labels} of a {label: tissue name} table (cortical and deep GM pooled)."""
    pooled: dict[str, list[int]] = {}
    for index, name in tissues.items():
        pooled.setdefault(name, []).append(index)
    return pooled


def user_segmentation(img: nb.Nifti1Image, dseg_img: nb.Nifti1Image, labels: dict[int, str]) -> Segmentation:
    """Return the user's labels (a ``_dseg`` from ``--derivatives``) as the image's tissue masks."""
    if not on_same_grid(img, dseg_img):
        raise SegmentationError(
            f"{dseg_img.get_filename()} is not on the image's grid (shape and affine differ)"
        )
    dseg = np.rint(np.asanyarray(dseg_img.dataobj)).astype(np.int32)
    unknown = sorted(set(np.unique(dseg)) - set(labels) - {0})
    if unknown:
        raise SegmentationError(f"{dseg_img.get_filename()} has labels {unknown[:5]} that its dseg.tsv lacks")
    return Segmentation(
        mask=dseg > 0,
        dseg=dseg,
        labels=labels,
        tissues=labels,
        source="user",
        method=f"supplied by the user: {dseg_img.get_filename()}",
    )


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


def label_table_of(dseg_file: Path) -> Path:
    """Return the ``dseg.tsv`` beside ``dseg_file`` (its name with .tsv for .nii[.gz]); raise
    SegmentationError when there is none."""
    from inuprep.utils.bids import split_extension

    table = Path(dseg_file).with_name(split_extension(Path(dseg_file).name)[0] + ".tsv")
    if not table.is_file():
        raise SegmentationError(f"{dseg_file}: no label table {table.name} beside it; write its dseg.tsv")
    return table


def tissue_masks(dseg_file, tissues: tuple[str, ...], dseg_tsv=None, shape=None) -> dict[str, np.ndarray]:
    """Return {tissue: mask} of the labels of ``dseg_file`` (read once) by its table (``dseg_tsv``, else the
    one beside it); raise SegmentationError when it has no table or is not on a grid of ``shape``."""
    table = labels_by_tissue(read_label_table(dseg_tsv or label_table_of(dseg_file))[1])
    labels = np.asanyarray(nb.load(dseg_file).dataobj).round().astype(int)
    if shape is not None and labels.shape[:3] != tuple(shape):
        raise SegmentationError(f"{dseg_file}: not on the image's grid {tuple(shape)}; give its labels")
    return {tissue: np.isin(labels, table.get(tissue, [])) for tissue in tissues}
