"""Which correction to trust for this image, without the truth: what each method leaves behind.

Every method has corrected the image already; the check reads the image, each method's field and the tissue
masks shared by every method, on a grid of about :data:`GRID_MM`, and measures per method (``signals``):

``leftover``
    the field a method left in: the standard deviation, over blocks of about :data:`BLOCK_MM`, of the median
    log of its corrected image inside the white matter (eroded by one voxel: a pure class). White matter is
    nearly uniform; what still varies from block to block is mostly field. This is the signal that sees the
    image's own field: the same field estimate leaves a different spread in images with different fields.
``amplitude``
    the standard deviation of the method's log-field in the brain (weighted by intensity): a shrunk field
    leaves part of the bias in.
``agreement``
    the distance of its log-field to the mean of the other methods' (weighted; with two methods both get
    the same).
``roughness``
    what of its log-field a cubic polynomial does not explain: local bumps, where a field follows anatomy.

The estimated error of a method is ``sum(weight x (signal - the methods' mean of that signal))``: how much
its relative error differs from the methods' mean (-0.05: 5 % below it). The weights
(:data:`WEIGHTS`) were fitted by least squares on simulated tuning cases with known fields
(``benchmarks/recommendation.py --fit``), and what the recommendation is worth is measured there on held-out
anatomy and seeds. The check costs a few seconds on a grid of about 2 mm.
"""

