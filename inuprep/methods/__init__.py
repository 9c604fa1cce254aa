"""The correction methods: one folder each, listed once here.

A method's folder holds its torch-free ``settings.py`` (the dataclass, its defaults, ``describe()``), its
pure correction and, in its ``__init__``, the :class:`~inuprep.methods.base.Method` that describes it. The
runner (:mod:`inuprep.methods.run`, also ``inuprep-correct``), the nipype interface, the parser, the
workflows, progress lines, sidecars, figures, tables and reports read this registry; a new method is a new
folder and one line below.
"""

from inuprep.methods import implicit, n4, zeroshot

METHODS = {method.name: method for method in (n4.METHOD, zeroshot.METHOD, implicit.METHOD)}
#: the uncorrected image, evaluated beside every method: its label and colour in tables and figures
ORIGINAL = {"name": "original", "label": "original", "colour": "#7f7f7f"}
#: every row of a metrics table in order, and how people read each
LABELS = {ORIGINAL["name"]: ORIGINAL["label"], **{name: m.label for name, m in METHODS.items()}}
COLOURS = {ORIGINAL["name"]: ORIGINAL["colour"], **{name: m.colour for name, m in METHODS.items()}}
