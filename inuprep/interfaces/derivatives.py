"""Writing one derivative (and its JSON sidecar) atomically under a precomputed BIDS name."""

from pathlib import Path

from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, traits

from inuprep.utils.bids import sidecar_path
from inuprep.utils.io import atomic_copy, write_json


class _DerivativesSinkInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True, desc="file to store")
    out_path = traits.Str(mandatory=True, desc="absolute destination, a BIDS derivative name")
    meta_dict = traits.Dict(desc="metadata for a JSON sidecar beside the file")
    extra_meta = traits.Dict(desc="more sidecar metadata, merged over meta_dict")


class _DerivativesSinkOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="the stored file")


class DerivativesSink(SimpleInterface):
    """Copy a result to its derivative name through a temporary file, then its sidecar likewise."""

    input_spec = _DerivativesSinkInputSpec
    output_spec = _DerivativesSinkOutputSpec
    always_run = True

    def _run_interface(self, runtime):
        dest = Path(self.inputs.out_path)
        meta = {**(self.inputs.meta_dict or {}), **(self.inputs.extra_meta or {})}
        if meta:
            write_json(meta, sidecar_path(dest))
        self._results["out_file"] = str(atomic_copy(self.inputs.in_file, dest))
        return runtime
