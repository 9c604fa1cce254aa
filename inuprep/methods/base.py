"""What a correction method is: its description for people, its settings and where its code is.

Each method's folder describes itself with one :class:`Method` (in its ``__init__``, torch-free); the
registry (:mod:`inuprep.methods`) lists them. The runner's options and the nipype interface's inputs both
come from :meth:`Method.options` (:mod:`inuprep.options`).
"""

import re
from dataclasses import dataclass
from importlib import import_module

import numpy as np

from inuprep.options import Option, settings_options
from inuprep.utils.references import Reference

#: what a method's correction returns: the corrected image, the multiplicative field, extra sidecar fields
Corrected = tuple[np.ndarray, np.ndarray, dict]


@dataclass(frozen=True)
class Method:
    """One correction method: read by the parser, the runner, the workflows, sidecars, tables and reports."""

    name: str  # --methods / --method value, the desc- entity and the metrics row
    label: str  # for people: progress lines, figures, the sidecar's BiasCorrectionMethod
    colour: str  # in every figure
    settings: type  # frozen dataclass: resolved(zooms), to_dict(), describe(); its defaults are the method's
    software: str  # the distribution whose version its sidecar records
    citation: Reference  # its key is what describe() cites as [@key]
    # "module:function": (data, zooms, mask, settings, num_threads, device, progress) -> Corrected
    correct: str

    @property
    def options(self) -> tuple[Option, ...]:
        """Return the settings users may set."""
        return settings_options(self.settings)

    @property
    def seeded(self) -> bool:
        """Return whether the method takes a random seed."""
        return any(option.name == "seed" for option in self.options)

    @property
    def interface(self) -> str:
        """Return the name of its nipype interface, from the label: 'zero-shot' -> 'ZeroShotCorrection'."""
        return "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]", self.label)) + (
            "Correction"
        )

    def run(self, *args, **kwargs) -> Corrected:
        """Correct an image with this method (imports its code, torch included, only now)."""
        module, function = self.correct.split(":")
        return getattr(import_module(module), function)(*args, **kwargs)
