"""Correct a 3D image with the shipped GetNet: one forward pass per slice in each of the three orientations.

The foreground's bounding box, padded to a cube, is resampled onto the network's 64^3 grid (Gaussian-weighted
averages inside the mask: no aliasing, no background). Every slice of the cube along each axis gets a 2D
log-field, defined up to its own constant; the constants are chosen so the three orientations agree (least
squares, by alternating means), the three are averaged, smoothed and extended outside the mask (normalised
Gaussian convolution) and resampled (linear) onto the image's grid.
"""

import hashlib
import io
from functools import lru_cache
from importlib.resources import files

import numpy as np
import torch

from inuprep.methods.base import Corrected
from inuprep.methods.implicit.network import GetNet, log_field
from inuprep.methods.implicit.settings import INPUT_SIZE, WEIGHTS, ImplicitSettings, weights_record
from inuprep.runtime import torch_device


@lru_cache(maxsize=2)
def load_getnet(device: str = "cpu"):
    """Return the shipped GetNet in eval mode on ``device``; raise ValueError if the file is not the one
    the training script recorded."""
    blob = files(__package__).joinpath(WEIGHTS).read_bytes()
    if hashlib.sha256(blob).hexdigest() != weights_record()["sha256"]:
        raise ValueError(
            f"inuprep/methods/implicit/{WEIGHTS} does not match its recorded checksum; reinstall inuprep"
        )
    net = GetNet()
    net.load_state_dict(torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True))
    return net.to(device).eval()


