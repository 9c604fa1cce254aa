"""Fixtures: small real anatomy (nilearn's MNI152) and generated BIDS trees."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import nibabel as nb
import numpy as np
import pytest
from filelock import FileLock

#: the repository's root, and the project's shared real MRI volumes beside it
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT / ".." / "shared" / "data"
#: markers by what a test needs (pyproject.toml names them): by the folder of tests/ it is in ...
FOLDER_MARKERS = {"e2e": ("e2e",), "slurm": ("slurm", "needs_root"), "container": ("container",)}
#: ... and by the fixtures it takes (the smoke layer: the tests that read the one all-methods App run)
FIXTURE_MARKERS = {"shared_data": "needs_shared_data", "finished_run": "smoke", "group_run": "smoke"}


def pytest_itemcollected(item):
    """Mark each test by its folder and fixtures, so that `-m` selects a layer (the Makefile's targets)."""
    for marker in FOLDER_MARKERS.get(Path(item.path).relative_to(Path(__file__).parent).parts[0], ()):
        item.add_marker(marker)
    for fixture, marker in FIXTURE_MARKERS.items():
        if fixture in item.fixturenames:
            item.add_marker(marker)


#: the layers that take longest, first: make test's workers, given a file at a time, then end together
LONGEST_FIRST = ("slurm", "e2e", "slow")


def pytest_collection_modifyitems(items):
    """Order the tests by :data:`LONGEST_FIRST` (a stable sort: files and tests keep their order within)."""

    def layer(item):
        found = [i for i, marker in enumerate(LONGEST_FIRST) if item.get_closest_marker(marker)]
        return min(found, default=len(LONGEST_FIRST))

    items.sort(key=layer)


@pytest.fixture(scope="session")
def mni_3mm() -> nb.Nifti1Image:
    """nilearn's MNI152 2009a T1 resampled to 3 mm (real anatomy, small)."""
    from inuprep.utils.mni152 import mni152

    return mni152(3.0)[0]


#: where the tests keep what they build between runs, each entry keyed on what builds it
TEST_CACHE = Path(os.environ.get("INUPREP_TEST_CACHE", Path.home() / ".cache" / "inuprep-tests"))


def build_key(source: Path, packages: tuple[str, ...]) -> str:
    """Return a short hash of ``source``'s text and the installed versions of ``packages``."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256(source.read_bytes())
    for package in packages:
        try:
            digest.update(f"{package}=={version(package)};".encode())
        except PackageNotFoundError:
            digest.update(f"{package} absent;".encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def antsxnet_standins() -> tuple[Path, dict[str, str]]:
    """A read-only ANTsXNet cache of deep_atropos's five files as stand-ins (random weights; see
    tests/antsxnet_standins.py, run in a process of its own); its :func:`tree_digests`. Built once into
    :data:`TEST_CACHE` and kept until the builder or the libraries it uses change."""
    import tempfile

    from inuprep.segmentation import deep_atropos

    builder = Path(__file__).with_name("antsxnet_standins.py")
    key = build_key(builder, ("antspynet", "tensorflow", "keras", "h5py", "nilearn", "nibabel", "numpy"))
    cache = TEST_CACHE / f"antsxnet-{key}"
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(TEST_CACHE / "antsxnet.lock"):  # one builder among make test's workers and other runs
        if not cache.is_dir():
            building = Path(tempfile.mkdtemp(prefix=f".{cache.name}.", dir=TEST_CACHE))
            subprocess.run([sys.executable, builder, building], check=True, capture_output=True, timeout=600)
            building.rename(cache)  # whole or not at all
            for old in TEST_CACHE.glob("antsxnet-*"):  # those of earlier builders and libraries
                if old != cache:
                    subprocess.run(["chmod", "-R", "u+w", old], check=False)
                    shutil.rmtree(old, ignore_errors=True)
    assert deep_atropos.missing_files(cache) == []
    return cache, make_read_only(cache)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's shared real MRI volumes, or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent: clone the project next to its shared/ folder")
    return SHARED_DATA


def save(data: np.ndarray, path: Path, affine=None, metadata: dict | None = None) -> Path:
    """Write a float32 NIfTI in mm (and a JSON sidecar) creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nb.Nifti1Image(np.asarray(data, dtype=np.float32), np.eye(4) if affine is None else affine)
    img.header.set_xyzt_units("mm", "sec")
    img.to_filename(path)
    if metadata is not None:
        path.with_name(path.name.split(".")[0] + ".json").write_text(json.dumps(metadata))
    return path


