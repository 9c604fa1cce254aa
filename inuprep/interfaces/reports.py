"""Report figures drawn by the image workflow (NiPreps' reportlets), while other nodes run."""

from pathlib import Path

from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from inuprep.reports.figures import IMAGE_FIGURES, draw_image_figures
from inuprep.utils.bids import figure_path


class _ImageFiguresInputSpec(BaseInterfaceInputSpec):
    source = File(exists=True, mandatory=True, desc="the source image: the figures' original and names")
    methods = traits.List(traits.Str, mandatory=True, desc="the methods, in the order of the files below")
    corrected_files = InputMultiObject(File(exists=True), mandatory=True, desc="each method's correction")
    field_files = InputMultiObject(File(exists=True), mandatory=True, desc="each method's field")
    metadata = traits.List(traits.Dict, mandatory=True, desc="each method's sidecar metadata (its Losses)")
    dseg_file = File(exists=True, mandatory=True, desc="the evaluated tissue labels")
    dseg_tsv = File(exists=True, mandatory=True, desc="their label table")
    output_dir = traits.Str(mandatory=True, desc="derivatives root: figures go to sub-<label>/figures/")
    harmonized_file = File(exists=True, desc="the harmonized image, if any")
    harmonized_from = traits.Str(desc="the method whose correction was harmonized")
    selfcheck = traits.Dict(
        desc="the self-check (inuprep.evaluation.selfcheck.SelfCheckResult.to_dict), if run"
    )


class _ImageFiguresOutputSpec(TraitedSpec):
    figures = traits.List(File(exists=True), desc="the figures drawn")


class ImageFigures(SimpleInterface):
    """Draw one image's report figures into the derivatives, atomically, as the sinks write files."""

    input_spec = _ImageFiguresInputSpec
    output_spec = _ImageFiguresOutputSpec
    always_run = True  # like the sinks: a rerun into an emptied output folder draws them again

    def _run_interface(self, runtime):
        methods, metadata = self.inputs.methods, self.inputs.metadata
        losses = {m: meta["Losses"] for m, meta in zip(methods, metadata, strict=True) if meta.get("Losses")}
        out = Path(self.inputs.output_dir)
        harmonized = None
        if isdefined(self.inputs.harmonized_file):
            harmonized = (self.inputs.harmonized_from, Path(self.inputs.harmonized_file))
        drawn = draw_image_figures(
            Path(self.inputs.source),
            dict(zip(methods, self.inputs.corrected_files, strict=True)),
            dict(zip(methods, self.inputs.field_files, strict=True)),
            losses,
            Path(self.inputs.dseg_file),
            Path(self.inputs.dseg_tsv),
            {kind: out / figure_path(self.inputs.source, kind) for kind in IMAGE_FIGURES},
            harmonized,
            self.inputs.selfcheck or None,
        )
        self._results["figures"] = [str(path) for path in drawn]
        return runtime
