"""Acquisition protocols simulated on real anatomy: a subject's tissue maps re-rendered with signal equations
(pure numpy, scipy), for the harmonization benchmark and tests.

A rendering keeps the subject's own within-tissue texture, mixes the tissues' signals by their fractions
(partial volume) with the subject's own tissue parameters (:func:`subject_tissues`), then applies the
protocol's acquisition (a blur, truncated k-space: Gibbs ringing, thick slices resampled back) and one of
BlindHarmony's intensity shifts (Jeong et al. 2023: exp, log(1 + 3x), a gamma), all on intensities scaled to
the brain's 99th percentile.
"""

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, zoom

#: BrainWeb-like tissue parameters: proton density (relative), T1 and T2 (ms)
TISSUES = {"CSF": (1.0, 2569.0, 329.0), "GM": (0.86, 833.0, 83.0), "WM": (0.77, 500.0, 70.0)}
#: deep grey matter (basal ganglia, thalamus): T1 between cortex and WM, so it moves unlike cortex across
#: protocols (literature ratios: its T1 about 0.8x cortex's); a subject's own, as the others
TISSUES["deepGM"] = (0.82, 650.0, 75.0)


def subject_tissues(seed: int, spread: float = 0.1) -> dict[str, tuple[float, float, float]]:
    """Return one subject's tissue parameters: each PD, T1 and T2 of :data:`TISSUES` times its own factor
    within +-``spread``, and an age-like change (an age drawn in [0, 1] lengthens WM T1 by up to 15 % and
    lowers GM PD by up to 5 %: less GM/WM contrast, as in older brains)."""
    rng = np.random.default_rng(seed)
    age = rng.uniform()
    tissues = {}
    for name, values in TISSUES.items():
        pd, t1, t2 = (value * rng.uniform(1 - spread, 1 + spread) for value in values)
        t1 *= 1 + 0.15 * age * (name == "WM")
        pd *= 1 - 0.05 * age * (name == "GM")
        tissues[name] = (pd, t1, t2)
    return tissues


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
    kspace: float = 1.0  # the central share of k-space acquired along the first two axes (< 1: Gibbs ringing)
    slice_mm: float = 0.0  # thick slices along the third axis, resampled back to the grid (anisotropic)
    voxel_mm: float = 0.0  # acquired in cubic voxels this large (their partial volume), resampled back
    coils: int = 1  # receive coils combined by root sum of squares: the noise model (1: Rician)

    def signal(self, pd: float, t1: float, t2: float) -> float:
        """Return the steady-state signal of a tissue of proton density ``pd`` and relaxation times, signed
        (an inversion recovery's longitudinal magnetization may still be negative at TI): partial volumes
        mix signals, and the image is the magnitude of the mixture."""
        e1, decay = np.exp(-self.tr / t1), np.exp(-self.te / t2)
        if self.sequence == "spgr":
            alpha = np.deg2rad(self.flip)
            return float(pd * np.sin(alpha) * (1 - e1) / (1 - np.cos(alpha) * e1) * decay)
        if self.sequence == "mprage":
            return float(pd * (1 - 2 * np.exp(-self.ti / t1) + e1) * decay)
        raise ValueError(f"unknown sequence '{self.sequence}'; use spgr or mprage")


def texture(image: np.ndarray, fractions: dict[str, np.ndarray], brain: np.ndarray) -> np.ndarray:
    """Return the subject's own within-tissue texture: ``image`` over its partial-volume tissue means (1
    outside the brain, clipped to 0.5-1.5)."""
    weights = {name: p * brain for name, p in fractions.items()}
    means = {name: float((image * w).sum() / max(w.sum(), 1e-6)) for name, w in weights.items()}
    expected = sum(fractions[name] * means[name] for name in fractions)
    ratio = np.where(brain & (expected > 0), image / np.maximum(expected, 1e-6), 1.0)
    return np.clip(ratio, 0.5, 1.5).astype(np.float32)


def truncate_kspace(image: np.ndarray, share: float) -> np.ndarray:
    """Return the magnitude of ``image`` with only the central ``share`` of k-space kept along its first two
    axes: the ringing at edges of an acquisition with fewer phase encodings."""
    spectrum = np.fft.fftshift(np.fft.fftn(image, axes=(0, 1)), axes=(0, 1))
    keep = np.zeros(image.shape[:2], bool)
    half = [max(1, round(n * share / 2)) for n in image.shape[:2]]
    keep[tuple(slice(n // 2 - h, n // 2 + h) for n, h in zip(image.shape[:2], half, strict=True))] = True
    spectrum *= keep[..., None]
    return np.abs(np.fft.ifftn(np.fft.ifftshift(spectrum, axes=(0, 1)), axes=(0, 1))).astype(np.float32)


def thick_slices(image: np.ndarray, factor: int, axes: tuple[int, ...] = (2,)) -> np.ndarray:
    """Return ``image`` acquired in voxels ``factor`` times as long along ``axes`` (their means; by default
    thick slices along the third axis), then interpolated linearly back onto its grid."""
    for axis in axes:
        moved = np.moveaxis(image, axis, -1)
        depth = moved.shape[-1] // factor * factor
        slabs = moved[..., :depth].reshape(*moved.shape[:-1], -1, factor).mean(axis=-1)
        back = zoom(slabs, (*[1] * (moved.ndim - 1), moved.shape[-1] / slabs.shape[-1]), order=1)
        image = np.moveaxis(back[..., : moved.shape[-1]], -1, axis)
    return image.astype(np.float32)


def render(
    fractions: dict[str, np.ndarray],
    brain: np.ndarray,
    own_texture: np.ndarray,
    protocol: Protocol,
    zooms,
    tissues: dict[str, tuple[float, float, float]] = TISSUES,
) -> np.ndarray:
    """Return the brain as ``protocol`` sees it, scaled to its 99th percentile (0 outside ``brain``), with
    the subject's ``tissues`` parameters."""
    mixed = sum(fractions[name] * protocol.signal(*tissues[name]) for name in fractions)
    signal = np.abs(mixed) * own_texture
    if protocol.kspace < 1:
        signal = truncate_kspace(signal * brain, protocol.kspace)
    if protocol.slice_mm:
        signal = thick_slices(signal * brain, max(1, round(protocol.slice_mm / float(zooms[2]))))
    if protocol.voxel_mm:
        signal = thick_slices(signal * brain, max(1, round(protocol.voxel_mm / float(zooms[0]))), (0, 1, 2))
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
