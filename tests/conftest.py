"""Fixtures: small real anatomy (nilearn's MNI152) and generated BIDS trees."""

import hashlib
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import nibabel as nb
import numpy as np
import pytest

#: the repository's root, and the project's shared real MRI volumes beside it
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def mni_3mm() -> nb.Nifti1Image:
    """nilearn's MNI152 2009a T1 resampled to 3 mm (real anatomy, small)."""
    from inuprep.utils.mni152 import mni152

    return mni152(3.0)[0]


@pytest.fixture(scope="session")
def antsxnet_standins(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A read-only ANTsXNet cache of deep_atropos's five files as stand-ins (random weights; see
    tests/antsxnet_standins.py, run in a process of its own); its :func:`tree_digests`."""
    from inuprep.segmentation import deep_atropos

    cache = tmp_path_factory.mktemp("antsxnet")
    builder = Path(__file__).with_name("antsxnet_standins.py")
    subprocess.run([sys.executable, builder, cache], check=True, capture_output=True, timeout=600)
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
