"""Brain images' tissue masks: deepbet's brain mask, MNI152's registered priors and the tissue model (the
offline fallback), or deep_atropos when its files are cached."""

from pathlib import Path

import nibabel as nb
import numpy as np

from inuprep.image import foreground_mask
from inuprep.segmentation import deep_atropos
from inuprep.segmentation.antspyx import ants_scratch, to_ants
from inuprep.segmentation.base import BRAIN_LABELS, Segmentation, SegmentationError, consensus_image
from inuprep.segmentation.tissue_model import bounding_box, prior_em

#: a brain mask outside this range (mL) means brain extraction failed
BRAIN_VOLUME_ML = (300.0, 3000.0)
#: the tissue model's prior weight and MRF weight per neighbour (26 of them; benchmarks/segmentation_dice.py)
EM_PRIOR_WEIGHT, EM_MRF = 0.3, 0.02
#: a T2w's (no T1w in its session): its GM and WM are closer in intensity, so the priors and the MRF weigh
#: more (``segmentation_dice.py --t2w-alone``: GM/WM Dice 0.709/0.727 on the real cstarstroke T2w, against
#: 0.548/0.672 with the T1w's weights)
EM_T2W = (0.8, 0.05)


def deepbet_brain_mask(img: nb.Nifti1Image) -> np.ndarray:
    """Return deepbet's brain mask of ``img`` on its grid (CPU, weights from the deepbet package)."""
    from deepbet import BrainExtraction

    _, mask, _ = BrainExtraction(no_gpu=True).run(img)
    return np.asarray(mask.dataobj) > 0


def brain_mask(img: nb.Nifti1Image) -> np.ndarray:
    """Return the brain mask of a T1w/T2w image, or raise SegmentationError when it is not a brain."""
    data = img.get_fdata(dtype=np.float32)
    try:
        mask = deepbet_brain_mask(img)
    except (ValueError, AssertionError, RuntimeError) as err:  # deepbet fails this way on non-brain input
        raise SegmentationError(f"brain extraction failed ({err}): is this a brain image?") from None
    # deepbet's mask is smooth; background voxels of a skull-stripped input must not count as CSF
    mask &= foreground_mask(data)
    volume_ml = mask.sum() * float(np.prod(img.header.get_zooms()[:3])) / 1000
    if not BRAIN_VOLUME_ML[0] <= volume_ml <= BRAIN_VOLUME_ML[1]:
        raise SegmentationError(
            f"brain extraction found {volume_ml:.0f} mL of brain (expected {BRAIN_VOLUME_ML[0]:.0f}-"
            f"{BRAIN_VOLUME_ML[1]:.0f}): is this a brain image?"
        )
    return mask


def template_priors() -> tuple[nb.Nifti1Image, dict[str, np.ndarray]]:
    """Return nilearn's MNI152 2009a T1 (1 mm, skull-stripped) and its prior maps in ``BRAIN_LABELS``'s
    order."""
    from inuprep.utils.mni152 import mni152

    t1, gm, wm = mni152(1.0, ("T1", "GM", "WM"))
    gm, wm = gm.get_fdata(dtype=np.float32), wm.get_fdata(dtype=np.float32)
    csf = np.where(t1.get_fdata() > 0, np.clip(1 - gm - wm, 0, 1), 0).astype(np.float32)
    maps = {"CSF": csf, "GM": gm, "WM": wm}
    return t1, {name: maps[name] for name in BRAIN_LABELS.values()}


