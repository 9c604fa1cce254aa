"""The tissue-anchored method's settings: Nyul's landmarks, and how few voxels make a tissue's median."""

from dataclasses import dataclass

from inuprep.harmonizers.nyul.settings import NyulSettings
from inuprep.options import setting


@dataclass(frozen=True)
class TissueSettings(NyulSettings):
    """Nyul's landmarks, then the tissues' medians as anchors."""

    min_voxels: int = setting(50, "a tissue with fewer labelled voxels in the brain is not an anchor")
    max_share_difference: float = setting(
        0.1,
        "Nyul alone where a tissue's share of the brain differs from the references' by more (labels off)",
    )

    def describe(self) -> str:
        """Return these settings as a methods sentence (``[@key]`` marks a citation)."""
        return (
            f"{super().describe()} Each image's median CSF, GM and WM intensities after this mapping, in its "
            "own tissue labels (those of the corrected image), were then mapped piecewise-linearly onto the "
            "reference images' mean medians (zero kept at zero, the highest landmark kept); an image whose "
            "tissues are not in the references' order, or whose labelled share of a tissue differed from "
            f"the references' by more than {self.max_share_difference:g}, kept Nyul's mapping alone."
        )
