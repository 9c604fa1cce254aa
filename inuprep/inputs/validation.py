"""The input dataset checked by the schema-based BIDS validator (``bids-validator-deno``), when installed.

Only the selected participants are checked, as fMRIPrep does: the validator runs on a folder of links to
the dataset's top-level files and to those participants' folders, so an array task checks its own
participant and a broken file of another participant costs nobody else.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

VALIDATOR = "bids-validator-deno"


@dataclass
class Validation:
    """What the validator found: one-line errors per participant ("" for the dataset) and warning counts."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: Counter = field(default_factory=Counter)


def find_validator() -> str | None:
    """Return the validator's executable (on PATH or beside this Python), else None."""
    beside = Path(sys.executable).parent / VALIDATOR
    return shutil.which(VALIDATOR) or (str(beside) if beside.is_file() else None)


def validate_dataset(
    bids_dir: Path, subjects: set[str], executable: str, scratch: Path | None = None, timeout: float = 600
) -> Validation:
    """Return the validator's errors and warnings on ``subjects`` of ``bids_dir`` (the links in a temporary
    folder of ``scratch``: a container's /tmp may be read-only).

    Raises OSError when the validator cannot run or its answer cannot be read.
    """
    with tempfile.TemporaryDirectory(prefix="inuprep-validate-", dir=scratch) as folder:
        view = Path(folder) / bids_dir.name
        view.mkdir()
        for path in bids_dir.iterdir():
            is_subject = path.is_dir() and path.name.startswith("sub-")
            if not is_subject or path.name.removeprefix("sub-") in subjects:
                (view / path.name).symlink_to(path.absolute())
        try:
            result = subprocess.run(
                [executable, "--format", "json", str(view)], capture_output=True, text=True, timeout=timeout
            )
            issues = json.loads(result.stdout)["issues"]["issues"]
        except (subprocess.SubprocessError, ValueError, KeyError, TypeError) as err:
            raise OSError(f"{VALIDATOR} gave no answer ({type(err).__name__})") from None
    found, by_file = Validation(), {}
    for issue in issues:
        if issue.get("severity") != "error":
            found.warnings[issue.get("code", "?")] += 1
            continue
        message = (issue.get("issueMessage") or "").strip().splitlines()
        why = f"{issue.get('code')}" + (f" ({message[0].rstrip('.')})" if message else "")
        reasons = by_file.setdefault(issue.get("location", "").lstrip("/"), [])
        if why not in reasons:
            reasons.append(why)
    for location, reasons in by_file.items():
        subject = location.split("/")[0].removeprefix("sub-") if location.startswith("sub-") else ""
        found.errors.setdefault(subject, []).append(
            f"{bids_dir / location}: the BIDS validator says {', '.join(reasons)}; fix it or pass "
            "--skip-bids-validation"
        )
    return found
