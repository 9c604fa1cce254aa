"""Loading and checking an input image."""

from pathlib import Path

import numpy as np
from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec

from inuprep.image import default_mask, load_checked
from inuprep.utils.io import save_like, write_nifti


class _CheckImageInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="a 3D NIfTI image")


class _CheckImageOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="the image as float32 on its own grid")
    mask_file = File(
        exists=True, desc="the default mask: a skull-stripped image's support, else its foreground"
    )


class CheckImage(SimpleInterface):
    """Check an image can be corrected (3D, finite, valid affine, not empty); write it as float32."""

    input_spec = _CheckImageInputSpec
    output_spec = _CheckImageOutputSpec

    def _run_interface(self, runtime):
        img = load_checked(self.inputs.in_file)
        cwd = Path(runtime.cwd)
        self._results["out_file"] = str(cwd / "image.nii.gz")
        write_nifti(img, self._results["out_file"])
        mask, _ = default_mask(img.get_fdata(dtype=np.float32))
        self._results["mask_file"] = save_like(mask, img, cwd / "foreground_mask.nii.gz", np.uint8)
        return runtime
