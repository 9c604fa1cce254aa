"""The MNI152 2009a template that nilearn ships: real anatomy for the demo, tests, benchmarks and priors."""

import nibabel as nb
import numpy as np


def mni152(zoom: float = 1.0, maps: tuple[str, ...] = ("T1",)) -> list[nb.Nifti1Image]:
    """Return nilearn's MNI152 2009a ``maps`` (T1: skull-stripped; GM, WM: probabilities) at ``zoom`` mm.

    At 1 mm the images are nilearn's own; otherwise resampled (continuous) onto an isotropic ``zoom`` grid.
    """
    from nilearn import datasets

    loaders = {"T1": datasets.load_mni152_template, "GM": datasets.load_mni152_gm_template,
               "WM": datasets.load_mni152_wm_template}  # fmt: skip
    images = [loaders[name](resolution=1) for name in maps]
    if zoom == 1.0:
        return images
    from nilearn.image import resample_img

    return [
        resample_img(img, target_affine=np.diag([zoom] * 3), interpolation="continuous",
                     force_resample=True, copy_header=True)
        for img in images
    ]  # fmt: skip
