import numpy as np
import pytest

from inuprep.simulation.fields import FAMILIES, coil_field, random_field, simulate_bias

SHAPE = (40, 48, 36)


@pytest.mark.parametrize("family", FAMILIES)
def test_field_strength_is_measured_inside_the_mask(family):
    mask = np.zeros(SHAPE, bool)
    mask[8:32, 10:38, 6:30] = True
    field = random_field(family, SHAPE, 3.0, seed=4, mask=mask)
    assert field.shape == SHAPE and field.dtype == np.float32 and field.min() > 0
    assert field[mask].max() / field[mask].min() == pytest.approx(3.0, rel=1e-4)
    assert np.exp(np.log(field[mask]).mean()) == pytest.approx(1.0, abs=1e-4)
    assert field.max() / field.min() > 3.0  # outside the mask the field goes on
    assert np.array_equal(field, random_field(family, SHAPE, 3.0, seed=4, mask=mask))
    assert not np.allclose(field, random_field(family, SHAPE, 3.0, seed=5, mask=mask))


def test_families_differ_in_shape():
    fields = [np.log(random_field(family, SHAPE, 3.0, seed=1)).ravel() for family in FAMILIES]
    assert np.all(np.abs(np.corrcoef(fields)[np.triu_indices(len(FAMILIES), 1)]) < 0.9)


def test_coil_field_is_bright_at_the_surface_and_dim_in_the_centre():
    field = coil_field(SHAPE, 3.0, seed=2)
    centre = field[15:25, 19:29, 13:23].mean()
    shell = np.ones(SHAPE, bool)
    shell[3:-3, 3:-3, 3:-3] = False
    assert field[shell].mean() > 1.2 * centre


def test_unknown_family_is_rejected():
    with pytest.raises(ValueError, match="unknown field family"):
        random_field("sinusoid", SHAPE, 2.0, seed=0)


def test_simulate_bias_multiplies_and_adds_rician_noise():
    clean = np.zeros(SHAPE, np.float32)
    clean[10:30, 10:38, 8:28] = 100.0
    field, biased = simulate_bias(clean, 2.0, seed=3, family="coil")
    inside = clean > 0
    assert np.abs(biased[inside] / (100 * field[inside]) - 1).mean() < 0.02  # sigma is 1 % of 100
    # Rician background: mean of the magnitude of pure noise is sigma * sqrt(pi / 2), sigma = 1
    assert biased[~inside].mean() == pytest.approx(np.sqrt(np.pi / 2), rel=0.05)
