"""What a harmonization method is: learned from reference images (``fit``), applied to other images.

Each method's folder describes itself with one :class:`Harmonizer` (in its ``__init__``); the registry
(:mod:`inuprep.harmonizers`) lists them. A method's code module has

- ``fit(images, contrast, settings, folder) -> list[float]``: learn the reference group's intensity scale
  from ``images`` (a list of (float32 data, boolean brain mask)) and write what it learned into ``folder``;
  return the loss log (empty for a method that does not optimise);
- ``apply(data, mask, contrast, settings, folder) -> np.ndarray``: the image on the references' scale, or
  (that image, a dict of what the sidecar should say of it).

A method that names ``tissues`` gets their masks (our segmentation's: {"WM": mask or None, ...}) as a third
item of each reference and as ``apply``'s ``tissues``; the others never see them.
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
    tissues: tuple[str, ...] = ()  # the tissue masks fit() and apply() take (our segmentation's): ("WM",)
    needs_tissues: bool = False  # whether it refuses an image without them (else it does without)

    @property
    def options(self) -> tuple[Option, ...]:
        """Return the settings users may set (``inuprep-harmonize fit --<option>``)."""
        return settings_options(self.settings)

    def fit(self, images: list, contrast, settings, folder) -> list[float]:
        """Learn the references' scale into a model folder (imports the method's code only now);
        ``images``: (data, brain mask[, {tissue: mask}]) each."""
        if self.tissues:
            images = [(data, mask, self.masks_of(rest[0] if rest else None)) for data, mask, *rest in images]
        else:
            images = [image[:2] for image in images]
        return import_module(self.code).fit(images, contrast, settings, folder)

    def apply(self, data, mask, contrast, settings, folder, tissues=None, anchors=None) -> tuple:
        """Return an image on the references' scale and what its sidecar should say of it; ``tissues``: its
        {tissue: mask}, if known; ``anchors``: a site's mean tissue anchors (a method that needs tissues)."""
        extra = {"tissues": self.masks_of(tissues)} if self.tissues else {}
        if anchors is not None:
            extra["anchors"] = anchors
        result = import_module(self.code).apply(data, mask, contrast, settings, folder, **extra)
        return result if isinstance(result, tuple) else (result, {})

    def masks_of(self, tissues: dict | None) -> dict:
        """Return {tissue: mask or None} of the tissues this method takes."""
        return {name: (tissues or {}).get(name) for name in self.tissues}
