"""Tissue masks computed once per image and shared by every method's evaluation (pure: no nipype).

Brain images (T1w, T2w), in order of preference:

1. ``deep_atropos`` (ANTsPyNet; Tustison et al. 2021) when its files are in the ANTsXNet cache (T1w only;
   :mod:`inuprep.deepatropos`, in a process of its own). Its six labels stay in the ``dseg``; CSF = 1,
   GM = cortical 2 + deep 4, WM = 3; brain stem and cerebellum are not evaluated.
2. A T2w with a T1w in the same session reuses that T1w's masks, moved by a rigid registration (antspyx,
   mutual information).
3. Offline fallback: deepbet brain extraction (Fisch et al. 2024; weights ship in the wheel), the MNI152
   2009a T1 that nilearn ships registered to the image (affine + SyN at 2 mm), and a three-class Gaussian
   mixture with its GM and WM maps and CSF = brain - GM - WM as priors and a Markov random field
   (:mod:`inuprep.tissue_model`, Atropos's model (Avants et al. 2011) in numpy, 20x faster;
   ``EM_PRIOR_WEIGHT``, ``EM_MRF``; chosen with ``benchmarks/segmentation_dice.py``, figures in
   ``benchmarks/README.md``). The priors name the classes, so a T2w needs no reversed intensity order.

Dixon images: the water fraction water / (water + fat) of the acquisition's two components splits the
object into a water and a fat region (both components share one receive field, so the fraction is free of
it); a component without its partner is split into a dim and a bright class. User masks
(``--derivatives``) take precedence over all of these.

The classes are fitted to the consensus of every method's corrected image (their mean after scaling each to
mean 1), not to the original: masks fitted to one image's intensities favour that image, and masks that
include the biased original follow the field (``benchmarks/mask_bias.py``). The consensus lets no single
correction decide them. The masks still flatter corrections against the original, which is why images with
a known field are judged by ground-truth error.

Reproducibility: ANTs registrations take the run's seed (:func:`ants_random_seed`), Atropos a constant seed
and the tissue model has none, so one ITK thread gives the same masks on every run; with more threads
ITK's multithreaded metric sums, and with them the registrations, vary slightly. :func:`ants_scratch`
keeps antspyx's temporary files out of /tmp.
"""

import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nb
import numpy as np

from inuprep import deepatropos
from inuprep.image import foreground_mask
from inuprep.metrics import labels_by_tissue
from inuprep.tissue_model import prior_em

BRAIN_LABELS = {1: "CSF", 2: "GM", 3: "WM"}
DIXON_LABELS = {1: "water", 2: "fat"}
INTENSITY_LABELS = {1: "dim", 2: "bright"}
#: the pairs of tissues whose contrast CJV measures (the first pair present in a label table is used)
CJV_PAIRS = (("WM", "GM"), ("water", "fat"), ("bright", "dim"))
#: a brain mask outside this range (mL) means brain extraction failed
BRAIN_VOLUME_ML = (300.0, 3000.0)
#: k-means Atropos's MRF smoothing
MRF = 0.2
#: the tissue model's prior weight and MRF weight per neighbour (26 of them; segmentation_dice.py, issue 25)
EM_PRIOR_WEIGHT, EM_MRF = 0.3, 0.02


class SegmentationError(RuntimeError):
    """Tissue masks could not be computed; the message is one line."""


@dataclass
class Segmentation:
    """Tissue masks of one image on its own grid."""

    mask: np.ndarray  # brain (or object) mask, bool
    dseg: np.ndarray  # integer labels, 0 outside the mask
    labels: dict[int, str]  # the dseg's label names
    tissues: dict[int, str]  # the tissue each evaluated label counts as (labels absent: not evaluated)
    probseg: dict[str, np.ndarray] = field(default_factory=dict)  # posterior per tissue
    source: str = ""  # deep_atropos, template_priors, T1w, dixon_water_fat, intensity, user
    method: str = ""  # one sentence for sidecars and reports


def tissue_names(run, dixon_pair: bool = False, user_dseg: bool = False) -> tuple[str, ...]:
    """Return the tissues that get a ``probseg`` map: none for a user's dseg, else its segmentation's."""
    if user_dseg:
        return ()
    if run.contrast == "dixon":
        return tuple((DIXON_LABELS if dixon_pair else INTENSITY_LABELS).values())
    return tuple(BRAIN_LABELS.values())


def cjv_pair(names) -> tuple[str, str] | None:
    """Return the pair of tissues whose CJV is reported for a table with tissue ``names`` (or None)."""
    return next((pair for pair in CJV_PAIRS if set(pair) <= set(names)), None)


