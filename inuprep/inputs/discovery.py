"""Finding the images to correct in a BIDS dataset with pybids."""

import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from inuprep.inputs.images import DiscoveryError, ImageRun
from inuprep.utils.bids import split_name

NIFTI = [".nii", ".nii.gz"]
#: default pybids queries; ``--bids-filter-file`` updates them key by key
DEFAULT_QUERIES = {
    "t1w": {"datatype": "anat", "suffix": "T1w", "extension": NIFTI},
    "t2w": {"datatype": "anat", "suffix": "T2w", "extension": NIFTI},
    # Dixon has no BIDS suffix: any anat image whose acq- label contains "dixon" (checked below)
    "dixon": {"datatype": "anat", "extension": NIFTI},
}
DIXON_ACQ = re.compile("dixon", re.IGNORECASE)
#: top-level folders pybids does not index
NOT_INDEXED = ("code", "derivatives", "sourcedata", "stimuli", "models")
#: Dixon components from the rec- label, and from the sidecar's ImageType values
REC_COMPONENTS = {
    "water": "water", "w": "water", "fat": "fat", "f": "fat",
    "in": "in", "inphase": "in", "ip": "in",
    "out": "out", "opp": "out", "outphase": "out", "oppphase": "out", "op": "out",
}  # fmt: skip
IMAGETYPE_COMPONENTS = {"W": "water", "WATER": "water", "F": "fat", "FAT": "fat",
                        "IN_PHASE": "in", "IP": "in", "OUT_PHASE": "out", "OP": "out"}  # fmt: skip
#: acq-/rec- labels of an image reconstructed without, then with, the scanner's receive-field normalisation
#: (Siemens Prescan Normalize, Philips CLEAR, GE PURE; a body-coil reference of the same sequence)
NOT_NORMALISED = re.compile(r"(no|non|un|raw|wo|without)(prescan)?(norm|clear|pure)|^raw$", re.IGNORECASE)
NORMALISED = re.compile(r"norm|clear|pure|^body(coil)?$", re.IGNORECASE)
#: sidecar fields that two reconstructions of one acquisition share
SEQUENCE_FIELDS = ("SequenceName", "RepetitionTime", "EchoTime", "InversionTime", "FlipAngle")


def dixon_component(entities: dict, metadata: dict) -> str | None:
    """Return water/fat/in/out from the rec- label, else from the sidecar's ImageType, else None."""
    rec = str(entities.get("reconstruction", "")).lower()
    if rec in REC_COMPONENTS:
        return REC_COMPONENTS[rec]
    image_type = metadata.get("ImageType") or []
    for value in image_type if isinstance(image_type, list) else [image_type]:
        if str(value).upper() in IMAGETYPE_COMPONENTS:
            return IMAGETYPE_COMPONENTS[str(value).upper()]
    return None


def receive_normalised(entities: dict, metadata: dict) -> bool | None:
    """Return whether the scanner normalised this image for its receive coils' field: True with ``NORM``
    in the sidecar's ImageType or a label such as ``acq-prescannorm`` or ``rec-body``, False with a label
    such as ``acq-noprescannorm`` or an ImageType without ``NORM``, else None (unknown)."""
    image_type = metadata.get("ImageType") or []
    image_type = [str(v).upper() for v in (image_type if isinstance(image_type, list) else [image_type])]
    if "NORM" in image_type:
        return True
    for label in (str(entities.get(key, "")) for key in ("acquisition", "reconstruction")):
        if NOT_NORMALISED.search(label):
            return False
        if NORMALISED.search(label):
            return True
    return False if image_type else None


def build_queries(filters: dict) -> dict:
    """Return the default queries updated by a filter file's entries."""
    unknown = set(filters) - set(DEFAULT_QUERIES)
    if unknown:
        raise DiscoveryError(
            f"--bids-filter-file: unknown queries {sorted(unknown)}; use {sorted(DEFAULT_QUERIES)}"
        )
    return {key: {**query, **filters.get(key, {})} for key, query in DEFAULT_QUERIES.items()}


