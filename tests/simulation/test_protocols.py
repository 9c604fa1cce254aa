"""Simulated protocols: signal equations give the known contrasts; a rendering keeps the brain's texture."""

import numpy as np
import pytest

from inuprep.simulation.protocols import TISSUES, Protocol, render, texture


def test_signal_equations_give_the_textbook_contrasts():
    mprage = Protocol("mprage", "mprage", tr=2300, te=3, ti=900)
    csf, gm, wm = (mprage.signal(*TISSUES[name]) for name in ("CSF", "GM", "WM"))
    assert csf < 0.05 * wm and gm < wm  # CSF near its null, T1-weighted
    pd_weighted = Protocol("pd", "spgr", tr=500, te=10, flip=10)
    csf, gm, wm = (pd_weighted.signal(*TISSUES[name]) for name in ("CSF", "GM", "WM"))
    assert csf > gm > wm  # long TR, small flip: proton density wins
    with pytest.raises(ValueError, match="unknown sequence"):
        Protocol("x", "epi", tr=1, te=1).signal(1, 1, 1)


def test_a_rendering_keeps_the_texture_and_applies_the_shift():
    rng = np.random.default_rng(0)
    brain = np.zeros((20, 20, 20), bool)
    brain[4:16, 4:16, 4:16] = True
    wm = np.zeros(brain.shape, np.float32)
    wm[4:16, 4:16, 10:16] = 1
    fractions = {"CSF": np.zeros_like(wm), "GM": (brain & (wm == 0)).astype(np.float32), "WM": wm}
    image = np.where(brain, 100 + 60 * wm, 0) * (1 + 0.05 * rng.standard_normal(brain.shape))
    own = texture(image, fractions, brain)
    assert np.corrcoef(own[brain], image[brain] / np.where(wm, 160, 100)[brain])[0, 1] > 0.999
    assert own[brain & (wm > 0)].mean() == pytest.approx(1, abs=1e-3) and not (own[~brain] - 1).any()
    plain = render(fractions, brain, own, Protocol("t", "mprage", tr=2300, te=3, ti=900), (1, 1, 1))
    assert np.percentile(plain[brain], 99) == pytest.approx(1.0) and not plain[~brain].any()
    gamma = render(fractions, brain, own, Protocol("g", "mprage", tr=2300, te=3, ti=900, shift="gamma",
                                                   gamma=0.7), (1, 1, 1))  # fmt: skip
    assert np.allclose(gamma[brain], np.clip(plain[brain], 0, None) ** 0.7, atol=1e-5)


def test_each_subject_has_its_own_tissue_parameters():
    from inuprep.simulation.protocols import subject_tissues

    one, again, other = subject_tissues(1), subject_tissues(1), subject_tissues(2)
    assert one == again and one != other
    for name, (pd, t1, t2) in one.items():
        base = TISSUES[name]
        assert 0.9 * base[0] * 0.95 <= pd <= 1.1 * base[0] and 0.9 * base[2] <= t2 <= 1.1 * base[2]
        assert 0.9 * base[1] <= t1 <= 1.1 * base[1] * (1.15 if name == "WM" else 1)
    spreads = np.std([subject_tissues(seed)["WM"][1] for seed in range(50)]) / TISSUES["WM"][1]
    assert 0.04 < spreads < 0.12  # subjects differ, within a plausible range


def test_acquisitions_ring_smear_and_change_the_noise_floor():
    from inuprep.simulation.fields import add_rician_noise
    from inuprep.simulation.protocols import thick_slices, truncate_kspace

    step = np.zeros((32, 32, 8), np.float32)
    step[8:24, 8:24] = 1.0
    ringing = truncate_kspace(step, 0.4)
    assert ringing.max() > 1.05 and np.allclose(truncate_kspace(step, 1.0), step, atol=1e-5)  # Gibbs
    thin = np.zeros((4, 4, 24), np.float32)
    thin[..., 12] = 1.0
    smeared = thick_slices(thin, 4)
    assert smeared[0, 0, 12] < 0.5 and (smeared[0, 0] > 0).sum() > 3 and smeared.shape == thin.shape
    assert np.allclose(thick_slices(np.ones((4, 4, 24), np.float32), 4), 1)
    air = np.zeros((64, 64, 64), np.float32)
    rician, chi = add_rician_noise(air, 1.0, 0), add_rician_noise(air, 1.0, 0, coils=8)
    assert rician.mean() == pytest.approx(np.sqrt(np.pi / 2), rel=0.02)  # Rayleigh in the air
    assert chi.mean() > 3 * rician.mean()  # a multi-coil magnitude has a higher floor


def test_a_short_inversion_time_is_not_a_monotone_map_of_the_target():
    """At TI 600 ms CSF's magnetization is still negative and GM's positive: a voxel of both is darker than
    either (a null at their border), which no mapping of the target's intensities gives."""
    short = Protocol("ti600", "mprage", tr=2000, te=3, ti=600)
    csf, gm, wm = (short.signal(*TISSUES[name]) for name in ("CSF", "GM", "WM"))
    assert csf < 0 < gm < wm
    share = np.linspace(0, 1, 11)[:, None, None] * np.ones((11, 2, 2))  # CSF from 0 to 1, the rest GM
    fractions = {"CSF": share, "GM": 1 - share, "WM": np.zeros_like(share)}
    image = render(fractions, np.ones(share.shape, bool), np.ones(share.shape), short, (1, 1, 1))[:, 0, 0]
    assert image[4] < 0.2 * min(image[0], image[-1])  # 40 % CSF: darker than pure GM and pure CSF
