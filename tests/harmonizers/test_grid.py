"""A voxel-grid method sees every image on its references' grid (RAS, their voxel size) and gives it back on
the image's own grid, unblurred; what cannot be put there is refused in one line."""

import json

import nibabel as nb
import numpy as np
import pytest

from inuprep.harmonizers.grid import Grid, Placement, harmonize_on_grid
from inuprep.harmonizers.model import MODEL_FILE
from inuprep.harmonizers.run import main
from inuprep.image import ImageError
from inuprep.utils.mni152 import mni152


@pytest.fixture(scope="module")
def anatomy():
    """MNI152 at 2 mm: the T1 (scaled, with texture) and its brain."""
    t1 = mni152(2.0)[0]
    data = t1.get_fdata(dtype=np.float32)
    brain = data > 0.05 * data.max()
    data = np.where(brain, data * (1 + 0.05 * np.random.default_rng(0).standard_normal(data.shape)), 0)
    return nb.Nifti1Image(data.astype(np.float32), t1.affine), brain


def test_a_reoriented_image_is_put_back_exactly(anatomy):
    img, brain = anatomy
    lps = img.as_reoriented(np.array([[1, -1], [0, -1], [2, 1]]))  # axes swapped and flipped
    placement = Placement.of(lps, Grid.of(img), "lps.nii")
    assert not placement.resampled
    data = lps.get_fdata(dtype=np.float32)
    assert np.array_equal(placement.onto(data), img.get_fdata(dtype=np.float32))
    assert np.array_equal(placement.back(placement.onto(data), data.shape), data)


def test_a_global_map_on_a_coarser_grid_comes_back_unblurred(anatomy):
    img, brain = anatomy
    data = img.get_fdata(dtype=np.float32)
    placement = Placement.of(img, Grid((4.0, 4.0, 4.0)), "fine.nii")
    assert placement.resampled and placement.onto(data).shape == tuple(np.round(np.array(data.shape) / 2))
    seen = []

    def double(on, mask, wm):
        seen.append(on.shape)
        return 2 * on

    result = harmonize_on_grid(double, data, brain, None, placement)
    assert result.shape == data.shape and seen == [placement.onto(data).shape]
    error = np.abs(result - 2 * data)[brain].mean() / (2 * data[brain]).mean()
    blurred = np.abs(placement.back(2 * placement.onto(data), data.shape) - 2 * data)[brain].mean()
    assert error < 0.01 < blurred / (2 * data[brain]).mean(), (error, blurred)


def test_what_cannot_be_put_on_the_grid_is_refused(anatomy, tmp_path, capsys):
    img, brain = anatomy
    with pytest.raises(ImageError, match="under 4 per axis"):
        Placement.of(img.slicer[:, :, 40:42], Grid((2.0, 2.0, 2.0)), "thin.nii")
    refs = []
    for n in (1, 2):
        refs.append(tmp_path / f"sub-0{n}_T1w.nii.gz")
        img.to_filename(refs[-1])
    model = tmp_path / "model"
    assert main(["fit", "--method", "selfsup", "--out", str(model), *map(str, refs), "--steps", "4",
                 "--batch", "2"]) == 0  # fmt: skip
    assert json.loads((model / MODEL_FILE).read_text())["Grid"] == {"Orientation": "RAS",
                                                                    "VoxelSize": [2.0, 2.0, 2.0]}  # fmt: skip
    thin, slab = tmp_path / "sub-03_T1w.nii.gz", img.slicer[:, :, 35:45]  # 10 slices of 0.5 mm: 2.5 at 2 mm
    nb.Nifti1Image(slab.dataobj, slab.affine @ np.diag([1, 1, 0.25, 1])).to_filename(thin)
    capsys.readouterr()
    assert main(["apply", str(model), str(thin), str(tmp_path / "out.nii.gz")]) == 2
    err = capsys.readouterr().err.strip()
    assert "harmonize a 3D volume" in err and str(thin) in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out.nii.gz").exists()
    record = json.loads((model / MODEL_FILE).read_text())
    del record["Grid"]
    (model / MODEL_FILE).write_text(json.dumps(record))
    assert main(["apply", str(model), str(refs[0]), str(tmp_path / "out.nii.gz")]) == 2
    assert "records no voxel grid" in capsys.readouterr().err


def test_references_and_images_of_another_voxel_size_go_through_the_first_references_grid(anatomy, tmp_path):
    img, _ = anatomy
    coarse = mni152(3.0)[0]
    refs = [tmp_path / "sub-01_T1w.nii.gz", tmp_path / "sub-02_T1w.nii.gz"]
    img.to_filename(refs[0])
    coarse.to_filename(refs[1])
    model, out = tmp_path / "model", tmp_path / "out.nii.gz"
    assert main(["fit", "--method", "selfsup", "--out", str(model), *map(str, refs), "--steps", "4",
                 "--batch", "2"]) == 0  # fmt: skip
    assert json.loads((model / MODEL_FILE).read_text())["Grid"]["VoxelSize"] == [2.0, 2.0, 2.0]
    assert main(["apply", str(model), str(refs[1]), str(out)]) == 0
    assert nb.load(out).shape == coarse.shape and np.isfinite(nb.load(out).get_fdata()).all()
