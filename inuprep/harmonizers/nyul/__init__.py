"""Nyul-Udupa piecewise-linear histogram standardisation: the classical baseline users know."""

from inuprep.harmonizers.base import Harmonizer
from inuprep.harmonizers.nyul.settings import NyulSettings
from inuprep.utils.references import Reference

HARMONIZER = Harmonizer(
    name="nyul",
    label="Nyul",
    settings=NyulSettings,
    citation=Reference(
        key="nyul",
        authors=("Nyúl, László G.", "Udupa, Jayaram K.", "Zhang, Xuan"),
        title="New variants of a method of MRI scale standardization",
        venue="IEEE Transactions on Medical Imaging",
        year=2000,
        volume="19",
        number="2",
        pages="143-150",
        doi="10.1109/42.836373",
    ),
    code="inuprep.harmonizers.nyul.harmonize",
)
