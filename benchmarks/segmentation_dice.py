"""How good are inuprep's tissue masks? Dice of GM and WM against known maps.

Each image is corrected by N4 and by the zero-shot network and the consensus of both is segmented, as the App
does, by the offline fallback (MNI152 priors registered to the image as acquired + the tissue model of
``inuprep.segmentation.tissue_model`` at a few prior and MRF weights), by Atropos with the same priors (the
fallback until issue 25), by plain k-means Atropos (before that) and by deep_atropos when its files are
cached:

- ``mni152``: nilearn's MNI152 2009a T1 under a known warp (random affine: rotations up to 8 degrees, scaling
  0.92-1.08, shifts up to 8 mm; plus a smooth displacement up to 4 mm) and a known field (polynomial, max/min
  2 inside the brain, 1 % Rician noise). Truth: the template's own GM/WM/CSF maps under the same warp,
  each voxel of the warped brain labelled by the largest. The fallback registers this very template, so
  this case measures registration, priors and Atropos, not how well MNI152 fits another brain;
- ``philips3t`` (../shared/data): a real 3T MPRAGE with FSL FAST GM/WM maps (> 0.5) as the truth;
- ``cstarstroke`` (../shared/data): a real T1w and T2w on one grid; the T2w's affine is moved by a known
  rigid transform (6 degrees, 9 mm), so its voxels still match the T1w's. Truth: the T1w's fallback labels.
  Compared: those labels moved by inuprep's rigid registration (what the App does for a T2w with a T1w)
  and the fallback run on the T2w itself.

    python benchmarks/segmentation_dice.py --seeds 1 2 3 [--cache DIR]
    python benchmarks/segmentation_dice.py --registrations --threads 1   # cheaper registrations (issue 35)
"""

import argparse
import os
import time
from pathlib import Path

import nibabel as nb
import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from inuprep.methods.n4.correct import n4_correct
from inuprep.methods.zeroshot.correct import zeroshot_correct
from inuprep.segmentation import deep_atropos
from inuprep.segmentation.antspyx import MRF, ants_random_seed, ants_scratch, atropos_classes, to_ants
from inuprep.segmentation.base import BRAIN_LABELS, SegmentationError, consensus_image
from inuprep.segmentation.brain import (
    EM_MRF,
    EM_PRIOR_WEIGHT,
    EM_T2W,
    brain_mask,
    registered_priors,
    segment_brain,
    template_inputs,
)
from inuprep.segmentation.tissue_model import prior_em
from inuprep.segmentation.transfer import transfer_segmentation
from inuprep.simulation.fields import simulate_bias

#: the tissue model's prior weight and MRF weight compared (issue 25; the second is the App's)
EM_SETTINGS = ((0.1, EM_MRF), (EM_PRIOR_WEIGHT, EM_MRF), (0.5, EM_MRF))
#: registrations of MNI152 that ``--registrations`` compares (issue 35): keyword arguments of
#: ``registered_priors`` (the shipped one first)
REGISTRATIONS = {
    "shipped: affine + SyN, 2 mm grid": {},
    "3 mm grid": {"spacing_mm": 3.0},
    "affine sampling 0.1": {"aff_random_sampling_rate": 0.1},
    "SyN 40x10x0": {"reg_iterations": (40, 10, 0)},
    "SyN 20x5x0, affine sampling 0.05": {"reg_iterations": (20, 5, 0), "aff_random_sampling_rate": 0.05},
}
ATROPOS_PRIOR_WEIGHT = 0.1  # the App's Atropos with priors, until issue 25
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@ants_scratch()  # antspyx's Atropos posteriors: never left in /tmp
def atropos_with_priors(
    img: nb.Nifti1Image, target: np.ndarray, mask: np.ndarray, priors: list[np.ndarray]
) -> list[np.ndarray]:
    """Return Atropos's CSF/GM/WM posteriors of ``target`` with ``priors`` (the fallback until issue 25)."""
    import ants

    fixed = to_ants(np.where(mask, target, 0), img)
    ants_mask = fixed.new_image_like(mask.astype(np.float32))
    try:
        result = ants.atropos(
            a=fixed, x=ants_mask, i=[fixed.new_image_like(p) for p in priors], m=f"[{MRF},1x1x1]",
            c="[5,0]", priorweight=ATROPOS_PRIOR_WEIGHT, r=0,
        )  # fmt: skip
    except Exception as err:  # antspyx raises a bare Exception when Atropos exits non-zero
        raise SegmentationError(f"Atropos failed ({err})") from None
    return [p.numpy().astype(np.float32) for p in result["probabilityimages"]]


