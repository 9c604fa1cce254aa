"""SSIMH (Guan et al. 2022) in 3D: the low-frequency amplitudes of the brain on a common cube are the
reference group's mean; the phase, and so the anatomy, is the image's own.

The paper works on 2D slices of registered images; here the brain's bounding box, padded to a cube, is
resampled onto ``grid``^3 voxels (images of any grid and field of view then share one spectrum), and the
change, which holds only low frequencies, is interpolated back to the image's grid and added to it.
"""

from pathlib import Path

import numpy as np
from scipy.ndimage import map_coordinates

from inuprep.harmonizers.ssimh.settings import SSIMHSettings

AMPLITUDE = "mean_amplitude.npy"


def _cube(mask: np.ndarray, grid: int) -> list[np.ndarray]:
    """Return, per axis, the image coordinates of the cube's samples: the mask's bounding box, centred,
    padded to a cube of its largest extent (voxel units)."""
    idx = np.argwhere(mask)
    low, high = idx.min(0), idx.max(0)
    extent = (high - low + 1).max()
    centre = (low + high) / 2
    offsets = (np.arange(grid) - (grid - 1) / 2) * extent / grid
    return [centre[axis] + offsets for axis in range(3)]


def _on_cube(data: np.ndarray, mask: np.ndarray, grid: int) -> tuple[np.ndarray, list]:
    """Return the brain (zero outside ``mask``) resampled (linear) onto the cube, and the cube's axes."""
    axes = _cube(mask, grid)
    points = np.stack(np.meshgrid(*axes, indexing="ij"))
    return map_coordinates(np.where(mask, data, 0).astype(np.float32), points, order=1), axes


def _low(grid: int, radius: float) -> np.ndarray:
    """Return the boolean mask of the frequencies within ``radius`` bins of DC (numpy's FFT order)."""
    bins = np.fft.fftfreq(grid) * grid
    distance = np.sqrt(sum(b**2 for b in np.meshgrid(bins, bins, bins, indexing="ij")))
    return distance <= radius


def fit(images: list, contrast: str | None, settings: SSIMHSettings, folder: Path) -> list[float]:
    """Write the references' mean amplitude spectrum (on the common cube) into ``folder``."""
    spectra = [np.abs(np.fft.fftn(_on_cube(data, mask, settings.grid)[0])) for data, mask in images]
    np.save(folder / AMPLITUDE, np.mean(spectra, axis=0).astype(np.float64))
    return []


def apply(data: np.ndarray, mask: np.ndarray, contrast: str | None, settings: SSIMHSettings, folder: Path):
    """Return ``data`` plus the smooth change that gives its brain the references' low-frequency amplitudes
    (non-negative)."""
    cube, axes = _on_cube(data, mask, settings.grid)
    spectrum = np.fft.fftn(cube)
    low = _low(settings.grid, settings.radius)
    reference = np.load(folder / AMPLITUDE)
    spectrum[low] = reference[low] * np.exp(1j * np.angle(spectrum[low]))
    change = np.fft.ifftn(spectrum).real - cube
    # back to the image's grid: each voxel's position in cube samples (linear, the edge value outside)
    positions = [
        np.interp(np.arange(n), axis, np.arange(settings.grid))
        for n, axis in zip(data.shape, axes, strict=True)
    ]
    points = np.stack(np.meshgrid(*positions, indexing="ij"))
    back = map_coordinates(change, points, order=1, mode="nearest")
    return np.clip(np.where(mask, data + back, data), 0, None).astype(np.float32)
