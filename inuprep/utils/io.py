"""Writing files so that no reader ever sees half of one: temporary name, then rename."""

import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
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


def output_problem(inputs: list[Path], outputs: list[Path]) -> str | None:
    """Return why ``outputs`` cannot be written (one is an input, or its folder cannot be written), else
    None; checks only."""
    from inuprep.runtime import unwritable_reason

    taken = {path.resolve() for path in inputs}
    clash = next((path for path in outputs if path.resolve() in taken), None)
    if clash:
        return f"{clash} would overwrite an input"
    reasons = {path.parent: unwritable_reason(path.parent) for path in outputs}
    return next((f"{folder} {reason}" for folder, reason in reasons.items() if reason), None)


def write_image_set(images: dict[Path, np.ndarray], reference: nb.Nifti1Image, meta: dict, sidecar: Path):
    """Write each image (float32 on the reference's grid) and the JSON sidecar, all or none: on an OSError
    (a full disk, a folder gone) the files this call created are removed and the error raised again."""
    new = [path for path in [*images, sidecar] if not path.exists()]
    try:
        with ThreadPoolExecutor(len(images)) as pool:  # gzip releases the GIL: the images at once
            for job in [pool.submit(save_atomically, data, reference, path) for path, data in images.items()]:
                job.result()
        write_json(meta, sidecar)
    except OSError:
        for path in new:
            path.unlink(missing_ok=True)
        raise


def save_atomically(data: np.ndarray, reference: nb.Nifti1Image, path: Path) -> None:
    """Write ``data`` as float32 on the reference's grid and header, through a temporary file."""
    suffix = ".nii.gz" if path.name.endswith(".nii.gz") else ".nii"
    with replacing(path, suffix=suffix) as tmp:
        save_like(data, reference, tmp)


def save_like(data: np.ndarray, reference: nb.Nifti1Image, path: Path, dtype=np.float32) -> str:
    """Save ``data`` on the grid of ``reference`` as ``path`` and return the path as a string."""
    header = reference.header.copy()
    header.set_data_dtype(dtype)
    header.set_slope_inter(1, 0)
    return write_nifti(nb.Nifti1Image(np.asarray(data, dtype=dtype), reference.affine, header), path)


def write_nifti(img: nb.Nifti1Image, path: str | Path) -> str:
    """Write the one-file NIfTI ``img`` as ``path`` and return the path as a string. A ``.gz`` name is
    compressed by ISA-L's igzip at level 1 (nibabel's own level): the same gzip stream any reader takes,
    about eight times faster than zlib (a 1 mm float32 field: 0.27 s against 2.2 s on this project's
    machine), which was most of what a correction process spent writing."""
    from isal import igzip
    from nibabel.fileholders import FileHolder

    path = str(path)
    if not path.endswith(".gz"):
        img.to_filename(path)
        return path
    # no name and no time in the gzip header, as nibabel writes it (the BIDS validator warns of either)
    with open(path, "wb") as raw, igzip.IGzipFile("", "wb", 1, raw, mtime=0) as stream:
        img.to_file_map({"image": FileHolder(filename=path, fileobj=stream)})
    return path
