"""SSIMH's settings: the common grid the spectra are compared on and how much of the spectrum is replaced."""

from dataclasses import dataclass

from inuprep.options import setting


@dataclass(frozen=True)
class SSIMHSettings:
    """A cube of ``grid`` voxels around the brain; frequencies within ``radius`` bins of DC are replaced."""

    grid: int = setting(64, "voxels a side of the common cube the brain is resampled onto")
    radius: float = setting(3.0, "frequencies replaced: within this many bins of DC (the cube's spectrum)")

    def describe(self) -> str:
        """Return these settings as a methods sentence (``[@key]`` marks a citation)."""
        return (
            "Intensities were harmonized to the reference group with SSIMH [@ssimh]: the brain, resampled "
            f"onto a {self.grid}^3 cube around it, kept its phase and had the amplitudes of its lowest "
            f"frequencies (within {self.radius:g} bins of the mean) replaced by the references' mean "
            "amplitudes; the resulting smooth change was brought back to the image's grid and added."
        )
