"""The command-line parser of the BIDS App (building it does no I/O)."""

import argparse
import json
import os
from pathlib import Path

from inuprep import __version__
from inuprep.cli.settings import Settings
from inuprep.harmonizers import HARMONIZERS
from inuprep.methods import METHODS


def _label(prefix: str):
    def strip(value: str) -> str:
        label = value[len(prefix) :] if value.startswith(prefix) else value
        if not label or not label.isalnum():
            raise argparse.ArgumentTypeError(f"'{value}' is not a valid label (letters and digits only)")
        return label

    return strip


def _existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"file not found: {value}")
    return path.absolute()


def _existing_dir(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"directory not found: {value}")
    return path.absolute()


def _json_filters(value: str) -> dict:
    path = _existing_file(value)
    try:
        filters = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"{value} is not valid JSON ({err})") from None
    if not isinstance(filters, dict) or not all(isinstance(v, dict) for v in filters.values()):
        raise argparse.ArgumentTypeError(f"{value} must map query names to entity filters")
    return filters


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return number


def _memory_gb(value: str) -> float:
    """Return a memory size in GB: a number in MB (fMRIPrep's ``--mem``) or with a unit, e.g. 16G, 800M."""
    units = {"K": 1e-6, "M": 1e-3, "G": 1.0, "T": 1e3}
    text = value.strip().upper().removesuffix("B")
    scale = units.get(text[-1:], None) if text else None
    try:
        number = float(text[:-1] if scale else text) * (scale or units["M"])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a memory size such as 16000 (MB) or 16G, got {value}"
        ) from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive memory size, got {value}")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``inuprep bids_dir output_dir {participant,group}``."""
    parser = argparse.ArgumentParser(
        prog="inuprep",
        description="inuprep: MRI intensity non-uniformity (bias field) correction with a zero-shot "
        "network and N4, evaluated per tissue. A BIDS App.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("bids_dir", type=Path, help="the root of the input BIDS dataset")
    parser.add_argument("output_dir", type=Path, help="where derivatives are written")
    parser.add_argument(
        "analysis_level",
        choices=["participant", "group"],
        help="participant: correct and evaluate each image; group: summarise every participant's metrics",
    )

    bids = parser.add_argument_group("Selecting the input")
    bids.add_argument(
        "--bids-database-dir",
        "--bids_database_dir",
        type=Path,
        metavar="DIR",
        help="keep pybids' index of the input here: built by the first run that finds none, then read by "
        "every later one (e.g. every task of a SLURM array) instead of indexing the dataset again; "
        "remove it when the dataset changes",
    )
    bids.add_argument(
        "--skip-bids-validation",
        "--skip_bids_validation",
        action="store_true",
        help="do not check the selected participants with bids-validator-deno (by default, when installed: "
        "its warnings are printed, a participant with an error fails with it in one line)",
    )
    bids.add_argument(
        "--participant-label",
        "--participant_label",
        nargs="+",
        type=_label("sub-"),
        metavar="LABEL",
        help="participants to process, with or without 'sub-' (default: all)",
    )
    bids.add_argument(
        "--session-label",
        "--session_label",
        nargs="+",
        type=_label("ses-"),
        metavar="LABEL",
        help="sessions to process, with or without 'ses-' (default: all)",
    )
    bids.add_argument(
        "--bids-filter-file",
        "--bids_filter_file",
        type=_json_filters,
        metavar="FILE",
        help="JSON mapping the queries t1w, t2w, dixon to pybids entity filters that update the "
        'defaults, e.g. {"t1w": {"acquisition": "mprage"}, "t2w": {"suffix": "T2w", "run": 1}}',
    )

    perf = parser.add_argument_group("Resources")
    perf.add_argument(
        "--nprocs",
        "--n-cpus",
        "--n_cpus",
        "--nthreads",
        type=_positive_int,
        default=os.cpu_count() or 1,
        help="processes run in parallel (nipype MultiProc)",
    )
    perf.add_argument(
        "--omp-nthreads",
        "--omp_nthreads",
        type=_positive_int,
        help="threads per process (default: nprocs - 1, 1 to 8)",
    )
    memory = perf.add_mutually_exclusive_group()
    memory.add_argument(
        "--mem-gb",
        type=_positive_float,
        help="memory nipype's MultiProc scheduler may plan for, in GB (used even with --nprocs 1)",
    )
    memory.add_argument(
        "--mem",
        "--mem-mb",
        "--mem_mb",
        dest="mem_gb",
        type=_memory_gb,
        metavar="SIZE",
        help="the same as fMRIPrep's: in MB, or with a unit (16G, 16000M)",
    )
    perf.add_argument(
        "--use-plugin",
        type=_existing_file,
        metavar="FILE",
        help="nipype plugin YAML (e.g. 'plugin: SLURM' with 'plugin_args'); overrides --nprocs; --mem only "
        "with a MultiProc plugin (another scheduler is given its memory in its plugin_args)",
    )

    wf = parser.add_argument_group("Workflow")
    wf.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=list(METHODS),
        help="the corrections to run; the uncorrected original is always evaluated beside them",
    )
    wf.add_argument(
        "--self-check",
        action="store_true",
        help="recommend one of --methods per image: the one that leaves the least field in the image's white "
        "matter (a few seconds; on held-out cases within 5 %% of the best in 79 %% of them: see the README)",
    )
    wf.add_argument(
        "--derivatives",
        type=_existing_dir,
        metavar="DIR",
        help="a BIDS derivatives folder with masks for the evaluation: a _dseg (with its dseg.tsv) replaces "
        "the computed tissue masks, each _label-<name>_mask is evaluated too (e.g. a bladder or a lesion); "
        "a known _biasfield (simulations) adds each method's error against the truth",
    )
    wf.add_argument(
        "--antsxnet-cache",
        type=_existing_dir,
        metavar="DIR",
        help="ANTsXNet cache holding deep_atropos's files (fetch them with inuprep-fetch-models); without "
        "them the offline fallback segments (default: $INUPREP_ANTSXNET_CACHE, else ~/.keras/ANTsXNet)",
    )
    wf.add_argument("--seed", type=int, default=Settings.seed, help="random seed of every stochastic step")
    wf.add_argument(
        "--harmonize-model",
        type=_existing_dir,
        nargs="+",
        metavar="DIR",
        help="model folders from inuprep-harmonize fit, one per contrast: each image of a model's contrast "
        "is also written on its reference group's intensity scale (desc-harmonized)",
    )
    wf.add_argument(
        "--harmonize-fit",
        choices=list(HARMONIZERS),
        help="group level: fit a harmonization model per contrast on the reference images that "
        "--harmonize-reference selects (their corrections from the participant level), into "
        "<output_dir>/harmonization/<method>_<contrast>/",
    )
    wf.add_argument(
        "--harmonize-reference",
        type=_json_filters,
        metavar="FILE",
        help="JSON selecting the reference group like --bids-filter-file, e.g. "
        '{"t1w": {"acquisition": "siemens"}}; only the contrasts it names are fitted',
    )
    wf.add_argument(
        "--harmonize-correction",
        choices=list(METHODS),
        default=Settings.harmonize_correction,
        help="the correction --harmonize-fit fits on and --harmonize-model harmonizes (one of --methods)",
    )

    other = parser.add_argument_group("Other")
    other.add_argument(
        "-w", "--work-dir", type=Path, default=Path("work"), help="nipype's working directory (reusable)"
    )
    other.add_argument(
        "--config",
        type=_existing_file,
        metavar="FILE",
        help="the settings file a run wrote (<output_dir>/logs/inuprep_settings_*.json): its selection, "
        "methods, self-check, seed, masks, caches, harmonization and work folder, so that a rerun or "
        "--reports-only describes the same methods; options given here win",
    )
    other.add_argument(
        "--reports-only",
        "--reports_only",
        action="store_true",
        help="write the reports again from the outputs already in output_dir (participant: each "
        "participant's page; group: the tables and group.html, no model fitted); nothing is recomputed",
    )
    other.add_argument(
        "--stop-on-first-crash", action="store_true", help="stop at the first failure instead of going on"
    )
    other.add_argument("--write-graph", action="store_true", help="write the workflow graph to the work dir")
    other.add_argument("-v", "--verbose", action="count", default=0, help="more detail (-vv for debug)")
    other.add_argument("--version", action="version", version=f"inuprep {__version__}")
    return parser


