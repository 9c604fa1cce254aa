"""One frozen settings object, built from the arguments and dumped next to the outputs."""

import argparse
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from inuprep import __version__
from inuprep.methods import METHODS
from inuprep.utils.io import write_json


def read_plugin(path: Path, mem_gb: float | None) -> dict:
    """Return the nipype plugin file ``path`` (``--use-plugin``); raise ValueError for one without a plugin,
    or one that cannot honour ``--mem`` (another scheduler's, or a MultiProc of another memory_gb)."""
    plugin = yaml.safe_load(path.read_text()) or {}
    if not isinstance(plugin, dict) or "plugin" not in plugin:
        raise ValueError(f"{path}: a nipype plugin file needs a 'plugin' key")
    if mem_gb and plugin["plugin"] != "MultiProc":
        raise ValueError(
            f"--mem cannot be honoured by the {plugin['plugin']} plugin of {path}: ask its scheduler for "
            "memory in the file's plugin_args (e.g. sbatch_args: --mem=16G) and leave --mem out"
        )
    memory = (plugin.get("plugin_args") or {}).get("memory_gb")
    if mem_gb and memory is not None and float(memory) != mem_gb:
        raise ValueError(f"--mem ({mem_gb:g} GB) and the memory_gb of {path} ({memory}) disagree: give one")
    return plugin


@dataclass(frozen=True)
class Settings:
    """Everything a run depends on; passed explicitly to every factory that needs it."""

    bids_dir: Path
    output_dir: Path
    analysis_level: str
    work_dir: Path
    participant_label: tuple[str, ...] = ()
    session_label: tuple[str, ...] = ()
    bids_filters: dict = field(default_factory=dict)
    bids_database_dir: Path | None = None  # pybids' index, built once and reused
    methods: tuple[str, ...] = tuple(METHODS)
    self_check: bool = False
    reports_only: bool = False  # the reports again from the outputs, nothing rerun
    bids_validation: bool = True  # the input checked by bids-validator-deno when installed
    seed: int = 20251121
    derivatives: Path | None = None
    antsxnet_cache: Path | None = None
    harmonize_model: tuple[Path, ...] = ()
    harmonize_fit: str | None = None
    harmonize_reference: dict = field(default_factory=dict)
    harmonize_correction: str = "zeroshot"
    nprocs: int = 1
    omp_nthreads: int = 1
    mem_gb: float | None = None
    plugin: dict | None = None
    stop_on_first_crash: bool = False
    write_graph: bool = False
    verbose: int = 0
    version: str = __version__
    run_uuid: str = field(default_factory=lambda: f"{datetime.now(UTC):%Y%m%d-%H%M%S}_{uuid.uuid4().hex[:8]}")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Settings":
        """Return the settings of parsed command-line arguments, with paths made absolute."""
        plugin = None if args.use_plugin is None else read_plugin(args.use_plugin, args.mem_gb)
        return cls(
            bids_dir=args.bids_dir.absolute(),
            output_dir=args.output_dir.absolute(),
            analysis_level=args.analysis_level,
            work_dir=args.work_dir.absolute(),
            participant_label=tuple(dict.fromkeys(args.participant_label or ())),
            session_label=tuple(dict.fromkeys(args.session_label or ())),
            bids_filters=args.bids_filter_file or {},
            bids_database_dir=args.bids_database_dir.absolute() if args.bids_database_dir else None,
            methods=tuple(dict.fromkeys(args.methods)),
            self_check=args.self_check,
            bids_validation=not args.skip_bids_validation,
            reports_only=args.reports_only,
            seed=args.seed,
            derivatives=args.derivatives.absolute() if args.derivatives else None,
            antsxnet_cache=args.antsxnet_cache.absolute() if args.antsxnet_cache else None,
            harmonize_model=tuple(path.absolute() for path in args.harmonize_model or ()),
            harmonize_correction=args.harmonize_correction,
            harmonize_fit=args.harmonize_fit,
            harmonize_reference=args.harmonize_reference or {},
            nprocs=args.nprocs,
            omp_nthreads=args.omp_nthreads or max(1, min(args.nprocs - 1, 8)),  # as fMRIPrep: nodes overlap
            mem_gb=args.mem_gb,
            plugin=plugin,
            stop_on_first_crash=args.stop_on_first_crash,
            write_graph=args.write_graph,
            verbose=args.verbose,
        )

    def to_dict(self) -> dict:
        """Return the settings as JSON-ready values."""

        def plain(value):
            if isinstance(value, Path):
                return str(value)
            return [plain(v) for v in value] if isinstance(value, tuple | list) else value

        return {k: plain(v) for k, v in asdict(self).items()}

    def workflow_args(self) -> dict:
        """Return the keyword arguments of ``init_inuprep_wf`` that these settings decide."""
        names = ("output_dir", "work_dir", "methods", "self_check", "omp_nthreads", "seed", "run_uuid",
                 "antsxnet_cache")  # fmt: skip
        return {name: getattr(self, name) for name in names}

    def plugin_settings(self) -> dict:
        """Return nipype's ``plugin`` and ``plugin_args`` for ``Workflow.run``."""
        memory = {"memory_gb": self.mem_gb} if self.mem_gb else {}
        if self.plugin is not None:  # --mem given only with MultiProc (from_args)
            plugin_args = {**memory, **(self.plugin.get("plugin_args") or {})}
            return {"plugin": self.plugin["plugin"], "plugin_args": plugin_args}
        # nipype's Linear plugin knows no memory: with --mem, MultiProc's scheduler, even for one process (the
        # steps one at a time, each in a worker: an out-of-memory kill takes a worker, not the App)
        plugin = "MultiProc" if self.nprocs > 1 or self.mem_gb else "Linear"
        return {
            "plugin": plugin,
            "plugin_args": {"n_procs": self.nprocs, "raise_insufficient": False, **memory},
        }

    def write(self) -> Path:
        """Write the settings to ``<output_dir>/logs/`` and return the file."""
        path = self.output_dir / "logs" / f"inuprep_settings_{self.run_uuid}.json"
        return write_json(self.to_dict(), path)
