"""Acquisition protocols simulated on real anatomy: a subject's tissue maps re-rendered with signal equations
(pure numpy, scipy), for the harmonization benchmark and tests.

A rendering keeps the subject's own within-tissue texture, mixes the tissues' signals by their fractions
(partial volume), then applies the protocol's resolution and one of BlindHarmony's intensity shifts (Jeong
et al. 2023: exp, log(1 + 3x), a gamma), all on intensities scaled to the brain's 99th percentile.
"""

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

#: BrainWeb-like tissue parameters: proton density (relative), T1 and T2 (ms)
TISSUES = {"CSF": (1.0, 2569.0, 329.0), "GM": (0.86, 833.0, 83.0), "WM": (0.77, 500.0, 70.0)}


@dataclass(frozen=True)
class Protocol:
    """One acquisition: a spoiled gradient echo ("spgr") or an MPRAGE-like inversion recovery ("mprage")."""

    name: str
    sequence: str
    tr: float  # ms
    te: float  # ms
    flip: float = 8.0  # degrees (spgr)
    ti: float = 0.0  # ms (mprage)
    shift: str = "none"  # none, exp, log or gamma
    gamma: float = 1.0
    fwhm_mm: float = 0.0  # extra blur: a lower resolution

    def signal(self, pd: float, t1: float, t2: float) -> float:
        """Return the steady-state magnitude of a tissue of proton density ``pd`` and relaxation times."""
        e1, decay = np.exp(-self.tr / t1), np.exp(-self.te / t2)
        if self.sequence == "spgr":
            alpha = np.deg2rad(self.flip)
            return float(pd * np.sin(alpha) * (1 - e1) / (1 - np.cos(alpha) * e1) * decay)
        if self.sequence == "mprage":
            return float(pd * abs(1 - 2 * np.exp(-self.ti / t1) + e1) * decay)
        raise ValueError(f"unknown sequence '{self.sequence}'; use spgr or mprage")


def texture(image: np.ndarray, fractions: dict[str, np.ndarray], brain: np.ndarray) -> np.ndarray:
    """Return the subject's own within-tissue texture: ``image`` over its partial-volume tissue means (1
    outside the brain, clipped to 0.5-1.5)."""
    weights = {name: p * brain for name, p in fractions.items()}
    means = {name: float((image * w).sum() / max(w.sum(), 1e-6)) for name, w in weights.items()}
    expected = sum(fractions[name] * means[name] for name in fractions)
    ratio = np.where(brain & (expected > 0), image / np.maximum(expected, 1e-6), 1.0)
    return np.clip(ratio, 0.5, 1.5).astype(np.float32)


def render(
    fractions: dict[str, np.ndarray], brain: np.ndarray, own_texture: np.ndarray, protocol: Protocol, zooms
) -> np.ndarray:
    """Return the brain as ``protocol`` sees it, scaled to its 99th percentile (0 outside ``brain``)."""
    signal = sum(fractions[name] * protocol.signal(*TISSUES[name]) for name in fractions) * own_texture
    if protocol.fwhm_mm:
        sigma = [protocol.fwhm_mm / 2.3548 / z for z in zooms]
        signal = gaussian_filter(signal * brain, sigma) / np.maximum(
            gaussian_filter(brain * 1.0, sigma), 1e-3
        )
    signal = np.where(brain, signal, 0) / np.percentile(signal[brain], 99)
    shifted = {
        "none": lambda x: x,
        "exp": lambda x: (np.exp(x) - 1) / (np.e - 1),
        "log": lambda x: np.log1p(3 * x) / np.log(4),
        "gamma": lambda x: x**protocol.gamma,
    }[protocol.shift](np.clip(signal, 0, None))
    return np.where(brain, shifted, 0).astype(np.float32)
