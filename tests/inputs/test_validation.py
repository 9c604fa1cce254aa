"""The input checked by the schema-based BIDS validator: per selected participant, the dataset's own errors
stop the run."""

import json

import numpy as np

from conftest import make_bids
from inuprep.inputs.validation import find_validator, validate_dataset


def test_only_the_selected_participants_are_checked_and_each_error_names_its_file(tmp_path):
    rng = np.random.default_rng(0)
    files = {f"sub-0{n}/anat/sub-0{n}_T1w.nii.gz": rng.random((16, 16, 16)) for n in (1, 2)}
    bids = make_bids(tmp_path / "bids", files)
    (bids / "sub-02/anat/sub-02_notes.txt").write_text("acquired twice\n")  # no such BIDS file
    validator = find_validator()
    assert validator, "bids-validator-deno missing: pip install .[test] installs it"
    assert validate_dataset(bids, {"01"}, validator).errors == {}
    found = validate_dataset(bids, {"01", "02"}, validator)
    assert list(found.errors) == ["02"] and len(found.errors["02"]) == 1
    line = found.errors["02"][0]
    assert line.startswith(f"{bids}/sub-02/anat/sub-02_notes.txt: the BIDS validator says NOT_INCLUDED")
    assert line.endswith("--skip-bids-validation") and "\n" not in line
    assert found.warnings  # no scanner sidecars: recommended keys are missing
    # an error of the dataset itself belongs to no participant
    description = json.loads((bids / "dataset_description.json").read_text())
    (bids / "dataset_description.json").write_text(json.dumps({**description, "Authors": "me"}))
    assert "dataset_description.json" in validate_dataset(bids, {"01"}, validator).errors[""][0]
