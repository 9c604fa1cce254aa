"""How good a correction is: metrics on shared masks (:mod:`~inuprep.evaluation.metrics`), an image's
metrics table (:mod:`~inuprep.evaluation.table`) and, without the truth, the self-check that recommends a
method (:mod:`~inuprep.evaluation.selfcheck`, run by :mod:`~inuprep.evaluation.run`)."""