def check_bids_root(bids_dir: Path) -> None:
    """Raise DiscoveryError unless ``bids_dir`` is the root of a BIDS dataset (a container's unbound path)."""
    if not bids_dir.is_dir():
        raise DiscoveryError(f"{bids_dir}: no such directory; give the root of a BIDS dataset")
    if not (bids_dir / "dataset_description.json").is_file():
        raise DiscoveryError(
            f"{bids_dir}: not a BIDS dataset (no dataset_description.json); "
            "point bids_dir at the dataset root (in a container: bind it there)"
        )


def malformed_sidecars(bids_dir: Path) -> dict[Path, str]:
    """Return {JSON file: why it does not load} for the dataset's unreadable or malformed JSON files.

    pybids refuses a whole dataset over one of them; the App sets them aside so that only the images they
    describe fail. A missing git-annex or DataLad content (a broken link) counts as unreadable.
    """
    bad = {}
    for folder, dirs, files in os.walk(bids_dir):
        top = Path(folder) == bids_dir
        dirs[:] = [d for d in dirs if not d.startswith(".") and not (top and d in NOT_INDEXED)]
        for name in files:
            path = Path(folder) / name
            if name.endswith(".json") and not (top and name == "dataset_description.json"):
                try:
                    json.loads(path.read_bytes())
                except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                    bad[path] = str(err)
    return bad


def describes(sidecar: Path, image: Path) -> bool:
    """Return whether the BIDS inheritance principle applies ``sidecar`` to ``image``."""
    *pairs, suffix = sidecar.name.removesuffix(".json").split("_")
    entities, image_suffix, _ = split_name(image)
    own = {tuple(pair.split("-", 1)) for pair in pairs}
    return image.is_relative_to(sidecar.parent) and suffix == image_suffix and own <= set(entities)


def load_layout(bids_dir: Path, ignore=(), database: Path | None = None):
    """Return a pybids layout of ``bids_dir`` without the files ``ignore``, or raise DiscoveryError.

    With ``database`` (``--bids-database-dir``) the index is read from that folder, and built there first
    when it holds none: into a sibling folder renamed into place, so that the tasks of an array that start
    together never read a half-written index (the first rename wins; the others read it).
    """
    import shutil
    import tempfile

    from bids import BIDSLayout, BIDSLayoutIndexer
    from bids.layout.db import ConnectionManager
    from bids.layout.validation import DEFAULT_LOCATIONS_TO_IGNORE

    check_bids_root(bids_dir)
    indexer = BIDSLayoutIndexer(ignore=[*DEFAULT_LOCATIONS_TO_IGNORE, *ignore])
    try:
        if database is None:
            return BIDSLayout(bids_dir, validate=False, indexer=indexer)
        if not ConnectionManager.exists(database):
            database.parent.mkdir(parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(prefix=f".{database.name}-", dir=database.parent))
            BIDSLayout(bids_dir, validate=False, indexer=indexer, database_path=building)
            try:
                building.rename(database)  # onto nothing, or onto an empty folder the user made
            except OSError:  # another task's index is there already
                shutil.rmtree(building, ignore_errors=True)
        layout = BIDSLayout(database_path=database, validate=False)
    except Exception as err:  # pybids raises its own errors for malformed descriptions
        raise DiscoveryError(f"{bids_dir}: pybids cannot index it ({err})") from None
    if Path(layout.root) != bids_dir.absolute():
        raise DiscoveryError(
            f"--bids-database-dir {database} indexes {layout.root}, not {bids_dir}; give each dataset (and "
            "each path it is mounted at) a folder of its own"
        )
    return layout


@dataclass(frozen=True)
class Discovery:
    """What a run found in its input dataset: the pybids index (built once per run), the images selected,
    warnings about images skipped, and the sidecars set aside as malformed (``{path: why}``)."""

    layout: object
    runs: list[ImageRun]
    warnings: list[str]
    bad_sidecars: dict[Path, str]

    def select(self, participants=(), sessions=(), filters: dict | None = None) -> list[ImageRun]:
        """Return another selection of images from the same index (e.g. a harmonization's references)."""
        return discover_runs(self.layout, participants, sessions, filters)[0]


