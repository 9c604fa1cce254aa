"""The correction interface: one per method, made from the registry, each running the method's runner.

Every method runs in a process of its own (``python -m inuprep.methods.run``): torch and ITK stay out of
nipype's, and a method's threads are its own. An interface's inputs beyond the files are the options of its
method's settings (:meth:`inuprep.methods.base.Method.options`), with the settings' defaults.
"""

import json
import shlex
import sys
from importlib.metadata import version
from pathlib import Path

from nipype.interfaces.base import CommandLine, CommandLineInputSpec, File, TraitedSpec, traits

from inuprep import __version__
from inuprep.methods import METHODS
from inuprep.methods.base import Method
from inuprep.options import Option
from inuprep.utils.bids import sidecar_path

RUNNER = "inuprep.methods.run"


class _CorrectionInputSpec(CommandLineInputSpec):
    in_file = File(exists=True, mandatory=True, argstr="%s", position=0, desc="image to correct")
    out_file = File("corrected.nii.gz", usedefault=True, argstr="%s", position=1, desc="corrected image")
    bias_field = File("bias_field.nii.gz", usedefault=True, argstr="--field %s", desc="estimated field")
    mask_file = File(exists=True, argstr="--mask %s", desc="foreground mask restricting the fit")
    device = traits.Enum("auto", "cpu", "cuda", usedefault=True, argstr="--device %s", nohash=True,
                         desc="torch device (the torch methods)")  # fmt: skip
    num_threads = traits.Int(1, usedefault=True, argstr="--num-threads %d", nohash=True,
                             desc="CPU threads for torch or ITK")  # fmt: skip


class _CorrectionOutputSpec(TraitedSpec):
    out_file = File(exists=True, desc="corrected image")
    bias_field = File(exists=True, desc="estimated multiplicative field (input = output x field)")
    metadata = traits.Dict(desc="method, parameters, software and runtime for the sidecar")


class Correction(CommandLine):
    """Runs one method's correction through its runner; a subclass per method names it."""

    method = ""
    output_spec = _CorrectionOutputSpec

    def _list_outputs(self):
        out_file = Path(self.inputs.out_file).absolute()
        metadata = json.loads(sidecar_path(out_file).read_text())
        software = METHODS[self.method].software
        metadata["Software"] = {"inuprep": __version__, software: version(software)}
        return {
            "out_file": str(out_file),
            "bias_field": str(Path(self.inputs.bias_field).absolute()),
            "metadata": metadata,
        }


def _trait(option: Option):
    """Return the nipype input of one settings option, passed to the runner as ``--<option> value``."""
    common = {"usedefault": True, "argstr": f"{option.flag} %s", "desc": option.help}
    if option.choices:
        others = [choice for choice in option.choices if choice != option.default]
        return traits.Enum(option.default, *others, **common)
    kind = {int: traits.Int, float: traits.Float, str: traits.Str}[option.kind]
    if option.many:
        return traits.List(kind, list(option.default), sep=" ", **common)
    return kind(option.default, **common)


def _interface(method: Method) -> type[Correction]:
    """Return the interface class of ``method``: its input spec holds the settings' options."""
    spec = type(
        f"_{method.interface}InputSpec",
        (_CorrectionInputSpec,),
        {"__module__": __name__, **{option.name: _trait(option) for option in method.options}},
    )
    command = f"{shlex.quote(sys.executable)} -m {RUNNER} --method {method.name}"  # nipype runs it in a shell
    doc = f"{method.label} bias correction through ``python -m {RUNNER} --method {method.name}``."
    attributes = {"__module__": __name__, "__doc__": doc, "method": method.name, "input_spec": spec,
                  "_cmd": command}  # fmt: skip
    return type(method.interface, (Correction,), attributes)


#: one interface per method (``N4Correction``, ``ZeroShotCorrection``...), importable by name (pickling)
for _method in METHODS.values():
    globals()[_method.interface] = _interface(_method)
    _spec = globals()[_method.interface].input_spec
    globals()[_spec.__name__] = _spec


def correction_interface(method: str) -> type[Correction]:
    """Return the interface class that runs ``method`` (a name of ``inuprep.methods.METHODS``)."""
    return globals()[METHODS[method].interface]
