"""Thin nipype interfaces: load, check, call a pure function, save into the node's folder."""

from pathlib import Path

import nibabel as nb
import numpy as np


def save_like(data: np.ndarray, reference: nb.Nifti1Image, path: Path, dtype=np.float32) -> str:
    """Save ``data`` on the grid of ``reference`` as ``path`` and return the path as a string."""
    header = reference.header.copy()
    header.set_data_dtype(dtype)
    header.set_slope_inter(1, 0)
    nb.Nifti1Image(np.asarray(data, dtype=dtype), reference.affine, header).to_filename(path)
    return str(path)
