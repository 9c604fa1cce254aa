"""Tissue-anchored Nyul: Nyul's standardisation, then the image's tissue medians put on the references'."""

from inuprep.harmonizers.base import Harmonizer
from inuprep.harmonizers.nyul import HARMONIZER as NYUL
from inuprep.harmonizers.tissue.settings import TissueSettings

HARMONIZER = Harmonizer(
    name="tissue",
    label="Tissue-anchored Nyul",
    settings=TissueSettings,
    citation=NYUL.citation,
    code="inuprep.harmonizers.tissue.harmonize",
    tissues=("CSF", "GM", "WM"),
    needs_tissues=True,
)
