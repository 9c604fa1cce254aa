"""SSIMH: the low-frequency amplitude spectrum of an image replaced by the reference group's mean."""

from inuprep.harmonizers.base import Harmonizer
from inuprep.harmonizers.ssimh.settings import SSIMHSettings

HARMONIZER = Harmonizer(
    name="ssimh",
    label="SSIMH",
    settings=SSIMHSettings,
    citation=(
        "ssimh",
        "Guan H, Liu S, Lin W, Yap PT, Liu M. Fast image-level MRI harmonization via spectrum analysis. "
        "MLMI 2022, LNCS 13583:201-209.",
    ),
    code="inuprep.harmonizers.ssimh.harmonize",
)
