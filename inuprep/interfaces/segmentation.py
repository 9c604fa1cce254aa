"""Tissue segmentation interface."""

from importlib.metadata import version
from pathlib import Path

import nibabel as nb
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    Directory,
    File,
    InputMultiObject,
    OutputMultiObject,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from inuprep.runtime import itk_threads
from inuprep.segmentation import (
    Segmentation,
    ants_random_seed,
    ants_scratch,
    segment_brain,
    segment_dixon,
    transfer_segmentation,
    user_segmentation,
)
from inuprep.utils.bids import read_label_table, write_label_table
from inuprep.utils.io import save_like


class _SegmentTissuesInputSpec(BaseInterfaceInputSpec):
    in_files = InputMultiObject(
        File(exists=True),
        mandatory=True,
        desc="checked image, then its corrections (classes fitted to these)",
    )
    contrast = traits.Enum("T1w", "T2w", "dixon", mandatory=True, desc="contrast of the image")
    antsxnet_cache = Directory(desc="ANTsXNet cache holding deep_atropos's files")
    t1w_file = File(exists=True, desc="T2w: the session's T1w image, whose masks are reused")
    t1w_dseg = File(exists=True, desc="T2w: the T1w's labels")
    t1w_dseg_tsv = File(exists=True, desc="T2w: the T1w's label table")
    t1w_probseg = InputMultiObject(File(exists=True), desc="T2w: the T1w's posteriors (CSF, GM, WM)")
    t1w_metadata = traits.Dict(desc="T2w: how the T1w's masks were made")
    water_file = File(exists=True, desc="Dixon: the acquisition's water image")
    fat_file = File(exists=True, desc="Dixon: the acquisition's fat image")
    user_dseg = File(exists=True, desc="labels supplied by the user (take precedence)")
    user_dseg_tsv = File(exists=True, desc="label table of user_dseg")
    seed = traits.Int(0, usedefault=True, desc="seed of the ANTs registrations")
    num_threads = traits.Int(1, usedefault=True, nohash=True, desc="threads for ITK and torch")


class _SegmentTissuesOutputSpec(TraitedSpec):
    mask_file = File(exists=True, desc="brain (or object) mask")
    dseg_file = File(exists=True, desc="hard tissue labels")
    dseg_tsv = File(exists=True, desc="label table of dseg_file")
    probseg_files = OutputMultiObject(File(exists=True), desc="posterior map per tissue")
    tissues = traits.List(traits.Str, desc="tissue name of each probseg file")
    metadata = traits.Dict(desc="how the masks were made")


class SegmentTissues(SimpleInterface):
    """Compute the tissue masks of one image (see :mod:`inuprep.segmentation` for the order of sources)."""

    input_spec = _SegmentTissuesInputSpec
    output_spec = _SegmentTissuesOutputSpec

    def _segment(self, img, corrected) -> tuple[Segmentation, str]:
        inputs = self.inputs
        if isdefined(inputs.user_dseg):
            return user_segmentation(
                img, nb.load(inputs.user_dseg), read_label_table(inputs.user_dseg_tsv)[0]
            ), ""
        if inputs.contrast == "dixon":
            pair = [nb.load(f).get_fdata(dtype=np.float32) if isdefined(f) else None
                    for f in (inputs.water_file, inputs.fat_file)]  # fmt: skip
            return segment_dixon(img, corrected, *pair), ""
        if isdefined(inputs.t1w_dseg):
            labels, tissues = read_label_table(inputs.t1w_dseg_tsv)
            t1w = Segmentation(
                mask=np.asanyarray(nb.load(inputs.t1w_dseg).dataobj) > 0,
                dseg=np.asanyarray(nb.load(inputs.t1w_dseg).dataobj),
                labels=labels,
                tissues=tissues,
                probseg={
                    t: nb.load(f).get_fdata(dtype=np.float32)
                    for t, f in zip(("CSF", "GM", "WM"), inputs.t1w_probseg, strict=True)
                },  # fmt: skip
                source=inputs.t1w_metadata.get("SegmentationSource", ""),
            )
            return transfer_segmentation(nb.load(inputs.t1w_file), t1w, img), ""
        cache = Path(inputs.antsxnet_cache) if isdefined(inputs.antsxnet_cache) else None
        return segment_brain(img, inputs.contrast, corrected, cache)

    def _run_interface(self, runtime):
        itk_threads(self.inputs.num_threads)
        import torch

        torch.set_num_threads(self.inputs.num_threads)
        img, *corrected = (nb.load(path) for path in self.inputs.in_files)
        with ants_random_seed(self.inputs.seed), ants_scratch():
            seg, fallback = self._segment(img, [c.get_fdata(dtype=np.float32) for c in corrected])
        cwd = Path(runtime.cwd)
        self._results["mask_file"] = save_like(seg.mask, img, cwd / "mask.nii.gz", np.uint8)
        dtype = np.uint8 if seg.dseg.max() < 256 else np.int32
        self._results["dseg_file"] = save_like(seg.dseg, img, cwd / "dseg.nii.gz", dtype)
        self._results["dseg_tsv"] = write_label_table(seg, cwd / "dseg.tsv")
        self._results["tissues"] = list(seg.probseg)
        self._results["probseg_files"] = [
            save_like(prob, img, cwd / f"probseg_{name}.nii.gz") for name, prob in seg.probseg.items()
        ]
        software = {name: version(name) for name in ("inuprep", "antspyx", "deepbet", "antspynet")}
        self._results["metadata"] = {
            "SegmentationSource": seg.source,
            "SegmentationMethod": seg.method,
            **({"FallbackReason": fallback} if fallback else {}),
            "Labels": seg.labels,
            "Software": software,
        }
        return runtime
