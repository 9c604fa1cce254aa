"""N4 through antspyx on real anatomy with a known field."""

import numpy as np
import pytest

from inuprep.evaluation.metrics import coefficient_of_joint_variation
from inuprep.methods.n4.correct import n4_correct
from inuprep.methods.n4.settings import N4Settings
from inuprep.simulation.fields import add_rician_noise, polynomial_field, template_anatomy


@pytest.mark.slow
def test_n4_lowers_cjv_and_recovers_the_field():
    clean, wm, gm, _ = template_anatomy(2.0)
    field = polynomial_field(clean.shape, max_ratio=2.5, seed=7)
    biased = add_rician_noise(clean * field, sigma=0.01, seed=7)
    corrected, estimate = n4_correct(biased, (2.0, 2.0, 2.0), biased > 0.05, N4Settings())

    before = coefficient_of_joint_variation(biased[wm], biased[gm])
    after = coefficient_of_joint_variation(corrected[wm], corrected[gm])
    assert after < 0.85 * before
    brain = clean > 0.1
    assert np.corrcoef(np.log(estimate[brain]), np.log(field[brain]))[0, 1] > 0.75
    assert np.allclose(corrected[brain] * estimate[brain], biased[brain], rtol=1e-3)
    assert corrected.shape == biased.shape and corrected.dtype == np.float32


@pytest.mark.slow
def test_n4_removes_part_of_a_measured_receive_field(shared_data):
    """One Prisma acquisition reconstructed with and without Prescan Normalize: their ratio is the field."""
    import nibabel as nb

    from inuprep.image import foreground_mask

    anat = shared_data / "bids" / "sub-prisma3t" / "anat"
    raw = nb.load(anat / "sub-prisma3t_acq-noprescannorm_T1w.nii.gz")
    reference = nb.load(anat / "sub-prisma3t_acq-prescannorm_T1w.nii.gz").get_fdata(dtype=np.float32)
    data = raw.get_fdata(dtype=np.float32)
    head = foreground_mask(data)
    corrected, estimate = n4_correct(data, raw.header.get_zooms()[:3], head)
    inside = head & (data > 0) & (reference > np.percentile(reference[head], 20))
    true_log_field = np.log(data[inside] / reference[inside])
    assert np.corrcoef(np.log(estimate[inside]), true_log_field)[0, 1] > 0.5
    residual = np.log(corrected[inside] / reference[inside])
    assert residual.std() < 0.9 * true_log_field.std()