import time
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: the signals (see the module's docstring), in the order of the weights
SIGNALS = ("leftover", "amplitude", "agreement", "roughness")
#: weight of each signal in the estimated relative error (benchmarks/recommendation.py --fit)
WEIGHTS = {"leftover": 15.456, "amplitude": 0.0, "agreement": 0.0, "roughness": 0.0}
#: the check's grid (mm): every k-th voxel along each axis
GRID_MM = 2.0
#: degree of the polynomial of position that models a smooth field
DEGREE = 3
#: the leftover's blocks (mm), and the fewest pure voxels a block needs to count
BLOCK_MM, BLOCK_VOXELS = 16.0, 30
#: the tissue whose blocks measure the leftover (eroded: a pure class), where the label table has it
PURE_TISSUES = ("WM", "water")


#: what each signal measures, as the methods text says it (its block size and tissues from the constants)
SIGNAL_TEXT = {
    "leftover": (
        f"the spread, over blocks of about {BLOCK_MM:g} mm, of the median log of the corrected image inside "
        f"the {' or '.join(PURE_TISSUES)} class eroded by one voxel (the field the method left in)"
    ),
    "amplitude": "the spread of the removed log-field",
    "agreement": "the distance of the removed log-field to the other methods'",
    "roughness": (
        f"what a polynomial of degree {DEGREE} of position does not explain of the removed log-field"
    ),
}


def methods_text(weights: dict[str, float] | None = None) -> str:
    """Return the self-check's methods sentence, written from the grid, the blocks and the signals that
    carry a weight (``weights``, default :data:`WEIGHTS`): what runs is what the text says."""
    weights = WEIGHTS if weights is None else weights
    used = [signal for signal in SIGNALS if weights.get(signal)]
    measured = "; ".join(SIGNAL_TEXT[signal] for signal in used)
    if len(used) == 1:
        estimate = (
            f"this measure against the methods' mean, scaled by {weights[used[0]]:g} (a weight fitted by "
            "least squares on simulations with known fields), estimated each method's relative error"
        )
    else:
        estimate = (
            "a weighted sum of these against the methods' means, with weights fitted by least squares on "
            "simulations with known fields, estimated each method's relative error"
        )
    return (
        "A self-check recommended one correction per image without knowing its field, from what each method "
        f"left in the image: on a grid of about {GRID_MM:g} mm, it measured {measured}; {estimate}, and the "
        "lowest was recommended."
    )


@dataclass
class SelfCheckResult:
    """Per method, each signal and the estimated relative error; the method recommended and why."""

    signals: dict[str, dict[str, float]]
    weights: dict[str, float]
    grid_mm: tuple[float, ...] = ()
    seconds: float = 0.0

    @property
    def estimates(self) -> dict[str, float]:
        """Return each method's estimated relative error against the methods' mean (lower is better)."""
        means = {s: np.mean([v[s] for v in self.signals.values()]) for s in self.weights}
        return {
            method: float(sum(w * (values[s] - means[s]) for s, w in self.weights.items()))
            for method, values in self.signals.items()
        }

    @property
    def recommended(self) -> str:
        """The method with the lowest estimated error."""
        estimates = self.estimates
        return min(estimates, key=estimates.get)

    @property
    def deciding(self) -> str:
        """Return the signal that gave the recommended method most of its lead over the runner-up."""
        estimates = self.estimates
        ranked = sorted(estimates, key=estimates.get)
        if len(ranked) < 2:
            return ""
        best, second = (self.signals[m] for m in ranked[:2])
        return min(self.weights, key=lambda s: self.weights[s] * (best[s] - second[s]))

    def to_dict(self) -> dict:
        """Return the check as JSON-ready metadata (the sidecar's and the report's)."""
        rounded = {m: {s: round(v, 5) for s, v in values.items()} for m, values in self.signals.items()}
        return {"Recommended": self.recommended, "EstimatedErrors": self.estimates,
                "DecidingSignal": self.deciding, "Signals": rounded, "Weights": self.weights,
                "GridMM": list(self.grid_mm), "Seconds": round(self.seconds, 2)}  # fmt: skip


def subsampled(zooms, grid_mm: float = GRID_MM) -> tuple[tuple[slice, ...], tuple[float, ...]]:
    """Return the slices that keep every k-th voxel (a grid of about ``grid_mm``) and the voxel size there."""
    factors = tuple(max(1, round(grid_mm / float(z))) for z in zooms[:3])
    step = tuple(slice(None, None, f) for f in factors)
    return step, tuple(float(z) * f for z, f in zip(zooms[:3], factors, strict=True))


def polynomial(where: tuple[np.ndarray, ...], shape: tuple[int, ...], degree: int = DEGREE) -> np.ndarray:
    """Return the monomials of degree 1 to ``degree`` of the voxel coordinates ``where`` (each scaled to
    [-1, 1] over ``shape``), one column each."""
    axes = [np.asarray(c, np.float64) / max(n - 1, 1) * 2 - 1 for c, n in zip(where, shape, strict=True)]
    return np.stack([axes[0] ** i * axes[1] ** j * axes[2] ** k
                     for i in range(degree + 1) for j in range(degree + 1 - i)
                     for k in range(degree + 1 - i - j) if i + j + k], axis=1)  # fmt: skip


def _weighted_std(values: np.ndarray, weights: np.ndarray) -> float:
    mean = np.average(values, weights=weights)
    return float(np.sqrt(np.average((values - mean) ** 2, weights=weights)))


def block_spread(values: np.ndarray, where: tuple[np.ndarray, ...], block: int) -> float:
    """Return the standard deviation of the median of ``values`` (at voxels ``where``) over cubic blocks of
    ``block`` voxels that hold :data:`BLOCK_VOXELS` of them at least (0 with fewer than two such blocks)."""
    if not len(values):
        return 0.0
    keys = np.ravel_multi_index(
        tuple(np.asarray(c) // block for c in where), [int(c.max()) // block + 1 for c in where]
    )
    _, index, counts = np.unique(keys, return_inverse=True, return_counts=True)
    full = np.nonzero(counts >= BLOCK_VOXELS)[0]
    if len(full) < 2:
        return 0.0
    return float(np.std(ndimage.median(values, index, full)))


def signals(
    original: np.ndarray,
    fields: dict[str, np.ndarray],
    tissues: list[np.ndarray],
    pure: int | None = None,
    block: int = 8,
) -> dict:
    """Return {method: {signal: value}} (:data:`SIGNALS`) of each method's multiplicative field on
    ``original``, inside the union of the ``tissues`` masks; the leftover is measured in ``tissues[pure]``
    (WM; the largest tissue if None) eroded by one voxel, over blocks of ``block`` voxels."""
    original = np.asarray(original, np.float64)
    tissues = [np.asarray(t, bool) for t in tissues]
    valid = original > 0
    for field in fields.values():
        valid &= np.asarray(field) > 0
    if pure is None:
        pure = int(np.argmax([t.sum() for t in tissues]))
    inside = np.nonzero(ndimage.binary_erosion(tissues[pure]) & valid)
    brain = np.nonzero(np.any(tissues, axis=0) & valid)
    brain_design = np.column_stack([np.ones(len(brain[0])), polynomial(brain, original.shape)])
    weights = original[brain]
    root = np.sqrt(weights)[:, None]
    logs = {name: np.log(np.asarray(field, np.float64)[brain]) for name, field in fields.items()}
    out = {}
    for name, field in fields.items():
        corrected = np.log(original[inside] / np.asarray(field, np.float64)[inside])
        log_field = logs[name]
        trend, *_ = np.linalg.lstsq(brain_design * root, log_field * root[:, 0], rcond=None)
        others = [logs[other] for other in fields if other != name]
        out[name] = {
            "leftover": block_spread(corrected, inside, block),
            "amplitude": _weighted_std(log_field, weights),
            "agreement": _weighted_std(log_field - np.mean(others, axis=0), weights) if others else 0.0,
            "roughness": _weighted_std(log_field - brain_design @ trend, weights),
        }
    return out


def label_masks(dseg: np.ndarray, tissues: dict[int, str]) -> tuple[list[np.ndarray], int | None]:
    """Return one mask per evaluated tissue of a label image ({label: tissue}, labels of a tissue pooled)
    and the index of the pure one (:data:`PURE_TISSUES`), if any."""
    from inuprep.segmentation.labels import labels_by_tissue

    pooled = labels_by_tissue(tissues)
    names = list(pooled)
    pure = next((names.index(t) for t in PURE_TISSUES if t in names), None)
    return [np.isin(dseg, pooled[name]) for name in names], pure


def self_check(
    original: np.ndarray,
    zooms,
    fields: dict[str, np.ndarray],
    tissues: list[np.ndarray],
    pure: int | None = None,
    weights: dict[str, float] | None = None,
) -> SelfCheckResult:
    """Return the check of ``fields`` ({method: multiplicative field of ``original``}) on the ``tissues``
    masks (``pure``: the index of WM, eroded for the leftover fit) and the method to trust."""
    start = time.perf_counter()
    step, grid = subsampled(zooms)
    values = signals(
        np.asarray(original)[step],
        {name: np.asarray(field)[step] for name, field in fields.items()},
        [np.asarray(t, bool)[step] for t in tissues],
        pure,
        max(2, round(BLOCK_MM / min(grid))),
    )
    return SelfCheckResult(values, dict(weights or WEIGHTS), grid, time.perf_counter() - start)
