"""What a segmentation is: its masks, labels and label names, and what its classes are fitted to."""

from dataclasses import dataclass, field

import nibabel as nb
import numpy as np

BRAIN_LABELS = {1: "GM", 2: "WM", 3: "CSF"}  # as the BIDS common labels and sMRIPrep number them
DIXON_LABELS = {1: "water", 2: "fat"}
INTENSITY_LABELS = {1: "dim", 2: "bright"}
#: the pairs of tissues whose contrast CJV measures (the first pair present in a label table is used)
CJV_PAIRS = (("WM", "GM"), ("water", "fat"), ("bright", "dim"))


class SegmentationError(RuntimeError):
    """Tissue masks could not be computed; the message is one line."""


@dataclass
class Segmentation:
    """Tissue masks of one image on its own grid."""

    mask: np.ndarray  # brain (or object) mask, bool
    dseg: np.ndarray  # integer labels, 0 outside the mask
    labels: dict[int, str]  # the dseg's label names
    tissues: dict[int, str]  # the tissue each evaluated label counts as (labels absent: not evaluated)
    probseg: dict[str, np.ndarray] = field(default_factory=dict)  # posterior per tissue
    source: str = ""  # deep_atropos, template_priors, T1w, dixon_water_fat, intensity, user
    method: str = ""  # one sentence for sidecars and reports


def tissue_names(run, dixon_pair: bool = False, user_dseg: bool = False) -> tuple[str, ...]:
    """Return the tissues that get a ``probseg`` map: none for a user's dseg, else its segmentation's."""
    if user_dseg:
        return ()
    if run.contrast == "dixon":
        return tuple((DIXON_LABELS if dixon_pair else INTENSITY_LABELS).values())
    return tuple(BRAIN_LABELS.values())


def cjv_pair(names) -> tuple[str, str] | None:
    """Return the pair of tissues whose CJV is reported for a table with tissue ``names`` (or None)."""
    return next((pair for pair in CJV_PAIRS if set(pair) <= set(names)), None)


def consensus_image(images: list[np.ndarray], mask: np.ndarray) -> np.ndarray:
    """Return the mean of ``images``, each scaled to mean 1 inside ``mask`` (every method weighs alike)."""
    return np.mean([image / image[mask].mean() for image in images], axis=0).astype(np.float32)


def on_same_grid(img: nb.Nifti1Image, other: nb.Nifti1Image) -> bool:
    """Return whether ``other`` has ``img``'s 3D shape and affine (to 0.01 mm)."""
    return other.shape[:3] == img.shape[:3] and np.allclose(other.affine, img.affine, atol=1e-2)


#: a voxel of a Dixon pair's foreground is water where water / (water + fat) is at least this
WATER_FRACTION = 0.5
