"""The implicitly trained network: its shipped weights, its training script and its 3D application."""

import numpy as np
import pytest
import torch

from inuprep.evaluation.metrics import field_fit, relative_mae
from inuprep.methods.implicit import correct, data, train
from inuprep.methods.implicit.network import GetNet


def test_shipped_weights_load_and_match_their_record():
    pytest.importorskip("skimage", reason="the photographs come with scikit-image (pip install .[train])")
    record = correct.weights_record()
    net = correct.load_getnet("cpu")
    assert sum(p.numel() for p in net.parameters()) == record["parameters"] <= 300_000
    assert record["command"].startswith("python -m inuprep.implicit.train ")
    assert f"--seed {record['seed']}" in record["command"]
    # trained on the photographs this environment provides (so the command reproduces the weights here)
    assert record["photos"] == [f"{p.parent.parent.name}/{p.name}" for p in data.photo_paths()]
    held_out = record["history"][-1]["held_out"]  # procedural images of another seed, known fields
    assert held_out["network"] < 0.5 * held_out["none"] and held_out["network"] < held_out["local_mean"]


def test_weights_that_differ_from_the_record_are_refused(monkeypatch):
    correct.load_getnet.cache_clear()
    monkeypatch.setattr(correct, "weights_record", lambda: {"sha256": "0" * 64})
    with pytest.raises(ValueError, match="getnet.pt does not match its recorded checksum; reinstall"):
        correct.load_getnet("cpu")
    correct.load_getnet.cache_clear()


@pytest.mark.slow
def test_first_training_steps_reduce_the_loss():
    torch.set_num_threads(2)
    unseen = train.Batches(99, leaves=32, photos=8).draw(32)  # images of another seed
    torch.manual_seed(3)
    with torch.no_grad():
        before, _ = train.losses(GetNet(), unseen, anchor_weight=1.0)  # the network train() starts from
    net, history = train.train(seed=3, steps=40, batch_size=16, pools=(64, 16), log=lambda _: None)
    with torch.no_grad():
        after, _ = train.losses(net, unseen, anchor_weight=1.0)
    assert after < 0.9 * before and history[-1]["loss"] < history[0]["loss"]


def test_combine_recovers_a_field_known_up_to_a_constant_per_slice():
    axis_grid = np.linspace(-1, 1, 64)
    z, y, x = np.meshgrid(axis_grid, axis_grid, axis_grid, indexing="ij")
    truth = 0.3 * x + 0.2 * y * z - 0.2 * z**2
    mask = x**2 + 1.5 * y**2 + z**2 < 0.8
    rng = np.random.default_rng(0)
    fields = []
    for axis in range(3):
        shape = [1, 1, 1]
        shape[axis] = -1
        fields.append(np.where(mask, truth + rng.normal(0, 0.5, 64).reshape(shape), np.nan))
    combined = correct.combine(fields, mask)
    assert np.isnan(combined[~mask]).all()
    error = (combined - truth)[mask]
    assert np.abs(error - error.mean()).max() < 0.01
    # the constants matter: averaging the orientations as given leaves them in
    naive = np.nanmean(np.stack(fields)[:, mask], axis=0) - truth[mask]
    assert np.abs(naive - naive.mean()).max() > 0.3


@pytest.mark.slow
def test_corrects_a_simulated_field_on_real_anatomy():
    from inuprep.simulation.fields import simulate_bias, template_anatomy

    clean, _, _, _ = template_anatomy(2.0)
    brain = clean > 0.1 * clean.max()
    field, biased = simulate_bias(clean, 2.0, seed=12, family="bspline", mask=brain)
    corrected, estimate = correct.implicit_correct(biased, (2.0, 2.0, 2.0), brain)
    assert corrected.shape == estimate.shape == clean.shape and np.isfinite(estimate).all()
    assert np.allclose(corrected * estimate, np.clip(biased, 0, None), rtol=1e-5)
    assert relative_mae(corrected[brain], clean[brain]) < 0.8 * relative_mae(biased[brain], clean[brain])
    assert field_fit(estimate[brain], field[brain])["field_corr"] > 0.7
    # a global scale of the input changes nothing but the scale
    scaled, _ = correct.implicit_correct(3.0 * biased, (2.0, 2.0, 2.0), brain)
    assert np.allclose(scaled, 3.0 * corrected, rtol=1e-3, atol=1e-3 * corrected.max())


def test_an_image_with_nothing_inside_its_mask_is_left_as_it_is():
    data = np.zeros((8, 9, 10), dtype=np.float32)
    data[0] = 5.0
    mask = np.zeros(data.shape, bool)
    mask[4:, 4:, 4:] = True  # where the image is zero
    corrected, field = correct.implicit_correct(data, (1.0, 1.0, 1.0), mask)
    assert np.array_equal(corrected, data) and np.array_equal(field, np.ones_like(data))
