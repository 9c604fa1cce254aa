"""A harmonization model folder: what the method learned, and ``model.json`` saying what, how and from what.

``model.json``: the method, the format of the folder, the contrast, the settings, every reference image's name
and SHA-256 and the mask it was fitted in, the software versions, the fit's time and loss log, and the
SHA-256 of every file the method wrote. A folder is written under a temporary name and renamed whole.
"""

import glob
import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib import import_module
from importlib.metadata import version
from pathlib import Path

from inuprep import __version__
from inuprep.harmonizers import HARMONIZERS, REMOVED
from inuprep.harmonizers.base import Harmonizer
from inuprep.utils.io import remove_interrupted_writes, temporary_prefix, write_json

MODEL_FILE = "model.json"
#: the layout of a model folder; a folder of another format is refused
MODEL_FORMAT = 1


class ModelError(ValueError):
    """A model folder that cannot be used; the message is one line naming it and the fix."""


@dataclass(frozen=True)
class Model:
    """A model folder read back: its method, settings, contrast and record."""

    folder: Path
    harmonizer: Harmonizer
    settings: object
    contrast: str | None
    record: dict

    def apply(self, data, mask, tissues=None, anchors=None) -> tuple:
        """Return ``data`` on the references' scale and what its sidecar should say of it; ``tissues``: its
        {tissue: mask}; ``anchors``: a site's (:meth:`anchors`), for a method anchored on tissues."""
        return self.harmonizer.apply(data, mask, self.contrast, self.settings, self.folder, tissues, anchors)

    def anchors(self, data, mask, tissues) -> dict:
        """Return the tissue anchors of one image (a method anchored on tissues; a site's mean is
        :meth:`apply`'s ``anchors``)."""
        return import_module(self.harmonizer.code).image_anchors(
            data, mask, self.contrast, self.settings, self.folder, self.harmonizer.masks_of(tissues)
        )

    def sidecar(self) -> dict:
        """Return what a harmonized image's sidecar says of this model: method, settings, references."""
        return {
            "HarmonizationMethod": self.harmonizer.label,
            "HarmonizationParameters": self.record["Settings"],
            "Model": str(self.folder.absolute()),
            "ModelReferences": [reference["name"] for reference in self.record["References"]],
        }


@dataclass(frozen=True)
class Harmonization:
    """What one image's workflow harmonizes: its ``correction``, with ``model``."""

    model: Model
    correction: str


@dataclass(frozen=True)
class HarmonizationPlan:
    """The models a run applies (``--harmonize-model``: one per contrast, or one of any contrast) and the
    correction they harmonize (``--harmonize-correction``)."""

    models: tuple[Model, ...]
    correction: str

    def for_image(self, contrast: str) -> Harmonization | None:
        """Return the harmonization of an image of ``contrast`` (its :attr:`ImageRun.label`): the model of
        that contrast, else one of any contrast, else None."""
        by_contrast = {model.contrast: model for model in self.models}
        model = by_contrast.get(contrast, by_contrast.get(None))
        return Harmonization(model, self.correction) if model else None


def sha256(path: Path) -> str:
    """Return the SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fit_model(
    harmonizer,
    settings,
    references: list[Path],
    images: list,
    contrast,
    folder: Path,
    masks: list[str],
    extra=None,
):
    """Fit ``harmonizer`` on ``images`` (the ``references`` read: (image, data, brain mask, white matter or
    None)) and write the model folder ``folder``; ``masks`` says what each brain mask is (given, or the
    default); ``extra`` adds fields to its record (the App's correction and reference filter)."""
    arrays = [image[1:] for image in images]
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_interrupted_writes(folder.parent, glob.escape(folder.name))
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=temporary_prefix(folder)))
    start = time.perf_counter()
    try:
        log = harmonizer.fit(arrays, contrast, settings, scratch)
        state = {path.name: sha256(path) for path in sorted(scratch.iterdir())}
        record = {
            "HarmonizationMethod": harmonizer.name,
            "ModelFormat": MODEL_FORMAT,
            "Contrast": contrast,
            "Settings": asdict(settings),
            "Description": settings.describe(),
            "References": [
                {"name": path.name, "sha256": sha256(path), "Mask": mask, "MaskVoxels": int(image[2].sum())}
                for path, mask, image in zip(references, masks, images, strict=True)
            ],
            "Software": {"inuprep": __version__, "numpy": version("numpy"), "nibabel": version("nibabel")},
            "FitSeconds": round(time.perf_counter() - start, 2),
            "LossLog": log,
            "Files": state,
            **(extra or {}),
        }
        write_json(record, scratch / MODEL_FILE)
        scratch.chmod(0o755)
        scratch.rename(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def read_model(folder: Path) -> Model:
    """Return the model in ``folder``; raise ModelError (one line) when it is missing, of another format or
    method, or its files are not the ones it recorded."""
    refit = "fit the model again (inuprep-harmonize fit)"
    path = folder / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"{folder}: not a harmonization model (no {MODEL_FILE}); {refit}")
    try:
        record = json.loads(path.read_text())
        method, model_format = record["HarmonizationMethod"], record["ModelFormat"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelError(f"{path}: unreadable ({type(err).__name__}: {err}); {refit}") from None
    if model_format != MODEL_FORMAT:
        raise ModelError(
            f"{folder}: a model of format {model_format}, this inuprep reads {MODEL_FORMAT}; {refit}"
        )
    if method in REMOVED:
        raise ModelError(f"{folder}: a {method} model; {REMOVED[method]}; fit another method (nyul)")
    if method not in HARMONIZERS:
        raise ModelError(f"{folder}: method '{method}' is not one of {', '.join(HARMONIZERS)}; {refit}")
    for name, digest in record.get("Files", {}).items():
        if not (folder / name).is_file() or sha256(folder / name) != digest:
            raise ModelError(f"{folder / name}: missing or not the file the fit wrote; {refit}")
    harmonizer = HARMONIZERS[method]
    try:
        settings = harmonizer.settings(**record["Settings"])
    except (KeyError, TypeError) as err:
        raise ModelError(f"{path}: settings of another version ({err}); {refit}") from None
    return Model(folder, harmonizer, settings, record.get("Contrast"), record)