def to_ants(data: np.ndarray, img: nb.Nifti1Image):
    """Return ``data`` as an ANTsImage in ``img``'s physical space (orientation and origin kept).

    The image goes through a NIfTI file, as antspyx's Atropos passes prior images: in memory, an oblique
    affine's origin differs from its float32 NIfTI copy by more than ITK's 1e-6 tolerance.
    """
    import ants

    with tempfile.TemporaryDirectory(prefix="inuprep_") as tmp:
        path = Path(tmp) / "image.nii.gz"
        nifti = nb.Nifti1Image(np.asarray(data, dtype=np.float32), img.affine)
        nifti.header.set_xyzt_units("mm", "sec")  # ITK warns about unknown units otherwise
        nifti.to_filename(path)
        return ants.image_read(str(path))


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


@contextmanager
def ants_scratch():
    """Send the files antspyx writes and never deletes (transforms, Atropos posteriors) to a folder of
    their own, removed at the end: without it every segmentation left about 10 files in /tmp."""
    previous = tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix="inuprep-ants-") as scratch:
        tempfile.tempdir = scratch
        try:
            yield
        finally:
            tempfile.tempdir = previous


@ants_scratch()  # antspyx's Atropos posteriors and transforms: never left in /tmp
def atropos_classes(
    data: np.ndarray, zooms: tuple[float, ...], mask: np.ndarray, n_classes: int, mrf: float = MRF
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return k-means Atropos labels 1..n ordered by increasing mean intensity and their posterior maps."""
    import ants

    image = ants.from_numpy(np.asarray(data, dtype=np.float32), spacing=tuple(float(z) for z in zooms))
    ants_mask = image.new_image_like(mask.astype(np.float32))
    try:
        result = ants.atropos(
            a=image, x=ants_mask, i=f"KMeans[{n_classes}]", m=f"[{mrf},1x1x1]", c="[5,0]", r=0
        )  # r=0: Atropos's constant seed, not the clock
    except Exception as err:  # antspyx raises a bare Exception when Atropos exits non-zero
        raise SegmentationError(f"Atropos failed ({err})") from None
    dseg = result["segmentation"].numpy().astype(np.uint8)
    probs = [p.numpy().astype(np.float32) for p in result["probabilityimages"]]
    means = [data[dseg == k + 1].mean() if np.any(dseg == k + 1) else np.inf for k in range(n_classes)]
    order = np.argsort(means)
    relabel = np.zeros(n_classes + 1, dtype=np.uint8)
    relabel[order + 1] = np.arange(1, n_classes + 1)
    return relabel[dseg], [probs[k] for k in order]


@contextmanager
def ants_random_seed(seed: int):
    """Run the ANTs registrations inside with ``--random-seed seed``.

    antspyx 0.6 reads the seed only from ``ants.config``; its ``set_ants_deterministic`` sets the same value
    but refuses every transform without "Repro" in its name (SyN among them). Without a seed ANTs seeds its
    metric sampling from the clock.
    """
    import ants.config

    previous, ants.config._random_seed = ants.config._random_seed, seed
    try:
        yield
    finally:
        ants.config._random_seed = previous


def consensus_image(images: list[np.ndarray], mask: np.ndarray) -> np.ndarray:
    """Return the mean of ``images``, each scaled to mean 1 inside ``mask`` (every method weighs alike)."""
    return np.mean([image / image[mask].mean() for image in images], axis=0).astype(np.float32)


def template_priors() -> tuple[nb.Nifti1Image, dict[str, np.ndarray]]:
    """Return nilearn's MNI152 2009a T1 (1 mm, skull-stripped) and its CSF, GM and WM prior maps."""
    from inuprep.templates import mni152

    t1, gm, wm = mni152(1.0, ("T1", "GM", "WM"))
    gm, wm = gm.get_fdata(dtype=np.float32), wm.get_fdata(dtype=np.float32)
    csf = np.where(t1.get_fdata() > 0, np.clip(1 - gm - wm, 0, 1), 0).astype(np.float32)
    return t1, {"CSF": csf, "GM": gm, "WM": wm}


@ants_scratch()  # antspyx's transforms: never left in /tmp
def registered_priors(img: nb.Nifti1Image, target: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """Return MNI152's CSF, GM and WM priors on ``img``'s grid, the template registered to ``target``."""
    import ants

    template, priors = template_priors()
    fixed = to_ants(np.where(mask, target, 0), img)
    moving = to_ants(template.get_fdata(dtype=np.float32), template)
    spacing = tuple(max(2.0, float(z)) for z in img.header.get_zooms()[:3])  # 2 mm, or coarser voxels
    coarse = [
        ants.resample_image(image, spacing, use_voxels=False, interp_type=0) for image in (fixed, moving)
    ]
    transforms = ants.registration(*coarse, type_of_transform="SyN")["fwdtransforms"]
    return [
        ants.apply_transforms(fixed, moving.new_image_like(prior), transforms, interpolator="linear").numpy()
        for prior in priors.values()
    ]


def segment_with_template(
    img: nb.Nifti1Image, target: np.ndarray, mask: np.ndarray, priors: list[np.ndarray] | None = None
) -> Segmentation:
    """Return the tissue classes of ``target`` (on ``img``'s grid) with MNI152 tissue priors (registered to
    ``target`` unless given)."""
    priors = registered_priors(img, target, mask) if priors is None else priors
    probs = prior_em(target, mask, priors, EM_PRIOR_WEIGHT, EM_MRF)
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
        f"{EM_PRIOR_WEIGHT}, mean-field MRF {EM_MRF} per neighbour, 5 EM iterations)",
    )


def segment_with_deep_atropos(img: nb.Nifti1Image, target: np.ndarray, cache: Path) -> Segmentation:
    """Return deep_atropos's labels of ``target`` (on ``img``'s grid), run in a separate process."""
    with tempfile.TemporaryDirectory(prefix="inuprep_deepatropos_") as tmp:
        tmp = Path(tmp)
        in_file, dseg_file, prob_file = tmp / "in.nii.gz", tmp / "dseg.nii.gz", tmp / "probseg.nii.gz"
        nifti = nb.Nifti1Image(target.astype(np.float32), img.affine)
        nifti.header.set_xyzt_units("mm", "sec")
        nifti.to_filename(in_file)
        command = [
            sys.executable,
            "-m",
            "inuprep.deepatropos",
            in_file,
            dseg_file,
            prob_file,
            "--cache",
            cache,
        ]
        done = subprocess.run([str(c) for c in command], capture_output=True, text=True)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
            raise SegmentationError(lines[-1])
        dseg = np.rint(nb.load(dseg_file).get_fdata()).astype(np.uint8)
        # antspyx writes the merged channels as a vector image, (x, y, z, 1, 7): one volume per class
        probs = nb.load(prob_file).get_fdata(dtype=np.float32).reshape(*dseg.shape, -1)
    probseg = {
        tissue: sum(probs[..., index] for index, name in deepatropos.TISSUES.items() if name == tissue)
        for tissue in BRAIN_LABELS.values()
    }
    return Segmentation(
        mask=dseg > 0,
        dseg=dseg,
        labels=deepatropos.LABELS,
        tissues=deepatropos.TISSUES,
        probseg=probseg,
        source="deep_atropos",
        method="ANTsPyNet deep_atropos (6 tissues, MNI152 priors; GM = cortical + deep GM, brain stem and "
        f"cerebellum not evaluated), ANTsXNet files from {cache}",
    )


@ants_scratch()  # antspyx's Atropos posteriors and transforms: never left in /tmp
def transfer_segmentation(reference: nb.Nifti1Image, seg: Segmentation, img: nb.Nifti1Image) -> Segmentation:
    """Return ``seg`` (of the image ``reference``) moved onto ``img`` by a rigid registration."""
    import ants

    fixed, moving = to_ants(img.get_fdata(dtype=np.float32), img), to_ants(reference.get_fdata(), reference)
    transforms = ants.registration(fixed, moving, type_of_transform="Rigid")["fwdtransforms"]

    def moved(data, interpolator):
        return ants.apply_transforms(fixed, to_ants(data, reference), transforms, interpolator=interpolator)

    dseg = np.rint(moved(seg.dseg, "genericLabel").numpy()).astype(np.uint8)
    return Segmentation(
        mask=dseg > 0,
        dseg=dseg,
        labels=seg.labels,
        tissues=seg.tissues,
        probseg={name: moved(prob, "linear").numpy() for name, prob in seg.probseg.items()},
        source="T1w",
        method=f"the session's T1w masks ({seg.source}), moved by a rigid registration (antspyx, mutual "
        "information)",
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
    cache = Path(antsxnet_cache) if antsxnet_cache else deepatropos.default_cache()
    missing = deepatropos.missing_files(cache)
    if contrast != "T1w":
        why = "deep_atropos segments T1w images only"
    elif missing:
        why = f"deep_atropos files not in {cache} (missing {', '.join(missing)}; see inuprep-fetch-models)"
    else:
        try:
            return segment_with_deep_atropos(img, target, cache), ""
        except SegmentationError as err:
            why = f"deep_atropos failed ({err})"
    return segment_with_template(img, target, mask, priors), why


def segment_dixon(
    img: nb.Nifti1Image,
    corrected: list[np.ndarray],
    water: np.ndarray | None = None,
    fat: np.ndarray | None = None,
) -> Segmentation:
    """Return water and fat regions of a Dixon image from its water and fat components (else dim/bright)."""
    data = img.get_fdata(dtype=np.float32)
    if water is not None and fat is not None:
        if not water.shape == fat.shape == data.shape:
            raise SegmentationError(
                f"Dixon water {water.shape}, fat {fat.shape} and image {data.shape} differ"
            )
        total = np.clip(water, 0, None) + np.clip(fat, 0, None)
        mask = foreground_mask(total)
        fraction = np.where(mask, np.clip(water, 0, None) / np.where(total > 0, total, 1), 0)
        if mask.sum() < 100:
            raise SegmentationError("no foreground found in the Dixon water + fat image")
        dseg = np.where(mask, np.where(fraction >= 0.5, 1, 2), 0).astype(np.uint8)
        return Segmentation(
            mask=mask,
            dseg=dseg,
            labels=DIXON_LABELS,
            tissues=DIXON_LABELS,
            probseg={"water": fraction.astype(np.float32), "fat": np.where(mask, 1 - fraction, 0)},
            source="dixon_water_fat",
            method="Otsu foreground of water + fat; water region: water fraction >= 0.5, fat region: below",
        )
    mask = foreground_mask(data)
    if mask.sum() < 100:
        raise SegmentationError("no foreground found in the Dixon image")
    zooms = img.header.get_zooms()[:3]
    dseg, probs = atropos_classes(consensus_image(corrected or [data], mask), zooms, mask, n_classes=2)
    return Segmentation(
        mask=mask,
        dseg=dseg,
        labels=INTENSITY_LABELS,
        tissues=INTENSITY_LABELS,
        probseg=dict(zip(INTENSITY_LABELS.values(), probs, strict=True)),
        source="intensity",
        method=f"no water/fat pair: Otsu foreground; Atropos (2 classes, k-means, MRF {MRF}) fitted to the "
        f"consensus of {len(corrected)} corrected image(s)",
    )


def on_same_grid(img: nb.Nifti1Image, other: nb.Nifti1Image) -> bool:
    """Return whether ``other`` has ``img``'s 3D shape and affine (to 0.01 mm)."""
    return other.shape[:3] == img.shape[:3] and np.allclose(other.affine, img.affine, atol=1e-2)


def user_segmentation(img: nb.Nifti1Image, dseg_img: nb.Nifti1Image, labels: dict[int, str]) -> Segmentation:
    """Return the user's labels (a ``_dseg`` from ``--derivatives``) as the image's tissue masks."""
    if not on_same_grid(img, dseg_img):
        raise SegmentationError(
            f"{dseg_img.get_filename()} is not on the image's grid (shape and affine differ)"
        )
    dseg = np.rint(np.asanyarray(dseg_img.dataobj)).astype(np.int32)
    unknown = sorted(set(np.unique(dseg)) - set(labels) - {0})
    if unknown:
        raise SegmentationError(f"{dseg_img.get_filename()} has labels {unknown[:5]} that its dseg.tsv lacks")
    return Segmentation(
        mask=dseg > 0,
        dseg=dseg,
        labels=labels,
        tissues=labels,
        source="user",
        method=f"supplied by the user: {dseg_img.get_filename()}",
    )


def write_label_table(seg: Segmentation, path: Path) -> str:
    """Write a BIDS ``dseg.tsv`` (index, name, and the tissue each label is evaluated as) and return it."""
    rows = "".join(
        f"{index}\t{name}\t{seg.tissues.get(index, 'n/a')}\n" for index, name in sorted(seg.labels.items())
    )
    path.write_text("index\tname\ttissue\n" + rows)
    return str(path)


def read_label_table(path: str | Path) -> tuple[dict[int, str], dict[int, str]]:
    """Return the {index: name} and {index: evaluated tissue} tables of a ``dseg.tsv``."""
    import pandas as pd

    table = pd.read_csv(path, sep="\t", dtype={"name": str}, keep_default_na=False)
    labels = dict(zip(table["index"].astype(int), table["name"], strict=True))
    if "tissue" not in table:
        return labels, labels
    rows = table[table["tissue"] != "n/a"]
    return labels, dict(zip(rows["index"].astype(int), rows["tissue"].astype(str), strict=True))


def tissue_mask(dseg_file: str | Path, dseg_tsv: str | Path, tissue: str) -> np.ndarray:
    """Return the boolean mask of the labels of ``dseg_file`` its table evaluates as ``tissue`` (e.g. WM)."""
    labels = np.asanyarray(nb.load(dseg_file).dataobj).round().astype(int)
    return np.isin(labels, labels_by_tissue(read_label_table(dseg_tsv)[1]).get(tissue, []))
