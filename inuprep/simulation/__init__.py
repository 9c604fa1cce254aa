"""Simulated acquisitions on real anatomy: bias fields and noise (:mod:`~inuprep.simulation.fields`),
protocols rendered from tissue parameters (:mod:`~inuprep.simulation.protocols`)."""
