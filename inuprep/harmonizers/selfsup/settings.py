"""The self-supervised harmonizer's settings: how long and on what it learns the reference group's look."""

from dataclasses import dataclass

from inuprep.options import setting


@dataclass(frozen=True)
class SelfSupSettings:
    """A small 2D U-Net over ``context`` slices, trained for ``steps`` Adam steps on random alterations."""

    steps: int = setting(1500, "training steps (Adam, cosine-decayed learning rate)")
    batch: int = setting(16, "patches per step")
    patch: int = setting(64, "in-plane size of a training patch (voxels)")
    width: int = setting(16, "channels of the network's first level (doubled at each of its two others)")
    learning_rate: float = setting(2e-3, "Adam's initial learning rate")
    seed: int = setting(1, "seed of the alterations and of the network's initial weights")

    def describe(self) -> str:
        """Return these settings as a methods sentence (``[@key]`` marks a citation)."""
        return (
            "Intensities were harmonized to the reference group in three steps learned from the references "
            "only [@selfsup]: a piecewise-linear mapping of each image's brain percentiles (1, 10-90, 99) "
            "onto the references' mean (Nyul and Udupa's standardisation); a 2D U-Net (three levels, "
            f"{self.width} channels in the first), trained self-supervised to map {self.patch}x{self.patch}"
            "-voxel patches of three adjacent slices of standardised references, randomly altered (a "
            "monotone intensity curve, a smooth field, a lower resolution, Rician noise; a fifth left "
            f"unaltered), back to the reference, for {self.steps} Adam steps of {self.batch} patches (seed "
            f"{self.seed}); and the same percentile mapping of its output, so that the result's histogram "
            "lands on the references' landmarks. Images were resampled to the references' voxel grid for "
            "the network and back."
        )
