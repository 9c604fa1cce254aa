"""Writing files so that no reader ever sees half of one: temporary name, then rename."""

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import nibabel as nb
import numpy as np


@contextmanager
def replacing(dest: Path, suffix: str = ".tmp"):
    """Yield a temporary path beside ``dest``; it becomes ``dest`` only if the block succeeds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_copy(src: str | Path, dest: Path) -> Path:
    """Copy ``src`` to ``dest`` through a temporary name in the same folder, so no half file remains."""
    with replacing(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest


def atomic_write_text(text: str, dest: Path) -> Path:
    """Write ``text`` to ``dest`` atomically."""
    with replacing(dest) as tmp:
        tmp.write_text(text)
    return dest


def write_json(data: dict, dest: Path) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return atomic_write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", dest)


def save_like(data: np.ndarray, reference: nb.Nifti1Image, path: Path, dtype=np.float32) -> str:
    """Save ``data`` on the grid of ``reference`` as ``path`` and return the path as a string."""
    header = reference.header.copy()
    header.set_data_dtype(dtype)
    header.set_slope_inter(1, 0)
    nb.Nifti1Image(np.asarray(data, dtype=dtype), reference.affine, header).to_filename(path)
    return str(path)