def discover(
    bids_dir: Path,
    participants: tuple[str, ...] = (),
    sessions: tuple[str, ...] = (),
    filters=None,
    database: Path | None = None,
) -> Discovery:
    """Index ``bids_dir`` once (malformed sidecars set aside; with ``database``, an index kept there) and
    select its images; raise DiscoveryError for a dataset pybids cannot index or participants it lacks."""
    bad_sidecars = malformed_sidecars(bids_dir)
    layout = load_layout(bids_dir, ignore=bad_sidecars, database=database)
    runs, warnings = discover_runs(layout, participants, sessions, filters)
    return Discovery(layout, runs, warnings, bad_sidecars)


def discover_runs(
    layout, participants: tuple[str, ...] = (), sessions: tuple[str, ...] = (), filters: dict | None = None
) -> tuple[list[ImageRun], list[str]]:
    """Return the images to correct, sorted by path, and warnings about images that were skipped."""
    available = layout.get_subjects()
    missing = [p for p in participants if p not in available]
    if missing:
        raise DiscoveryError(
            f"participant(s) {', '.join(missing)} not found in {layout.root}; "
            f"available: {', '.join(sorted(available)) or 'none'}"
        )
    selection = {"subject": list(participants)} if participants else {}
    if sessions:
        selection["session"] = list(sessions)
    runs, warnings = [], []
    for key, query in build_queries(filters or {}).items():
        for bids_file in layout.get(**{**query, **selection}):
            entities = bids_file.get_entities()
            if "subject" not in entities:  # a template (tpl-<label>) or other non-participant image
                continue
            is_dixon = bool(DIXON_ACQ.search(str(entities.get("acquisition", ""))))
            if is_dixon != (key == "dixon"):
                continue
            component, metadata = None, bids_file.get_metadata()
            if is_dixon:
                component = dixon_component(entities, metadata)
                if component is None:
                    warnings.append(
                        f"{bids_file.path}: Dixon component unknown; name it with rec-water/fat/in/out "
                        "or an ImageType in the sidecar. Skipped."
                    )
                    continue
            runs.append(
                ImageRun(
                    path=Path(bids_file.path),
                    subject=entities["subject"],
                    session=entities.get("session"),
                    contrast={"t1w": "T1w", "t2w": "T2w", "dixon": "dixon"}[key],
                    component=component,
                    entities=entities,
                    normalised=receive_normalised(entities, metadata),
                    sequence=tuple(metadata.get(key) for key in SEQUENCE_FIELDS),
                )
            )
    unique = {run.path: run for run in runs}
    return sorted(unique.values(), key=lambda run: str(run.path)), warnings


def summarize(runs: list[ImageRun]) -> str:
    """Return a short, human summary of what will be processed."""
    by_subject = defaultdict(list)
    for run in runs:
        by_subject[run.subject].append(run)
    lines = [f"{len(runs)} image(s) from {len(by_subject)} participant(s):"]
    for subject, subject_runs in sorted(by_subject.items()):
        counts = defaultdict(int)
        for run in subject_runs:
            counts[run.label] += 1
        sessions = sorted({run.session for run in subject_runs if run.session})
        where = f" in session(s) {', '.join(sessions)}" if sessions else ""
        parts = ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
        lines.append(f"  sub-{subject}: {parts}{where}")
    return "\n".join(lines)


def site_of(layout, run: ImageRun) -> str:
    """Return the scanner and protocol ``run`` was acquired with, for grouping images by site: its
    sidecar's Manufacturer and ManufacturersModelName and its acq- entity, those known (else 'unknown')."""
    metadata = layout.get_metadata(str(run.path))
    scanner = " ".join(
        str(metadata[key]) for key in ("Manufacturer", "ManufacturersModelName") if key in metadata
    )
    acquisition = run.entities.get("acquisition")
    parts = [scanner] * bool(scanner) + [f"acq-{acquisition}"] * bool(acquisition)
    return " / ".join(parts) or "unknown"
