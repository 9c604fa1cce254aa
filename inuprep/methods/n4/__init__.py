"""N4 (Tustison et al. 2010) through antspyx: the baseline every other method is judged against."""

from inuprep.methods.base import Method
from inuprep.methods.n4.settings import N4Settings

METHOD = Method(
    name="n4",
    label="N4",
    colour="#1f77b4",
    settings=N4Settings,
    software="antspyx",
    citation=(
        "n4",
        "Tustison NJ, et al. N4ITK: improved N3 bias correction. IEEE TMI 29(6):1310-1320, 2010.",
    ),
    correct="inuprep.methods.n4.correct:correct",
)
