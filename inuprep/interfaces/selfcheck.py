"""The self-check as a node: which correction to trust for this image, from each method's field and the
tissue masks every method is evaluated on (:mod:`inuprep.evaluation.selfcheck`; a few seconds)."""

from pathlib import Path

import nibabel as nb
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    traits,
)

from inuprep.evaluation.selfcheck import label_masks, self_check
from inuprep.segmentation.labels import read_label_table
from inuprep.utils.io import write_json


class _SelfCheckInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the image the methods corrected")
    methods = traits.List(traits.Str, mandatory=True, desc="the method of each field file")
    field_files = InputMultiObject(File(exists=True), mandatory=True, desc="each method's field")
    dseg_file = File(exists=True, mandatory=True, desc="tissue labels shared by every method")
    dseg_tsv = File(exists=True, mandatory=True, desc="label table of dseg_file")


class _SelfCheckOutputSpec(TraitedSpec):
    out_json = File(exists=True, desc="the check (SelfCheckResult.to_dict)")
    check = traits.Dict(desc="the same, read")


class SelfCheck(SimpleInterface):
    """Estimate each method's error from what it left in the image; recommend the lowest."""

    input_spec = _SelfCheckInputSpec
    output_spec = _SelfCheckOutputSpec

    def _run_interface(self, runtime):
        img = nb.load(self.inputs.in_file)
        fields = {
            method: nb.load(path).get_fdata(dtype=np.float32)
            for method, path in zip(self.inputs.methods, self.inputs.field_files, strict=True)
        }
        dseg = np.asanyarray(nb.load(self.inputs.dseg_file).dataobj)
        masks, pure = label_masks(dseg, read_label_table(self.inputs.dseg_tsv)[1])
        zooms = img.header.get_zooms()[:3]
        check = self_check(img.get_fdata(dtype=np.float32), zooms, fields, masks, pure).to_dict()
        self._results["check"] = check
        self._results["out_json"] = str(write_json(check, Path(runtime.cwd) / "selfcheck.json"))
        return runtime
