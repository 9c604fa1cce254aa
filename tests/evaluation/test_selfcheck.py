"""The self-check: the method that recovers known probe fields on this image is recommended."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import save
from inuprep.evaluation.selfcheck import coarse, self_check
from inuprep.methods import METHODS
from inuprep.simulation.fields import simulate_bias


def corrector(name: str, **settings):
    """A real method with the given settings (the check gives each its data, zooms and mask)."""
    method = METHODS[name]
    chosen = method.settings(**settings)
    return lambda data, zooms, mask: method.run(data, zooms, mask, chosen.resolved(zooms), 2, "cpu")[:2]


@pytest.fixture(scope="module")
def biased_4mm():
    from inuprep.image import foreground_mask
    from inuprep.simulation.fields import template_anatomy

    clean, _, _, affine = template_anatomy(4.0)
    _, biased = simulate_bias(clean, 2.0, 5, "coil", clean > 0.1 * clean.max())
    return biased, foreground_mask(biased), affine


def test_the_coarse_grid_subsamples_voxels():
    data = np.arange(4 * 6 * 5, dtype=np.float32).reshape(4, 6, 5)
    small, zooms, mask = coarse(data, (1.0, 1.5, 3.0), data > 10, grid_mm=3.0)
    assert zooms == (3.0, 3.0, 6.0) and small.shape == mask.shape == (1, 3, 2)  # every 2nd voxel at least
    assert small[0, 0, 0] == data[1, 1, 1]  # the middle voxel of each block: no tissue mixed
    assert set(np.unique(small)) <= set(np.unique(data))


@pytest.mark.slow
def test_the_method_that_recovers_the_probes_is_recommended(biased_4mm):
    """Each way round: a method crippled so that it recovers nothing (N4 with one iteration at one level
    and a 1 m control-point spacing; the zero-shot network with 2 steps) loses to the other at its
    defaults, and its errors say why (its recovered field's slope is near 0)."""
    biased, mask, _ = biased_4mm
    zooms = (4.0, 4.0, 4.0)
    n4_only = self_check(biased, zooms, mask, {
        "n4": corrector("n4"), "zeroshot": corrector("zeroshot", iterations=2)})  # fmt: skip
    assert n4_only.recommended == "n4"
    assert np.mean(n4_only.slopes["zeroshot"]) < 0.2 < 0.6 < np.mean(n4_only.slopes["n4"])
    zeroshot_only = self_check(biased, zooms, mask, {
        "n4": corrector("n4", iterations=(1,), spline_distance_mm=1000.0),
        "zeroshot": corrector("zeroshot")})  # fmt: skip
    assert zeroshot_only.recommended == "zeroshot"
    errors = zeroshot_only.mean_errors()
    assert errors["zeroshot"] < 0.5 * errors["n4"]
    record = zeroshot_only.to_dict()
    assert record["Recommended"] == "zeroshot" and len(record["Errors"]["n4"]) == len(record["Probes"]) == 4
    assert record["GridMM"] == [8.0, 8.0, 8.0]  # 4 mm voxels: every second one


@pytest.mark.slow
def test_inuprep_recommend_prints_and_writes_the_check(biased_4mm, tmp_path):
    biased, _, affine = biased_4mm
    image = save(biased, tmp_path / "scan.nii.gz", affine)
    command = [sys.executable, "-m", "inuprep.evaluation.run", image, "--json", tmp_path / "check.json",
               "--methods", "n4", "implicit"]  # fmt: skip
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "check.json").read_text())
    assert set(record["MeanErrors"]) == {"n4", "implicit"}
    assert f"{METHODS[record['Recommended']].label}" in done.stdout and "<- recommended" in done.stdout
    # bad input: one line, exit 2, nothing written
    (tmp_path / "notes.txt").write_text("not an image")
    bad = subprocess.run([sys.executable, "-m", "inuprep.evaluation.run", str(tmp_path / "notes.txt"),
                          "--json", str(tmp_path / "bad.json")], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "notes.txt" in bad.stderr
    assert not (tmp_path / "bad.json").exists()
    one = subprocess.run([sys.executable, "-m", "inuprep.evaluation.run", image, "--methods", "n4"],
                         capture_output=True, text=True)  # fmt: skip
    assert one.returncode == 2 and "two methods at least" in one.stderr
