"""Evaluation of corrections on shared tissue masks."""

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

from inuprep.bids_app.derivatives import write_json
from inuprep.interfaces.segmentation import read_label_table
from inuprep.metrics import tissue_metrics
from inuprep.segmentation import CJV_PAIRS, DIXON_LABELS


def metrics_dictionary(labels: dict[int, str], cjv_pair: tuple[str, str], segmentation: str) -> dict:
    """Return the JSON data dictionary of a metrics table."""
    columns = {"method": {"Description": "correction: original (none), n4, zeroshot"}}
    for name in labels.values():
        columns[f"cv_{name.lower()}"] = {
            "LongName": f"coefficient of variation in {name}",
            "Description": f"std / mean of the intensities inside the {name} mask (lower: more homogeneous)",
        }
    columns["cjv"] = {
        "LongName": "coefficient of joint variation",
        "Description": f"(sd_{cjv_pair[0]} + sd_{cjv_pair[1]}) / |mean_{cjv_pair[0]} - mean_{cjv_pair[1]}|"
        " (MRIQC); unlike CV it does not improve when contrast is compressed",
    }
    return {**columns, "SegmentationMethod": segmentation}


class _EvaluateInputSpec(BaseInterfaceInputSpec):
    in_files = InputMultiObject(File(exists=True), mandatory=True, desc="original, then corrected images")
    methods = traits.List(traits.Str, mandatory=True, desc="method name of each in_file")
    dseg_file = File(exists=True, mandatory=True, desc="tissue labels shared by every method")
    dseg_tsv = File(exists=True, mandatory=True, desc="label table of dseg_file")
    segmentation = traits.Str("", usedefault=True, desc="how the labels were made (for the dictionary)")


class _EvaluateOutputSpec(TraitedSpec):
    out_tsv = File(exists=True, desc="one row per method: CV per tissue and CJV")
    out_json = File(exists=True, desc="data dictionary of out_tsv")


class EvaluateCorrections(SimpleInterface):
    """Measure CV per tissue and CJV of every method's image on the same masks."""

    input_spec = _EvaluateInputSpec
    output_spec = _EvaluateOutputSpec

    def _run_interface(self, runtime):
        if len(self.inputs.in_files) != len(self.inputs.methods):
            raise ValueError("EvaluateCorrections: one method name per input file is needed")
        labels = read_label_table(self.inputs.dseg_tsv)
        cjv_pair = CJV_PAIRS["dixon" if labels == DIXON_LABELS else "brain"]
        dseg = np.asanyarray(nb.load(self.inputs.dseg_file).dataobj)
        rows = []
        for method, path in zip(self.inputs.methods, self.inputs.in_files, strict=True):
            data = nb.load(path).get_fdata(dtype=np.float32)
            rows.append({"method": method, **tissue_metrics(data, dseg, labels, cjv_pair)})
        columns = list(rows[0])
        lines = ["\t".join(columns)] + [
            "\t".join(row[c] if c == "method" else f"{row[c]:.6f}" for c in columns) for row in rows
        ]
        cwd = Path(runtime.cwd)
        self._results["out_tsv"] = str(cwd / "metrics.tsv")
        Path(self._results["out_tsv"]).write_text("\n".join(lines) + "\n")
        dictionary = metrics_dictionary(labels, cjv_pair, self.inputs.segmentation)
        self._results["out_json"] = str(write_json(dictionary, cwd / "metrics.json"))
        return runtime
