"""The self-check as a node: which correction to trust for this image (``python -m
inuprep.evaluation.run``, a process of its own like every correction)."""

import json
import sys
from pathlib import Path

from nipype.interfaces.base import CommandLine, CommandLineInputSpec, File, TraitedSpec, traits


class _SelfCheckInputSpec(CommandLineInputSpec):
    in_file = File(exists=True, mandatory=True, argstr="%s", position=0, desc="image to check")
    methods = traits.List(traits.Str, mandatory=True, argstr="--methods %s", sep=" ",
                          desc="the corrections compared (two at least)")  # fmt: skip
    out_json = File("selfcheck.json", usedefault=True, argstr="--json %s", desc="the check")
    mask_file = File(exists=True, argstr="--mask %s", desc="foreground mask")
    seed = traits.Int(argstr="--seed %d", desc="the seeded methods' seed (default: their own)")
    num_threads = traits.Int(1, usedefault=True, argstr="--num-threads %d", nohash=True,
                             desc="CPU threads for torch or ITK")  # fmt: skip


class _SelfCheckOutputSpec(TraitedSpec):
    out_json = File(exists=True, desc="the check (inuprep.evaluation.selfcheck.SelfCheckResult.to_dict)")
    check = traits.Dict(desc="the same, read")


class SelfCheck(CommandLine):
    """Correct the image under known probe fields with every method; recommend the one that recovers them."""

    input_spec = _SelfCheckInputSpec
    output_spec = _SelfCheckOutputSpec
    _cmd = f"{sys.executable} -m inuprep.evaluation.run"

    def _list_outputs(self):
        out_json = Path(self.inputs.out_json).absolute()
        return {"out_json": str(out_json), "check": json.loads(out_json.read_text())}
