"""Tissue segmentation interface."""

import os
from importlib.metadata import version
from pathlib import Path

import nibabel as nb
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    OutputMultiObject,
    SimpleInterface,
    TraitedSpec,
    traits,
)

from inuprep.interfaces import save_like
from inuprep.segmentation import segment


def write_label_table(labels: dict[int, str], path: Path) -> str:
    """Write a BIDS ``dseg.tsv`` (index, name) and return its path."""
    rows = "".join(f"{index}\t{name}\n" for index, name in sorted(labels.items()))
    path.write_text("index\tname\n" + rows)
    return str(path)


def read_label_table(path: str | Path) -> dict[int, str]:
    """Return the {index: name} table of a ``dseg.tsv``."""
    lines = Path(path).read_text().splitlines()[1:]
    return {int(index): name for index, name in (line.split("\t")[:2] for line in lines if line)}


class _SegmentTissuesInputSpec(BaseInterfaceInputSpec):
    in_files = InputMultiObject(
        File(exists=True),
        mandatory=True,
        desc="checked image, then its corrections (classes fitted to these)",
    )
    contrast = traits.Enum("T1w", "T2w", "dixon", mandatory=True, desc="contrast of the image")
    num_threads = traits.Int(1, usedefault=True, nohash=True, desc="threads for ITK and torch")


class _SegmentTissuesOutputSpec(TraitedSpec):
    mask_file = File(exists=True, desc="brain (or object) mask")
    dseg_file = File(exists=True, desc="hard tissue labels")
    dseg_tsv = File(exists=True, desc="label table of dseg_file")
    probseg_files = OutputMultiObject(File(exists=True), desc="posterior map per tissue")
    tissues = traits.List(traits.Str, desc="tissue name of each probseg file")
    metadata = traits.Dict(desc="how the masks were made")


class SegmentTissues(SimpleInterface):
    """Compute the tissue masks of one image (see :mod:`inuprep.segmentation`)."""

    input_spec = _SegmentTissuesInputSpec
    output_spec = _SegmentTissuesOutputSpec

    def _run_interface(self, runtime):
        os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(self.inputs.num_threads)
        import torch

        torch.set_num_threads(self.inputs.num_threads)
        img, *corrected = (nb.load(path) for path in self.inputs.in_files)
        seg = segment(img, self.inputs.contrast, [c.get_fdata(dtype=np.float32) for c in corrected])
        cwd = Path(runtime.cwd)
        self._results["mask_file"] = save_like(seg.mask, img, cwd / "mask.nii.gz", np.uint8)
        self._results["dseg_file"] = save_like(seg.dseg, img, cwd / "dseg.nii.gz", np.uint8)
        self._results["dseg_tsv"] = write_label_table(seg.labels, cwd / "dseg.tsv")
        self._results["tissues"] = list(seg.probseg)
        self._results["probseg_files"] = [
            save_like(prob, img, cwd / f"probseg_{name}.nii.gz") for name, prob in seg.probseg.items()
        ]
        software = {name: version(name) for name in ("inuprep", "antspyx", "deepbet")}
        self._results["metadata"] = {
            "SegmentationMethod": seg.method,
            "Labels": seg.labels,
            "Software": software,
        }
        return runtime
