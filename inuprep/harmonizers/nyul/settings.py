"""Nyul's settings: which percentiles of the brain's histogram are the landmarks."""

from dataclasses import dataclass

from inuprep.options import setting


@dataclass(frozen=True)
class NyulSettings:
    """Landmarks: the ``min_percentile`` and ``max_percentile`` ends and every ``step`` percent between."""

    min_percentile: float = setting(1.0, "the lowest landmark (percentile of the masked intensities)")
    max_percentile: float = setting(99.0, "the highest landmark")
    step: float = setting(10.0, "the landmarks between: every step percent from step to 100 - step")

    def describe(self) -> str:
        """Return these settings as a methods sentence (``[@key]`` marks a citation)."""
        return (
            "Intensities were standardised to the reference group's scale by Nyul and Udupa's "
            "piecewise-linear histogram mapping [@nyul] (intensity-normalization): landmarks at the "
            f"{self.min_percentile:g}th and {self.max_percentile:g}th percentiles and every {self.step:g} "
            "percent between, inside the brain; the standard scale is the reference images' mean landmarks, "
            "in their own units."
        )
