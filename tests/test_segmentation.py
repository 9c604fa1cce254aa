"""Tissue masks on real anatomy (MNI152 at 3 mm), a T2-like contrast and a synthetic Dixon pair."""

import nibabel as nb
import numpy as np
import pytest

from conftest import dixon_pair
from inuprep.segmentation import BRAIN_LABELS, SegmentationError, segment


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


def test_t1w_classes_match_the_template_maps(mni_3mm, template_maps):
    data = mni_3mm.get_fdata(dtype=np.float32)
    seg = segment(mni_3mm, "T1w", [data])
    gm_map, wm_map = template_maps
    assert seg.labels == BRAIN_LABELS
    means = [data[seg.dseg == k].mean() for k in (1, 2, 3)]
    assert means[0] < means[1] < means[2]  # CSF < GM < WM
    assert dice(seg.dseg == 3, wm_map > 0.5) > 0.75
    assert dice(seg.dseg == 2, gm_map > 0.5) > 0.6
    assert set(seg.probseg) == {"CSF", "GM", "WM"}
    assert np.all(seg.dseg[~seg.mask] == 0)


def test_t2w_reverses_the_class_order(mni_3mm):
    t1 = mni_3mm.get_fdata(dtype=np.float32)
    t2 = nb.Nifti1Image(np.where(t1 > 0.05, 1.2 - t1, 0).astype(np.float32), mni_3mm.affine)
    seg = segment(t2, "T2w")
    data = t2.get_fdata()
    csf, gm, wm = (data[seg.dseg == k].mean() for k in (1, 2, 3))
    assert csf > gm > wm
    t1_seg = segment(mni_3mm, "T1w")
    assert dice(seg.dseg == 3, t1_seg.dseg == 3) > 0.8


def test_dixon_classes_follow_each_component():
    water, fat = dixon_pair()
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    centre, shell = (24, 20, 12), (42, 20, 12)  # water-rich core, fat-rich shell
    water_seg = segment(nb.Nifti1Image(water.astype(np.float32), affine), "dixon")
    assert water_seg.labels == {1: "dim", 2: "bright"}
    assert water_seg.dseg[centre] == 2 and water_seg.dseg[shell] == 1
    fat_seg = segment(nb.Nifti1Image(fat.astype(np.float32), affine), "dixon")
    assert fat_seg.dseg[shell] == 2
    for data, seg in ((water, water_seg), (fat, fat_seg)):
        assert data[seg.dseg == 2].mean() > data[seg.dseg == 1].mean()


def test_a_non_brain_image_is_refused(mni_3mm):
    water, _ = dixon_pair(shape=(20, 20, 20))
    with pytest.raises(SegmentationError, match="brain"):
        segment(nb.Nifti1Image(water.astype(np.float32), np.diag([1.0, 1.0, 1.0, 1.0])), "T1w")
