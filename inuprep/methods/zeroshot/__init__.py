"""The zero-shot method (Yang, Timko, Fernandez): a light 3D CNN optimised on the one image it corrects."""

from inuprep.methods.base import Method
from inuprep.methods.zeroshot.settings import ZeroShotSettings

METHOD = Method(
    name="zeroshot",
    label="zero-shot",
    colour="#d62728",
    settings=ZeroShotSettings,
    software="torch",
    citation=(
        "zeroshot",
        "Yang, Timko, Fernandez. Zero-shot bias correction: efficient MR image inhomogeneity reduction "
        "without any data.",
    ),
    correct="inuprep.methods.zeroshot.correct:correct",
)
