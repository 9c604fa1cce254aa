"""The harmonization methods: one folder each, listed once here.

A method's folder holds its ``settings.py`` (the dataclass, its defaults, ``describe()``), its code module
(``fit`` and ``apply``, :mod:`inuprep.harmonizers.base`) and, in its ``__init__``, the
:class:`~inuprep.harmonizers.base.Harmonizer` that describes it. ``inuprep-harmonize``
(:mod:`inuprep.harmonizers.run`) and the model folder (:mod:`inuprep.harmonizers.model`) read this registry.
"""

from inuprep.harmonizers import nyul, selfsup, ssimh, whitestripe

HARMONIZERS = {
    h.name: h for h in (nyul.HARMONIZER, whitestripe.HARMONIZER, ssimh.HARMONIZER, selfsup.HARMONIZER)
}
