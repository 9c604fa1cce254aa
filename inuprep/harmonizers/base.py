"""What a harmonization method is: learned from reference images (``fit``), applied to other images.

Each method's folder describes itself with one :class:`Harmonizer` (in its ``__init__``); the registry
(:mod:`inuprep.harmonizers`) lists them. A method's code module has

- ``fit(images, contrast, settings, folder) -> list[float]``: learn the reference group's intensity scale
  from ``images`` (a list of (float32 data, boolean mask)) and write what it learned into ``folder``; return
  the loss log (empty for a method that does not optimise);
- ``apply(data, mask, contrast, settings, folder) -> np.ndarray``: the image on the references' scale.
"""

from dataclasses import dataclass
from importlib import import_module

from inuprep.options import Option, settings_options


@dataclass(frozen=True)
class Harmonizer:
    """One harmonization method."""

    name: str  # --method value, the model's HarmonizationMethod
    label: str  # for people
    settings: type  # frozen dataclass with describe(); fields made with setting() are options
    citation: tuple[str, str]  # (key used as [@key] in describe(), the reference)
    code: str  # the module with fit() and apply()

    @property
    def options(self) -> tuple[Option, ...]:
        """Return the settings users may set (``inuprep-harmonize fit --<option>``)."""
        return settings_options(self.settings)

    def fit(self, *args, **kwargs) -> list[float]:
        """Learn the references' scale into a model folder (imports the method's code only now)."""
        return import_module(self.code).fit(*args, **kwargs)

    def apply(self, *args, **kwargs):
        """Return an image on the references' scale."""
        return import_module(self.code).apply(*args, **kwargs)
