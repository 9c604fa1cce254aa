"""The datasets inuprep writes and reads pass the schema-based BIDS validator (``bids-validator-deno``, PyPI).

The validator comes with ``pip install .[test]``; it applies the derivative rules to a folder whose
``DatasetType`` is ``derivative``, so the App's outputs of both levels are checked as well as the inputs.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import inuprep, make_bids

#: warnings of raw datasets made by code (no scanner sidecars): recommended keys only
RECOMMENDED = {"SIDECAR_KEY_RECOMMENDED", "JSON_KEY_RECOMMENDED"}


def validator() -> str:
    found = shutil.which("bids-validator-deno") or str(Path(sys.executable).parent / "bids-validator-deno")
    assert Path(found).is_file(), "bids-validator-deno missing: pip install .[test] installs it"
    return found


def validate(dataset: Path) -> dict[str, list[str]]:
    """Return {'errors': [...], 'warnings': [...]} ('CODE location') of the validator on ``dataset``."""
    result = subprocess.run(
        [validator(), "--format", "json", str(dataset)], capture_output=True, text=True, timeout=300
    )
    issues = {"errors": [], "warnings": []}
    for issue in json.loads(result.stdout)["issues"]["issues"]:
        kind = "errors" if issue["severity"] == "error" else "warnings"
        issues[kind].append(f"{issue['code']} {issue.get('location', '')}")
    return issues


def codes(issues: list[str]) -> set[str]:
    return {issue.split()[0] for issue in issues}


@pytest.mark.smoke
def test_the_demo_dataset_is_valid_bids(tmp_path):
    from inuprep.cli.demo import build_demo_dataset

    issues = validate(build_demo_dataset(tmp_path / "bids", zoom=4.0))
    assert issues["errors"] == [] and codes(issues["warnings"]) <= RECOMMENDED, issues


@pytest.mark.smoke
def test_the_tests_datasets_are_valid_bids(tmp_path):
    anat = "sub-01/ses-1/anat/sub-01_ses-1"
    names = [f"{anat}_run-1_T1w.nii.gz", f"{anat}_run-2_T1w.nii.gz", f"{anat}_T2w.nii.gz",
             f"{anat}_acq-dixon_rec-water_T1w.nii.gz", f"{anat}_acq-dixon_rec-fat_T1w.nii.gz",
             "sub-01/ses-2/anat/sub-01_ses-2_T1w.nii.gz", "sub-02/anat/sub-02_T1w.nii.gz"]  # fmt: skip
    rng = np.random.default_rng(0)
    dataset = make_bids(tmp_path / "bids", {name: rng.random((16, 16, 16)) for name in names})
    issues = validate(dataset)
    assert issues["errors"] == [], issues
    # sessions in one participant only: the validator asks whether sub-02's are missing, rightly
    assert codes(issues["warnings"]) <= RECOMMENDED | {"MISSING_SESSION"}, issues
    # and a name BIDS does not know is an error, so this check can fail
    (dataset / "sub-02" / "anat" / "sub-02_T1w.nii.gz").rename(
        dataset / "sub-02" / "anat" / "sub-02_T1.nii.gz"
    )
    assert validate(dataset)["errors"]


def test_both_levels_outputs_are_valid_derivatives(group_run, tmp_path):
    """The shared run (T1w runs and sessions, a T2w, a Dixon pair, every method, the user's masks and a known
    field, --self-check), then the group level: no error, no warning."""
    result, _, finished = group_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert validate(finished) == {"errors": [], "warnings": []}
    # the check can fail: a name of the earlier scheme (mod- is a raw-data entity) is an error
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    anat = out / "sub-01" / "ses-1" / "anat"
    (anat / "sub-01_ses-1_run-1_space-T1w_dseg.nii.gz").rename(
        anat / "sub-01_ses-1_run-1_mod-T1w_dseg.nii.gz"
    )
    assert "ALL_FILENAME_RULES_HAVE_ISSUES" in codes(validate(out)["errors"])


def test_the_app_fails_a_participant_the_validator_rejects_unless_told_to_skip(tmp_path, mni_3mm):
    from inuprep.simulation.fields import simulate_bias

    t1 = simulate_bias(mni_3mm.get_fdata(dtype=np.float32), 2.0, 1)[1]
    files = {f"sub-0{n}/anat/sub-0{n}_T1w.nii.gz": t1 for n in (1, 2)}
    bids = make_bids(tmp_path / "bids", files, affine=mni_3mm.affine)
    (bids / "sub-02/anat/sub-02_notes.txt").write_text("acquired twice\n")
    argv = ["-w", tmp_path / "work", "--methods", "n4", "--nprocs", 2]
    checked = inuprep(bids, tmp_path / "out", "participant", *argv, cwd=tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "sub-01: done" in checked.stdout
    failed = [line for line in checked.stderr.splitlines() if "sub-02_notes.txt" in line]
    assert failed and all("NOT_INCLUDED" in line and "--skip-bids-validation" in line for line in failed)
    assert (
        "BIDS validation (bids-validator-deno): errors in 1 of 2 participant(s); warnings: " in checked.stdout
    )
    assert not list((tmp_path / "out").glob("sub-02/anat/*"))
    skipped = inuprep(
        bids, tmp_path / "out", "participant", *argv, "--participant_label", "02", "--skip_bids_validation",
        cwd=tmp_path,
    )  # fmt: skip
    assert skipped.returncode == 0 and "sub-02: done" in skipped.stdout, skipped.stdout + skipped.stderr
    assert "BIDS validator" not in skipped.stderr
