"""The examples users copy: inuprep's correction inside a nipype pipeline of one's own."""

import importlib.util
import json
from pathlib import Path

import nibabel as nb
import numpy as np
import pytest

from conftest import ROOT

EXAMPLE = ROOT / "examples" / "nipype" / "correct_in_pipeline.py"


@pytest.mark.smoke  # runs a nipype pipeline with N4
def test_the_correction_runs_between_nodes_of_ones_own(tmp_path, mni_3mm):
    from inuprep.simulation.fields import simulate_bias

    spec = importlib.util.spec_from_file_location("correct_in_pipeline", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    image = tmp_path / "in" / "biased.nii.gz"
    image.parent.mkdir()
    nb.Nifti1Image(simulate_bias(mni_3mm.get_fdata(dtype=np.float32), 3.0, 3)[1], mni_3mm.affine).to_filename(
        image
    )
    work = tmp_path / "work"
    work.mkdir()
    example.build(image, work, "n4").run()
    record = json.loads((work / "cv.json").read_text())
    corrected = Path(record["corrected_file"])  # what the downstream node of one's own received
    assert corrected.is_file() and work in corrected.parents and "n4_wf" in str(corrected)
    assert record["corrected"] < 0.9 * record["original"], record
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "work"]  # nothing written elsewhere
    assert sorted(p.name for p in image.parent.iterdir()) == ["biased.nii.gz"]
    # the mask is optional: alone, the factory corrects inside the image's foreground
    from inuprep.workflows.correction import init_correction_wf

    alone = init_correction_wf(method="n4", omp_nthreads=1)
    alone.base_dir = str(work)
    alone.inputs.inputnode.in_file = str(image)
    result = alone.run()
    (node,) = [n for n in result.nodes() if n.name == "correct"]
    assert Path(node.result.outputs.out_file).is_file()
