"""Bad and odd input, all in one read-only dataset run once: each bad image costs its participant only.

Every bad image fails its own participant with one line naming the file and the fix; odd but valid images
(negative intensities, int16 near overflow, uint8, anisotropic and oblique grids, a Dixon component
without its pair) are processed; nothing else is printed, nothing partial is written, the input is
unchanged.
"""

import gzip

import nibabel as nb
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from conftest import inuprep, make_bids, make_read_only, save, tree_digests

#: participant -> what its one failure line must say (the file is named too)
FAILS = {
    "gzip": "not a readable NIfTI",
    "notnifti": "not a readable NIfTI",
    "empty": "not a readable NIfTI (Empty file",
    "annex": "not a readable NIfTI (No such file",
    "fourd": "split 4D series first",
    "twod": "give the whole volume",
    "nan": "contains NaN or Inf values",
    "zero": "the image is constant",
    "constant": "the image is constant",
    "tiny": "too small to correct",
    "voxel": "voxel size (0.0, 3.0, 3.0) in the header (pixdim) is not positive",
    "json": "not valid JSON",
    "mask": "a mask or label image with no contrast to correct",
}
#: odd but valid images, processed to the end
DONE = ("good", "negative", "int16", "uint8", "aniso", "oblique", "dixon")


def write_cases(bids, t1, affine):
    def anat(label):
        path = bids / f"sub-{label}/anat/sub-{label}_T1w.nii.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    anat("gzip").write_bytes(gzip.compress(bytes(400))[:60])  # truncated
    anat("notnifti").write_text("not an image\n")
    anat("empty").write_bytes(b"")
    anat("annex").symlink_to("../../.git/annex/objects/missing.nii.gz")  # DataLad without its content
    save(np.stack([t1] * 3, -1), anat("fourd"), affine)
    save(t1[:, :, 30], anat("twod"))
    nan = t1.copy()
    nan[10, 10, 10] = np.nan
    save(nan, anat("nan"), affine)
    save(np.zeros_like(t1), anat("zero"), affine)
    save(np.full_like(t1, 7.0), anat("constant"), affine)
    save(np.random.default_rng(0).random((4, 4, 4)), anat("tiny"), affine)
    no_zooms = nb.Nifti1Image(t1, affine)
    no_zooms.header.set_zooms((0.0, 3.0, 3.0))
    no_zooms.set_qform(None, code=0)
    no_zooms.set_sform(None, code=0)
    no_zooms.to_filename(anat("voxel"))
    save(t1, anat("json"), affine)
    (bids / "sub-json/anat/sub-json_T1w.json").write_text("{,}")
    save((t1 > np.percentile(t1, 60)).astype(np.float32), anat("mask"), affine)
    save(t1, anat("good"), affine)
    save(t1 - 0.3 * t1.max(), anat("negative"), affine)
    scaled = t1 / t1.max()
    nb.Nifti1Image(np.round(scaled * 32760).astype(np.int16), affine).to_filename(anat("int16"))
    nb.Nifti1Image(np.round(scaled * 255).astype(np.uint8), affine).to_filename(anat("uint8"))
    thick = np.diag([1.0, 1.0, 6.0, 1.0])  # 1 x 1 x 6 mm
    from nilearn.image import resample_img

    aniso = resample_img(nb.Nifti1Image(t1, affine), target_affine=thick[:3, :3], interpolation="continuous",
                         force_resample=True, copy_header=True)  # fmt: skip
    save(aniso.get_fdata(dtype=np.float32), anat("aniso"), aniso.affine)
    rotation = np.eye(4)
    rotation[:3, :3] = Rotation.from_euler("xyz", [12, -8, 20], degrees=True).as_matrix()
    save(t1, anat("oblique"), rotation @ affine)
    save(t1, bids / "sub-dixon/anat/sub-dixon_acq-dixon_rec-water_T1w.nii.gz", affine)  # no fat image


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, mni_3mm):
    from inuprep.simulation.fields import simulate_bias

    root = tmp_path_factory.mktemp("bad")
    t1 = simulate_bias(mni_3mm.get_fdata(dtype=np.float32), 2.0, 1)[1]
    bids = make_bids(root / "bids", {})
    write_cases(bids, t1, mni_3mm.affine)
    before = make_read_only(bids)
    out = root / "out"  # the inputs are the point: the cheapest method
    result = inuprep(
        bids, out, "participant", "-w", root / "work", "--nprocs", 2, "--methods", "implicit", cwd=root
    )
    return result, bids, before, out


def test_each_bad_image_fails_its_participant_in_one_line(bad_run):
    result, bids, _, _ = bad_run
    assert result.returncode == 1, result.stdout + result.stderr
    summary = [line for line in result.stderr.splitlines() if line.startswith("sub-")]
    for label, message in FAILS.items():
        [line] = [line for line in summary if line.startswith(f"sub-{label}: FAILED: ")]
        assert message in line and str(bids / f"sub-{label}") in line, line
    for label in DONE:
        assert f"sub-{label}: done" in result.stdout
    # stderr: the up-front lines and one line per failed participant, nothing from the libraries
    assert all(line.startswith(("inuprep: error: ", "sub-")) for line in result.stderr.splitlines())
    assert "Traceback" not in result.stdout + result.stderr


def test_outputs_are_whole_and_the_input_unchanged(bad_run):
    _, bids, before, out = bad_run
    assert tree_digests(bids) == before
    assert not [path for path in out.rglob("*") if path.name.endswith(".tmp")]
    for image in out.rglob("*.nii.gz"):
        assert np.isfinite(nb.load(image).get_fdata()).all(), image
    for label in DONE:
        [table] = out.glob(f"sub-{label}/anat/*_metrics.tsv")
        assert "nan" not in table.read_text().lower().replace("n/a", ""), table.read_text()
    for label, message in FAILS.items():  # a failed participant's report says why
        assert message.split(" (")[0] in (out / f"sub-{label}.html").read_text()
    assert (out / "dataset_description.json").is_file()
    dixon = (out / "sub-dixon/anat/sub-dixon_acq-dixon_rec-water_space-T1w_metrics.tsv").read_text()
    assert "intensity" in dixon  # a component without its pair: dim and bright classes, said so
