"""What a harmonization method is: learned from reference images (``fit``), applied to other images.

Each method's folder describes itself with one :class:`Harmonizer` (in its ``__init__``); the registry
(:mod:`inuprep.harmonizers`) lists them. A method's code module has

- ``fit(images, contrast, settings, folder) -> list[float]``: learn the reference group's intensity scale
  from ``images`` (a list of (float32 data, boolean brain mask)) and write what it learned into ``folder``;
  return the loss log (empty for a method that does not optimise);
- ``apply(data, mask, contrast, settings, folder) -> np.ndarray``: the image on the references' scale.

A method that ``uses_wm`` gets a white-matter mask (or None) as a third item of each reference and as
``apply``'s ``wm``; the others never see it.
"""

from dataclasses import dataclass
from importlib import import_module

from inuprep.options import Option, settings_options
from inuprep.utils.references import Reference


@dataclass(frozen=True)
class Harmonizer:
    """One harmonization method."""

    name: str  # --method value, the model's HarmonizationMethod
    label: str  # for people
    settings: type  # frozen dataclass with describe(); fields made with setting() are options
    citation: Reference  # its key is what describe() cites as [@key]
    code: str  # the module with fit() and apply()
    uses_wm: bool = False  # whether fit() and apply() take a white-matter mask (our segmentation's)

    @property
    def options(self) -> tuple[Option, ...]:
        """Return the settings users may set (``inuprep-harmonize fit --<option>``)."""
        return settings_options(self.settings)

    def fit(self, images: list, contrast, settings, folder) -> list[float]:
        """Learn the references' scale into a model folder (imports the method's code only now);
        ``images``: (data, brain mask[, white-matter mask or None]) each."""
        images = [(*image, None)[:3] if self.uses_wm else image[:2] for image in images]
        return import_module(self.code).fit(images, contrast, settings, folder)

    def apply(self, data, mask, contrast, settings, folder, wm=None):
        """Return an image on the references' scale; ``wm``: its white-matter mask, if known."""
        extra = {"wm": wm} if self.uses_wm else {}
        return import_module(self.code).apply(data, mask, contrast, settings, folder, **extra)
