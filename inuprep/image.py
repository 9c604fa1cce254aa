"""Loading, checking and masking of single 3D images (pure: nibabel, numpy, scipy)."""

import logging
from pathlib import Path

import nibabel as nb
import numpy as np
from nibabel.openers import ImageOpener
from scipy import ndimage


class ImageError(ValueError):
    """An input image that cannot be processed; the message is one line naming the file and the fix."""


def _unreadable(path: Path, err: Exception) -> ImageError:
    return ImageError(f"{path}: not a readable NIfTI ({err}); re-export or replace the file")


def check_header(path: str | Path) -> nb.spatialimages.SpatialImage:
    """Return the (unloaded) image if its header reads as one 3D volume, or raise ImageError."""
    path = Path(path)
    logger = nb.imageglobals.logger  # nibabel reports the header fixes it makes here, on stderr
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        img = nb.load(path)
        zooms = _declared_zooms(path, img)
    except Exception as err:  # nibabel raises many types for corrupt or truncated files
        raise _unreadable(path, err) from None
    finally:
        logger.setLevel(level)
    if len(img.shape) < 3:
        raise ImageError(f"{path}: expected a 3D image, got shape {img.shape}; give the whole volume")
    if len(img.shape) != 3 and img.shape[3:] != (1,):
        raise ImageError(f"{path}: expected a 3D image, got shape {img.shape}; split 4D series first")
    if zooms is not None and not np.all(zooms > 0):
        raise ImageError(
            f"{path}: voxel size {tuple(float(z) for z in zooms)} in the header (pixdim) is not positive; "
            "fix the header"
        )
    return img


def _declared_zooms(path: Path, img) -> np.ndarray | None:
    """Return a NIfTI header's voxel size as written (nibabel replaces zeros by 1 when it loads one)."""
    if not isinstance(img, nb.Nifti1Image | nb.Nifti2Image):
        return None
    with ImageOpener(path) as fileobj:
        raw = img.header_class.from_fileobj(fileobj, check=False)
    return raw["pixdim"][1 : 1 + min(3, len(img.shape))]


#: fewer distinct intensities than this make a mask or label image, not an MR image
MIN_LEVELS = 16


def distinct_values(data: np.ndarray, at_most: int = MIN_LEVELS) -> int:
    """Return the number of distinct values in ``data``, counted exactly only below ``at_most``."""
    sample = np.unique(data[::2, ::2, ::2])
    return sample.size if sample.size >= at_most else np.unique(data).size


