"""The self-check: each method's error estimated from what it left in the image; the lowest is recommended."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import save
from inuprep.evaluation.selfcheck import (
    BLOCK_MM,
    GRID_MM,
    SIGNAL_TEXT,
    SIGNALS,
    WEIGHTS,
    SelfCheckResult,
    methods_text,
    self_check,
    subsampled,
)
from inuprep.methods import METHODS
from inuprep.simulation.fields import random_field, simulate_bias


@pytest.fixture(scope="module")
def anatomy_3mm():
    """MNI152 at 3 mm: the clean image, its GM and WM masks and its affine."""
    from inuprep.simulation.fields import template_anatomy

    clean, wm, gm, affine = template_anatomy(3.0)
    return clean, gm & ~wm, wm, affine


def test_the_grid_keeps_every_kth_voxel():
    step, grid = subsampled((1.0, 1.5, 3.0), grid_mm=2.0)
    assert grid == (2.0, 1.5, 3.0)
    assert step == (slice(None, None, 2), slice(None, None, 1), slice(None, None, 1))


def test_images_with_the_same_anatomy_and_different_fields_get_different_recommendations(anatomy_3mm):
    """Two methods whose fields are fixed: one is the field of the first image, the other that of the second.
    A check that cannot see an image's own field (one that judges how a method behaves on the anatomy) gives
    both images the same answer; this one must trust, in each image, the method whose field is its own."""
    clean, gm, wm, _ = anatomy_3mm
    brain = gm | wm
    coil, ramp = (random_field(family, clean.shape, 2.0, 7, brain) for family in ("coil", "linear"))
    fields = {"n4": coil, "zeroshot": ramp}
    first = self_check(clean * coil, (3.0, 3.0, 3.0), fields, [gm, wm], pure=1)
    second = self_check(clean * ramp, (3.0, 3.0, 3.0), fields, [gm, wm], pure=1)
    assert (first.recommended, second.recommended) == ("n4", "zeroshot")
    # the leftover is what sees the image: each image's own field leaves the smaller spread in it
    leftover = [{m: check.signals[m]["leftover"] for m in fields} for check in (first, second)]
    assert leftover[0]["n4"] < leftover[0]["zeroshot"] and leftover[1]["zeroshot"] < leftover[1]["n4"]


def test_a_shrunk_field_is_estimated_worse_than_the_whole_one(anatomy_3mm):
    clean, gm, wm, _ = anatomy_3mm
    field = random_field("bspline", clean.shape, 2.5, 8, gm | wm)
    fields = {"n4": np.sqrt(field), "zeroshot": field, "implicit": field**0.75}
    check = self_check(clean * field, (3.0, 3.0, 3.0), fields, [gm, wm], pure=1)
    estimates = check.estimates
    assert check.recommended == "zeroshot" and estimates["zeroshot"] < estimates["implicit"] < estimates["n4"]
    assert sum(estimates.values()) == pytest.approx(0, abs=1e-12)  # against the methods' mean
    record = json.loads(json.dumps(check.to_dict()))  # as the sidecar holds it
    assert set(record) >= {"Recommended", "EstimatedErrors", "DecidingSignal", "Signals", "Weights"}
    assert record["GridMM"] == [3.0, 3.0, 3.0] and record["Recommended"] == "zeroshot"
    # the record explains itself: its signals and weights give its estimates (signals rounded to 1e-5)
    again = SelfCheckResult(record["Signals"], record["Weights"]).estimates
    assert again == pytest.approx(record["EstimatedErrors"], abs=20 * 1e-5 * sum(map(abs, WEIGHTS.values())))


def test_the_deciding_signal_is_the_one_that_gave_the_lead():
    signals = {"n4": {"leftover": 0.03, "amplitude": 0.1}, "zeroshot": {"leftover": 0.01, "amplitude": 0.1}}
    check = SelfCheckResult(signals, {"leftover": 1.0, "amplitude": -1.0})
    assert check.recommended == "zeroshot" and check.deciding == "leftover"
    check = SelfCheckResult({**signals, "zeroshot": {"leftover": 0.03, "amplitude": 0.2}}, check.weights)
    assert check.recommended == "zeroshot" and check.deciding == "amplitude"


@pytest.mark.slow
def test_inuprep_recommend_corrects_checks_prints_and_writes(anatomy_3mm, tmp_path):
    clean, *_, affine = anatomy_3mm
    _, biased = simulate_bias(clean, 2.0, 5, "coil", clean > 0.1 * clean.max())
    image = save(biased, tmp_path / "scan.nii.gz", affine)
    command = [sys.executable, "-m", "inuprep.evaluation.run", image, "--json", tmp_path / "check.json",
               "--methods", "n4", "implicit"]  # fmt: skip
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "check.json").read_text())
    assert set(record["EstimatedErrors"]) == {"n4", "implicit"} and record["Tissues"].startswith("3-class")
    assert f"{METHODS[record['Recommended']].label}" in done.stdout and "<- recommended" in done.stdout
    # bad input: one line, exit 2, nothing written
    (tmp_path / "notes.txt").write_text("not an image")
    bad = subprocess.run([sys.executable, "-m", "inuprep.evaluation.run", str(tmp_path / "notes.txt"),
                          "--json", str(tmp_path / "bad.json")], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "notes.txt" in bad.stderr
    assert not (tmp_path / "bad.json").exists()


def test_inuprep_recommend_refuses_bad_masks_and_one_method_in_one_line(anatomy_3mm, tmp_path, call_main):
    """In this process (the command's own exit code and stderr: the test above)."""
    from inuprep.evaluation.run import main

    image = save(anatomy_3mm[0], tmp_path / "scan.nii.gz", anatomy_3mm[3])
    labels = save(np.ones((4, 4, 4)), tmp_path / "labels_dseg.nii.gz")
    (tmp_path / "labels_dseg.tsv").write_text("index\tname\n1\tWM\n")
    code, _, err = call_main(main, image, "--dseg", labels, "--json", tmp_path / "check.json")
    assert code == 2 and err.count("\n") == 1 and "not on the grid" in err
    code, _, err = call_main(main, image, "--methods", "n4")
    assert code == 2 and "two methods at least" in err
    assert not (tmp_path / "check.json").exists()


def test_blocks_without_enough_white_matter_give_no_leftover():
    from inuprep.evaluation.selfcheck import block_spread

    where = (np.arange(10), np.zeros(10, int), np.zeros(10, int))
    assert block_spread(np.arange(10.0), where, 8) == 0.0  # fewer than 30 voxels a block
    assert block_spread(np.array([]), (np.array([], int),) * 3, 8) == 0.0
    many = np.repeat([0, 8], 40)  # two full blocks, medians 0 and 1
    assert block_spread(np.repeat([0.0, 1.0], 40), (many, many * 0, many * 0), 8) == pytest.approx(0.5)


def test_the_methods_text_says_what_the_check_runs():
    """Written from the constants: the grid, the blocks, and only the signals that carry a weight."""
    text = methods_text()
    assert f"a grid of about {GRID_MM:g} mm" in text and f"blocks of about {BLOCK_MM:g} mm" in text
    for signal in SIGNALS:
        assert (SIGNAL_TEXT[signal] in text) == bool(WEIGHTS[signal]), signal
    single = [signal for signal in SIGNALS if WEIGHTS[signal]]
    if len(single) == 1:
        assert f"scaled by {WEIGHTS[single[0]]:g}" in text and "weighted sum" not in text
    both = methods_text({"leftover": 2.0, "amplitude": 0.5, "agreement": 0.0, "roughness": 0.0})
    assert (
        "weighted sum" in both and SIGNAL_TEXT["amplitude"] in both and SIGNAL_TEXT["roughness"] not in both
    )


def test_the_app_cites_the_check_in_its_own_words(tmp_path):
    from inuprep.inputs.images import ImagePlan, ImageRun
    from inuprep.workflows.single_image import describe_image

    plan = ImagePlan(ImageRun(path=tmp_path / "sub-01_T1w.nii.gz", subject="01", contrast="T1w"))
    assert describe_image(plan, self_check=True).endswith(methods_text())
    assert methods_text() not in describe_image(plan)
