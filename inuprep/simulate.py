"""Synthetic multiplicative bias fields and noise for real anatomy (pure numpy)."""

import numpy as np


def polynomial_field(
    shape: tuple[int, int, int], max_ratio: float = 1.6, degree: int = 3, seed: int = 0
) -> np.ndarray:
    """Return a smooth positive field: exp of a random polynomial, max/min over the volume = ``max_ratio``.

    Coordinates are scaled to [-1, 1] along each axis; the field has geometric mean 1.
    """
    rng = np.random.default_rng(seed)
    axes = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape], indexing="ij")
    log_field = np.zeros(shape, dtype=np.float32)
    for i in range(degree + 1):
        for j in range(degree + 1 - i):
            for k in range(degree + 1 - i - j):
                if i + j + k:
                    log_field += rng.normal() / (i + j + k) * axes[0] ** i * axes[1] ** j * axes[2] ** k
    log_field -= log_field.mean()
    span = float(np.ptp(log_field))
    return np.exp(log_field * (np.log(max_ratio) / span)).astype(np.float32)


def add_rician_noise(data: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Return the magnitude of ``data`` plus complex Gaussian noise of standard deviation ``sigma``."""
    rng = np.random.default_rng(seed)
    real = data + rng.normal(0.0, sigma, data.shape)
    imag = rng.normal(0.0, sigma, data.shape)
    return np.sqrt(real**2 + imag**2).astype(np.float32)


def simulate_bias(clean: np.ndarray, max_ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return a known polynomial field and ``clean`` times it plus Rician noise (sigma 1 % of the maximum)."""
    field = polynomial_field(clean.shape, max_ratio=max_ratio, seed=seed)
    return field, add_rician_noise(clean * field, sigma=0.01 * float(clean.max()), seed=seed)


def template_anatomy(zoom: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return nilearn's MNI152 2009a T1 at ``zoom`` mm, its WM (p > 0.9) and GM (p > 0.8) masks, its affine.

    Real anatomy that a dependency ships, for tests and benchmarks with known fields.
    """
    from nilearn.datasets import load_mni152_gm_template, load_mni152_template, load_mni152_wm_template
    from nilearn.image import resample_img

    def resampled(img):
        if zoom == 1.0:
            return img
        return resample_img(img, target_affine=np.diag([zoom] * 3), interpolation="continuous",
                            force_resample=True, copy_header=True)  # fmt: skip

    t1 = resampled(load_mni152_template(resolution=1))
    wm = resampled(load_mni152_wm_template(resolution=1)).get_fdata() > 0.9
    gm = resampled(load_mni152_gm_template(resolution=1)).get_fdata() > 0.8
    return t1.get_fdata(dtype=np.float32), wm, gm, t1.affine
