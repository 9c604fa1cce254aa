"""N4's settings (torch-free): every parameter explicit, recorded in sidecars and the methods text.

The defaults were chosen on real anatomy with known fields (``benchmarks/n4_settings.py``; the figures and
why in ``benchmarks/README.md``): control points every 200 mm, three levels of 50 iterations, the fit
restricted to the object's foreground and shrunk to a grid of about 4 mm.
"""

from dataclasses import asdict, dataclass, replace

import numpy as np

from inuprep.options import setting


@dataclass(frozen=True)
class N4Settings:
    """Parameters of ANTs' N4BiasFieldCorrection (Tustison et al. 2010)."""

    shrink_factor: int = setting(0, "downsampling for the fit (0: to a grid of about 4 mm, 2 to 4)")
    iterations: tuple[int, ...] = setting((50, 50, 50), "iterations per fitting level (one value a level)")
    convergence_threshold: float = setting(1e-7, "a level stops below this change")
    # None: antspyx's default, one B-spline span per axis
    spline_distance_mm: float | None = setting(200.0, "B-spline control point spacing (mm)")
    use_mask: bool = True

    def resolved(self, zooms: tuple[float, ...]) -> "N4Settings":
        """Return these settings with an automatic shrink factor made explicit for voxels of ``zooms``."""
        if self.shrink_factor:
            return self
        return replace(self, shrink_factor=int(np.clip(round(4.0 / min(zooms)), 2, 4)))

    def to_dict(self) -> dict:
        """Return the settings as JSON-ready metadata."""
        return {**asdict(self), "iterations": list(self.iterations)}

    def describe(self) -> str:
        """Return these settings as a methods sentence (``[@key]`` marks a citation)."""
        spacing = (
            f"B-spline control points every {self.spline_distance_mm:g} mm"
            if self.spline_distance_mm
            else "one B-spline span per axis"
        )
        levels = set(self.iterations)
        per_level = f"{self.iterations[0]}" if len(levels) == 1 else ", ".join(map(str, self.iterations))
        shrink = (
            f"shrunk by {self.shrink_factor}"
            if self.shrink_factor
            else "shrunk to a grid of about 4 mm (by 2 to 4, from the voxel size)"
        )
        where = "restricted to the image's foreground" if self.use_mask else "over the whole image"
        return (
            f"N4 bias-field correction [@n4] was run with antspyx [@antsx]: {spacing}, "
            f"{len(self.iterations)} fitting levels of {per_level} iterations (a level stops below a change "
            f"of {self.convergence_threshold:g}), the image {shrink} for the fit, the fit {where}."
        )
