"""``inuprep-correct``, the standalone corrector, run as a real process."""

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import nibabel as nb
import numpy as np
import pytest

from conftest import save, small_disk
from inuprep.methods import METHODS
from inuprep.simulation.fields import polynomial_field

pytestmark = pytest.mark.slow  # runs the App or the corrector as processes


def correct(*argv):
    command = [sys.executable, "-m", "inuprep.methods.run", *map(str, argv)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def biased_file(tmp_path_factory, mni_3mm):
    data = mni_3mm.get_fdata(dtype=np.float32) * polynomial_field(mni_3mm.shape, max_ratio=2.5, seed=2)
    path = tmp_path_factory.mktemp("correct") / "in.nii.gz"
    img = nb.Nifti1Image(data, mni_3mm.affine)
    img.header["descrip"] = b"kept"
    img.to_filename(path)
    return path


@pytest.mark.parametrize(
    "method, options", [("zeroshot", ["--iterations", 30]), ("n4", []), ("implicit", [])]
)
def test_writes_image_field_and_sidecar(biased_file, tmp_path, method, options):
    out, field = tmp_path / "out.nii.gz", tmp_path / "field.nii.gz"
    result = correct(biased_file, out, "--method", method, "--field", field, *options)
    assert result.returncode == 0, result.stderr
    source, corrected, estimate = nb.load(biased_file), nb.load(out), nb.load(field)
    assert corrected.shape == estimate.shape == source.shape
    assert np.allclose(corrected.affine, source.affine)
    assert corrected.header["descrip"] == b"kept"
    data = source.get_fdata()
    positive = data > 0
    product = corrected.get_fdata()[positive] * estimate.get_fdata()[positive]
    assert np.allclose(product, data[positive], rtol=1e-3)
    sidecar = json.loads((tmp_path / "out.json").read_text())
    assert sidecar["BiasCorrectionMethod"] == METHODS[method].label
    if method == "implicit":  # one pass of the shipped network, named by its checksum
        assert sidecar["Device"] == "cpu" and len(sidecar["BiasCorrectionParameters"]["weights_sha256"]) == 64
    if method == "zeroshot":
        assert len(sidecar["Losses"]) == 30 and sidecar["Device"] == "cpu"
        parameters = sidecar["BiasCorrectionParameters"]  # resolved, not the 0 placeholders
        assert parameters["variant"] == "local" and parameters["learning_rate"] == 0.02
        assert parameters["block_mm"] == 60.0
        assert parameters["smoothness_weight"] == 2.0 and parameters["sharpen_fwhm"] == 0.08
        assert parameters["input_downsample"] == 5  # a ~16 mm grid for 3 mm voxels
        steps = [
            line.split(",")[0] for line in result.stdout.splitlines() if line.startswith("zero-shot: step")
        ]
        assert steps == [f"zero-shot: step {n}/30" for n in (7, 14, 21, 28, 30)]
    assert re.search(r"(zero-shot|N4|implicit): corrected in \d+\.\d s", result.stdout)


def test_paper_variant_and_dixon_learning_rate(biased_file, tmp_path):
    out = tmp_path / "out.nii.gz"
    result = correct(biased_file, out, "--variant", "paper", "--learning-rate", 0.0005, "--iterations", 5)
    assert result.returncode == 0, result.stderr
    parameters = json.loads((tmp_path / "out.json").read_text())["BiasCorrectionParameters"]
    assert parameters["variant"] == "paper" and parameters["learning_rate"] == 0.0005
    assert parameters["input_downsample"] == 8 and parameters["iterations"] == 5


def test_same_seed_same_bytes(biased_file, tmp_path):
    for name in ("a", "b"):
        assert correct(biased_file, tmp_path / f"{name}.nii", "--seed", 5, "--iterations", 10).returncode == 0
    first = nb.load(tmp_path / "a.nii").get_fdata()
    assert np.array_equal(first, nb.load(tmp_path / "b.nii").get_fdata())


def test_the_console_script_exits_2_with_one_line_and_no_output(tmp_path):
    """One bad input as the installed command (the others in-process: tests/methods/test_correct_input.py)."""
    path = tmp_path / "bad.nii.gz"
    path.write_bytes(gzip.compress(b"garbage"))
    command = [Path(sys.executable).with_name("inuprep-correct"), path, tmp_path / "out.nii.gz"]
    result = subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=300)
    assert (
        result.returncode == 2 and result.stderr.count("\n") == 1 and "not a readable NIfTI" in result.stderr
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nii.gz"]


def test_cuda_path(biased_file, tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    result = correct(biased_file, tmp_path / "out.nii.gz", "--device", "cuda", "--iterations", 10)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out.json").read_text())["Device"] == "cuda"


def test_mask_option(biased_file, tmp_path, mni_3mm):
    full = save(np.ones(mni_3mm.shape), tmp_path / "ones.nii.gz", mni_3mm.affine)
    result = correct(biased_file, tmp_path / "out.nii.gz", "--mask", full, "--method", "n4")
    assert result.returncode == 0, result.stderr
    assert "Mask" not in json.loads((tmp_path / "out.json").read_text())  # the caller's own
    # without one, a skull-stripped image (the template: zeros around the brain) is fitted on its support
    result = correct(biased_file, tmp_path / "default.nii.gz", "--method", "n4")
    assert result.returncode == 0, result.stderr
    support = np.abs(mni_3mm.get_fdata()) > 1e-6 * mni_3mm.get_fdata().max()
    mask = json.loads((tmp_path / "default.json").read_text())["Mask"]
    assert mask.startswith("default: non-zero support (skull-stripped image: ") and mask.endswith(" voxels")
    assert int(mask.rsplit(", ", 1)[1].split()[0]) >= support.sum()
    wrong = save(np.ones((8, 8, 8)), tmp_path / "small.nii.gz")
    result = correct(biased_file, tmp_path / "other.nii.gz", "--mask", wrong)
    assert result.returncode == 2 and "mask shape" in result.stderr
    assert not (tmp_path / "other.nii.gz").exists()


def test_an_output_never_overwrites_an_input(biased_file, tmp_path):
    before = biased_file.read_bytes()
    for out in (biased_file, biased_file.with_suffix("")):  # the image itself; in.nii shares in.json
        result = correct(biased_file, out, "--method", "n4")
        assert result.returncode == 2 and "would overwrite an input" in result.stderr, result.stderr
    result = correct(biased_file, tmp_path / "out.nii.gz", "--field", biased_file, "--method", "n4")
    assert result.returncode == 2 and str(biased_file) in result.stderr
    assert biased_file.read_bytes() == before and not biased_file.with_suffix("").exists()


def test_dotted_names_get_sidecars_of_their_own(biased_file, tmp_path):
    source = tmp_path / "scan_1.5T.nii.gz"
    source.write_bytes(biased_file.read_bytes())
    result = correct(source, tmp_path / "scan_1.5T_n4.nii.gz", "--method", "n4")  # was refused: scan_1.json
    assert result.returncode == 0, result.stderr
    for name in ("out.a.nii.gz", "out.b.nii.gz"):  # one sidecar each, none overwriting the other
        assert correct(source, tmp_path / name, "--method", "implicit").returncode == 0
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [
        "out.a.json",
        "out.b.json",
        "scan_1.5T_n4.json",
    ]


def test_each_method_takes_its_own_settings(biased_file, tmp_path):
    result = correct(biased_file, tmp_path / "out.nii.gz", "--method", "n4", "--iterations", 20, 10,
                     "--spline-distance-mm", 150)  # fmt: skip
    assert result.returncode == 0, result.stderr
    parameters = json.loads((tmp_path / "out.json").read_text())["BiasCorrectionParameters"]
    assert parameters["iterations"] == [20, 10] and parameters["spline_distance_mm"] == 150.0
    result = correct(biased_file, tmp_path / "other.nii.gz", "--method", "implicit", "--variant", "paper")
    assert result.returncode == 2 and "it is a setting of --method zeroshot" in result.stderr
    assert not (tmp_path / "other.nii.gz").exists()


def test_an_output_folder_is_created(biased_file, tmp_path):
    result = correct(biased_file, tmp_path / "new" / "deeper" / "out.nii.gz", "--method", "n4")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "new/deeper").iterdir()) == ["out.json", "out.nii.gz"]


@pytest.mark.needs_root  # a small disk
def test_an_output_that_cannot_be_written_fails_in_one_line_and_leaves_nothing(biased_file, tmp_path):
    result = correct(biased_file, "/dev/null/out.nii.gz", "--method", "n4")  # checked before the work
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "/dev/null is a file, not a folder; choose another output path" in result.stderr
    with small_disk(tmp_path / "disk", "64k") as disk:  # far less than the outputs need
        result = correct(biased_file, disk / "out.nii.gz", "--field", disk / "field.nii.gz", "--method", "n4")
        left = sorted(path.name for path in disk.iterdir())
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"cannot write into {disk} (No space left on device)" in result.stderr
    assert left == []
