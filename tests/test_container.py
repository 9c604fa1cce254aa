"""The container image, run as an HPC user runs it: Charliecloud's ch-run (Apptainer's model).

The image is the docker-archive ``make container`` writes, unpacked into a folder; ch-run runs it read-only,
as a non-root UID (65534 when the test runs as root), with HOME unset and a clean environment (the image's ENV
only, as ``apptainer run --cleanenv``), the dataset read-only and only the output and work folders writable.
``make container-test`` builds the image and runs this module; elsewhere it is skipped.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd
import pytest

from conftest import make_bids, make_read_only, tree_digests
from inuprep.simulate import simulate_bias

ARCHIVE = os.environ.get("INUPREP_IMAGE_ARCHIVE")
ENTRYPOINT = "/opt/inuprep/bin/inuprep"
UID = 65534  # nobody: a UID that owns nothing in the image
#: the largest difference allowed between a metric computed inside and outside the container
METRIC_TOLERANCE = 1e-6

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ARCHIVE, reason="the container tests run under `make container-test`"),
]


def _run(*command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, check=True, **kwargs).stdout


@pytest.fixture(scope="module")
def scratch():
    """A folder any UID can traverse (pytest's own temporary folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="inuprep-container-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def image(scratch):
    """The archive unpacked to a folder (ch-run's image form); its OCI config and an environment file."""
    for tool in ("buildah", "ch-run"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian: apt-get install buildah charliecloud-runtime)")
    container = _run("buildah", "from", "--quiet", f"docker-archive:{ARCHIVE}").strip()
    try:
        config = json.loads(_run("buildah", "inspect", "--type", "container", container))["OCIv1"]["config"]
        rootfs = scratch / "rootfs"
        _run("cp", "-a", _run("buildah", "mount", container).strip() + "/.", str(rootfs))
    finally:
        _run("buildah", "rm", container)
    env_file = scratch / "image.env"
    env_file.write_text("\n".join(config["Env"]) + "\n")
    return rootfs, config, env_file


def ch_run(image, *argv, binds=(), timeout=900):
    """Run ``argv`` in the image as ch-run does on a cluster; return the completed process."""
    rootfs, _, env_file = image
    command = [shutil.which("ch-run"), f"--set-env={env_file}", "--cd=/work"]
    command += [f"--bind={source}:{target}" for source, target in binds] + [str(rootfs), "--", *argv]
    if os.getuid() == 0:
        command = ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", *command]
    # a clean environment without HOME: only the image's ENV reaches the App
    env = {"USER": "inuprep", "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def writable_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    if os.getuid() == 0:
        os.chown(path, UID, UID)
    return path


@pytest.fixture(scope="module")
def dataset(scratch, mni_3mm):
    """Two participants' T1w (MNI152 at 3 mm under different known fields), read-only; their digests."""
    t1 = mni_3mm.get_fdata(dtype=np.float32)
    files = {
        f"sub-{label}/anat/sub-{label}_T1w.nii.gz": simulate_bias(t1, 2.0, seed)[1]
        for label, seed in (("01", 11), ("02", 12))
    }
    bids = make_bids(scratch / "bids", files, affine=mni_3mm.affine)
    return bids, make_read_only(bids)


def test_image_config_suits_docker_and_apptainer(image):
    rootfs, config, _ = image
    version = _run(sys.executable, "-c", "import inuprep; print(inuprep.__version__)").strip()
    assert config["Entrypoint"] == [ENTRYPOINT]
    assert not config.get("User"), "no USER line: any UID runs the image"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == version
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["OMP_NUM_THREADS"] == "1" and env["INUPREP_ANTSXNET_CACHE"] == "/opt/antsxnet"
    unreadable = [
        str(path)
        for path in (rootfs / "opt").rglob("*")
        if not path.is_symlink() and path.stat().st_mode & (0o005 if path.is_dir() else 0o004) == 0
    ]
    assert unreadable == [], "files other UIDs cannot read"
    assert not list((rootfs / "root").glob(".cache/pip")), "pip's cache left in the image"


def test_version_help_and_input_errors_keep_the_apps_exit_codes(image, scratch, dataset):
    bids, _ = dataset
    version = ch_run(image, ENTRYPOINT, "--version")
    assert version.returncode == 0 and "inuprep" in version.stdout, version.stderr
    helped = ch_run(image, ENTRYPOINT, "--help")
    assert helped.returncode == 0 and "participant" in helped.stdout
    # the dataset not bound: /data is the image's empty bind point
    out = writable_folder(scratch / "errors-out")
    unbound = ch_run(image, ENTRYPOINT, "/data", "/out", "participant", binds=[(out, "/out")])
    assert unbound.returncode == 2, unbound.stderr
    assert unbound.stderr.count("\n") == 1 and "/data: not a BIDS dataset" in unbound.stderr
    # an output folder the UID cannot write: one line naming it, exit 2, nothing written
    locked = scratch / "locked-out"
    locked.mkdir(mode=0o755)
    denied = ch_run(
        image, ENTRYPOINT, "/data", "/out", "participant", binds=[(bids, "/data"), (locked, "/out")]
    )
    assert denied.returncode == 2 and denied.stderr.count("\n") == 1, denied.stderr
    assert "output_dir /out is not writable" in denied.stderr
    assert list(locked.iterdir()) == []


def host_run(*argv):
    """Run this environment's App as the image's environment does: OMP_NUM_THREADS=1 (deepbet's torch threads
    follow it) and OpenBLAS choosing its kernels for the CPU.

    A host may pin OpenBLAS's kernels (OPENBLAS_CORETYPE=Haswell here, where the CPU has AVX-512): the two
    kernels differ in the last bits of a float32 matrix product (the implicit field by 2e-7), enough to move
    a tissue-mask voxel and a metric by 1e-5.
    """
    command = [sys.executable, "-m", "inuprep.cli.run", *map(str, argv)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("OPENBLAS_")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


def run_app(runner, bids, out, work, *extra):
    """Both levels with the same arguments; return the participant level's process."""
    argv = ["participant", "-w", work, "--nprocs", "2", "--omp-nthreads", "1", *extra]
    participant = runner(bids, out, *argv)
    group = runner(bids, out, "group", "-w", work)
    assert group.returncode == 0, group.stderr
    return participant


@pytest.fixture(scope="module")
def runs(image, scratch, dataset):
    """The App's participant and group levels inside the container and outside it, on the same data."""
    bids, _ = dataset
    out, work = writable_folder(scratch / "out"), writable_folder(scratch / "work")
    binds = [(bids, "/data"), (out, "/out"), (work, "/work")]
    inside = run_app(lambda *a: ch_run(image, ENTRYPOINT, *a, binds=binds), "/data", "/out", "/work")
    host_out, host_work = scratch / "host-out", scratch / "host-work"
    outside = run_app(host_run, bids, host_out, host_work)
    return inside, out, outside, host_out


def test_participant_and_group_levels_run_in_the_container(runs, dataset):
    inside, out, outside, host_out = runs
    assert inside.returncode == 0, inside.stdout + inside.stderr
    assert outside.returncode == 0, outside.stdout + outside.stderr
    assert "Traceback" not in inside.stdout + inside.stderr
    assert "sub-01: done" in inside.stdout and "sub-02: done" in inside.stdout

    # every file the run outside writes exists inside too, and nothing else (logs carry a run's id)
    def names(root):
        files = (p.relative_to(root) for p in root.rglob("*") if p.is_file())
        return {str(p) for p in files if p.parts[0] != "logs" and "log" not in p.parts}

    assert names(out) == names(host_out)
    for expected in ("sub-01.html", "sub-02.html", "group.html", "group_T1w.tsv", "group_T1w.png"):
        assert (out / expected).is_file(), expected
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["GeneratedBy"][0]["Container"] == {"Type": "charliecloud"}
    segmentation = json.loads((out / "sub-01/anat/sub-01_mod-T1w_dseg.json").read_text())
    assert segmentation["SegmentationSource"] == "template_atropos"  # no deep_atropos files: said so
    bids, digests = dataset
    assert tree_digests(bids) == digests, "the input dataset changed"


def test_metrics_inside_equal_those_outside(runs):
    _, out, _, host_out = runs
    tables = sorted(host_out.rglob("*_metrics.tsv"))
    assert len(tables) == 2
    for table in tables:
        outside = pd.read_csv(table, sep="\t")
        inside = pd.read_csv(out / table.relative_to(host_out), sep="\t")
        assert (
            inside["method"].tolist()
            == outside["method"].tolist()
            == ["original", "n4", "zeroshot", "implicit"]
        )
        numbers = outside.select_dtypes("number").columns
        difference = (inside[numbers] - outside[numbers]).abs().max()
        assert difference.max() <= METRIC_TOLERANCE, f"{table.name}: {difference.to_dict()}"
    group = pd.read_csv(out / "group_T1w.tsv", sep="\t")
    assert set(group["n_images"]) == {2}


def test_inuprep_correct_runs_in_the_container(image, scratch, dataset):
    bids, _ = dataset
    out = writable_folder(scratch / "correct-out")
    result = ch_run(
        image, "/opt/inuprep/bin/inuprep-correct", "/data/sub-01/anat/sub-01_T1w.nii.gz",
        "/out/corrected.nii.gz", "--field", "/out/field.nii.gz", "--iterations", "50",
        binds=[(bids, "/data"), (out, "/out")],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "corrected.json").read_text())["BiasCorrectionMethod"] == "zero-shot"
    corrected, field = nb.load(out / "corrected.nii.gz"), nb.load(out / "field.nii.gz")
    source = nb.load(bids / "sub-01/anat/sub-01_T1w.nii.gz")
    assert corrected.shape == field.shape == source.shape
    assert np.isfinite(corrected.get_fdata()).all()


def test_inuprep_harmonize_runs_in_the_container(image, scratch, dataset):
    bids, _ = dataset
    out = writable_folder(scratch / "harmonize-out")
    images = [f"/data/sub-{label}/anat/sub-{label}_T1w.nii.gz" for label in ("01", "02")]
    binds = [(bids, "/data"), (out, "/out")]
    tool = "/opt/inuprep/bin/inuprep-harmonize"
    fit = ch_run(image, tool, "fit", "--out", "/out/model", *images, binds=binds)
    assert fit.returncode == 0, fit.stderr
    applied = ch_run(image, tool, "apply", "/out/model", images[0], "/out/harmonized.nii.gz", binds=binds)
    assert applied.returncode == 0, applied.stderr
    assert json.loads((out / "harmonized.json").read_text())["HarmonizationMethod"] == "Nyul"
    assert nb.load(out / "harmonized.nii.gz").shape == nb.load(bids / "sub-01/anat/sub-01_T1w.nii.gz").shape