def random_warp(shape, zoom, seed):
    """Return voxel coordinates (3, *shape) that sample a moving image: a random affine + smooth warp."""
    rng = np.random.default_rng(seed)
    angles = np.deg2rad(rng.uniform(-8, 8, 3))
    rotation = np.eye(3)
    for axis, angle in enumerate(angles):
        c, s = np.cos(angle), np.sin(angle)
        i, j = [a for a in range(3) if a != axis]
        r = np.eye(3)
        r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
        rotation = rotation @ r
    matrix = rotation * rng.uniform(0.92, 1.08, 3)
    centre = (np.array(shape) - 1) / 2
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij"))
    coords = np.einsum("ij,j...->i...", matrix, grid - centre[:, None, None, None])
    coords += (centre + rng.uniform(-8, 8, 3) / zoom)[:, None, None, None]
    for axis in range(3):
        noise = gaussian_filter(rng.normal(size=shape), sigma=12 / zoom)
        coords[axis] += noise / np.abs(noise).max() * 4 / zoom
    return coords


def dice(a, b):
    return 2 * (a & b).sum() / max(a.sum() + b.sum(), 1)


#: the truths' numbers (and k-means Atropos's, darkest first on a T1w): 1 CSF, 2 GM, 3 WM
TRUTH_LABELS = {"CSF": 1, "GM": 2, "WM": 3}


def as_truth_labels(dseg: np.ndarray) -> np.ndarray:
    """Return labels numbered as ``BRAIN_LABELS`` (the fallback's) as the truths number them."""
    lookup = np.zeros(max(BRAIN_LABELS) + 1, dtype=np.int64)
    for index, name in BRAIN_LABELS.items():
        lookup[index] = TRUTH_LABELS[name]
    return lookup[np.asarray(dseg, dtype=np.int64)]


def mni152_case(seed):
    """Return (image, truth labels) for the warped, biased MNI152 template."""
    from inuprep.segmentation.brain import template_priors

    template, priors = template_priors()
    coords = random_warp(template.shape, 1.0, seed)

    def warp(data):
        return map_coordinates(np.asarray(data, np.float32), coords, order=1, mode="constant")

    clean = warp(template.get_fdata())
    maps = np.stack([warp(priors[t]) for t in ("CSF", "GM", "WM")])
    brain = warp(template.get_fdata() > 0) > 0.5
    truth = np.where(brain, maps.argmax(0) + 1, 0)
    _, biased = simulate_bias(clean, 2.0, seed, family="polynomial", mask=brain)
    return nb.Nifti1Image(biased.astype(np.float32), template.affine), truth


def philips_case():
    root = SHARED / "derivatives" / "sub-philips3t" / "anat" / "sub-philips3t_"
    img = nb.load(SHARED / "bids" / "sub-philips3t" / "anat" / "sub-philips3t_T1w.nii.gz")
    img = nb.Nifti1Image(img.get_fdata(dtype=np.float32), img.affine)
    gm, wm = (nb.load(f"{root}label-{t}_probseg.nii.gz").get_fdata() for t in ("GM", "WM"))
    truth = np.where(wm > 0.5, 3, np.where(gm > 0.5, 2, 0))
    return img, truth


