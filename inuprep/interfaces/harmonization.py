"""Harmonization of one corrected image with a model folder (``inuprep-harmonize fit``), in process."""

from pathlib import Path

from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    Directory,
    File,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from inuprep.harmonizers.model import read_model
from inuprep.image import load_with_mask
from inuprep.segmentation import tissue_mask
from inuprep.utils.io import save_like


class _HarmonizeInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the corrected image to harmonize")
    mask_file = File(exists=True, mandatory=True, desc="its brain mask")
    model_dir = Directory(exists=True, mandatory=True, desc="a model folder written by inuprep-harmonize fit")
    correction = traits.Str(mandatory=True, desc="the correction harmonized (for the sidecar)")
    dseg_file = File(exists=True, desc="its tissue labels: the white matter, for methods that use it")
    dseg_tsv = File(exists=True, desc="their label table")


class _HarmonizeOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="the image on the model's references' intensity scale")
    metadata = traits.Dict(desc="method, model, references and correction for the sidecar")


class Harmonize(SimpleInterface):
    """Put one corrected image on the intensity scale of a model's reference group."""

    input_spec = _HarmonizeInputSpec
    output_spec = _HarmonizeOutputSpec

    def _run_interface(self, runtime):
        model = read_model(Path(self.inputs.model_dir))
        img, data, mask = load_with_mask(Path(self.inputs.in_file), Path(self.inputs.mask_file))
        wm = None
        if isdefined(self.inputs.dseg_file) and isdefined(self.inputs.dseg_tsv):
            wm = tissue_mask(self.inputs.dseg_file, self.inputs.dseg_tsv, "WM")
        harmonized = model.harmonizer.apply(data, mask, model.contrast, model.settings, model.folder, wm)
        self._results["out_file"] = save_like(harmonized, img, Path(runtime.cwd) / "harmonized.nii.gz")
        self._results["metadata"] = {**model.sidecar(), "HarmonizedCorrection": self.inputs.correction}
        return runtime
