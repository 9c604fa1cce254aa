"""Synthetic multiplicative bias fields and noise for real anatomy (pure numpy)."""

import numpy as np

FAMILIES = ("polynomial", "bspline", "coil", "linear")


def _normalised(log_field: np.ndarray, max_ratio: float, mask: np.ndarray | None) -> np.ndarray:
    """Return exp(log_field) rescaled so that max/min inside ``mask`` (default: everywhere) = ``max_ratio``.

    The field has geometric mean 1 inside the mask.
    """
    inside = log_field[mask] if mask is not None else log_field
    log_field = (log_field - inside.mean()) * (np.log(max_ratio) / max(float(np.ptp(inside)), 1e-12))
    return np.exp(log_field).astype(np.float32)


def _axes(shape: tuple[int, int, int]) -> list[np.ndarray]:
    """Return voxel coordinates scaled to [-1, 1] along each axis."""
    return np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape], indexing="ij")


def polynomial_field(
    shape: tuple[int, int, int], max_ratio: float = 1.6, degree: int = 3, seed: int = 0, mask=None
) -> np.ndarray:
    """Return exp of a random polynomial of ``degree`` in the scaled coordinates (smooth, global)."""
    rng = np.random.default_rng(seed)
    axes = _axes(shape)
    log_field = np.zeros(shape, dtype=np.float32)
    for i in range(degree + 1):
        for j in range(degree + 1 - i):
            for k in range(degree + 1 - i - j):
                if i + j + k:
                    log_field += rng.normal() / (i + j + k) * axes[0] ** i * axes[1] ** j * axes[2] ** k
    return _normalised(log_field, max_ratio, mask)


def bspline_field(
    shape: tuple[int, int, int], max_ratio: float = 1.6, control_points: int = 4, seed: int = 0, mask=None
) -> np.ndarray:
    """Return exp of a cubic B-spline through random values on a ``control_points``^3 grid (local bumps)."""
    from scipy.ndimage import zoom

    coarse = np.random.default_rng(seed).normal(size=(control_points,) * 3)
    log_field = zoom(coarse, np.divide(shape, control_points), order=3, mode="nearest", grid_mode=True)
    return _normalised(log_field, max_ratio, mask)


def coil_field(
    shape: tuple[int, int, int], max_ratio: float = 1.6, coils: int = 8, seed: int = 0, mask=None
) -> np.ndarray:
    """Return the root-sum-of-squares sensitivity of ``coils`` receive loops around the object.

    Loops of radius 0.5 sit at random points of the sphere of radius 1.3 (coordinates scaled to [-1, 1]);
    each loop's sensitivity falls as (a^2 / (d^2 + a^2))^(3/2) with the distance d from its centre (the
    on-axis field of a current loop). The phased-array profile is bright near the surface, dim in the centre.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(coils, 3))
    centres *= 1.3 / np.linalg.norm(centres, axis=1, keepdims=True)
    axes = _axes(shape)
    total = np.zeros(shape, dtype=np.float32)
    for centre in centres:
        d2 = sum((axis - c) ** 2 for axis, c in zip(axes, centre, strict=True))
        total += (0.25 / (d2 + 0.25)) ** 3
    return _normalised(0.5 * np.log(total), max_ratio, mask)


def linear_field(shape: tuple[int, int, int], max_ratio: float = 1.6, seed: int = 0, mask=None) -> np.ndarray:
    """Return exp of a plane ramp along a random direction: a plain gradient across the head (the shape of a
    transmit or receive field's first-order term, and of N4's easiest case)."""
    direction = np.random.default_rng(seed).normal(size=3)
    log_field = sum(weight * axis for weight, axis in zip(direction, _axes(shape), strict=True))
    return _normalised(log_field, max_ratio, mask)


def random_field(family: str, shape: tuple[int, int, int], max_ratio: float, seed: int, mask=None):
    """Return a field of one of ``FAMILIES`` with max/min ``max_ratio`` inside ``mask``."""
    makers = {"polynomial": polynomial_field, "bspline": bspline_field, "coil": coil_field,
              "linear": linear_field}  # fmt: skip
    if family not in makers:
        raise ValueError(f"unknown field family '{family}'; use one of {', '.join(FAMILIES)}")
    return makers[family](shape, max_ratio=max_ratio, seed=seed, mask=mask)


def add_rician_noise(data: np.ndarray, sigma: float, seed: int = 0, coils: int = 1) -> np.ndarray:
    """Return the magnitude of ``data`` plus complex Gaussian noise of standard deviation ``sigma`` (Rician);
    with ``coils`` > 1, the root sum of squares of that many coils' magnitudes, each receiving
    ``data / sqrt(coils)`` and its own noise (non-central chi, as a multi-coil magnitude image)."""
    rng = np.random.default_rng(seed)
    if coils == 1:
        real = data + rng.normal(0.0, sigma, data.shape)
        imag = rng.normal(0.0, sigma, data.shape)
        return np.sqrt(real**2 + imag**2).astype(np.float32)
    share = data / np.sqrt(coils)
    power = sum((share + rng.normal(0.0, sigma, data.shape)) ** 2 + rng.normal(0.0, sigma, data.shape) ** 2
                for _ in range(coils))  # fmt: skip
    return np.sqrt(power).astype(np.float32)


def simulate_bias(
    clean: np.ndarray, max_ratio: float, seed: int, family: str = "polynomial", mask=None
) -> tuple[np.ndarray, np.ndarray]:
    """Return a known field and ``clean`` times it plus Rician noise (sigma 1 % of the maximum)."""
    field = random_field(family, clean.shape, max_ratio, seed, mask)
    return field, add_rician_noise(clean * field, sigma=0.01 * float(clean.max()), seed=seed)


def template_anatomy(zoom: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return nilearn's MNI152 2009a T1 at ``zoom`` mm, its WM (p > 0.9) and GM (p > 0.8) masks, its affine.

    Real anatomy that a dependency ships, for tests and benchmarks with known fields.
    """
    from inuprep.utils.mni152 import mni152

    t1, wm, gm = mni152(zoom, ("T1", "WM", "GM"))
    wm, gm = wm.get_fdata() > 0.9, gm.get_fdata() > 0.8
    return t1.get_fdata(dtype=np.float32), wm, gm, t1.affine
