"""WhiteStripe's settings: how wide the stripe of white-matter intensities is."""

from dataclasses import dataclass

from inuprep.options import setting


@dataclass(frozen=True)
class WhiteStripeSettings:
    """The stripe: the masked voxels within ``width`` (a quantile) either side of the white-matter mode."""

    width: float = setting(0.05, "half-width of the stripe around the white-matter mode (a quantile)")

    def describe(self) -> str:
        """Return these settings as a methods sentence (``[@key]`` marks a citation)."""
        return (
            "Intensities were put on the reference group's scale with WhiteStripe [@whitestripe]: each "
            f"image's normal-appearing white matter (the voxels within {self.width:g} of a quantile either "
            "side of the white-matter mode of the histogram of the white-matter mask of our segmentation, or "
            "of the brain where none was given) was standardised to mean 0 and unit "
            "deviation, then given the references' mean white-stripe mean and deviation."
        )
