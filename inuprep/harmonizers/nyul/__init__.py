"""Nyul-Udupa piecewise-linear histogram standardisation: the classical baseline users know."""

from inuprep.harmonizers.base import Harmonizer
from inuprep.harmonizers.nyul.settings import NyulSettings

HARMONIZER = Harmonizer(
    name="nyul",
    label="Nyul",
    settings=NyulSettings,
    citation=(
        "nyul",
        "Nyul LG, Udupa JK, Zhang X. New variants of a method of MRI scale standardization. IEEE TMI "
        "19(2):143-150, 2000.",
    ),
    code="inuprep.harmonizers.nyul.harmonize",
)