def load_checked(path: str | Path) -> nb.Nifti1Image:
    """Return the image as float32 3D NIfTI after checking it can be corrected, or raise ImageError."""
    path = Path(path)
    img = check_header(path)
    try:
        data = np.asanyarray(img.dataobj, dtype=np.float32).reshape(img.shape[:3])
    except Exception as err:  # truncated data behind a valid header
        raise _unreadable(path, err) from None
    if min(data.shape) < 8:
        raise ImageError(f"{path}: image of shape {data.shape} is too small to correct")
    if not np.all(np.isfinite(data)):
        raise ImageError(f"{path}: contains NaN or Inf values; fix the reconstruction or mask them to 0")
    if not np.isfinite(img.affine).all() or abs(np.linalg.det(img.affine[:3, :3])) < 1e-9:
        raise ImageError(f"{path}: the affine is singular or not finite; fix the header (e.g. fslorient)")
    if np.ptp(data) <= 0:
        raise ImageError(f"{path}: the image is constant (empty); check the acquisition")
    levels = distinct_values(data)
    if levels < MIN_LEVELS:
        raise ImageError(
            f"{path}: holds only {levels} distinct values, a mask or label image with no contrast to "
            "correct; give the anatomical image"
        )
    header = img.header.copy()
    header.set_data_dtype(np.float32)
    header.set_slope_inter(1, 0)
    return nb.Nifti1Image(data, img.affine, header)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Return the threshold maximising the between-class variance of ``values`` (Otsu, 1979)."""
    hist, edges = np.histogram(values, bins=bins)
    centers = (edges[:-1] + edges[1:]) / 2
    weight0 = np.cumsum(hist)
    weight1 = weight0[-1] - weight0
    mean0 = np.cumsum(hist * centers) / np.maximum(weight0, 1)
    mean1 = (np.sum(hist * centers) - np.cumsum(hist * centers)) / np.maximum(weight1, 1)
    between = weight0 * weight1 * (mean0 - mean1) ** 2
    return float(centers[np.argmax(between)])


def foreground_mask(data: np.ndarray) -> np.ndarray:
    """Return the object (head or body) mask: Otsu threshold, largest component, holes filled.

    The threshold is found on the square root of the intensities, which keeps a strong bias field from
    pushing the dim side of the object into the background class. Zeros count as background: in a
    skull-stripped image they are the only background there is.
    """
    if not np.any(data > 0):
        return np.zeros(data.shape, dtype=bool)
    threshold = otsu_threshold(np.sqrt(np.clip(data, 0, None)).ravel()) ** 2
    mask = ndimage.binary_opening(data > threshold, iterations=1)
    labels, count = ndimage.label(mask)
    if count == 0:
        return np.zeros(data.shape, dtype=bool)
    largest = np.argmax(np.bincount(labels.ravel())[1:]) + 1
    mask = ndimage.binary_closing(labels == largest, iterations=2)
    return fill_holes(mask)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Return ``mask`` with its holes filled: what ``scipy.ndimage.binary_fill_holes`` returns (background
    not joined to the grid's faces by 6-connected background), from one labelling of the background instead
    of its repeated dilations (a 1 mm head: 0.5 s against 1.6 s)."""
    labels, _ = ndimage.label(~mask)
    faces = np.concatenate([np.take(labels, i, axis=axis).ravel() for axis in range(3) for i in (0, -1)])
    outside = np.zeros(labels.max() + 1, dtype=bool)
    outside[faces] = True
    outside[0] = False  # the mask itself
    return ~outside[labels]


def load_mask(mask_path: Path, shape: tuple) -> np.ndarray:
    """Return the nonzero voxels of the mask ``mask_path``; raise ImageError unless its grid is ``shape``."""
    mask_img = check_header(mask_path)
    if mask_img.shape[:3] != tuple(shape):
        raise ImageError(f"{mask_path}: mask shape {mask_img.shape} differs from the image's {tuple(shape)}")
    return np.asanyarray(mask_img.dataobj).reshape(shape) > 0


#: an image whose box of non-zero voxels has at least this share of background (zero, to interpolation's
#: residue) on its faces has been skull-stripped or masked. Measured on ../shared/data: stripped brains
#: 0.994-0.998; raw heads whose scanner zeroed part of the air 0.78-0.85, others 0.18
STRIPPED_FACES = 0.95
#: and the median of its support's edge at least this share of its 99th percentile (measured: stripped
#: brains 0.12-0.63, MPRAGE renderings whose surface CSF is nulled 0.01-0.03; the support of a scan
#: resampled or padded 0.001-0.002, like the residue a spline leaves around a stripped brain it resamples,
#: 0.001-0.0035, whose Otsu foreground is then used). Was 0.02: the renderings lost their surface CSF.
STRIPPED_EDGE = 0.005


def support(data: np.ndarray) -> np.ndarray:
    """Return the voxels that are not background zeros (a millionth of the largest magnitude at most: a
    resampled zero background keeps interpolation's residue)."""
    return np.abs(data) > 1e-6 * float(np.abs(data).max())


def is_skull_stripped(data: np.ndarray) -> bool:
    """Return whether ``data`` has a zero background: nearly every voxel on the faces of the box of its
    non-zero voxels is zero.

    A scanner's image has noise in the air around the head; a skull-stripped or masked one has none.
    """
    inside = support(data)
    return _stripped(data, inside, _box(inside))[0]