def cstarstroke_pair():
    """Return cstarstroke's T1w and its T2w with the affine moved by a known rigid transform (6 degrees,
    9 mm): the T2w's voxels still match the T1w's."""
    from scipy.spatial.transform import Rotation

    anat = SHARED / "bids" / "sub-cstarstroke" / "anat" / "sub-cstarstroke_"
    t1w, t2w = (nb.load(f"{anat}{c}.nii.gz") for c in ("T1w", "T2w"))
    move = np.eye(4)
    move[:3, :3] = Rotation.from_euler("xyz", [6, -4, 3], degrees=True).as_matrix()
    move[:3, 3] = (5.0, -6.0, 4.0)
    return (nb.Nifti1Image(t1w.get_fdata(dtype=np.float32), t1w.affine),
            nb.Nifti1Image(t2w.get_fdata(dtype=np.float32), move @ t2w.affine))  # fmt: skip


def t2w_case():
    """Print Dice of a T2w's labels against its T1w's: moved by rigid registration, and segmented alone."""
    t1w, t2w = cstarstroke_pair()
    t1w_seg, _ = segment_brain(t1w, "T1w", [], Path("/nonexistent"))
    start = time.perf_counter()
    moved = transfer_segmentation(t1w, t1w_seg, t2w)
    results = {"T1w labels, rigid registration (shipped)": (moved.dseg, time.perf_counter() - start)}
    start = time.perf_counter()
    alone, _ = segment_brain(t2w, "T2w", [], Path("/nonexistent"))
    results["fallback on the T2w alone"] = (alone.dseg, time.perf_counter() - start)
    reference = as_truth_labels(t1w_seg.dseg)
    for method, (labels, seconds) in results.items():
        labels = as_truth_labels(labels)
        gm, wm = dice(labels == 2, reference == 2), dice(labels == 3, reference == 3)
        print(f"{'cstarstroke T2w':14s} {method:44s} GM {gm:.3f}  WM {wm:.3f}  {seconds:5.1f} s", flush=True)


