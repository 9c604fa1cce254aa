"""The implicitly trained network (Simko et al. 2022): a 2D GetNet trained here on non-medical images."""

from inuprep.methods.base import Method
from inuprep.methods.implicit.settings import ImplicitSettings

METHOD = Method(
    name="implicit",
    label="implicit",
    colour="#2ca02c",
    settings=ImplicitSettings,
    software="torch",
    citation=(
        "implicit",
        "Simko A, Lofstedt T, Garpebring A, Nyholm T, Jonsson J. MRI bias field correction with an "
        "implicitly trained CNN. Proceedings of MIDL, PMLR 172:1125-1138, 2022.",
    ),
    correct="inuprep.methods.implicit.correct:correct",
)
