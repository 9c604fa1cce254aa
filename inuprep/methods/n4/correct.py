"""N4 bias-field correction through antspyx (pure: no nipype, no BIDS)."""

import ants
import numpy as np

from inuprep.image import field_from_correction
from inuprep.methods.base import Corrected
from inuprep.methods.n4.settings import N4Settings
from inuprep.runtime import itk_threads


def n4_correct(
    data: np.ndarray, zooms: tuple[float, ...], mask: np.ndarray | None, settings: N4Settings | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return the N4-corrected image and the multiplicative field (data = corrected * field)."""
    settings = (settings or N4Settings()).resolved(zooms)
    data = np.clip(np.asarray(data, dtype=np.float32), 0, None)
    image = ants.from_numpy(data, spacing=tuple(float(z) for z in zooms))
    ants_mask = None
    if settings.use_mask and mask is not None:
        # N4 works on the log image: zero voxels inside the mask would poison the fit
        fit_mask = (np.asarray(mask) > 0) & (data > 0)
        ants_mask = image.new_image_like(fit_mask.astype(np.float32))
    corrected = ants.n4_bias_field_correction(
        image,
        mask=ants_mask,
        shrink_factor=settings.shrink_factor,
        convergence={"iters": list(settings.iterations), "tol": settings.convergence_threshold},
        spline_param=settings.spline_distance_mm,
    ).numpy()
    # antspyx returns either the image or the field, not both; N4 applies its field to every voxel,
    # so the ratio recovers the field wherever the input is positive.
    return corrected.astype(np.float32), field_from_correction(data, corrected).astype(np.float32)


def correct(data, zooms, mask, settings: N4Settings, num_threads=1, device="cpu", progress=None) -> Corrected:
    """Return :func:`n4_correct`'s image and field with ``num_threads`` ITK threads (the runner's entry)."""
    itk_threads(num_threads)
    corrected, field = n4_correct(data, zooms, mask, settings)
    return corrected, field, {}
