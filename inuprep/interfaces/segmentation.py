"""Tissue segmentation interfaces: one per source of masks, chosen when the graph is built
(:func:`inuprep.workflows.segmentation.init_segmentation_wf`); all have the same outputs."""

from importlib.metadata import version
from pathlib import Path

import nibabel as nb
import numpy as np
from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    Directory,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from inuprep.runtime import itk_threads
from inuprep.segmentation.antspyx import ants_random_seed, ants_scratch
from inuprep.segmentation.base import BRAIN_LABELS, Segmentation
from inuprep.segmentation.brain import segment_brain, template_inputs
from inuprep.segmentation.dixon import segment_dixon
from inuprep.segmentation.labels import read_label_table, user_segmentation, write_label_table
from inuprep.segmentation.transfer import transfer_segmentation
from inuprep.utils.io import save_like


class _SegmentInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="the checked image")
    seed = traits.Int(0, usedefault=True, desc="seed of the ANTs registrations")
    num_threads = traits.Int(1, usedefault=True, nohash=True, desc="threads for ITK and torch")


class _SegmentOutputSpec(TraitedSpec):
    mask_file = File(exists=True, desc="brain (or object) mask")
    dseg_file = File(exists=True, desc="hard tissue labels")
    dseg_tsv = File(exists=True, desc="label table of dseg_file")
    probseg = traits.Dict(traits.Str, File(exists=True), desc="posterior map of each tissue, by name")
    metadata = traits.Dict(desc="how the masks were made")


class _Segment(SimpleInterface):
    """Write a :class:`Segmentation` of ``in_file`` (masks, labels, posteriors) and say how it was made."""

    input_spec = _SegmentInputSpec
    output_spec = _SegmentOutputSpec

    def _segment(self, img: nb.Nifti1Image) -> tuple[Segmentation, str]:
        """Return the segmentation of ``img`` and why a fallback was used ("" if none)."""
        raise NotImplementedError

    def _run_interface(self, runtime):
        itk_threads(self.inputs.num_threads)
        img = nb.load(self.inputs.in_file)
        with ants_random_seed(self.inputs.seed), ants_scratch():
            seg, fallback = self._segment(img)
        cwd = Path(runtime.cwd)
        self._results["mask_file"] = save_like(seg.mask, img, cwd / "mask.nii.gz", np.uint8)
        dtype = np.uint8 if seg.dseg.max() < 256 else np.int32
        self._results["dseg_file"] = save_like(seg.dseg, img, cwd / "dseg.nii.gz", dtype)
        self._results["dseg_tsv"] = write_label_table(seg, cwd / "dseg.tsv")
        self._results["probseg"] = {
            name: save_like(prob, img, cwd / f"probseg_{name}.nii.gz") for name, prob in seg.probseg.items()
        }
        software = {name: version(name) for name in ("inuprep", "antspyx", "deepbet", "antspynet")}
        self._results["metadata"] = {
            "SegmentationSource": seg.source,
            "SegmentationMethod": seg.method,
            **({"FallbackReason": fallback} if fallback else {}),
            "Labels": seg.labels,
            "Software": software,
        }
        return runtime


def _corrections(inputs) -> list[np.ndarray]:
    return [nb.load(path).get_fdata(dtype=np.float32) for path in inputs.corrected_files or []]


class _UserInputSpec(_SegmentInputSpec):
    user_dseg = File(exists=True, mandatory=True, desc="labels supplied by the user")
    user_dseg_tsv = File(exists=True, mandatory=True, desc="label table of user_dseg")


class UserSegmentation(_Segment):
    """The user's labels (``--derivatives``), checked against the image's grid."""

    input_spec = _UserInputSpec

    def _segment(self, img):
        labels = read_label_table(self.inputs.user_dseg_tsv)[0]
        return user_segmentation(img, nb.load(self.inputs.user_dseg), labels), ""


class _DixonInputSpec(_SegmentInputSpec):
    corrected_files = InputMultiObject(File(exists=True), desc="the image's corrections")
    water_file = File(exists=True, desc="the acquisition's water image")
    fat_file = File(exists=True, desc="the acquisition's fat image")


