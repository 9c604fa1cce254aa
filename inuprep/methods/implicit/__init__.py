"""The implicitly trained network (Simko et al. 2022): a 2D GetNet trained here on non-medical images."""

from inuprep.methods.base import Method
from inuprep.methods.implicit.settings import ImplicitSettings
from inuprep.utils.references import Reference

METHOD = Method(
    name="implicit",
    label="implicit",
    colour="#2ca02c",
    settings=ImplicitSettings,
    software="torch",
    citation=Reference(
        key="implicit",
        authors=(
            "Simkó, Attila",
            "Löfstedt, Tommy",
            "Garpebring, Anders",
            "Nyholm, Tufve",
            "Jonsson, Joakim",
        ),
        title="MRI bias field correction with an implicitly trained CNN",
        venue="Proceedings of The 5th International Conference on Medical Imaging with Deep Learning, PMLR",
        year=2022,
        kind="inproceedings",
        volume="172",
        pages="1125-1138",
    ),
    correct="inuprep.methods.implicit.correct:correct",
)
