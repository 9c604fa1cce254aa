"""Tissue masks on real anatomy (MNI152 at 3 mm): the offline fallback, deep_atropos's cache check and
fallback, a T2w from its T1w, Dixon water/fat regions and user masks."""

import os
import subprocess
import sys
import tempfile

import nibabel as nb
import numpy as np
import pytest

from conftest import dixon_pair
from inuprep.segmentation import deep_atropos
from inuprep.segmentation.base import BRAIN_LABELS, SegmentationError
from inuprep.segmentation.brain import segment_brain
from inuprep.segmentation.dixon import segment_dixon
from inuprep.segmentation.labels import user_segmentation
from inuprep.segmentation.transfer import transfer_segmentation


def dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def template_maps(mni_3mm):
    from nilearn.datasets import load_mni152_gm_template, load_mni152_wm_template
    from nilearn.image import resample_to_img

    def resampled(img):
        return resample_to_img(
            img, mni_3mm, interpolation="continuous", force_resample=True, copy_header=True
        )

    return (resampled(load_mni152_gm_template(resolution=1)).get_fdata(),
            resampled(load_mni152_wm_template(resolution=1)).get_fdata())  # fmt: skip


@pytest.fixture(scope="module")
def t1w_seg(mni_3mm, tmp_path_factory):
    empty_cache = tmp_path_factory.mktemp("antsxnet")
    temporary = tmp_path_factory.mktemp("tmp")  # where antspyx would leave its posteriors and transforms
    previous, tempfile.tempdir = tempfile.tempdir, str(temporary)
    try:
        seg, why = segment_brain(mni_3mm, "T1w", [mni_3mm.get_fdata(dtype=np.float32)], empty_cache)
        moved = transfer_segmentation(mni_3mm, seg, mni_3mm)
    finally:
        tempfile.tempdir = previous
    return seg, why, moved, sorted(path.name for path in temporary.iterdir())


@pytest.mark.slow
def test_without_deep_atropos_files_the_template_fallback_segments(t1w_seg, template_maps):
    seg, why, _, left_in_tmp = t1w_seg
    assert left_in_tmp == []  # the pure functions clean up after antspyx, not only the interface
    assert seg.source == "template_priors" and "MNI152" in seg.method
    assert "missing" in why and "sixTissueOctantBrainSegmentationWithPriors1.h5" in why
    gm_map, wm_map = template_maps
    assert seg.labels == BRAIN_LABELS and set(seg.probseg) == {"CSF", "GM", "WM"}
    assert seg.labels == {1: "GM", 2: "WM", 3: "CSF"}  # the BIDS common labels' numbers
    assert dice(seg.dseg == 2, wm_map > 0.5) > 0.8
    assert dice(seg.dseg == 1, gm_map > 0.5) > 0.7
    assert np.all(seg.dseg[~seg.mask] == 0)


def test_the_cache_check_names_every_missing_file(tmp_path):
    assert len(deep_atropos.missing_files(tmp_path)) == 5
    for path in deep_atropos.required_files(tmp_path):
        path.write_bytes(b"x")
    assert deep_atropos.missing_files(tmp_path) == []


@pytest.mark.slow
def test_a_broken_deep_atropos_falls_back_in_one_line(mni_3mm, tmp_path):
    for path in deep_atropos.required_files(tmp_path):  # present but unreadable: the model run fails
        path.write_bytes(b"not a model")
    seg, why = segment_brain(mni_3mm, "T1w", [], tmp_path)
    assert seg.source == "template_priors"
    assert why.startswith("deep_atropos failed (deep_atropos: ") and "\n" not in why


def test_deep_atropos_labels_map_to_tissues():
    assert deep_atropos.TISSUES == {1: "CSF", 2: "GM", 3: "WM", 4: "GM"}
    assert set(deep_atropos.LABELS) == {1, 2, 3, 4, 5, 6}


@pytest.mark.slow
def test_t2w_classes_come_from_the_priors_on_an_oblique_grid(mni_3mm, tmp_path):
    from scipy.spatial.transform import Rotation

    t1 = mni_3mm.get_fdata(dtype=np.float32)
    oblique = np.eye(4)
    oblique[:3, :3] = Rotation.from_euler("xyz", [7, -5, 3], degrees=True).as_matrix()
    t2 = nb.Nifti1Image(np.where(t1 > 0.05, 1.2 - t1, 0).astype(np.float32), oblique @ mni_3mm.affine)
    seg, why = segment_brain(t2, "T2w", [], tmp_path)
    assert "T1w images only" in why
    data = t2.get_fdata()
    gm, wm, csf = (data[seg.dseg == k].mean() for k in (1, 2, 3))
    assert csf > gm > wm
    assert "priors at weight 0.8, mean-field MRF 0.05" in seg.method  # a T2w's own weights (EM_T2W)