def pseudo_t2w(t1w: np.ndarray, truth: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Return a T2-weighted contrast made from a real T1w: a piecewise-linear map through the truth's tissue
    means (CSF -> 3, GM -> 1.4, WM -> 1: CSF brightest, GM and WM closer than on a T1w), inside ``brain``.
    The anatomy, its texture and partial volumes are the scan's own; only the contrast is made."""
    means = [float(np.median(t1w[(truth == label) & brain])) for label in (1, 2, 3)]  # CSF, GM, WM
    knots = [0.0, *means, float(t1w[brain].max())]
    return np.where(brain, np.interp(t1w, knots, [0.0, 3.0, 1.4, 1.0, 0.9]), 0).astype(np.float32)


def t2w_alone_cases():
    """Return {name: (T2w image, truth labels)}: the real cstarstroke T2w against its T1w's fallback labels
    (the T2w's affine moved by a known rigid transform, its voxels still the T1w's), and T2-weighted
    contrasts made from real T1w scans (:func:`pseudo_t2w`): philips3t against FSL FAST's maps, ds2748s06
    against its T1w's fallback labels."""
    t1w, t2w = cstarstroke_pair()
    t1w_labels = as_truth_labels(segment_brain(t1w, "T1w", [], Path("/nonexistent"))[0].dseg)
    cases = {"cstarstroke (real T2w)": (t2w, t1w_labels)}
    img, truth = philips_case()
    root = SHARED / "derivatives" / "sub-philips3t" / "anat" / "sub-philips3t_"
    brain = nb.load(f"{root}desc-brain_mask.nii.gz").get_fdata() > 0.5
    csf = nb.load(f"{root}label-CSFapprox_probseg.nii.gz").get_fdata() > 0.5
    labels = np.where(truth > 0, truth, np.where(csf & brain, 1, 0))
    made = pseudo_t2w(img.get_fdata(dtype=np.float32), labels, brain)
    cases["philips3t (T2 contrast made)"] = (nb.Nifti1Image(made, img.affine), truth)
    scan = nb.load(SHARED / "bids" / "sub-ds2748s06" / "anat" / "sub-ds2748s06_T1w.nii.gz")
    scan = nb.Nifti1Image(scan.get_fdata(dtype=np.float32), scan.affine)
    labels = as_truth_labels(segment_brain(scan, "T1w", [], Path("/nonexistent"))[0].dseg)
    made = pseudo_t2w(scan.get_fdata(dtype=np.float32), labels, labels > 0)
    cases["ds2748s06 (T2 contrast made)"] = (nb.Nifti1Image(made, scan.affine), labels)
    return cases


def t2w_alone(settings: list[tuple[float, float]]) -> None:
    """Print Dice of the fallback on T2w images without a T1w, as the App segments them (the consensus of
    their N4 and zero-shot corrections, MNI152 registered to the image as acquired), against Atropos with
    the same priors (the fallback until issue 25) and at each (prior weight, MRF) of ``settings``."""
    rows = {}
    for name, (img, truth) in t2w_alone_cases().items():
        data, zooms = img.get_fdata(dtype=np.float32), img.header.get_zooms()[:3]
        mask, priors = template_inputs(img)
        corrected = [n4_correct(data, zooms, mask)[0], zeroshot_correct(data, zooms, mask).corrected]
        target = consensus_image(corrected, mask)
        results = {
            "MNI152 priors + Atropos (before issue 25)": atropos_with_priors(img, target, mask, priors)
        }
        for weight, mrf in settings:
            results[f"EM, weight {weight} MRF {mrf}"] = prior_em(target, mask, priors, weight, mrf)
        for method, probs in results.items():
            labels = as_truth_labels((np.argmax(probs, axis=0) + 1) * mask)
            gm, wm = dice(labels == 2, truth == 2), dice(labels == 3, truth == 3)
            rows.setdefault(method, []).append((gm, wm))
            print(f"{name:30s} {method:42s} GM {gm:.3f}  WM {wm:.3f}", flush=True)
    print("\nmean over the T2w cases (target: GM >= 0.70, WM >= 0.72 on every case):")
    for method, values in rows.items():
        gm, wm = np.mean(values, axis=0)
        verdict = "met" if all(g >= 0.70 and w >= 0.72 for g, w in values) else "MISSED"
        print(f"  {method:42s} GM {gm:.3f}  WM {wm:.3f}  (GM {min(v[0] for v in values):.3f}-"
              f"{max(v[0] for v in values):.3f}, WM {min(v[1] for v in values):.3f}-"
              f"{max(v[1] for v in values):.3f}; target {verdict})")  # fmt: skip


def registrations(seeds: list[int]) -> None:
    """Print GM/WM Dice of the fallback (the App's weights) and the time of the registered priors (the
    registration and the priors resampled, at the ITK threads given) for each of ``REGISTRATIONS``."""
    cases = {f"mni152 seed {seed}": mni152_case(seed) for seed in seeds} | {"philips3t": philips_case()}
    for name, (img, truth) in cases.items():
        data, zooms = img.get_fdata(dtype=np.float32), img.header.get_zooms()[:3]
        mask = brain_mask(img)
        corrected = [n4_correct(data, zooms, mask)[0], zeroshot_correct(data, zooms, mask).corrected]
        target = consensus_image(corrected, mask)
        for label, options in REGISTRATIONS.items():
            start = time.perf_counter()
            with ants_random_seed(1):
                priors = registered_priors(img, data, mask, **options)
            seconds = time.perf_counter() - start
            probs = prior_em(target, mask, priors, EM_PRIOR_WEIGHT, EM_MRF)
            labels = as_truth_labels((np.argmax(probs, axis=0) + 1) * mask)
            gm, wm = dice(labels == 2, truth == 2), dice(labels == 3, truth == 3)
            print(f"{name:14s} {label:36s} GM {gm:.3f}  WM {wm:.3f}  priors {seconds:5.1f} s", flush=True)


def evaluate(name, img, truth, cache):
    """Segment ``img`` as the App does (the consensus of its N4 and zero-shot corrections); print Dice."""
    data, zooms = img.get_fdata(dtype=np.float32), img.header.get_zooms()[:3]
    mask = brain_mask(img)
    corrected = [n4_correct(data, zooms, mask)[0], zeroshot_correct(data, zooms, mask).corrected]
    data = consensus_image(corrected, mask)
    results = {}
    start = time.perf_counter()
    kmeans, _ = atropos_classes(data, zooms, mask, 3)
    results["k-means Atropos"] = (kmeans, time.perf_counter() - start)
    start = time.perf_counter()
    priors = template_inputs(img)[1]  # registered to the image as acquired, as the App does
    registration = time.perf_counter() - start
    print(f"{name:14s} MNI152 registered in {registration:.1f} s", flush=True)
    start = time.perf_counter()
    probs = atropos_with_priors(img, data, mask, priors)
    results["MNI152 priors + Atropos (before issue 25)"] = (
        as_truth_labels((np.argmax(probs, axis=0) + 1) * mask),
        time.perf_counter() - start + registration,
    )
    for weight, mrf in EM_SETTINGS:
        start = time.perf_counter()
        probs = prior_em(data, mask, priors, weight, mrf)
        results[f"MNI152 priors + EM, weight {weight} MRF {mrf}"] = (
            as_truth_labels((np.argmax(probs, axis=0) + 1) * mask),
            time.perf_counter() - start + registration,
        )
    if cache is not None and not deep_atropos.missing_files(cache):
        start = time.perf_counter()
        seg = deep_atropos.segment(img, data, cache)
        grouped = np.zeros_like(seg.dseg)
        for index, tissue in seg.tissues.items():
            grouped[seg.dseg == index] = TRUTH_LABELS[tissue]
        results["deep_atropos"] = (grouped, time.perf_counter() - start)
    for method, (labels, seconds) in results.items():
        gm, wm = dice(labels == 2, truth == 2), dice(labels == 3, truth == 3)
        print(f"{name:14s} {method:44s} GM {gm:.3f}  WM {wm:.3f}  {seconds:5.1f} s", flush=True)
    return {
        method: (dice(lab == 2, truth == 2), dice(lab == 3, truth == 3))
        for method, (lab, _) in results.items()
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--cache", type=Path, default=None, help="ANTsXNet cache with deep_atropos's files")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--registrations", action="store_true",
                        help="only: the shipped registration of MNI152 against cheaper ones")  # fmt: skip
    parser.add_argument("--t2w-alone", nargs="*", metavar="WEIGHT,MRF",
                        help="only the T2w images without a T1w, the tissue model at the App's T1w and T2w "
                        "settings and at these")  # fmt: skip
    args = parser.parse_args()
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(args.threads)
    if args.registrations:
        return registrations(args.seeds)
    if args.t2w_alone is not None:
        extra = [tuple(float(v) for v in pair.split(",")) for pair in args.t2w_alone]
        return t2w_alone(list(dict.fromkeys([(EM_PRIOR_WEIGHT, EM_MRF), EM_T2W, *extra])))
    if args.cache is not None and deep_atropos.missing_files(args.cache):
        print(f"deep_atropos skipped: {args.cache} lacks {', '.join(deep_atropos.missing_files(args.cache))}")
    rows = []
    for seed in args.seeds:
        rows.append(evaluate(f"mni152 seed {seed}", *mni152_case(seed), args.cache))
    if SHARED.is_dir():
        evaluate("philips3t", *philips_case(), args.cache)
        t2w_case()
    print("\nmean over the MNI152 cases:")
    for method in rows[0]:
        gm, wm = np.mean([row[method] for row in rows], axis=0)
        print(f"  {method:44s} GM {gm:.3f}  WM {wm:.3f}")


if __name__ == "__main__":
    main()
