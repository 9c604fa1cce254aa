"""The datasets the demo and the tests write pass the reference BIDS validator (npm ``bids-validator``).

Validator 1.x checks raw datasets only (a derivatives folder's ``desc-`` outputs are NOT_INCLUDED to it), so
the App's outputs are checked by pybids' indexing in ``test_derivatives.py`` instead. The validator comes
from ``make test`` (``build/node``; ``INUPREP_BIDS_VALIDATOR`` names another); without node these tests skip.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, make_bids


@pytest.fixture(scope="module")
def validator() -> str:
    if not shutil.which("node"):
        pytest.skip("node is not installed: the BIDS validator (npm bids-validator) cannot run")
    found = os.environ.get("INUPREP_BIDS_VALIDATOR") or shutil.which("bids-validator")
    local = ROOT / "build" / "node" / "node_modules" / ".bin" / "bids-validator"
    found = found or (str(local) if local.is_file() else None)
    assert found, "bids-validator missing: make test installs it (npm install bids-validator@1.15.0)"
    return found


def validate(validator: str, dataset: Path) -> dict[str, list[str]]:
    """Return {'errors': [...], 'warnings': [...]} (issue keys) of the validator on ``dataset``."""
    result = subprocess.run([validator, "--json", str(dataset)], capture_output=True, text=True, timeout=300)
    issues = json.loads(result.stdout)["issues"]
    return {kind: [issue["key"] for issue in issues[kind]] for kind in ("errors", "warnings")}


def test_the_demo_dataset_is_valid_bids_without_warnings(validator, tmp_path):
    from inuprep.cli.demo import build_demo_dataset

    dataset = build_demo_dataset(tmp_path / "bids", zoom=4.0)
    assert validate(validator, dataset) == {"errors": [], "warnings": []}


def test_the_tests_datasets_are_valid_bids(validator, tmp_path):
    anat = "sub-01/ses-1/anat/sub-01_ses-1"
    names = [f"{anat}_run-1_T1w.nii.gz", f"{anat}_run-2_T1w.nii.gz", f"{anat}_T2w.nii.gz",
             f"{anat}_acq-dixon_rec-water_T1w.nii.gz", f"{anat}_acq-dixon_rec-fat_T1w.nii.gz",
             "sub-01/ses-2/anat/sub-01_ses-2_T1w.nii.gz", "sub-02/anat/sub-02_T1w.nii.gz"]  # fmt: skip
    rng = np.random.default_rng(0)  # the validator refuses a NIfTI too small to hold an image
    dataset = make_bids(tmp_path / "bids", {name: rng.random((16, 16, 16)) for name in names})
    issues = validate(validator, dataset)
    assert issues["errors"] == [], issues
    # sessions in one participant only: the validator asks whether sub-02's are missing, rightly
    assert set(issues["warnings"]) <= {"INCONSISTENT_SUBJECTS", "MISSING_SESSION"}, issues
    # and a name BIDS does not know is an error, so this check can fail
    (dataset / "sub-02" / "anat" / "sub-02_T1w.nii.gz").rename(
        dataset / "sub-02" / "anat" / "sub-02_T1.nii.gz"
    )
    assert validate(validator, dataset)["errors"]
