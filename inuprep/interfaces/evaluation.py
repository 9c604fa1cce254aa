"""Evaluation of corrections on shared tissue masks: load, check the grids, call
:mod:`inuprep.evaluation.table`, save."""

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

from inuprep.evaluation.metrics import tissue_means
from inuprep.evaluation.table import metrics_dictionary, metrics_table
from inuprep.segmentation.base import on_same_grid
from inuprep.segmentation.labels import read_label_table
from inuprep.utils.io import write_json


class _EvaluateInputSpec(BaseInterfaceInputSpec):
    in_files = InputMultiObject(File(exists=True), mandatory=True, desc="original, then corrected images")
    methods = traits.List(traits.Str, mandatory=True, desc="method name of each in_file")
    dseg_file = File(exists=True, mandatory=True, desc="tissue labels shared by every method")
    dseg_tsv = File(exists=True, mandatory=True, desc="label table of dseg_file")
    region_files = InputMultiObject(File(exists=True), desc="extra masks evaluated too (user's _mask files)")
    region_names = traits.List(traits.Str, desc="name of each region file")
    segmentation = traits.Dict(desc="how the labels were made: SegmentationSource, SegmentationMethod")
    contrast = traits.Str(desc="the image's contrast as discovery found it (T1w, T2w, dixon-water...)")
    known_field = File(exists=True, desc="the true multiplicative field of a simulation, on the image's grid")
    measured_reference = File(
        exists=True,
        desc="the same acquisition normalised by the scanner for its receive field, on the image's grid: "
        "source / it is a measured field",
    )
    selfcheck = traits.Dict(
        desc="the self-check (inuprep.evaluation.selfcheck.SelfCheckResult.to_dict), if run"
    )


class _EvaluateOutputSpec(TraitedSpec):
    out_tsv = File(
        exists=True, desc="one row per method: CV per tissue, CJV (and the error if the field is known)"
    )
    out_json = File(exists=True, desc="data dictionary of out_tsv")


class EvaluateCorrections(SimpleInterface):
    """Measure CV per tissue and CJV of every method's image on the same masks (and its error, if known)."""

    input_spec = _EvaluateInputSpec
    output_spec = _EvaluateOutputSpec

    def _run_interface(self, runtime):
        inputs = self.inputs
        if len(inputs.in_files) != len(inputs.methods):
            raise ValueError("EvaluateCorrections: one method name per input file is needed")
        reference = nb.load(inputs.in_files[0])

        def on_grid(path):
            img = nb.load(path)
            if not on_same_grid(reference, img):
                raise ValueError(f"{path} is not on the image's grid (shape and affine differ)")
            return img

        regions = {
            name: np.asanyarray(on_grid(path).dataobj) > 0
            for name, path in zip(inputs.region_names or [], inputs.region_files or [], strict=True)
        }
        field = on_grid(inputs.known_field).get_fdata(dtype=np.float32) if inputs.known_field else None
        measured, measured_about = None, None
        if inputs.measured_reference:
            normalised = on_grid(inputs.measured_reference).get_fdata(dtype=np.float32)
            raw = reference.get_fdata(dtype=np.float32)
            measured = np.divide(raw, normalised, out=np.zeros_like(raw), where=normalised > 0)
            measured_about = {
                "Reference": Path(inputs.measured_reference).name,
                "Description": "the field measured by the scanner: this image divided by the same "
                "acquisition with the scanner's receive-field normalisation",
            }
        images = (
            (method, nb.load(path).get_fdata(dtype=np.float32))
            for method, path in zip(inputs.methods, inputs.in_files, strict=True)
        )
        _, tissues = read_label_table(inputs.dseg_tsv)
        dseg = np.asanyarray(nb.load(inputs.dseg_file).dataobj)
        source = inputs.segmentation.get("SegmentationSource", "n/a")
        zooms = tuple(float(z) for z in reference.header.get_zooms()[:3])
        table = metrics_table(
            images, dseg, tissues, regions, source, field, inputs.selfcheck or None, measured, zooms
        )
        cwd = Path(runtime.cwd)
        self._results["out_tsv"] = str(cwd / "metrics.tsv")
        table.to_csv(self._results["out_tsv"], sep="\t", index=False, float_format="%.6f", na_rep="nan")
        segmentation = {
            k: v for k, v in inputs.segmentation.items() if k.startswith(("Segmentation", "Fallback"))
        }
        dictionary = metrics_dictionary(
            tissues, list(regions), segmentation, field is not None, inputs.selfcheck or None, measured_about
        )
        if inputs.contrast:
            dictionary["Contrast"] = inputs.contrast  # the group level's table, not a guess from a name
        self._results["out_json"] = str(write_json(dictionary, cwd / "metrics.json"))
        return runtime


class _TissueMeansInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="an image on the labels' grid")
    dseg_file = File(exists=True, mandatory=True, desc="its tissue labels")
    dseg_tsv = File(exists=True, mandatory=True, desc="their label table")
    metadata = traits.Dict(desc="the image's sidecar metadata")


class _TissueMeansOutputSpec(TraitedSpec):
    metadata = traits.Dict(desc="the metadata with TissueMeans ({tissue: mean intensity}) added")


class AddTissueMeans(SimpleInterface):
    """Add the image's mean intensity per tissue to its sidecar metadata (the harmonized image's: the group
    level compares them across sites without reading the image)."""

    input_spec = _TissueMeansInputSpec
    output_spec = _TissueMeansOutputSpec

    def _run_interface(self, runtime):
        data = np.asanyarray(nb.load(self.inputs.in_file).dataobj, dtype=np.float32)
        dseg = np.asanyarray(nb.load(self.inputs.dseg_file).dataobj).round().astype(int)
        means = tissue_means(data, dseg, read_label_table(self.inputs.dseg_tsv)[1])
        self._results["metadata"] = {**self.inputs.metadata, "TissueMeans": means}
        return runtime
