"""Tissue-anchored Nyul: Nyul-Udupa's piecewise-linear standardisation, then a second piecewise-linear map
that takes the image's own tissue medians onto the references' mean medians.

Nyul matches an image's histogram percentiles to the references' mean ones, which puts a tissue where the
references have it only when the image holds the same share of each tissue: a brain with more CSF (or less
WM) than the references' average is mapped with its tissues off their scale. The tissue labels (the App's
segmentation of the corrected, unharmonized image) say where each tissue is; the second map moves their
medians, not the labels, so a segmentation's volumes cannot change. The anchors are (0, 0), one per tissue
in the order of its median, and the highest Nyul landmark (already on the standard scale); beyond it the
last segment's slope. An image whose tissue medians do not stand in the references' order (another
contrast, a lesion-filled segmentation), or with fewer than two tissues labelled, or whose labels give a
tissue a share of the brain that differs from the references' by more than ``max_share_difference`` (0.1:
on the benchmark's tuning split, intensity-ordered labels of a low-contrast protocol gave WM 0.56 of the
brain against 0.42, and anchoring on them cost 2 dB), keeps Nyul's result and its sidecar says why.

With ``anchors`` (``inuprep-harmonize apply --per-site``) one map serves every image of a site: each image
is scaled by its own highest landmark, then Nyul's map and the tissue map are fitted on the site's mean
landmarks and mean tissue medians. Nyul image by image matches each brain's percentiles, which erases a
subject's own GM/WM contrast (biology); one map per site keeps it.
"""

import json
from pathlib import Path

import numpy as np

from inuprep.harmonizers.nyul import harmonize as nyul
from inuprep.harmonizers.tissue.settings import TissueSettings
from inuprep.image import ImageError

ANCHORS = "tissue_anchors.json"


def shares(mask: np.ndarray, tissues: dict) -> dict[str, float]:
    """Return each labelled tissue's share of the brain ``mask``."""
    total = max(int(mask.sum()), 1)
    return {
        name: float((mask & labelled).sum() / total)
        for name, labelled in tissues.items()
        if labelled is not None
    }


def medians(data: np.ndarray, mask: np.ndarray, tissues: dict, settings: TissueSettings) -> dict[str, float]:
    """Return {tissue: median of ``data`` in it and the brain ``mask``} for each tissue labelled in at least
    ``settings.min_voxels`` voxels."""
    found = {}
    for name, labelled in tissues.items():
        inside = mask & labelled if labelled is not None else None
        if inside is not None and inside.sum() >= settings.min_voxels:
            found[name] = float(np.median(data[inside]))
    return found


def image_anchors(data, mask, contrast, settings: TissueSettings, folder: Path, tissues: dict) -> dict:
    """Return an image's landmarks and tissue medians, over its highest landmark: a site's mean of them
    is ``apply``'s ``anchors``."""
    values = np.percentile(data[mask], nyul.landmarks(settings))
    return {
        "landmarks": list(values / values[-1]),
        "medians": {name: m / values[-1] for name, m in medians(data, mask, tissues, settings).items()},
        "shares": shares(mask, tissues),
    }


def site_mean(found: list[dict]) -> dict:
    """Return the mean of the images' :func:`image_anchors` (the tissues labelled in all of them)."""
    common = [name for name in found[0]["medians"] if all(name in f["medians"] for f in found)]
    return {
        "landmarks": list(np.mean([f["landmarks"] for f in found], axis=0)),
        "medians": {name: float(np.mean([f["medians"][name] for f in found])) for name in common},
        "shares": {name: float(np.mean([f["shares"][name] for f in found])) for name in common},
        "images": len(found),
    }


def order(anchors: dict[str, float]) -> list[str]:
    """Return the tissues by increasing median."""
    return sorted(anchors, key=anchors.get)


def fit(images: list, contrast: str | None, settings: TissueSettings, folder: Path) -> list[float]:
    """Fit Nyul's standard scale, then write the references' mean tissue medians on it."""
    nyul.fit([(data, mask) for data, mask, _ in images], contrast, settings, folder)
    found = [
        medians(nyul.apply(data, mask, contrast, settings, folder), mask, tissues, settings)
        for data, mask, tissues in images
    ]
    common = [name for name in found[0] if all(name in anchors for anchors in found)]
    if len(common) < 2:
        raise ImageError(
            "the tissue method needs each reference's CSF, GM and WM labels (at least two tissues of "
            f"{settings.min_voxels} voxels in every reference); give each its dseg (--dsegs)"
        )
    orders = {tuple(order({name: anchors[name] for name in common})) for anchors in found}
    if len(orders) > 1:
        raise ImageError(
            "the references' tissues stand in different orders "
            f"({'; '.join(' < '.join(o) for o in orders)}): fit on references of one contrast"
        )
    reference = {name: float(np.mean([anchors[name] for anchors in found])) for name in common}
    each = [shares(mask, tissues) for _, mask, tissues in images]  # once per reference, not per tissue
    share = {name: float(np.mean([image[name] for image in each])) for name in common}
    record = {"medians": reference, "shares": share, "per_reference": found}
    (folder / ANCHORS).write_text(json.dumps(record, indent=2))
    return []


