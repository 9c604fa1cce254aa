"""Finding the images to correct in a BIDS dataset with pybids."""

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

NIFTI = [".nii", ".nii.gz"]
#: default pybids queries; ``--bids-filter-file`` updates them key by key
DEFAULT_QUERIES = {
    "t1w": {"datatype": "anat", "suffix": "T1w", "extension": NIFTI},
    "t2w": {"datatype": "anat", "suffix": "T2w", "extension": NIFTI},
    # Dixon has no BIDS suffix: any anat image whose acq- label contains "dixon" (checked below)
    "dixon": {"datatype": "anat", "extension": NIFTI},
}
DIXON_ACQ = re.compile("dixon", re.IGNORECASE)
#: Dixon components from the rec- label, and from the sidecar's ImageType values
REC_COMPONENTS = {
    "water": "water", "w": "water", "fat": "fat", "f": "fat",
    "in": "in", "inphase": "in", "ip": "in",
    "out": "out", "opp": "out", "outphase": "out", "oppphase": "out", "op": "out",
}  # fmt: skip
IMAGETYPE_COMPONENTS = {"W": "water", "WATER": "water", "F": "fat", "FAT": "fat",
                        "IN_PHASE": "in", "IP": "in", "OUT_PHASE": "out", "OP": "out"}  # fmt: skip


class DiscoveryError(ValueError):
    """The dataset or the selection cannot be used; the message is one line naming the fix."""


@dataclass(frozen=True)
class ImageRun:
    """One image to correct: where it is, its BIDS entities and its contrast."""

    path: Path
    subject: str
    contrast: str  # 'T1w', 'T2w' or 'dixon'
    session: str | None = None
    component: str | None = None  # Dixon: water, fat, in, out
    entities: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def label(self) -> str:
        """Return a short name for summaries and node names, e.g. 'T1w' or 'dixon-water'."""
        return f"dixon-{self.component}" if self.contrast == "dixon" else self.contrast


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


def build_queries(filters: dict) -> dict:
    """Return the default queries updated by a filter file's entries."""
    unknown = set(filters) - set(DEFAULT_QUERIES)
    if unknown:
        raise DiscoveryError(
            f"--bids-filter-file: unknown queries {sorted(unknown)}; use {sorted(DEFAULT_QUERIES)}"
        )
    return {key: {**query, **filters.get(key, {})} for key, query in DEFAULT_QUERIES.items()}


def load_layout(bids_dir: Path):
    """Return a pybids layout of ``bids_dir``, or raise DiscoveryError if it is not a BIDS dataset."""
    from bids import BIDSLayout

    if not bids_dir.is_dir():
        raise DiscoveryError(f"{bids_dir}: no such directory; give the root of a BIDS dataset")
    if not (bids_dir / "dataset_description.json").is_file():
        raise DiscoveryError(
            f"{bids_dir}: not a BIDS dataset (no dataset_description.json); "
            "point bids_dir at the dataset root"
        )
    try:
        return BIDSLayout(bids_dir, validate=False)
    except Exception as err:  # pybids raises its own errors for malformed descriptions
        raise DiscoveryError(f"{bids_dir}: pybids cannot index it ({err})") from None


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
            is_dixon = bool(DIXON_ACQ.search(str(entities.get("acquisition", ""))))
            if is_dixon != (key == "dixon"):
                continue
            component = None
            if is_dixon:
                component = dixon_component(entities, bids_file.get_metadata())
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
