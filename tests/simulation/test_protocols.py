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
