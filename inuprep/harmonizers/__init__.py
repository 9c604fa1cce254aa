"""The harmonization methods: one folder each, listed once here.

A method's folder holds its ``settings.py`` (the dataclass, its defaults, ``describe()``), its code module
(``fit`` and ``apply``, :mod:`inuprep.harmonizers.base`) and, in its ``__init__``, the
:class:`~inuprep.harmonizers.base.Harmonizer` that describes it. ``inuprep-harmonize``
(:mod:`inuprep.harmonizers.run`) and the model folder (:mod:`inuprep.harmonizers.model`) read this registry.
"""

from inuprep.harmonizers import nyul, ssimh, tissue, whitestripe

HARMONIZERS = {
    h.name: h for h in (nyul.HARMONIZER, tissue.HARMONIZER, whitestripe.HARMONIZER, ssimh.HARMONIZER)
}
#: methods once shipped, and why they went: a model folder of one is refused with this reason
REMOVED = {
    "selfsup": "removed after inuprep 0.1.0: it lowered PSNR against nyul on sharp images (CHANGELOG.md)",
}
