"""antspyx helpers of the segmentations: images in ANTs's physical space, seeded registrations, no files
left in /tmp, and k-means Atropos."""

import tempfile
from contextlib import contextmanager
from pathlib import Path

import nibabel as nb
import numpy as np

from inuprep.segmentation.base import SegmentationError
from inuprep.utils.io import write_nifti

#: k-means Atropos's MRF smoothing
MRF = 0.2


def to_ants(data: np.ndarray, img: nb.Nifti1Image):
    """Return ``data`` as an ANTsImage in ``img``'s physical space (orientation and origin kept).

    The image goes through a NIfTI file, as antspyx's Atropos passes prior images: in memory, an oblique
    affine's origin differs from its float32 NIfTI copy by more than ITK's 1e-6 tolerance.
    """
    import ants

    with tempfile.TemporaryDirectory(prefix="inuprep_") as tmp:
        path = Path(tmp) / "image.nii.gz"
        nifti = nb.Nifti1Image(np.asarray(data, dtype=np.float32), img.affine)
        nifti.header.set_xyzt_units("mm", "sec")  # ITK warns about unknown units otherwise
        write_nifti(nifti, path)
        return ants.image_read(str(path))


@contextmanager
def ants_scratch():
    """Send the files antspyx writes and never deletes (transforms, Atropos posteriors) to a folder of
    their own, removed at the end: without it every segmentation left about 10 files in /tmp."""
    previous = tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix="inuprep-ants-") as scratch:
        tempfile.tempdir = scratch
        try:
            yield
        finally:
            tempfile.tempdir = previous


@ants_scratch()  # antspyx's Atropos posteriors and transforms: never left in /tmp
def atropos_classes(
    data: np.ndarray, zooms: tuple[float, ...], mask: np.ndarray, n_classes: int, mrf: float = MRF
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return k-means Atropos labels 1..n ordered by increasing mean intensity and their posterior maps."""
    import ants

    image = ants.from_numpy(np.asarray(data, dtype=np.float32), spacing=tuple(float(z) for z in zooms))
    ants_mask = image.new_image_like(mask.astype(np.float32))
    try:
        result = ants.atropos(
            a=image, x=ants_mask, i=f"KMeans[{n_classes}]", m=f"[{mrf},1x1x1]", c="[5,0]", r=0
        )  # r=0: Atropos's constant seed, not the clock
    except Exception as err:  # antspyx raises a bare Exception when Atropos exits non-zero
        raise SegmentationError(f"Atropos failed ({err})") from None
    dseg = result["segmentation"].numpy().astype(np.uint8)
    probs = [p.numpy().astype(np.float32) for p in result["probabilityimages"]]
    means = [data[dseg == k + 1].mean() if np.any(dseg == k + 1) else np.inf for k in range(n_classes)]
    order = np.argsort(means)
    relabel = np.zeros(n_classes + 1, dtype=np.uint8)
    relabel[order + 1] = np.arange(1, n_classes + 1)
    return relabel[dseg], [probs[k] for k in order]


@contextmanager
def ants_random_seed(seed: int):
    """Run the ANTs registrations inside with ``--random-seed seed``.

    antspyx 0.6 reads the seed only from ``ants.config``; its ``set_ants_deterministic`` sets the same value
    but refuses every transform without "Repro" in its name (SyN among them). Without a seed ANTs seeds its
    metric sampling from the clock.
    """
    import ants.config

    previous, ants.config._random_seed = ants.config._random_seed, seed
    try:
        yield
    finally:
        ants.config._random_seed = previous
