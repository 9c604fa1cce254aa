"""Harmonization of one corrected image with a model folder, in a process of its own (``python -m
inuprep.harmonizers.run apply``, as ``inuprep-harmonize apply``): a learned method's torch stays out of
nipype's workers, as the corrections' does."""

import json
import shlex
import sys
from pathlib import Path

from nipype.interfaces.base import CommandLine, CommandLineInputSpec, Directory, File, TraitedSpec, traits

from inuprep.utils.bids import sidecar_path

RUNNER = "inuprep.harmonizers.run"


class _HarmonizeInputSpec(CommandLineInputSpec):
    model_dir = Directory(exists=True, mandatory=True, argstr="%s", position=0,
                          desc="a model folder written by inuprep-harmonize fit")  # fmt: skip
    in_file = File(exists=True, mandatory=True, argstr="%s", position=1, desc="the corrected image")
    out_file = File("harmonized.nii.gz", usedefault=True, argstr="%s", position=2, desc="harmonized image")
    mask_file = File(exists=True, mandatory=True, argstr="--mask %s", desc="its brain mask")
    dseg_file = File(exists=True, argstr="--dseg %s", desc="its tissue labels, their dseg.tsv beside them")
    correction = traits.Str(mandatory=True, desc="the correction harmonized (for the sidecar)")


class _HarmonizeOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="the image on the model's references' intensity scale")
    metadata = traits.Dict(desc="method, model, references and correction for the sidecar")


class Harmonize(CommandLine):
    """Put one corrected image on the intensity scale of a model's reference group."""

    input_spec = _HarmonizeInputSpec
    output_spec = _HarmonizeOutputSpec
    _cmd = f"{shlex.quote(sys.executable)} -m {RUNNER} apply"  # nipype runs it in a shell

    def _list_outputs(self):
        out_file = Path(self.inputs.out_file).absolute()
        metadata = json.loads(sidecar_path(out_file).read_text())
        metadata["Mask"] = "the image's brain mask (its desc-brain_mask)"  # not the work folder's copy
        return {
            "out_file": str(out_file),
            "metadata": {**metadata, "HarmonizedCorrection": self.inputs.correction},
        }