class DixonSegmentation(_Segment):
    """Water and fat regions from the acquisition's water fraction, else dim and bright classes."""

    input_spec = _DixonInputSpec

    def _segment(self, img):
        pair = [nb.load(f).get_fdata(dtype=np.float32) if isdefined(f) else None
                for f in (self.inputs.water_file, self.inputs.fat_file)]  # fmt: skip
        return segment_dixon(img, _corrections(self.inputs), *pair), ""


class _TransferInputSpec(_SegmentInputSpec):
    t1w_file = File(exists=True, mandatory=True, desc="the session's T1w image, whose masks are reused")
    t1w_dseg = File(exists=True, mandatory=True, desc="the T1w's labels")
    t1w_dseg_tsv = File(exists=True, mandatory=True, desc="the T1w's label table")
    t1w_probseg = traits.Dict(traits.Str, File(exists=True), desc="the T1w's posteriors, by tissue")
    t1w_metadata = traits.Dict(desc="how the T1w's masks were made")


class TransferSegmentation(_Segment):
    """A T2w: its session's T1w masks, moved by a rigid registration."""

    input_spec = _TransferInputSpec

    def _segment(self, img):
        inputs = self.inputs
        labels, tissues = read_label_table(inputs.t1w_dseg_tsv)
        dseg = np.asanyarray(nb.load(inputs.t1w_dseg).dataobj)
        t1w = Segmentation(
            mask=dseg > 0,
            dseg=dseg,
            labels=labels,
            tissues=tissues,
            probseg={t: nb.load(f).get_fdata(dtype=np.float32) for t, f in inputs.t1w_probseg.items()},
            source=inputs.t1w_metadata.get("SegmentationSource", ""),
        )
        return transfer_segmentation(nb.load(inputs.t1w_file), t1w, img), ""


class _BrainInputSpec(_SegmentInputSpec):
    corrected_files = InputMultiObject(
        File(exists=True), desc="the image's corrections (classes are fitted to their consensus)"
    )
    contrast = traits.Enum("T1w", "T2w", mandatory=True, desc="contrast of the image")
    antsxnet_cache = Directory(desc="ANTsXNet cache holding deep_atropos's files")
    brain_mask = File(exists=True, desc="TemplatePriors's brain mask (else computed here)")
    priors = InputMultiObject(File(exists=True), desc="TemplatePriors's CSF, GM and WM priors")


class BrainSegmentation(_Segment):
    """CSF, GM and WM: deep_atropos when its files are cached, else the offline template fallback."""

    input_spec = _BrainInputSpec

    def _segment(self, img):
        inputs = self.inputs
        prepared = None
        if isdefined(inputs.brain_mask) and isdefined(inputs.priors):
            priors = [nb.load(path).get_fdata(dtype=np.float32) for path in inputs.priors]
            prepared = (np.asarray(nb.load(inputs.brain_mask).dataobj) > 0, priors)
        else:  # deepbet runs in torch
            import torch

            torch.set_num_threads(inputs.num_threads)
        cache = Path(inputs.antsxnet_cache) if isdefined(inputs.antsxnet_cache) else None
        return segment_brain(img, inputs.contrast, _corrections(inputs), cache, prepared)


class _PriorsOutputSpec(TraitedSpec):
    brain_mask = File(exists=True, desc="deepbet's brain mask")
    priors = traits.List(File(exists=True), desc="MNI152's CSF, GM and WM priors registered to the image")


class TemplatePriors(SimpleInterface):
    """The offline fallback's brain mask and registered priors, from the image as acquired: they need no
    correction, so they are computed while the corrections run."""

    input_spec = _SegmentInputSpec
    output_spec = _PriorsOutputSpec

    def _run_interface(self, runtime):
        import torch

        itk_threads(self.inputs.num_threads)
        torch.set_num_threads(self.inputs.num_threads)
        img = nb.load(self.inputs.in_file)
        with ants_random_seed(self.inputs.seed), ants_scratch():
            mask, priors = template_inputs(img)
        cwd = Path(runtime.cwd)
        self._results["brain_mask"] = save_like(mask, img, cwd / "brain_mask.nii.gz", np.uint8)
        self._results["priors"] = [
            save_like(prior, img, cwd / f"prior_{name}.nii.gz")
            for name, prior in zip(BRAIN_LABELS.values(), priors, strict=True)
        ]
        return runtime
