"""The voxel grid of a method that works in voxels (``Harmonizer.voxel_grid``): its references' voxel size in
RAS orientation, recorded in ``model.json``; every image is put on it for the method and back.

Reorienting is exact (axes permuted and flipped to the closest RAS orientation, as nibabel's
``as_closest_canonical``). A voxel size within ``TOLERANCE`` of the grid's is kept; another is resampled in
voxel space, the volume's edges aligned (linear; a Gaussian first where the grid is coarser, against
aliasing; a mask: the resampled fraction over one half). Back on the image's own finer voxels, the method's
result is its global effect (a piecewise-linear map of the landmarks, :mod:`inuprep.harmonizers.landmarks`)
applied at full resolution plus its local effect resampled, so that harmonizing does not blur the image.
"""

from dataclasses import dataclass

import nibabel as nb
import numpy as np
from scipy import ndimage

from inuprep.harmonizers.landmarks import landmarks, standardize
from inuprep.image import ImageError

TOLERANCE = 0.01  # relative voxel-size difference kept as it is
MIN_VOXELS = 4  # per axis on the grid: fewer cannot be seen as slices with their neighbours


@dataclass(frozen=True)
class Grid:
    """A voxel size (mm, per RAS axis)."""

    zooms: tuple[float, float, float]

    def record(self) -> dict:
        """Return what ``model.json`` says of this grid."""
        return {"Orientation": "RAS", "VoxelSize": [round(float(z), 4) for z in self.zooms]}

    @classmethod
    def from_record(cls, record: dict) -> "Grid":
        return cls(tuple(float(z) for z in record["VoxelSize"]))

    @classmethod
    def of(cls, img: nb.spatialimages.SpatialImage) -> "Grid":
        """Return the grid of ``img``'s own voxels."""
        return cls(tuple(float(z) for z in _in_ras(img)[1]))


def _in_ras(img) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``img``'s orientation (nibabel's array: its axes to RAS), and its voxel size and shape per
    RAS axis."""
    orientation = nb.orientations.io_orientation(img.affine)
    zooms, shape = np.empty(3), np.empty(3)
    zooms[orientation[:, 0].astype(int)] = nb.affines.voxel_sizes(img.affine)[:3]
    shape[orientation[:, 0].astype(int)] = img.shape[:3]
    return orientation, zooms, shape


@dataclass(frozen=True)
class Placement:
    """How one image is put on a grid: its axes to RAS (nibabel's orientation array) and, per RAS axis, its
    voxel size over the grid's (1 where kept)."""

    orientation: np.ndarray
    ratio: np.ndarray

    @classmethod
    def of(cls, img: nb.spatialimages.SpatialImage, grid: Grid, name) -> "Placement":
        """Return the placement of ``img`` (named ``name`` in errors) on ``grid``; raise ImageError (one
        line) when it cannot be resampled onto it."""
        orientation, zooms, shape = _in_ras(img)
        if not np.all(np.isfinite(zooms) & (zooms > 0)):
            sizes = zooms.round(3).tolist()
            raise ImageError(f"{name}: voxel size {sizes} in its affine cannot be resampled; fix the affine")
        ratio = zooms / np.array(grid.zooms)
        ratio[np.abs(ratio - 1) <= TOLERANCE] = 1.0
        if np.any(np.round(shape * ratio) < MIN_VOXELS):
            raise ImageError(
                f"{name}: {shape.astype(int).tolist()} voxels of {zooms.round(2).tolist()} mm are under "
                f"{MIN_VOXELS} per axis on the model's {list(grid.zooms)} mm grid; harmonize a 3D volume"
            )
        return cls(orientation, ratio)

    @property
    def resampled(self) -> bool:
        return bool(np.any(self.ratio != 1))

    def onto(self, data: np.ndarray, mask: bool = False) -> np.ndarray:
        """Return ``data`` (the image's array or a mask) on the grid."""
        data = nb.orientations.apply_orientation(data.astype(np.float32), self.orientation)
        if not self.resampled:
            return data > 0.5 if mask else data
        sigma = 0.4247 * np.sqrt(np.clip(1 / self.ratio**2 - 1, 0, None))  # FWHM of one grid voxel
        smooth = ndimage.gaussian_filter(data, sigma) if np.any(sigma > 0) else data
        shape = np.maximum(np.round(np.array(data.shape) * self.ratio), 1)
        out = ndimage.zoom(smooth, shape / data.shape, order=1, mode="nearest", grid_mode=True)
        return out > 0.5 if mask else out

    def back(self, data: np.ndarray, shape: tuple) -> np.ndarray:
        """Return ``data`` (on the grid) on the image's own grid of ``shape`` (its array's)."""
        own = nb.orientations.apply_orientation(np.empty(shape, bool), self.orientation).shape
        if self.resampled:
            data = ndimage.zoom(data, np.array(own) / data.shape, order=1, mode="nearest", grid_mode=True)
        inverse = nb.orientations.ornt_transform(nb.orientations.axcodes2ornt("RAS"), self.orientation)
        return nb.orientations.apply_orientation(data, inverse)


def harmonize_on_grid(apply, data: np.ndarray, mask: np.ndarray, wm, placement: Placement) -> np.ndarray:
    """Return ``apply(data, mask, wm)`` (a harmonizer's, on grid arrays) computed on the grid of
    ``placement`` and put back on ``data``'s grid: where resampled, the result's global landmark map at the
    image's own resolution plus its local change (result minus that map) resampled."""
    on = placement.onto(data)
    on_mask = placement.onto(mask, mask=True)
    result = apply(on, on_mask, None if wm is None else placement.onto(wm, mask=True))
    if not placement.resampled:
        return placement.back(result, data.shape).astype(np.float32)
    own, theirs = landmarks(on[on_mask]), landmarks(result[on_mask])
    local = placement.back(result - standardize(on, own, theirs), data.shape)
    return np.clip(standardize(data, own, theirs) + local, 0, None).astype(np.float32)
