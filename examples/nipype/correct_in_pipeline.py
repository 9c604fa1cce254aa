"""inuprep's correction inside a nipype pipeline of your own: your nodes before and after it.

    python examples/nipype/correct_in_pipeline.py IN.nii.gz WORK_DIR [--method n4|zeroshot|implicit]

The pipeline: your node makes a brain mask (here a threshold at a fraction of the 98th percentile),
``init_correction_wf`` corrects the image inside it, and your node downstream measures the coefficient of
variation inside the mask before and after, writing ``<WORK_DIR>/cv.json``. Nothing is written outside
``WORK_DIR`` (the corrected image stays in nipype's working folder, where your own sinks would take it).
"""

import argparse
import json
from pathlib import Path

from nipype.interfaces.utility import Function
from nipype.pipeline import engine as pe

from inuprep.workflows.correction import init_correction_wf


def threshold_mask(in_file: str, fraction: float) -> str:
    """Write the voxels above ``fraction`` of the 98th percentile as a mask; return its path."""
    from pathlib import Path

    import nibabel as nb
    import numpy as np

    img = nb.load(in_file)
    data = img.get_fdata()
    mask = (data > fraction * np.percentile(data, 98)).astype(np.uint8)
    out = str(Path("mask.nii.gz").absolute())
    nb.Nifti1Image(mask, img.affine).to_filename(out)
    return out


def coefficient_of_variation(original: str, corrected: str, mask_file: str, out_json: str) -> str:
    """Write the CV inside the mask of the original and the corrected image to ``out_json``."""
    import json

    import nibabel as nb

    mask = nb.load(mask_file).get_fdata() > 0
    record = {}
    for name, path in (("original", original), ("corrected", corrected)):
        values = nb.load(path).get_fdata()[mask]
        record[name] = float(values.std() / values.mean())
    record["corrected_file"] = corrected
    with open(out_json, "w") as stream:
        json.dump(record, stream, indent=2)
    return out_json


def build(in_file: Path, work_dir: Path, method: str = "n4") -> pe.Workflow:
    """Return your pipeline: mask -> inuprep's correction -> CV."""
    pipeline = pe.Workflow(name="my_pipeline", base_dir=str(work_dir))
    mask = pe.Node(Function(function=threshold_mask, output_names=["mask_file"]), name="my_mask")
    mask.inputs.in_file, mask.inputs.fraction = str(in_file), 0.2
    correction = init_correction_wf(method=method, omp_nthreads=1)
    measure = pe.Node(Function(function=coefficient_of_variation, output_names=["out_json"]), name="my_cv")
    measure.inputs.original, measure.inputs.out_json = str(in_file), str(work_dir / "cv.json")
    pipeline.connect([
        (mask, correction, [("mask_file", "inputnode.mask_file")]),
        (mask, measure, [("mask_file", "mask_file")]),
        (correction, measure, [("outputnode.out_file", "corrected")]),
    ])  # fmt: skip
    correction.inputs.inputnode.in_file = str(in_file)
    return pipeline


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("in_file", type=Path, help="a 3D NIfTI image")
    parser.add_argument("work_dir", type=Path, help="nipype's working folder; cv.json is written here")
    parser.add_argument("--method", default="n4", help="n4, zeroshot or implicit")
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    build(args.in_file.absolute(), args.work_dir.absolute(), args.method).run()
    print(json.dumps(json.loads((args.work_dir / "cv.json").read_text()), indent=2))


if __name__ == "__main__":
    main()
