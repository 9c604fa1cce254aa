"""The zero-shot method (Yang, Timko, Fernandez): a light 3D CNN optimised on the one image it corrects."""

from inuprep.methods.base import Method
from inuprep.methods.zeroshot.settings import ZeroShotSettings
from inuprep.utils.references import Reference

METHOD = Method(
    name="zeroshot",
    label="zero-shot",
    colour="#d62728",
    settings=ZeroShotSettings,
    software="torch",
    citation=Reference(
        key="zeroshot",
        authors=("Yang, Hongxu", "Timko, Edina", "Fernandez, Brice"),
        title="Zero-shot bias correction: efficient MR image inhomogeneity reduction without any data",
        venue="arXiv",
        year=2025,
        kind="misc",
        eprint="2501.12244",
    ),
    correct="inuprep.methods.zeroshot.correct:correct",
)
