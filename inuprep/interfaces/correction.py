"""Bias-field correction interfaces."""

import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import nibabel as nb
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    CommandLine,
    CommandLineInputSpec,
    File,
    SimpleInterface,
    TraitedSpec,
    traits,
)

from inuprep import __version__
from inuprep.methods import METHODS
from inuprep.n4 import N4Settings
from inuprep.utils.bids import sidecar_path
from inuprep.utils.io import save_like


class _N4CorrectionInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="image to correct")
    mask_file = File(exists=True, desc="foreground mask restricting the fit")
    shrink_factor = traits.Int(
        N4Settings.shrink_factor, usedefault=True, desc="downsampling for the fit (0: to a ~4 mm grid)"
    )
    iterations = traits.List(
        traits.Int, list(N4Settings.iterations), usedefault=True, desc="iterations per fitting level"
    )
    convergence_threshold = traits.Float(
        N4Settings.convergence_threshold, usedefault=True, desc="stop a level below this change"
    )
    spline_distance_mm = traits.Float(
        N4Settings.spline_distance_mm, usedefault=True, desc="B-spline control point spacing (mm)"
    )
    num_threads = traits.Int(1, usedefault=True, nohash=True, desc="ITK threads")


class _CorrectionOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="corrected image")
    bias_field = File(exists=True, desc="estimated multiplicative field (input = output x field)")
    metadata = traits.Dict(desc="method, parameters, software and runtime for the sidecar")


class N4Correction(SimpleInterface):
    """N4 bias-field correction with antspyx (Tustison et al. 2010)."""

    input_spec = _N4CorrectionInputSpec
    output_spec = _CorrectionOutputSpec

    def _run_interface(self, runtime):
        settings = N4Settings(
            shrink_factor=self.inputs.shrink_factor,
            iterations=tuple(self.inputs.iterations),
            convergence_threshold=self.inputs.convergence_threshold,
            spline_distance_mm=self.inputs.spline_distance_mm,
            use_mask=bool(self.inputs.mask_file),
        )
        img = nb.load(self.inputs.in_file)
        zooms = img.header.get_zooms()[:3]
        settings = settings.resolved(zooms)
        mask = np.asanyarray(nb.load(self.inputs.mask_file).dataobj) if self.inputs.mask_file else None
        start = time.perf_counter()
        data = img.get_fdata(dtype=np.float32)
        corrected, field, _ = METHODS["n4"].correct(data, zooms, mask, settings, self.inputs.num_threads)
        elapsed = time.perf_counter() - start
        cwd = Path(runtime.cwd)
        self._results["out_file"] = save_like(corrected, img, cwd / "corrected.nii.gz")
        self._results["bias_field"] = save_like(field, img, cwd / "bias_field.nii.gz")
        self._results["metadata"] = {
            "BiasCorrectionMethod": METHODS["n4"].label,
            "BiasCorrectionParameters": settings.to_dict(),
            "Software": {"inuprep": __version__, "antspyx": version(METHODS["n4"].software)},
            "ThreadsUsed": self.inputs.num_threads,
            "RuntimeSeconds": round(elapsed, 2),
        }
        return runtime


class _CorrectorInputSpec(CommandLineInputSpec):
    in_file = File(exists=True, mandatory=True, argstr="%s", position=0, desc="image to correct")
    out_file = File("corrected.nii.gz", usedefault=True, argstr="%s", position=1, desc="corrected image")
    bias_field = File("bias_field.nii.gz", usedefault=True, argstr="--field %s", desc="estimated field")
    mask_file = File(exists=True, argstr="--mask %s", desc="foreground mask restricting the fit")
    device = traits.Enum("auto", "cpu", "cuda", usedefault=True, argstr="--device %s", nohash=True,
                         desc="torch device")  # fmt: skip
    num_threads = traits.Int(1, usedefault=True, argstr="--num-threads %d", nohash=True, desc="CPU threads")


class _ZeroShotCorrectionInputSpec(_CorrectorInputSpec):
    seed = traits.Int(0, usedefault=True, argstr="--seed %d", desc="random seed")
    iterations = traits.Int(
        0, usedefault=True, argstr="--iterations %d", desc="optimisation steps (0: default)"
    )


class _Corrector(CommandLine):
    """Runs ``inuprep-correct --method <method>`` in its own process (torch stays out of nipype's)."""

    method = ""
    output_spec = _CorrectionOutputSpec

    def __init_subclass__(cls, **kwargs):  # the command follows from the method
        super().__init_subclass__(**kwargs)
        cls._cmd = f"{sys.executable} -m inuprep.cli.correct --method {cls.method}"

    def _list_outputs(self):
        out_file = Path(self.inputs.out_file).absolute()
        metadata = json.loads(sidecar_path(out_file).read_text())
        software = METHODS[self.method].software
        metadata["Software"] = {"inuprep": __version__, software: version(software)}
        return {
            "out_file": str(out_file),
            "bias_field": str(Path(self.inputs.bias_field).absolute()),
            "metadata": metadata,
        }


class ZeroShotCorrection(_Corrector):
    """Zero-shot bias correction (Yang, Timko, Fernandez) through ``inuprep-correct``, in its own process."""

    method = "zeroshot"
    input_spec = _ZeroShotCorrectionInputSpec


class ImplicitCorrection(_Corrector):
    """The implicitly trained network (Simko et al. 2022) through ``inuprep-correct``, in its own process."""

    method = "implicit"
    input_spec = _CorrectorInputSpec