def implicit_correct(
    data: np.ndarray, zooms, mask: np.ndarray, settings: ImplicitSettings | None = None, device="cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Return the corrected image and the multiplicative field (data = corrected * field)."""
    settings = settings or ImplicitSettings()
    data = np.clip(np.asarray(data, dtype=np.float32), 0, None)
    inside = (np.asarray(mask) > 0) & (data > 0)
    if not inside.any():  # nothing to estimate a field from: the image is left as it is
        return data, np.ones_like(data)
    zooms = np.asarray(zooms[:3], dtype=np.float64)
    coords, voxel_mm = cube_coordinates(inside, zooms, settings.margin)
    down = [
        gaussian_weights(c, 0.5 * voxel_mm / z, n) for c, n, z in zip(coords, data.shape, zooms, strict=True)
    ]
    weight = separable(inside.astype(np.float32), down)
    row_sums = [w.sum(axis=1) for w in down]  # the weights of the whole image: the fraction inside is
    cube_mask = weight > 0.5 * np.einsum("i,j,k->ijk", *row_sums)  # over half, and the cube outside it is out
    mean = separable(np.where(inside, data, 0), down) / np.maximum(weight, 1e-6)
    log_cube = np.where(cube_mask, np.log(np.maximum(mean, 1e-6)), 0.0).astype(np.float32)
    fields = slice_fields(log_cube, cube_mask, settings.min_slice_fraction, device)
    log_field = combine(fields, cube_mask)
    sigma = settings.field_smoothing_mm / voxel_mm
    smooth = [gaussian_weights(np.arange(INPUT_SIZE, dtype=np.float64), sigma, INPUT_SIZE)] * 3
    known = (~np.isnan(log_field)).astype(np.float32)
    log_field = separable(np.nan_to_num(log_field), smooth) / np.maximum(separable(known, smooth), 1e-6)
    log_field -= log_field[cube_mask].mean()
    up = [linear_weights(c, n) for c, n in zip(coords, data.shape, strict=True)]
    field = np.exp(separable(log_field, [w.T for w in up])).astype(np.float32)
    return (data / field).astype(np.float32), field


def cube_coordinates(inside: np.ndarray, zooms: np.ndarray, margin: float) -> tuple[list, float]:
    """Return, per axis, the image voxel coordinates of the cube's 64 samples, and the cube's voxel (mm):
    the foreground's bounding box, centred, padded to a cube of its largest extent plus ``margin``."""
    idx = [np.flatnonzero(inside.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)]
    lo = np.array([i[0] for i in idx], dtype=np.float64)
    hi = np.array([i[-1] for i in idx], dtype=np.float64)
    extent_mm = ((hi - lo + 1) * zooms).max() * (1 + 2 * margin)
    voxel_mm = extent_mm / INPUT_SIZE
    centre = (lo + hi) / 2
    offsets = (np.arange(INPUT_SIZE) - (INPUT_SIZE - 1) / 2) * voxel_mm
    return [centre[axis] + offsets / zooms[axis] for axis in range(3)], voxel_mm


def gaussian_weights(coords: np.ndarray, sigma: float, n: int) -> np.ndarray:
    """Return the (len(coords), n) matrix of Gaussian weights (``sigma`` in voxels of the n-grid) around each
    coordinate; rows are not normalised, so masked averages divide by the weights of the mask."""
    grid = np.arange(n, dtype=np.float64)
    return np.exp(-0.5 * ((grid[None] - coords[:, None]) / max(sigma, 0.3)) ** 2).astype(np.float32)


def linear_weights(coords: np.ndarray, n: int) -> np.ndarray:
    """Return the (len(coords), n) matrix that linearly interpolates an n-sample signal at image voxel ``i``
    from samples at ``coords`` (increasing): the (n x len) transpose maps cube values onto the image grid,
    constant beyond the ends."""
    grid = np.arange(n, dtype=np.float64)
    position = np.clip(np.interp(grid, coords, np.arange(len(coords))), 0, len(coords) - 1)
    left = np.minimum(np.floor(position).astype(int), len(coords) - 2)
    frac = position - left
    weights = np.zeros((len(coords), n), dtype=np.float32)
    weights[left, np.arange(n)] = 1 - frac
    weights[left + 1, np.arange(n)] += frac
    return weights


def separable(volume: np.ndarray, matrices: list[np.ndarray]) -> np.ndarray:
    """Return ``volume`` with ``matrices[a]`` (out x in) applied along each axis a."""
    out = np.asarray(volume, dtype=np.float32)
    for axis, matrix in enumerate(matrices):
        out = np.moveaxis(np.tensordot(matrix, out, axes=(1, axis)), 0, axis)
    return out


def slice_fields(log_cube: np.ndarray, cube_mask: np.ndarray, min_fraction: float, device: str) -> list:
    """Return, per axis, the cube of the 2D log-fields of its slices (NaN outside the mask and skipped)."""
    net = load_getnet(device)
    fields = []
    for axis in range(3):
        images = torch.from_numpy(np.moveaxis(log_cube, axis, 0).copy())[:, None]
        masks = torch.from_numpy(np.moveaxis(cube_mask, axis, 0).astype(np.float32))[:, None]
        area = masks.sum(dim=(1, 2, 3))
        used = area >= min_fraction * area.max()
        out = torch.full_like(images, float("nan"))
        with torch.inference_mode():
            predicted = log_field(net, images[used].to(device), masks[used].to(device)).cpu()
        out[used] = torch.where(masks[used] > 0, predicted, torch.nan)
        fields.append(np.moveaxis(out[:, 0].numpy(), 0, axis))
    return fields


def combine(fields: list[np.ndarray], cube_mask: np.ndarray, rounds: int = 20) -> np.ndarray:
    """Return one log-field from per-axis slice fields, each known up to a constant per slice: the
    constants that make the orientations agree (least squares: each slice's constant is, in turn, its mean
    difference from the others' average), then the average where any is known (NaN elsewhere)."""
    known = [~np.isnan(f) for f in fields]
    values = [np.nan_to_num(f) for f in fields]
    for _ in range(rounds):
        for axis in range(3):
            others = [b for b in range(3) if b != axis]
            count = sum(known[b].astype(np.float32) for b in others)
            target = sum(values[b] for b in others) / np.maximum(count, 1)
            both = known[axis] & (count > 0)
            sums = np.where(both, target - values[axis], 0).sum(axis=tuple(others))
            n = both.sum(axis=tuple(others))
            shift = np.where(n > 0, sums / np.maximum(n, 1), 0).astype(np.float32)
            shape = [1, 1, 1]
            shape[axis] = -1
            values[axis] = np.where(known[axis], values[axis] + shift.reshape(shape), 0)
    count = sum(k.astype(np.float32) for k in known)
    mean = sum(values) / np.maximum(count, 1)
    return np.where((count > 0) & cube_mask, mean, np.nan).astype(np.float32)


def correct(
    data, zooms, mask, settings: ImplicitSettings, num_threads=1, device="auto", progress=None
) -> Corrected:
    """Return :func:`implicit_correct`'s image and field, and the device for the sidecar."""
    device = torch_device(num_threads, device)
    corrected, field = implicit_correct(data, zooms, mask, settings, device=device)
    return corrected, field, {"Device": device}
