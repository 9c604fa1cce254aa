"""Evaluation of corrections on shared tissue masks."""

from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    traits,
)

from inuprep.methods import METHODS
from inuprep.metrics import coefficient_of_variation, known_field_metrics, tissue_metrics
from inuprep.segmentation import cjv_pair as find_cjv_pair
from inuprep.segmentation import on_same_grid, read_label_table
from inuprep.utils.io import write_json

#: the columns a known field adds (``--derivatives``' _biasfield)
KNOWN_FIELD_COLUMNS = {
    "rel_error": {
        "LongName": "relative error against the truth",
        "Description": "mean |s x image - truth| / mean(truth) inside the labelled voxels, truth = source / "
        "known field, s the least-squares global scale (lower: closer to the bias-free image)",
    },
    "field_corr": {
        "LongName": "correlation of the estimated and the true log-field",
        "Description": "Pearson correlation of log(source / image) and log(known field) inside the labelled "
        "voxels (n/a for the original, which removes no field)",
    },
    "field_slope": {
        "LongName": "slope of the estimated on the true log-field",
        "Description": "least-squares slope of log(source / image) on log(known field): 1 recovers the "
        "field, below 1 leaves part of it in (0 for the original)",
    },
}


#: the columns the self-check adds (inuprep.selfcheck)
SELF_CHECK_COLUMNS = {
    "selfcheck_error": {
        "LongName": "self-check: error on known probe fields",
        "Description": "mean over the probe fields of the relative error between the method's correction of "
        "the probed image and its correction of the image, on the self-check's coarse grid (lower: the "
        "method recovers fields better on this image; n/a for the original)",
    },
    "recommended": {
        "LongName": "recommended by the self-check",
        "Description": "1 for the method with the lowest selfcheck_error, 0 otherwise",
        "Levels": {"0": "not recommended", "1": "recommended"},
    },
}


def metrics_dictionary(
    names: list[str], cjv_pair: tuple[str, str] | None, segmentation: dict, known_field: bool = False
) -> dict:
    """Return the JSON data dictionary of a metrics table with CV columns for ``names``."""
    columns = {
        "method": {"Description": f"correction: original (none), {', '.join(METHODS)}"},
        "segmentation": {
            "Description": "source of the tissue masks: deep_atropos, template_priors (offline fallback), "
            "T1w (the session's T1w masks), dixon_water_fat, intensity (dim/bright) or user"
        },
    }
    for name in names:
        columns[f"cv_{name.lower()}"] = {
            "LongName": f"coefficient of variation in {name}",
            "Description": f"std / mean of the intensities inside the {name} mask (lower: more homogeneous)",
        }
    formula = (
        f"(sd_{cjv_pair[0]} + sd_{cjv_pair[1]}) / |mean_{cjv_pair[0]} - mean_{cjv_pair[1]}|"
        if cjv_pair
        else "n/a: the label table has no WM/GM or water/fat pair"
    )
    columns["cjv"] = {
        "LongName": "coefficient of joint variation",
        "Description": f"{formula} (MRIQC); unlike CV it does not improve when contrast is compressed",
    }
    if known_field:
        columns.update(KNOWN_FIELD_COLUMNS)
    return {**columns, **segmentation}


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
    selfcheck = traits.Dict(desc="the self-check (inuprep.selfcheck.SelfCheck.to_dict), if run")


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
        if len(self.inputs.in_files) != len(self.inputs.methods):
            raise ValueError("EvaluateCorrections: one method name per input file is needed")
        _, tissues = read_label_table(self.inputs.dseg_tsv)
        cjv_pair = find_cjv_pair(tissues.values())
        dseg = np.asanyarray(nb.load(self.inputs.dseg_file).dataobj)
        reference = nb.load(self.inputs.in_files[0])
        regions = []
        for path in self.inputs.region_files or []:
            region = nb.load(path)
            if not on_same_grid(reference, region):
                raise ValueError(f"{path} is not on the image's grid (shape and affine differ)")
            regions.append(np.asanyarray(region.dataobj) > 0)
        names = list(dict.fromkeys(tissues.values())) + list(self.inputs.region_names or [])
        truth = None
        if self.inputs.known_field:
            field = nb.load(self.inputs.known_field)
            if not on_same_grid(reference, field):
                raise ValueError(
                    f"{self.inputs.known_field} is not on the image's grid (shape and affine differ)"
                )
            brain = dseg > 0
            truth = reference.get_fdata(dtype=np.float32)[brain], field.get_fdata(dtype=np.float32)[brain]
        source = self.inputs.segmentation.get("SegmentationSource", "n/a")
        rows = []
        for method, path in zip(self.inputs.methods, self.inputs.in_files, strict=True):
            data = nb.load(path).get_fdata(dtype=np.float32)
            row = {"method": method, "segmentation": source, **tissue_metrics(data, dseg, tissues, cjv_pair)}
            for name, region in zip(self.inputs.region_names or [], regions, strict=True):
                row[f"cv_{name.lower()}"] = coefficient_of_variation(data[region])
            if truth is not None:
                row.update(known_field_metrics(truth[0], data[brain], truth[1]))
            if self.inputs.selfcheck:
                row["selfcheck_error"] = self.inputs.selfcheck["MeanErrors"].get(method, float("nan"))
                row["recommended"] = int(method == self.inputs.selfcheck["Recommended"])
            rows.append(row)
        cwd = Path(runtime.cwd)
        self._results["out_tsv"] = str(cwd / "metrics.tsv")
        pd.DataFrame(rows).to_csv(
            self._results["out_tsv"], sep="\t", index=False, float_format="%.6f", na_rep="nan"
        )
        segmentation = {
            k: v for k, v in self.inputs.segmentation.items() if k.startswith(("Segmentation", "Fallback"))
        }
        dictionary = metrics_dictionary(names, cjv_pair, segmentation, known_field=truth is not None)
        if self.inputs.selfcheck:
            dictionary.update({**SELF_CHECK_COLUMNS, "SelfCheck": self.inputs.selfcheck})
        if self.inputs.contrast:
            dictionary["Contrast"] = self.inputs.contrast  # the group level's table, not a guess from a name
        self._results["out_json"] = str(write_json(dictionary, cwd / "metrics.json"))
        return runtime