def make_bids(root: Path, files: dict[str, np.ndarray | None], affine=None) -> Path:
    """Write a BIDS dataset: {relative path: data (a blank 16^3 volume when None)}; return its root."""
    root.mkdir(parents=True, exist_ok=True)
    description = {"Name": "test", "BIDSVersion": "1.10.0", "Authors": ["inuprep", "its tests"]}
    (root / "dataset_description.json").write_text(json.dumps(description))
    (root / "README").write_text(
        "A dataset written by inuprep's tests (tests/conftest.py, make_bids): real or synthetic anatomy with "
        "known bias fields, small enough for a test to run the App on it in seconds.\n"
    )
    for relative, data in files.items():
        save(np.ones((16, 16, 16)) if data is None else data, root / relative, affine)
    return root


def dixon_pair(shape=(48, 40, 24), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Return synthetic (water, fat) images: a water-rich body inside a fat shell, with a smooth field."""
    from inuprep.simulation.fields import polynomial_field

    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    radius = np.sqrt(grid[0] ** 2 + grid[1] ** 2 + grid[2] ** 2)
    body, inner = radius < 0.9, radius < 0.7
    field = polynomial_field(shape, max_ratio=1.5, seed=seed)
    rng = np.random.default_rng(seed)
    water = (np.where(inner, 800.0, 0) + np.where(body & ~inner, 250.0, 0)) * field
    fat = (np.where(inner, 200.0, 0) + np.where(body & ~inner, 900.0, 0)) * field
    return tuple(np.abs(x + rng.normal(0, 10, shape)) for x in (water, fat))


def inuprep(*argv, cwd):
    """Run the App in a process of its own; return the completed process."""
    command = [sys.executable, "-m", "inuprep.cli.run", *map(str, argv)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=900)


@pytest.fixture
def call_main(capsys, monkeypatch, tmp_path):
    """Return ``call(main, *argv) -> (exit code, stdout, stderr)``: a console script's ``main(argv)`` run in
    this process from ``tmp_path``, as its process would (argparse's exit caught); HOME and the loggers
    the App configures are put back afterwards."""
    import logging

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", os.environ.get("HOME", str(tmp_path)))
    loggers = [logging.getLogger(name) for name in ("inuprep", "nipype")]
    saved = [(logger, logger.handlers[:], logger.propagate, logger.level) for logger in loggers]
    raise_exceptions = logging.raiseExceptions

    def call(main, *argv):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as stop:
            code = stop.code
        out, err = capsys.readouterr()
        return code, out, err

    yield call
    for logger, handlers, propagate, level in saved:
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)
    logging.raiseExceptions = raise_exceptions


def tree_digests(root: Path) -> dict[str, str]:
    """Return {relative path: sha256, or the target of a link} of every file under ``root``."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(root))] = os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def make_read_only(root: Path) -> dict[str, str]:
    """Make the dataset ``root`` read-only for everyone; return its :func:`tree_digests`."""
    for path in sorted(root.rglob("*"), reverse=True) + [root]:
        if not path.is_symlink():
            path.chmod(0o444 if path.is_file() else 0o555)
    return tree_digests(root)


@contextmanager
def small_disk(folder: Path, size: str):
    """Mount a tmpfs of ``size`` (e.g. "1m") on a new ``folder`` for the block; skip where that needs root."""
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
    if os.getuid() != 0 or subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip(f"a small disk is simulated with a {size} tmpfs, which needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


# The one all-methods App run every end-to-end test that reads outputs shares (the smoke layer), and its group
# level: MNI152 at 3 mm with sessions, runs, a T2w, a Dixon pair, a user's lesion mask and a known field.


def biased(data, seed):
    """Return ``data`` times a random field of max/min 2 (the simulation's ``seed``)."""
    from inuprep.simulation.fields import simulate_bias

    return simulate_bias(data, 2.0, seed)[1]


def built_once(tmp_path_factory, name: str, build) -> tuple[Path, subprocess.CompletedProcess]:
    """Return (``folder``, the App process ``build(folder)`` ran): run by the first of make test's workers
    (pytest-xdist) that asks for ``name`` while the others wait for it, so that a session fixture is paid once
    per test run, not once per worker."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' temporary folders lie side by side in the run's
    folder, record = root / name, root / f"{name}.json"
    with FileLock(root / f"{name}.lock"):
        if not record.exists():
            folder.mkdir(exist_ok=True)
            result = build(folder)
            fields = {"args": list(map(str, result.args)), "returncode": result.returncode}
            record.write_text(json.dumps(fields | {"stdout": result.stdout, "stderr": result.stderr}))
    return folder, subprocess.CompletedProcess(**json.loads(record.read_text()))


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, mni_3mm):
    """Return (the completed App process, bids_dir, output_dir) of one participant run with every method and
    --self-check. Read it, never change it: copy the output folder first (``shutil.copytree``)."""
    root, result = built_once(tmp_path_factory, "app", lambda root: participant_run(root, mni_3mm))
    return result, root / "bids", root / "out"


def participant_run(root: Path, mni_3mm) -> subprocess.CompletedProcess:
    """Write the shared run's dataset under ``root`` and run the App on it (:func:`finished_run`)."""
    t1 = mni_3mm.get_fdata(dtype=np.float32)
    t2 = np.where(t1 > 0.05, 1.2 - t1, 0)  # CSF bright, WM dark
    water, fat = dixon_pair()
    from inuprep.simulation.fields import simulate_bias

    field, ses2 = simulate_bias(t1, 2.0, 4)  # the ses-2 T1w's field is known (given with --derivatives)
    anat = "sub-01/ses-1/anat/sub-01_ses-1"
    bids = make_bids(
        root / "bids",
        {
            f"{anat}_run-1_T1w.nii.gz": biased(t1, 1),
            f"{anat}_run-2_T1w.nii.gz": biased(t1, 2),
            f"{anat}_T2w.nii.gz": biased(t2, 3),
            "sub-01/ses-2/anat/sub-01_ses-2_T1w.nii.gz": ses2,
        },
        affine=mni_3mm.affine,
    )
    dixon_affine = np.diag([3.0, 3.0, 3.0, 1.0])
    save(water, bids / f"{anat}_acq-dixon_rec-water_T1w.nii.gz", dixon_affine)
    save(fat, bids / f"{anat}_acq-dixon_rec-fat_T1w.nii.gz", dixon_affine)
    # a user's lesion mask for the ses-2 T1w, evaluated beside the tissues
    lesion = np.zeros(t1.shape, np.uint8)
    lesion[25:30, 30:35, 25:30] = 1
    masks = root / "masks"
    save(lesion, masks / "sub-01/ses-2/anat/sub-01_ses-2_label-lesion_mask.nii.gz", mni_3mm.affine)
    # ... and its known field: the metrics add each method's error against the truth
    save(field, masks / "sub-01/ses-2/anat/sub-01_ses-2_mod-T1w_desc-truth_biasfield.nii.gz", mni_3mm.affine)
    out = root / "out"
    argv = [
        "-w",
        root / "work",
        "--nprocs",
        2,
        "--derivatives",
        masks,
        "--antsxnet-cache",
        root,
        "--self-check",
    ]
    return inuprep(bids, out, "participant", *argv, cwd=root)


@pytest.fixture(scope="session")
def group_run(finished_run, tmp_path_factory):
    """Return (the completed group-level process, bids_dir, output_dir): the group level on a copy of the
    participant run's outputs. Read it, never change it."""
    _, bids, finished = finished_run

    def group(root):
        shutil.copytree(finished, root / "out")
        return inuprep(bids, root / "out", "group", "-w", root / "work", cwd=root)

    root, result = built_once(tmp_path_factory, "group", group)
    return result, bids, root / "out"