@pytest.mark.slow
def test_a_t2w_reuses_its_t1w_masks_after_a_rigid_registration(mni_3mm, t1w_seg):
    seg, *_ = t1w_seg
    t1 = mni_3mm.get_fdata(dtype=np.float32)
    shifted = mni_3mm.affine.copy()
    shifted[:3, 3] += (6.0, -9.0, 3.0)  # same voxels, moved in space: the labels must follow the voxels
    t2 = nb.Nifti1Image(np.where(t1 > 0.05, 1.2 - t1, 0).astype(np.float32), shifted)
    moved = transfer_segmentation(mni_3mm, seg, t2)
    assert moved.source == "T1w" and seg.source in moved.method
    assert moved.dseg.shape == t2.shape
    assert dice(moved.dseg == 2, seg.dseg == 2) > 0.85  # WM
    assert dice(moved.dseg == 1, seg.dseg == 1) > 0.75  # GM


def test_dixon_regions_come_from_the_water_fraction():
    water, fat = dixon_pair()
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    centre, shell = (24, 20, 12), (42, 20, 12)  # water-rich core, fat-rich shell
    for component in (water, fat):
        seg = segment_dixon(nb.Nifti1Image(component.astype(np.float32), affine), [], water, fat)
        assert seg.labels == {1: "water", 2: "fat"} and seg.source == "dixon_water_fat"
        assert seg.dseg[centre] == 1 and seg.dseg[shell] == 2
    alone = segment_dixon(nb.Nifti1Image(water.astype(np.float32), affine), [])
    assert alone.labels == {1: "dim", 2: "bright"} and alone.source == "intensity"
    assert alone.dseg[centre] == 2 and alone.dseg[shell] == 1


@pytest.mark.slow
def test_a_non_brain_image_is_refused(tmp_path):
    water, _ = dixon_pair(shape=(20, 20, 20))
    with pytest.raises(SegmentationError, match="brain"):
        segment_brain(nb.Nifti1Image(water.astype(np.float32), np.eye(4)), "T1w", [], tmp_path)


def test_user_labels_must_be_on_the_grid_and_named(tmp_path):
    img = nb.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4))
    labels = np.zeros((8, 8, 8), np.uint8)
    labels[2:5, 2:5, 2:5] = 1
    dseg = nb.Nifti1Image(labels, np.eye(4))
    dseg.to_filename(tmp_path / "dseg.nii.gz")
    seg = user_segmentation(img, nb.load(tmp_path / "dseg.nii.gz"), {1: "bladder"})
    assert seg.source == "user" and seg.tissues == {1: "bladder"} and seg.mask.sum() == 27
    with pytest.raises(SegmentationError, match="lacks"):
        user_segmentation(img, nb.load(tmp_path / "dseg.nii.gz"), {2: "other"})
    nb.Nifti1Image(labels, np.diag([2.0, 2, 2, 1])).to_filename(tmp_path / "off.nii.gz")
    with pytest.raises(SegmentationError, match="not on the image's grid"):
        user_segmentation(img, nb.load(tmp_path / "off.nii.gz"), {1: "bladder"})


SEEDED_TWICE = """
import sys
import nibabel as nb, numpy as np
from inuprep.segmentation.antspyx import ants_random_seed, ants_scratch
from inuprep.segmentation.brain import brain_mask, segment_with_template
img = nb.load(sys.argv[1])
data = img.get_fdata(dtype=np.float32)
mask = brain_mask(img)
runs = []
for _ in range(2):
    with ants_random_seed(7), ants_scratch():
        runs.append(segment_with_template(img, data, mask).dseg)
print(int((runs[0] != runs[1]).sum()), int(mask.sum()))
"""


@pytest.mark.slow
def test_the_template_fallback_is_reproducible_and_leaves_no_temporary_file(mni_3mm, tmp_path):
    mni_3mm.to_filename(tmp_path / "t1.nii.gz")
    (tmp_path / "tmp").mkdir()
    # ITK reads its thread count once per process; antspyx writes transforms and posteriors to TMPDIR
    env = {**os.environ, "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1", "TMPDIR": str(tmp_path / "tmp")}
    command = [sys.executable, "-c", SEEDED_TWICE, str(tmp_path / "t1.nii.gz")]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    differing, brain = map(int, result.stdout.split())
    assert brain > 10_000 and differing == 0
    assert list((tmp_path / "tmp").iterdir()) == []