@ants_scratch()  # antspyx's transforms: never left in /tmp
def registered_priors(
    img: nb.Nifti1Image, target: np.ndarray, mask: np.ndarray, spacing_mm: float = 2.0, **registration
) -> list[np.ndarray]:
    """Return MNI152's tissue priors (``BRAIN_LABELS``'s order) on ``img``'s grid, the template registered
    to ``target`` on a ``spacing_mm`` grid (antspyx's affine + SyN; ``registration``: more of
    ``ants.registration``'s keyword arguments, which ``benchmarks/segmentation_dice.py --registrations``
    compares)."""
    import ants

    template, priors = template_priors()
    fixed = to_ants(np.where(mask, target, 0), img)
    moving = to_ants(template.get_fdata(dtype=np.float32), template)
    spacing = tuple(max(spacing_mm, float(z)) for z in img.header.get_zooms()[:3])
    coarse = [
        ants.resample_image(image, spacing, use_voxels=False, interp_type=0) for image in (fixed, moving)
    ]
    transforms = ants.registration(*coarse, type_of_transform="SyN", **registration)["fwdtransforms"]
    # resampled onto the brain's box only (the tissue model reads nothing outside the mask): a third of a
    # 1 mm head's grid, the same values at the same points
    box = bounding_box(mask)
    reference = ants.crop_indices(fixed, [b.start for b in box], [b.stop for b in box])
    maps = []
    for prior in priors.values():
        moved = moving.new_image_like(prior)
        maps.append(np.zeros(mask.shape, dtype=np.float32))
        maps[-1][box] = ants.apply_transforms(reference, moved, transforms, interpolator="linear").numpy()
    return maps


def segment_with_template(
    img: nb.Nifti1Image,
    target: np.ndarray,
    mask: np.ndarray,
    priors: list[np.ndarray] | None = None,
    contrast: str = "T1w",
) -> Segmentation:
    """Return the tissue classes of ``target`` (on ``img``'s grid) with MNI152 tissue priors (registered to
    ``target`` unless given), the tissue model weighted for the ``contrast``."""
    priors = registered_priors(img, target, mask) if priors is None else priors
    weight, mrf = EM_T2W if contrast == "T2w" else (EM_PRIOR_WEIGHT, EM_MRF)
    probs = prior_em(target, mask, priors, weight, mrf)
    dseg = ((np.argmax(probs, axis=0) + 1) * mask).astype(np.uint8)
    return Segmentation(
        mask=mask,
        dseg=dseg,
        labels=BRAIN_LABELS,
        tissues=BRAIN_LABELS,
        probseg=dict(zip(BRAIN_LABELS.values(), probs, strict=True)),
        source="template_priors",
        method="offline fallback: deepbet brain extraction; nilearn's MNI152 2009a T1 registered to the "
        "image (antspyx, affine + SyN at 2 mm); a Gaussian mixture (CSF/GM/WM, MNI152 priors at weight "
        f"{weight}, mean-field MRF {mrf} per neighbour, 5 EM iterations)",
    )


def template_inputs(img: nb.Nifti1Image) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return the brain mask of ``img`` and MNI152's priors registered to it as acquired: the part of the
    offline fallback that needs no correction, so the App runs it beside them (mutual information, the
    registration's metric, is not misled by a smooth field: ``benchmarks/segmentation_dice.py``)."""
    mask = brain_mask(img)
    return mask, registered_priors(img, img.get_fdata(dtype=np.float32), mask)


def segment_brain(
    img: nb.Nifti1Image,
    contrast: str,
    corrected: list[np.ndarray],
    antsxnet_cache: Path | None = None,
    prepared: tuple[np.ndarray, list[np.ndarray]] | None = None,
) -> tuple[Segmentation, str]:
    """Return the tissue masks of a T1w or T2w brain and, when deep_atropos was not used, why not.

    ``prepared``: :func:`template_inputs` of ``img``, computed beforehand (else the brain mask is computed
    here, and the priors, if needed, are registered to the corrections' consensus).
    """
    mask, priors = prepared if prepared is not None else (brain_mask(img), None)
    target = consensus_image(corrected or [img.get_fdata(dtype=np.float32)], mask)
    cache = Path(antsxnet_cache) if antsxnet_cache else deep_atropos.default_cache()
    missing = deep_atropos.missing_files(cache)
    if contrast != "T1w":
        why = "deep_atropos segments T1w images only"
    elif missing:
        why = f"deep_atropos files not in {cache} (missing {', '.join(missing)}; see inuprep-fetch-models)"
    else:
        try:
            return deep_atropos.segment(img, target, cache), ""
        except SegmentationError as err:
            why = f"deep_atropos failed ({err})"
    return segment_with_template(img, target, mask, priors, contrast), why
