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

import inuprep
from conftest import make_bids, make_read_only, tree_digests
from inuprep.simulation.fields import simulate_bias

ARCHIVE = os.environ.get("INUPREP_IMAGE_ARCHIVE")
ENTRYPOINT = "/opt/inuprep/bin/inuprep"
UID = 65534  # nobody: a UID that owns nothing in the image
#: the largest difference allowed between a metric computed inside and outside the container
METRIC_TOLERANCE = 1e-6

pytestmark = [
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


def writable_folder(path: Path, uid: int = UID) -> Path:
    """A new folder ``uid`` may write (only root can give it away; others' runtimes map their own UID)."""
    path.mkdir(parents=True)
    if os.getuid() == 0:
        os.chown(path, uid, uid)
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
    version = inuprep.__version__
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
def host_out(scratch, dataset):
    """The App's participant and group levels outside the container: the outputs to compare with."""
    bids, _ = dataset
    out = scratch / "host-out"
    outside = run_app(host_run, bids, out, scratch / "host-work")
    assert outside.returncode == 0, outside.stdout + outside.stderr
    return out


@pytest.fixture(scope="module")
def runs(image, scratch, dataset):
    """The App's participant and group levels inside the container (ch-run)."""
    out, work = writable_folder(scratch / "out"), writable_folder(scratch / "work")
    binds = [(dataset[0], "/data"), (out, "/out"), (work, "/work")]
    inside = run_app(lambda *a: ch_run(image, ENTRYPOINT, *a, binds=binds), "/data", "/out", "/work")
    return inside, out


def output_names(root: Path) -> set[str]:
    """Every file under ``root`` but the logs (they carry a run's id)."""
    files = (p.relative_to(root) for p in root.rglob("*") if p.is_file())
    return {str(p) for p in files if p.parts[0] != "logs" and "log" not in p.parts}


def assert_same_metrics(out: Path, host_out: Path) -> None:
    """Each participant's metrics written in ``out`` equal those of the run outside the container."""
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


def test_participant_and_group_levels_run_in_the_container(runs, host_out, dataset):
    inside, out = runs
    assert inside.returncode == 0, inside.stdout + inside.stderr
    assert "Traceback" not in inside.stdout + inside.stderr
    assert "sub-01: done" in inside.stdout and "sub-02: done" in inside.stdout
    # every file the run outside writes exists inside too, and nothing else
    assert output_names(out) == output_names(host_out)
    for expected in ("sub-01.html", "sub-02.html", "group.html", "group_T1w.tsv", "group_T1w.png"):
        assert (out / expected).is_file(), expected
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["GeneratedBy"][0]["Container"] == {"Type": "charliecloud"}
    segmentation = json.loads((out / "sub-01/anat/sub-01_space-T1w_dseg.json").read_text())
    assert segmentation["SegmentationSource"] == "template_priors"  # no deep_atropos files: said so
    bids, digests = dataset
    assert tree_digests(bids) == digests, "the input dataset changed"


def test_metrics_inside_equal_those_outside(runs, host_out):
    assert_same_metrics(runs[1], host_out)
    group = pd.read_csv(runs[1] / "group_T1w.tsv", sep="\t")
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


# Podman: the docker-compatible client a laptop or workstation user types into
#: what this sandbox needs, not a user: Debian's default runtime (crun) fails on its cgroups ("cgroups in
#: hybrid mode not supported") and raising resource limits above the sandbox's is not permitted
PODMAN_SANDBOX = ("--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4000:4000")
PODMAN_UID = 12345  # an arbitrary UID, as `docker run --user "$(id -u):$(id -g)"` gives


@pytest.fixture(scope="module")
def podman_image() -> str:
    """The archive loaded as a user loads it (``podman load``); the image's name."""
    for tool, why in (("podman", "podman is not installed"), ("runc", "runc is not installed (this "
                      "sandbox's cgroups fail podman's default runtime, crun)")):  # fmt: skip
        if shutil.which(tool) is None:
            pytest.skip(f"{why} (Debian: apt-get install podman runc)")
    loaded = _run("podman", "load", "--input", ARCHIVE)
    return next(line.split(": ", 1)[1] for line in loaded.splitlines() if line.startswith("Loaded image"))


def podman_run(image: str, *argv, volumes=(), timeout=900):
    """``podman run`` as the README's docker line: the App's UID owns nothing in the image, the root file
    system is read-only (and /tmp too, as under Docker's ``--read-only``), no network; ``volumes`` are
    ``source:target[:ro]``."""
    command = ["podman", "run", "--rm", "--read-only", "--read-only-tmpfs=false", "--network", "none",
               "--user", f"{PODMAN_UID}:{PODMAN_UID}", *PODMAN_SANDBOX]  # fmt: skip
    command += [f"--volume={volume}" for volume in volumes]
    return subprocess.run([*command, image, *map(str, argv)], capture_output=True, text=True, timeout=timeout)


def test_podman_runs_each_participant_then_the_group(podman_image, scratch, dataset, host_out):
    """One participant per container, as a job array runs them; the group level in between names the
    participant not run yet; the metrics equal those of the run outside."""
    version = podman_run(podman_image, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"inuprep {inuprep.__version__}"
    bids, digests = dataset
    out = writable_folder(scratch / "podman-out", PODMAN_UID)
    work = writable_folder(scratch / "podman-work", PODMAN_UID)
    volumes = [f"{bids}:/data:ro", f"{out}:/out", f"{work}:/work"]
    common = ["-w", "/work", "--nprocs", "2", "--omp-nthreads", "1"]
    for label in ("01", "02"):
        participant = podman_run(
            podman_image, "/data", "/out", "participant", "--participant-label", label, *common,
            volumes=volumes,
        )  # fmt: skip
        assert participant.returncode == 0, participant.stdout + participant.stderr
        assert f"sub-{label}: done" in participant.stdout and "Traceback" not in participant.stderr
        group = podman_run(podman_image, "/data", "/out", "group", "-w", "/work", volumes=volumes)
        assert group.returncode == 0, group.stdout + group.stderr
        if label == "01":
            assert "have no metrics (failed or not run): sub-02" in group.stdout + group.stderr
    assert output_names(out) == output_names(host_out)
    assert_same_metrics(out, host_out)
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["GeneratedBy"][0]["Container"] == {"Type": "podman"}
    assert tree_digests(bids) == digests, "the input dataset changed"


def test_deep_atropos_runs_in_the_image(podman_image, scratch, dataset, antsxnet_standins):
    """The image's tensorflow and keras load antspynet's networks: deep_atropos's files (stand-ins, random
    weights) mounted over the image's cache, as an image built with them has them."""
    bids, _ = dataset
    cache, digests = antsxnet_standins
    out = writable_folder(scratch / "deep-atropos-out", PODMAN_UID)
    volumes = [f"{bids}:/data:ro", f"{out}:/out", f"{cache}:/opt/antsxnet:ro"]
    result = podman_run(
        podman_image, "/data", "/out", "participant", "--participant-label", "01", "--methods", "n4",
        "-w", "/out/work", volumes=volumes,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    sidecar = json.loads((out / "sub-01/anat/sub-01_space-T1w_dseg.json").read_text())
    assert sidecar["SegmentationSource"] == "deep_atropos" and "FallbackReason" not in sidecar
    assert tree_digests(cache) == digests
