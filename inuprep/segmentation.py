"""Tissue masks computed once per image and shared by every method's evaluation (pure: no nipype).

Brain images (T1w, T2w): brain extraction with deepbet (Fisch et al. 2024; weights ship in the wheel),
then three-class Atropos (Avants et al. 2011) with k-means initialisation and an MRF prior, classes labelled
by intensity order (T1w: CSF < GM < WM, T2w reversed). Dixon images: the object's foreground split into a
dim and a bright class.

Atropos is fitted to the consensus of every method's corrected image (their mean after scaling each to
mean 1), not to the original (``benchmarks/mask_bias.py``); a multivariate fit failed on nearly identical
channels (singular covariance). Masks fitted to one image's intensities favour that image; masks that
include the biased original follow the field, and with a strong field they ranked the original above N4
although N4 was closer to the truth (on masks of the clean image too). Corrected images give masks that
keep the true ranking, and the consensus lets no single correction decide them, so corrections are
compared on equal terms. The masks still flatter corrections against the original, which is why images
with a known field are judged by ground-truth error (DESIGN.md).
"""

from dataclasses import dataclass, field

import nibabel as nb
import numpy as np

from inuprep.image import foreground_mask

BRAIN_LABELS = {1: "CSF", 2: "GM", 3: "WM"}
DIXON_LABELS = {1: "dim", 2: "bright"}
#: the pair of tissues whose contrast CJV measures, per label table
CJV_PAIRS = {"brain": ("WM", "GM"), "dixon": ("bright", "dim")}
#: a brain mask outside this range (mL) means brain extraction failed
BRAIN_VOLUME_ML = (300.0, 3000.0)


class SegmentationError(RuntimeError):
    """Tissue masks could not be computed; the message is one line."""


@dataclass
class Segmentation:
    """Tissue masks of one image on its own grid."""

    mask: np.ndarray  # brain (or object) mask, bool
    dseg: np.ndarray  # integer labels, 0 outside the mask
    labels: dict[int, str]
    probseg: dict[str, np.ndarray] = field(default_factory=dict)
    method: str = ""


def deepbet_brain_mask(img: nb.Nifti1Image) -> np.ndarray:
    """Return deepbet's brain mask of ``img`` on its grid (CPU, weights from the deepbet package)."""
    from deepbet import BrainExtraction

    _, mask, _ = BrainExtraction(no_gpu=True).run(img)
    return np.asarray(mask.dataobj) > 0


def atropos_classes(
    data: np.ndarray, zooms: tuple[float, ...], mask: np.ndarray, n_classes: int, mrf: float = 0.2
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return Atropos labels 1..n ordered by increasing mean intensity and their posterior maps."""
    import ants

    image = ants.from_numpy(np.asarray(data, dtype=np.float32), spacing=tuple(float(z) for z in zooms))
    ants_mask = image.new_image_like(mask.astype(np.float32))
    try:
        result = ants.atropos(a=image, x=ants_mask, i=f"KMeans[{n_classes}]", m=f"[{mrf},1x1x1]", c="[5,0]")
    except Exception as err:  # antspyx raises a bare Exception when Atropos exits non-zero
        raise SegmentationError(f"Atropos failed ({err})") from None
    dseg = result["segmentation"].numpy().astype(np.uint8)
    probs = [p.numpy().astype(np.float32) for p in result["probabilityimages"]]
    means = [data[dseg == k + 1].mean() if np.any(dseg == k + 1) else np.inf for k in range(n_classes)]
    order = np.argsort(means)
    relabel = np.zeros(n_classes + 1, dtype=np.uint8)
    relabel[order + 1] = np.arange(1, n_classes + 1)
    return relabel[dseg], [probs[k] for k in order]


def consensus_image(images: list[np.ndarray], mask: np.ndarray) -> np.ndarray:
    """Return the mean of ``images``, each scaled to mean 1 inside ``mask`` (every method weighs alike)."""
    return np.mean([image / image[mask].mean() for image in images], axis=0).astype(np.float32)


def segment_brain(img: nb.Nifti1Image, contrast: str, corrected: list[np.ndarray]) -> Segmentation:
    """Return CSF/GM/WM masks of a T1w or T2w brain image, fitted to it and its ``corrected`` versions."""
    data = img.get_fdata(dtype=np.float32)
    zooms = img.header.get_zooms()[:3]
    try:
        mask = deepbet_brain_mask(img)
    except (ValueError, AssertionError, RuntimeError) as err:  # deepbet fails this way on non-brain input
        raise SegmentationError(f"brain extraction failed ({err}): is this a brain image?") from None
    # deepbet's mask is smooth; background voxels of a skull-stripped input must not count as CSF
    mask &= foreground_mask(data)
    volume_ml = mask.sum() * float(np.prod(zooms)) / 1000
    if not BRAIN_VOLUME_ML[0] <= volume_ml <= BRAIN_VOLUME_ML[1]:
        raise SegmentationError(
            f"brain extraction found {volume_ml:.0f} mL of brain (expected {BRAIN_VOLUME_ML[0]:.0f}-"
            f"{BRAIN_VOLUME_ML[1]:.0f}): is this a brain image?"
        )
    dseg, probs = atropos_classes(consensus_image(corrected or [data], mask), zooms, mask, n_classes=3)
    # Atropos ranks classes by intensity: darkest first
    names = ["CSF", "GM", "WM"] if contrast != "T2w" else ["WM", "GM", "CSF"]
    label_of = {name: index for index, name in BRAIN_LABELS.items()}
    lookup = np.array([0] + [label_of[name] for name in names], dtype=np.uint8)
    return Segmentation(
        mask=mask,
        dseg=lookup[dseg],
        labels=BRAIN_LABELS,
        probseg={name: probs[names.index(name)] for name in BRAIN_LABELS.values()},
        method=f"deepbet brain extraction; Atropos (3 classes, k-means, MRF 0.2) fitted to the "
        f"consensus of {len(corrected)} corrected image(s)",
    )


def segment_dixon(img: nb.Nifti1Image, corrected: list[np.ndarray]) -> Segmentation:
    """Return the foreground of a Dixon component image split into a dim and a bright class."""
    data = img.get_fdata(dtype=np.float32)
    mask = foreground_mask(data)
    if mask.sum() < 100:
        raise SegmentationError("no foreground found in the Dixon image")
    zooms = img.header.get_zooms()[:3]
    dseg, probs = atropos_classes(consensus_image(corrected or [data], mask), zooms, mask, n_classes=2)
    return Segmentation(
        mask=mask,
        dseg=dseg,
        labels=DIXON_LABELS,
        probseg=dict(zip(DIXON_LABELS.values(), probs, strict=True)),
        method=f"Otsu foreground; Atropos (2 classes, k-means, MRF 0.2) fitted to the consensus of "
        f"{len(corrected)} corrected image(s)",
    )


def segment(img: nb.Nifti1Image, contrast: str, corrected: list[np.ndarray] = ()) -> Segmentation:
    """Return the tissue masks for an image of ``contrast`` ('T1w', 'T2w' or 'dixon').

    ``corrected`` holds the corrected versions of the image on its grid; the classes are fitted to their
    consensus (to the image itself when there are none), the brain or object mask comes from the image.
    """
    if contrast == "dixon":
        return segment_dixon(img, list(corrected))
    return segment_brain(img, contrast, list(corrected))
