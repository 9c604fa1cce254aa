"""Dixon images' regions: water and fat from the acquisition's water fraction, else dim and bright."""

import nibabel as nb
import numpy as np

from inuprep.image import foreground_mask
from inuprep.segmentation.antspyx import MRF, atropos_classes
from inuprep.segmentation.base import (
    DIXON_LABELS,
    INTENSITY_LABELS,
    WATER_FRACTION,
    Segmentation,
    SegmentationError,
    consensus_image,
)


def segment_dixon(
    img: nb.Nifti1Image,
    corrected: list[np.ndarray],
    water: np.ndarray | None = None,
    fat: np.ndarray | None = None,
) -> Segmentation:
    """Return water and fat regions of a Dixon image from its water and fat components (else dim/bright)."""
    data = img.get_fdata(dtype=np.float32)
    if water is not None and fat is not None:
        if not water.shape == fat.shape == data.shape:
            raise SegmentationError(
                f"Dixon water {water.shape}, fat {fat.shape} and image {data.shape} differ"
            )
        total = np.clip(water, 0, None) + np.clip(fat, 0, None)
        mask = foreground_mask(total)
        fraction = np.where(mask, np.clip(water, 0, None) / np.where(total > 0, total, 1), 0)
        if mask.sum() < 100:
            raise SegmentationError("no foreground found in the Dixon water + fat image")
        dseg = np.where(mask, np.where(fraction >= WATER_FRACTION, 1, 2), 0).astype(np.uint8)
        return Segmentation(
            mask=mask,
            dseg=dseg,
            labels=DIXON_LABELS,
            tissues=DIXON_LABELS,
            probseg={"water": fraction.astype(np.float32), "fat": np.where(mask, 1 - fraction, 0)},
            source="dixon_water_fat",
            method=f"Otsu foreground of water + fat; water region: water fraction >= {WATER_FRACTION:g}, fat "
            "region: below",
        )
    mask = foreground_mask(data)
    if mask.sum() < 100:
        raise SegmentationError("no foreground found in the Dixon image")
    zooms = img.header.get_zooms()[:3]
    dseg, probs = atropos_classes(consensus_image(corrected or [data], mask), zooms, mask, n_classes=2)
    return Segmentation(
        mask=mask,
        dseg=dseg,
        labels=INTENSITY_LABELS,
        tissues=INTENSITY_LABELS,
        probseg=dict(zip(INTENSITY_LABELS.values(), probs, strict=True)),
        source="intensity",
        method=f"no water/fat pair: Otsu foreground; Atropos (2 classes, k-means, MRF {MRF}) fitted to the "
        f"consensus of {len(corrected)} corrected image(s)",
    )
