"""Which correction to trust for this image, without the truth: each method is given known fields.

The image (already biased by a field nobody knows) is brought onto a coarse grid and multiplied by a few
known probe fields of different families. Each method corrects the image as it is and every probed copy;
a method that recovers a probe divides it out again, so its correction of the probed copy equals its
correction of the image as it is. The relative error between the two (after one global scale, inside the
foreground) and the slope of the recovered log-field on the probe's measure how well the method recovers
fields *on this anatomy*; the method with the lowest mean error is recommended.

The probes' families and strengths and the grid are chosen once (:data:`PROBES`, :data:`GRID_MM`); what the
recommendation is worth against the truth is measured in ``benchmarks/recommendation.py``;
``inuprep-recommend`` and the App's ``--self-check`` run it in a process of their own
(:mod:`inuprep.evaluation.run`).
"""

import time
from dataclasses import dataclass

import numpy as np

from inuprep.evaluation.metrics import field_fit, relative_mae
from inuprep.simulation.fields import random_field

#: (family, max/min inside the foreground, seed) of each probe field
PROBES = (("linear", 2.0, 1001), ("polynomial", 2.0, 1002), ("bspline", 2.0, 1003), ("coil", 2.0, 1004))
#: the probes' grid (mm): coarse, so that checking costs less; N4's own fitting grid (benchmarks/README.md)
GRID_MM = 4.0


@dataclass
class SelfCheckResult:
    """Per method, the relative error and log-field slope on each probe; the method recommended."""

    probes: list[str]
    errors: dict[str, list[float]]
    slopes: dict[str, list[float]]
    grid_mm: tuple[float, ...] = ()  # the voxel size the probes were run at
    seconds: float = 0.0

    def mean_errors(self) -> dict[str, float]:
        return {name: float(np.mean(values)) for name, values in self.errors.items()}

    @property
    def recommended(self) -> str:
        """The method with the lowest mean error over the probes."""
        errors = self.mean_errors()
        return min(errors, key=errors.get)

    def to_dict(self) -> dict:
        """Return the check as JSON-ready metadata (the sidecar's and the report's)."""
        return {"Recommended": self.recommended, "MeanErrors": self.mean_errors(), "Probes": self.probes,
                "Errors": self.errors, "Slopes": self.slopes, "GridMM": list(self.grid_mm),
                "Seconds": round(self.seconds, 2)}  # fmt: skip


def coarse(data, zooms, mask, grid_mm: float = GRID_MM):
    """Return every k-th voxel of the image and its mask along each axis and their voxel size: a grid of
    about ``grid_mm``, and at least every second voxel (an image already coarse is checked at 8x fewer
    voxels, so the check's five corrections per method cost less than its own). Subsampled, as N4 shrinks,
    not averaged: averaging mixes tissues and blurs the histogram's peaks that N4 and the zero-shot network
    sharpen."""
    factors = tuple(max(2, round(grid_mm / float(z))) for z in zooms[:3])
    step = tuple(slice(f // 2, None, f) for f in factors)
    small, small_mask = np.asarray(data, np.float32)[step], np.asarray(mask, bool)[step]
    return small, tuple(float(z) * f for z, f in zip(zooms[:3], factors, strict=True)), small_mask


def self_check(
    data, zooms, mask, correctors: dict, probes=PROBES, grid_mm: float = GRID_MM
) -> SelfCheckResult:
    """Return how well each of ``correctors`` ({name: f(data, zooms, mask) -> (corrected, field)}) recovers
    the ``probes`` on this image, and the method to trust."""
    start = time.perf_counter()
    small, small_zooms, small_mask = coarse(data, zooms, mask, grid_mm)
    inside = small_mask & (small > 0)
    own = {name: corrector(small, small_zooms, small_mask) for name, corrector in correctors.items()}
    fields = [random_field(family, small.shape, strength, seed, inside) for family, strength, seed in probes]
    errors, slopes = {}, {}
    for name, corrector in correctors.items():
        own_image, own_field = own[name]
        errors[name], slopes[name] = [], []
        for probe in fields:
            corrected, estimate = corrector(small * probe, small_zooms, small_mask)
            keep = inside & (corrected > 0) & (own_image > 0) & (estimate > 0) & (own_field > 0)
            errors[name].append(relative_mae(corrected[keep], own_image[keep]))
            slopes[name].append(field_fit(estimate[keep] / own_field[keep], probe[keep])["field_slope"])
    names = [f"{family} x{strength:g}" for family, strength, _ in probes]
    return SelfCheckResult(names, errors, slopes, small_zooms, time.perf_counter() - start)
