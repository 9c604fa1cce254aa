"""A T2w's masks: its session's T1w masks, moved onto it by a rigid registration."""

import nibabel as nb
import numpy as np

from inuprep.segmentation.antspyx import ants_scratch, to_ants
from inuprep.segmentation.base import Segmentation


@ants_scratch()  # antspyx's Atropos posteriors and transforms: never left in /tmp
def transfer_segmentation(reference: nb.Nifti1Image, seg: Segmentation, img: nb.Nifti1Image) -> Segmentation:
    """Return ``seg`` (of the image ``reference``) moved onto ``img`` by a rigid registration."""
    import ants

    fixed, moving = to_ants(img.get_fdata(dtype=np.float32), img), to_ants(reference.get_fdata(), reference)
    transforms = ants.registration(fixed, moving, type_of_transform="Rigid")["fwdtransforms"]

    def moved(data, interpolator):
        return ants.apply_transforms(fixed, to_ants(data, reference), transforms, interpolator=interpolator)

    dseg = np.rint(moved(seg.dseg, "genericLabel").numpy()).astype(np.uint8)
    return Segmentation(
        mask=dseg > 0,
        dseg=dseg,
        labels=seg.labels,
        tissues=seg.tissues,
        probseg={name: moved(prob, "linear").numpy() for name, prob in seg.probseg.items()},
        source="T1w",
        method=f"the session's T1w masks ({seg.source}), moved by a rigid registration (antspyx, mutual "
        "information)",
    )
