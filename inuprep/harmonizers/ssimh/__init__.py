"""SSIMH: the low-frequency amplitude spectrum of an image replaced by the reference group's mean."""

from inuprep.harmonizers.base import Harmonizer
from inuprep.harmonizers.ssimh.settings import SSIMHSettings
from inuprep.utils.references import Reference

HARMONIZER = Harmonizer(
    name="ssimh",
    label="SSIMH",
    settings=SSIMHSettings,
    citation=Reference(
        key="ssimh",
        authors=("Guan, Hao", "Liu, Siyuan", "Lin, Weili", "Yap, Pew-Thian", "Liu, Mingxia"),
        title="Fast image-level MRI harmonization via spectrum analysis",
        venue="Machine Learning in Medical Imaging (MLMI 2022), LNCS",
        year=2022,
        kind="inproceedings",
        volume="13583",
        pages="201-209",
    ),
    code="inuprep.harmonizers.ssimh.harmonize",
)
