"""N4 (Tustison et al. 2010) through antspyx: the baseline every other method is judged against."""

from inuprep.methods.base import Method
from inuprep.methods.n4.settings import N4Settings
from inuprep.utils.references import Reference

METHOD = Method(
    name="n4",
    label="N4",
    colour="#1f77b4",
    settings=N4Settings,
    software="antspyx",
    citation=Reference(
        key="n4",
        authors=(
            "Tustison, Nicholas J.",
            "Avants, Brian B.",
            "Cook, Philip A.",
            "Zheng, Yuanjie",
            "Egan, Alexander",
            "Yushkevich, Paul A.",
            "Gee, James C.",
        ),
        title="N4ITK: improved N3 bias correction",
        venue="IEEE Transactions on Medical Imaging",
        year=2010,
        volume="29",
        number="6",
        pages="1310-1320",
        doi="10.1109/TMI.2010.2046908",
    ),
    correct="inuprep.methods.n4.correct:correct",
)
