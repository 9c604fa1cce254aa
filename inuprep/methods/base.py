"""What a correction method is: its description for people and the options its settings expose.

Each method's folder describes itself with one :class:`Method` (in its ``__init__``, torch-free); the
registry (:mod:`inuprep.methods`) lists them. The runner's options and the nipype interface's inputs both
come from :meth:`Method.options`: the fields of the method's settings that carry a ``help`` text.
"""

import re
from dataclasses import MISSING, dataclass, field, fields
from importlib import import_module

import numpy as np

#: what a method's correction returns: the corrected image, the multiplicative field, extra sidecar fields
Corrected = tuple[np.ndarray, np.ndarray, dict]


@dataclass(frozen=True)
class Option:
    """A settings field that users may set (``inuprep-correct --<name>``, an interface input)."""

    name: str
    kind: type  # int, float or str; of each element when ``many``
    default: object
    help: str
    choices: tuple | None = None
    many: bool = False  # a tuple of values

    @property
    def flag(self) -> str:
        """Return the command-line flag, e.g. ``--learning-rate``."""
        return "--" + self.name.replace("_", "-")


def setting(default, help: str, choices: tuple | None = None):
    """Return a dataclass field that users may set, with its help text (and allowed values)."""
    return field(default=default, metadata={"help": help, "choices": choices})


def settings_options(settings: type) -> tuple[Option, ...]:
    """Return the fields of a settings dataclass made with :func:`setting`, as options."""
    options = []
    for item in fields(settings):
        if "help" not in item.metadata or item.default is MISSING:
            continue
        default, many = item.default, isinstance(item.default, tuple)
        kind = type(default[0] if many else default)
        help, choices = item.metadata["help"], item.metadata["choices"]
        options.append(Option(item.name, kind, default, help, choices, many))
    return tuple(options)


@dataclass(frozen=True)
class Method:
    """One correction method: read by the parser, the runner, the workflows, sidecars, tables and reports."""

    name: str  # --methods / --method value, the desc- entity and the metrics row
    label: str  # for people: progress lines, figures, the sidecar's BiasCorrectionMethod
    colour: str  # in every figure
    settings: type  # frozen dataclass: resolved(zooms), to_dict(), describe(); its defaults are the method's
    software: str  # the distribution whose version its sidecar records
    citation: tuple[str, str]  # (key used as [@key] in describe(), the reference)
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