def _box(inside: np.ndarray) -> tuple[slice, ...] | None:
    """Return the box of the voxels of ``inside`` (None: there are none)."""
    boxes = ndimage.find_objects(inside.astype(np.uint8))
    return boxes[0] if boxes else None


def _stripped(data: np.ndarray, inside: np.ndarray, box: tuple[slice, ...] | None) -> tuple[bool, str]:
    """Return whether nearly every voxel on the faces of ``box``, the box of ``inside`` (zero slabs cut),
    is out, and the object's edge is tissue (a grid resampled or reoriented around a scan is zero outside
    its field of view, and the edge of that support is the air's noise), and why, in words."""
    if box is None:
        return False, "no non-zero voxel"
    faces = [np.take(inside[box], index, axis=axis).ravel() for axis in range(3) for index in (0, -1)]
    zero = 1 - np.mean(np.concatenate(faces))
    if zero < STRIPPED_FACES:
        return False, f"{zero:.0%} of the faces of its support's box are zero: noise in its air"
    edge = inside & ~ndimage.binary_erosion(inside, border_value=0)
    level = np.median(data[edge]) / np.percentile(data[inside], 99)
    if level < STRIPPED_EDGE:
        return (
            False,
            f"zero outside its field of view only: its support's edge is air at {level:.2%} of its p99",
        )
    return (
        True,
        f"{zero:.0%} of its support's box's faces are zero; its edge is tissue at {level:.1%} of its p99",
    )


def default_mask(data: np.ndarray) -> tuple[np.ndarray, str]:
    """Return the mask used where none is given, and what it is and why.

    A skull-stripped image: its whole non-zero support, holes filled (a threshold would drop the dark CSF,
    which is brain); otherwise the Otsu foreground (:func:`foreground_mask`). The description says which, and
    the measures that decided it (:data:`STRIPPED_FACES`, :data:`STRIPPED_EDGE`). Whether it is stripped is
    decided on the box of its non-zero voxels, not on the grid: zero padding (resampling, reorienting,
    conforming) is not background removal, and a padded scan still has noise in the air inside its box.
    """
    inside = support(data)
    box = _box(inside)
    stripped, why = _stripped(data, inside, box)
    if stripped:  # the zero planes around a stripped brain are its background
        return fill_holes(inside), f"non-zero support (skull-stripped image: {why})"
    padded = sum(s.start + n - s.stop for s, n in zip(box, data.shape, strict=True)) if box else 0
    padding = f"; zero-padded by {padded} voxel planes" if padded else ""
    return foreground_mask(data), f"Otsu foreground (a scan: {why}{padding})"


def load_with_mask(
    path: Path, mask_path: Path | None = None
) -> tuple[nb.Nifti1Image, np.ndarray, np.ndarray, str]:
    """Return the checked image, its float32 data, its mask and what the mask is: ``mask_path``'s nonzero
    voxels (same grid), else :func:`default_mask`; raise ImageError naming the file when either cannot be
    used."""
    img = load_checked(path)
    data = img.get_fdata(dtype=np.float32)
    if mask_path is None:
        mask, source = default_mask(data)
    else:
        mask, source = load_mask(mask_path, data.shape), f"given: {mask_path}"
    if not mask.any():
        raise ImageError(f"{path}: no foreground found; give a mask")
    return img, data, mask, source


def fill_from_nearest(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Return ``values`` where ``valid``, elsewhere the value of the nearest valid voxel."""
    if valid.all() or not valid.any():
        return values
    _, indices = ndimage.distance_transform_edt(~valid, return_indices=True)
    return values[tuple(indices)]


def field_from_correction(source: np.ndarray, corrected: np.ndarray) -> np.ndarray:
    """Return the multiplicative field source / corrected where both are positive, elsewhere the nearest's."""
    valid = (source > 0) & (corrected > 0)
    field = np.ones_like(source)
    field[valid] = source[valid] / corrected[valid]
    return fill_from_nearest(field, valid)
