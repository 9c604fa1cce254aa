"""``inuprep-correct`` on bad input: exit 2, one line, nothing written (``main(argv)`` in this process;
tests/methods/test_correct.py runs one case as the console script)."""

import gzip

import nibabel as nb
import numpy as np
import pytest

from conftest import save
from inuprep.methods.run import main


@pytest.mark.parametrize(
    "data, message",
    [
        (np.ones((16, 16, 16, 2)), "expected a 3D image"),
        (np.full((16, 16, 16), np.inf), "NaN or Inf"),
        (np.zeros((16, 16, 16)), "constant"),
        (None, "not a readable NIfTI"),
        (np.ones((16, 16)), "give the whole volume"),
        (np.ones((4, 4, 4)), "too small"),
        (np.pad(np.ones((8, 8, 8)), 4), "a mask or label image"),
        ("zero voxel", "voxel size (0.0, 1.0, 1.0) in the header (pixdim) is not positive"),
        ("missing", "not a readable NIfTI (No such file"),
    ],
)
def test_bad_input_exits_2_without_output(tmp_path, call_main, data, message):
    path = tmp_path / "bad.nii.gz"
    if data is None:
        path.write_bytes(gzip.compress(b"garbage"))
    elif isinstance(data, str) and data == "zero voxel":
        img = nb.Nifti1Image(np.random.default_rng(0).random((16, 16, 16)).astype(np.float32), None)
        img.header.set_zooms((0.0, 1.0, 1.0))
        img.to_filename(path)
    elif isinstance(data, str):  # missing
        path.symlink_to(tmp_path / "gone.nii.gz")  # a broken link, as DataLad leaves absent content
    else:
        save(data, path)
    code, _, err = call_main(main, path, tmp_path / "out.nii.gz", "--field", tmp_path / "field.nii.gz")
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nii.gz"]