def share_difference(own: dict[str, float], reference: dict[str, float], limit: float) -> str:
    """Return why the labels are not trusted ('' when they are): a tissue's share of the brain that differs
    from the references' by more than ``limit``."""
    off = {n: own[n] - reference[n] for n in reference if n in own and abs(own[n] - reference[n]) > limit}
    if not off:
        return ""
    said = ", ".join(f"{n} {own[n]:.2f} against {reference[n]:.2f}" for n in off)
    return f"its labels give a tissue a share of the brain far from the references' ({said})"


def anchor_map(own: dict[str, float], reference: dict[str, float], top: tuple[float, float]):
    """Return the (image, reference) anchor intensities of the map, or why there is none: fewer than two
    common tissues, or an order that is not the references'."""
    common = [name for name in reference if name in own]
    if len(common) < 2:
        return f"fewer than two of {', '.join(reference)} labelled"
    mine, theirs = order({n: own[n] for n in common}), order({n: reference[n] for n in common})
    if mine != theirs:
        return f"its tissue order ({' < '.join(mine)}) is not the references' ({' < '.join(theirs)})"
    xs, ys = [0.0, *(own[n] for n in mine)], [0.0, *(reference[n] for n in mine)]
    if top[0] > xs[-1] and top[1] > ys[-1]:
        xs, ys = [*xs, top[0]], [*ys, top[1]]
    if min(np.diff(xs)) <= 0:
        return "two of its tissue medians are equal"
    return np.array(xs), np.array(ys)


def piecewise_linear(data, xs, ys) -> np.ndarray:
    """Return ``data`` mapped through the anchors ``xs`` -> ``ys``, extended beyond both ends with the end
    segments' slopes."""
    data, xs, ys = (np.asarray(v, np.float64) for v in (data, xs, ys))
    mapped = np.interp(data, xs, ys)
    low, high = (ys[1] - ys[0]) / (xs[1] - xs[0]), (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    mapped = np.where(data < xs[0], ys[0] + (data - xs[0]) * low, mapped)
    return np.where(data > xs[-1], ys[-1] + (data - xs[-1]) * high, mapped)


def apply(data, mask, contrast, settings: TissueSettings, folder: Path, tissues: dict, anchors=None):
    """Return ``data`` on the references' scale (Nyul, then its tissue medians, or the site's ``anchors``,
    onto theirs) and what its sidecar says of the anchors."""
    scale = np.load(folder / nyul.HISTOGRAM)[0]
    if anchors is None:
        standard = nyul.apply(data, mask, contrast, settings, folder)
        own, own_shares = medians(standard, mask, tissues, settings), shares(mask, tissues)
    else:  # the site's map: this image over its highest landmark, then the site's mean landmarks
        highest = np.percentile(data[mask], settings.max_percentile)
        standard = np.clip(piecewise_linear(data / highest, anchors["landmarks"], scale), 0, None)
        own = {
            n: float(piecewise_linear(m, anchors["landmarks"], scale)) for n, m in anchors["medians"].items()
        }
        own_shares = anchors["shares"]
    record = json.loads((folder / ANCHORS).read_text())
    reference = record["medians"]
    top = (float(np.percentile(standard[mask], settings.max_percentile)), float(scale[-1]))
    found = anchor_map(own, reference, top)
    if not isinstance(found, str):
        found = share_difference(own_shares, record["shares"], settings.max_share_difference) or found
    source = "the site's mean tissue medians" if anchors is not None else "its own tissue medians"
    if isinstance(found, str):  # Nyul's own map of this image, also for a site's
        standard = nyul.apply(data, mask, contrast, settings, folder) if anchors is not None else standard
        return standard.astype(np.float32), {"TissueAnchors": f"none, Nyul's mapping alone: {found}"}
    mapped = np.clip(piecewise_linear(standard, *found), 0, None).astype(np.float32)
    note = {  # the image's and the references' medians
        name: [round(own[name], 6), round(reference[name], 6)] for name in order(own) if name in reference
    }
    return mapped, {"TissueAnchors": f"{source} mapped onto the references'", "TissueMedians": note}
