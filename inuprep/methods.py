"""The correction methods: the one place each is described.

The parser, the standalone corrector, the workflows, progress lines, sidecars, figures, metrics tables and
the report read this registry; adding a method means one entry here plus the method's own code (its settings
class with ``resolved``, ``to_dict`` and ``describe``, its pure correction and its nipype interface).
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inuprep.implicit.apply import ImplicitSettings
from inuprep.n4 import N4Settings
from inuprep.runtime import itk_threads
from inuprep.zeroshot.fit import ZeroShotSettings

#: what a method's ``correct`` returns: the corrected image, the multiplicative field, extra sidecar fields
Corrected = tuple[np.ndarray, np.ndarray, dict]


@dataclass(frozen=True)
class Method:
    """One correction method."""

    name: str  # --methods / --method value, the desc- entity and the metrics row
    label: str  # for people: progress lines, figures, the sidecar's BiasCorrectionMethod
    colour: str  # in every figure
    settings: (
        type  # a frozen dataclass: resolved(zooms), to_dict(), describe(); its defaults are the method's
    )
    options: tuple[str, ...]  # inuprep-correct options that are fields of ``settings``
    interface: str  # the nipype interface of inuprep.interfaces.correction that runs it in a workflow
    software: str  # the distribution whose version its sidecar records
    citation: tuple[str, str]  # (key used as [@key] in describe(), the reference)
    correct: Callable[..., Corrected]  # (data, zooms, mask, settings, num_threads, device, progress)

    @property
    def seeded(self) -> bool:
        """Whether the method takes a random seed."""
        return "seed" in self.options


def _n4(data, zooms, mask, settings, num_threads=1, device="cpu", progress=None) -> Corrected:
    from inuprep.n4 import n4_correct

    itk_threads(num_threads)
    corrected, field = n4_correct(data, zooms, mask, settings)
    return corrected, field, {}


def _torch_device(num_threads: int, device: str) -> str:
    """Give torch ``num_threads`` CPU threads; return ``device``, with 'auto' resolved to cuda or cpu."""
    import torch

    torch.set_num_threads(num_threads)
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def _zeroshot(data, zooms, mask, settings, num_threads=1, device="auto", progress=None) -> Corrected:
    from inuprep.zeroshot.fit import zeroshot_correct

    device = _torch_device(num_threads, device)
    result = zeroshot_correct(data, zooms, mask, settings, device=device, progress=progress)
    return result.corrected, result.field, {"Device": device, "Losses": result.losses}


def _implicit(data, zooms, mask, settings, num_threads=1, device="auto", progress=None) -> Corrected:
    from inuprep.implicit.apply import implicit_correct

    device = _torch_device(num_threads, device)
    corrected, field = implicit_correct(data, zooms, mask, settings, device=device)
    return corrected, field, {"Device": device}


METHODS = {
    method.name: method
    for method in (
        Method(
            name="n4",
            label="N4",
            colour="#1f77b4",
            settings=N4Settings,
            options=(),
            interface="N4Correction",
            software="antspyx",
            citation=(
                "n4",
                "Tustison NJ, et al. N4ITK: improved N3 bias correction. IEEE TMI 29(6):1310-1320, 2010.",
            ),
            correct=_n4,
        ),
        Method(
            name="zeroshot",
            label="zero-shot",
            colour="#d62728",
            settings=ZeroShotSettings,
            options=("variant", "seed", "iterations", "learning_rate"),
            interface="ZeroShotCorrection",
            software="torch",
            citation=(
                "zeroshot",
                "Yang, Timko, Fernandez. Zero-shot bias correction: efficient MR image inhomogeneity "
                "reduction without any data.",
            ),
            correct=_zeroshot,
        ),
        Method(
            name="implicit",
            label="implicit",
            colour="#2ca02c",
            settings=ImplicitSettings,
            options=(),
            interface="ImplicitCorrection",
            software="torch",
            citation=(
                "implicit",
                "Simko A, Lofstedt T, Garpebring A, Nyholm T, Jonsson J. MRI bias field correction with an "
                "implicitly trained CNN. Proceedings of MIDL, PMLR 172:1125-1138, 2022.",
            ),
            correct=_implicit,
        ),
    )
}
#: the uncorrected image, evaluated beside every method: its label and colour in tables and figures
ORIGINAL = {"name": "original", "label": "original", "colour": "#7f7f7f"}
#: every row of a metrics table in order, and how people read each
LABELS = {ORIGINAL["name"]: ORIGINAL["label"], **{name: m.label for name, m in METHODS.items()}}
COLOURS = {ORIGINAL["name"]: ORIGINAL["colour"], **{name: m.colour for name, m in METHODS.items()}}