#: what a run's settings file (``--config``) gives back, {settings key: (parser dest, conversion)}: what
#: decides the outputs and their methods text; the folders, the level and the resources stay the command's
CONFIG_OPTIONS = {
    "participant_label": ("participant_label", list),
    "session_label": ("session_label", list),
    "bids_filters": ("bids_filter_file", dict),
    "bids_database_dir": ("bids_database_dir", Path),
    "bids_validation": ("skip_bids_validation", lambda value: not value),
    "methods": ("methods", list),
    "self_check": ("self_check", bool),
    "seed": ("seed", int),
    "derivatives": ("derivatives", str),  # argparse checks a string default as it checks the option
    "antsxnet_cache": ("antsxnet_cache", str),
    "harmonize_model": ("harmonize_model", lambda paths: [Path(p) for p in paths] or None),
    "harmonize_correction": ("harmonize_correction", str),
    "work_dir": ("work_dir", Path),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; with ``--config FILE``, the file's settings (:data:`CONFIG_OPTIONS`) are the
    defaults of the options the command line does not give."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config is None:
        return args
    try:
        saved = json.loads(args.config.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        parser.error(f"--config {args.config} is not a settings file of inuprep's ({err})")
    if not isinstance(saved, dict) or "run_uuid" not in saved:
        parser.error(
            f"--config {args.config} is not a settings file of inuprep's (logs/inuprep_settings_*.json)"
        )
    parser.set_defaults(
        **{
            dest: None if saved[key] is None else convert(saved[key])
            for key, (dest, convert) in CONFIG_OPTIONS.items()
            if key in saved
        }
    )
    return parser.parse_args(argv)
