"""Harmonization against a known truth: real anatomy re-rendered by simulated protocols (issue 22).

No travelling-subject data can be reached here, so each subject's tissue maps are re-rendered with signal
equations (``inuprep.simulation.protocols``): one target protocol and several sources (other MPRAGE inversion
times, a spoiled gradient echo, a lower resolution, BlindHarmony's exp / log / gamma shifts), each rendering
of a reference or a source with its own residual field (max/min 1.1) and Rician noise (1 %); renderings are
scaled to their brain's 99th percentile, so the unharmonized input ("none") is already percentile-normalised,
a strong baseline (BlindHarmony's inputs are min-max normalised). Every harmonizer is fitted on the target
renderings of the reference subjects and applied to the source renderings of the other subjects; each result
is compared with the target rendering of the same subject, inside the brain:

- PSNR and SSIM (intensities: the target's scale, its brain's 99th percentile = 1);
- the Wasserstein distance of the brain histograms, over the target's standard deviation;
- the across-protocol coefficient of variation of each subject's GM and WM means (p > 0.5), in %;
- the Dice of GM and WM from our 3-class Atropos (``segmentation.atropos_classes``) of the result against
  that of the target rendering.

Subjects: nilearn's MNI152 (its own GM/WM maps) and the real scans in ``../shared/data`` (Colin27 and the
ds002748 T1w), each N4-corrected at 2 mm and segmented by the same Atropos, whose posteriors are the tissue
fractions; the subject's texture is its image over its tissue means. The prepared subjects are cached.

    python benchmarks/harmonization.py [--references mni152 colin27 ds2748s01 ds2748s02 ds2748s03]
        [--subjects ds2748s04 ds2748s05 ds2748s06 ds2748s52 ds2748s53] [--methods nyul whitestripe ssimh]
        [--cache /tmp/inuprep-harmonization] [--tsv results.tsv]
    python benchmarks/harmonization.py --tuning --subjects ds2748s54 ds2748s55  # for choosing, not reporting
"""

import argparse
import tempfile
import time
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance

from inuprep.harmonizers import HARMONIZERS
from inuprep.simulation.protocols import Protocol, render, texture

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
ZOOM = 2.0
REFERENCES = ["mni152", "colin27", "ds2748s01", "ds2748s02", "ds2748s03"]
SUBJECTS = ["ds2748s04", "ds2748s05", "ds2748s06", "ds2748s52", "ds2748s53"]
TARGET = Protocol("target", "mprage", tr=2300, te=3, ti=900)
SOURCES = (
    Protocol("mprage-ti700", "mprage", tr=2000, te=3, ti=700),
    Protocol("mprage-ti1100-lowres", "mprage", tr=2500, te=3, ti=1100, fwhm_mm=3.0),
    Protocol("spgr-flip25", "spgr", tr=20, te=4, flip=25),
    Protocol("spgr-flip15-gamma1.5", "spgr", tr=11, te=3, flip=15, shift="gamma", gamma=1.5),
    Protocol("target-exp", "mprage", tr=2300, te=3, ti=900, shift="exp"),
    Protocol("target-log", "mprage", tr=2300, te=3, ti=900, shift="log"),
    Protocol("target-gamma0.7", "mprage", tr=2300, te=3, ti=900, shift="gamma", gamma=0.7),
)
#: for choosing a method's design, with the subjects ds2748s54 and s55; never in a reported table
TUNING = (
    Protocol("mprage-ti800-lowres", "mprage", tr=2100, te=3, ti=800, fwhm_mm=2.5),
    Protocol("spgr-flip12-log", "spgr", tr=15, te=4, flip=12, shift="log"),
)


def _at_zoom(img: nb.Nifti1Image, interpolation: str = "continuous") -> nb.Nifti1Image:
    from nilearn.image import resample_img

    return resample_img(img, target_affine=np.diag([ZOOM] * 3), interpolation=interpolation,
                        force_resample=True, copy_header=True)  # fmt: skip


def prepared(name: str, cache: Path) -> dict[str, np.ndarray]:
    """Return a subject at 2 mm: its brain mask, N4-corrected image, 3-class labels, CSF/GM/WM fractions
    and texture (cached as .npz)."""
    path = cache / f"{name}.npz"
    if path.is_file():
        return dict(np.load(path))
    from inuprep.image import foreground_mask
    from inuprep.methods.n4.correct import n4_correct
    from inuprep.segmentation.antspyx import atropos_classes
    from inuprep.segmentation.brain import brain_mask
    from inuprep.utils.mni152 import mni152

    if name == "mni152":
        images = mni152(ZOOM, ("T1", "GM", "WM"))
    elif name == "colin27":
        images = [_at_zoom(nb.load(DATA / "templates" / "colin27_mricron" / "ch2bet.nii.gz"))]
    else:
        original = nb.load(
            DATA / "bids" / OTHER_SCANNERS.get(name, (f"sub-{name}/anat/sub-{name}_T1w.nii.gz",))[0]
        )
        images = [_at_zoom(original)]
    data = np.clip(images[0].get_fdata(dtype=np.float32), 0, None)
    brain = foreground_mask(data)
    if name in OTHER_SCANNERS:  # full head: the brain from deepbet
        mask = nb.Nifti1Image(brain_mask(original).astype(np.float32), original.affine)
        brain = _at_zoom(mask, "nearest").get_fdata() > 0.5
    corrected, _ = n4_correct(data, (ZOOM,) * 3, brain)
    # clipped: a few bright voxels (vessels) otherwise take a class of their own (ds2748s54)
    clipped = np.minimum(corrected, np.percentile(corrected[brain], 99.5))
    classes, probs = atropos_classes(clipped, (ZOOM,) * 3, brain, 3)
    fractions = dict(zip(("CSF", "GM", "WM"), probs, strict=True))
    if name == "mni152":
        gm, wm = (np.clip(img.get_fdata(dtype=np.float32), 0, 1) * brain for img in images[1:])
        fractions = {"CSF": np.clip(brain - gm - wm, 0, 1), "GM": gm, "WM": wm}
    subject = {"brain": brain, **fractions, "texture": texture(corrected, fractions, brain),
               "corrected": np.where(brain, corrected, 0), "labels": classes}  # fmt: skip
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **subject)
    return subject


#: real T1w scans of other scanners (full head, brain from deepbet): path under bids/ and the scanner
OTHER_SCANNERS = {
    "philips3t": ("sub-philips3t/anat/sub-philips3t_T1w.nii.gz", "Philips 3T"),
    "prisma3t": ("sub-prisma3t/anat/sub-prisma3t_acq-prescannorm_T1w.nii.gz", "Siemens Prisma 3T"),
}


def rendering(subject: dict, protocol: Protocol, seed: int | None = None) -> np.ndarray:
    """Return ``subject`` as ``protocol`` sees it; with a ``seed``, as acquired and corrected: with a residual
    field and Rician noise (the truth a result is scored against has neither)."""
    from inuprep.simulation.fields import add_rician_noise, random_field

    brain = subject["brain"].astype(bool)
    fractions = {name: subject[name] for name in ("CSF", "GM", "WM")}
    image = render(fractions, brain, subject["texture"], protocol, (ZOOM,) * 3)
    if seed is None:
        return image
    field = random_field("polynomial", image.shape, 1.1, seed, brain)
    return np.where(brain, add_rician_noise(image * field, 0.01, seed), 0).astype(np.float32)


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Return the Dice coefficient of two boolean masks."""
    return float(2 * np.sum(a & b) / max(a.sum() + b.sum(), 1))


def labels(image: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Return our 3-class Atropos labels of ``image`` (1 CSF, 2 GM, 3 WM by increasing intensity)."""
    from inuprep.segmentation.antspyx import atropos_classes

    return atropos_classes(image, (ZOOM,) * 3, brain, 3)[0]


def scores(result: np.ndarray, target: np.ndarray, target_labels: np.ndarray, subject: dict) -> dict:
    """Return PSNR, SSIM, histogram distance and GM/WM Dice of ``result`` against ``target``."""
    from skimage.metrics import structural_similarity

    brain = subject["brain"].astype(bool)
    box = tuple(slice(i.min(), i.max() + 1) for i in np.nonzero(brain))
    mse = float(np.mean((result[brain] - target[brain]) ** 2))
    ssim = structural_similarity(np.where(brain, result, 0)[box], target[box], data_range=1.0)
    own = labels(result, brain)
    dice = {f"dice_{name}": overlap(own == k, target_labels == k) for k, name in ((2, "gm"), (3, "wm"))}
    return {
        "psnr": 10 * np.log10(1.0 / max(mse, 1e-12)),
        "ssim": float(ssim),
        "wasserstein": wasserstein_distance(result[brain], target[brain]) / float(target[brain].std()),
        **dice,
        "gm_mean": float(result[brain & (subject["GM"] > 0.5)].mean()),
        "wm_mean": float(result[brain & (subject["WM"] > 0.5)].mean()),
    }


def harmonized(method: str, references: list, sources, folder: Path):
    """Yield (key, result, seconds) for each (key, image, brain, wm) of ``sources``, put on the scale of
    ``references`` by ``method`` (fitted into ``folder``; "none": the source as it is)."""
    harmonizer = HARMONIZERS.get(method)
    if harmonizer:
        settings, start = harmonizer.settings(), time.perf_counter()
        harmonizer.fit(references, "T1w", settings, folder)
        print(f"{method}: fitted on {len(references)} references in {time.perf_counter() - start:.1f} s")
    for key, image, brain, wm in sources:
        start = time.perf_counter()
        result = harmonizer.apply(image, brain, "T1w", settings, folder, wm) if harmonizer else image
        yield key, result, time.perf_counter() - start


def white_matter(image: np.ndarray, brain: np.ndarray, method: str) -> np.ndarray | None:
    """Return our Atropos white matter of ``image`` for a method that uses it (as the App gives it)."""
    harmonizer = HARMONIZERS.get(method)
    return labels(image, brain) == 3 if harmonizer and harmonizer.uses_wm else None


def simulated(method: str, subjects: dict, args, sources: tuple, folder: Path) -> list[dict]:
    """Return the scores of ``method`` on every subject x source protocol, fitted on the references'
    target renderings."""
    references = []
    for seed, name in enumerate(args.references, start=1):
        brain = subjects[name]["brain"].astype(bool)
        image = rendering(subjects[name], TARGET, seed)
        references.append((image, brain, white_matter(image, brain, method)))
    cases, truth = [], {}
    for name in args.subjects:
        brain = subjects[name]["brain"].astype(bool)
        target = rendering(subjects[name], TARGET)
        truth[name] = (target, labels(target, brain))
        for index, protocol in enumerate(sources):
            image = rendering(subjects[name], protocol, 100 + index)
            cases.append(((name, protocol.name), image, brain, white_matter(image, brain, method)))
    rows = []
    for (name, protocol), result, seconds in harmonized(method, references, cases, folder):
        row = {"method": method, "subject": name, "protocol": protocol, "seconds": seconds}
        rows.append({**row, **scores(result, *truth[name], subjects[name])})
    return rows


def real(method: str, subjects: dict, references: list[str], sources: list[str], folder: Path) -> list[dict]:
    """Return, per real source scan, its GM and WM means (its own Atropos labels) and the Wasserstein
    distance of its brain histogram to the references' (over their standard deviation), after ``method``
    fitted on the real ``references`` (each N4-corrected, scaled to its brain's 99th percentile)."""

    def scan(name):
        subject = subjects[name]
        brain = subject["brain"].astype(bool)
        image = subject["corrected"] / np.percentile(subject["corrected"][brain], 99)
        return name, image.astype(np.float32), brain, subject["labels"] == 3

    fitted = [scan(name)[1:] for name in references]
    pooled = np.concatenate([image[brain] for image, brain, _ in fitted])
    rows = []
    for name, result, _ in harmonized(method, fitted, [scan(name) for name in sources], folder):
        subject = subjects[name]
        brain = subject["brain"].astype(bool)
        rows.append({
            "method": method, "scanner": OTHER_SCANNERS.get(name, ("", "Siemens (ds002748)"))[1],
            "gm_mean": float(result[subject["labels"] == 2].mean()),
            "wm_mean": float(result[subject["labels"] == 3].mean()),
            "wasserstein": wasserstein_distance(result[brain], pooled) / float(pooled.std()),
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--references", nargs="+", default=REFERENCES, help="fit on their target renderings")
    parser.add_argument("--subjects", nargs="+", default=SUBJECTS, help="harmonized and scored")
    parser.add_argument("--methods", nargs="+", default=list(HARMONIZERS), choices=list(HARMONIZERS))
    cache = Path(tempfile.gettempdir()) / "inuprep-harmonization"
    parser.add_argument("--cache", type=Path, default=cache, help="prepared subjects")
    parser.add_argument("--tsv", type=Path, help="also write every row here")
    parser.add_argument(
        "--tuning", action="store_true", help="the tuning protocols (use the tuning subjects)"
    )
    args = parser.parse_args()
    sources = TUNING if args.tuning else SOURCES
    real_refs = [name for name in args.references if name.startswith("ds2748")]
    real_sources = [] if args.tuning else [*args.subjects, *OTHER_SCANNERS]
    names = dict.fromkeys(args.references + args.subjects + real_sources)
    subjects = {name: prepared(name, args.cache) for name in names}
    rows, real_rows = [], []
    order = ["none", *args.methods]
    for method in order:
        with tempfile.TemporaryDirectory() as folder:
            rows += simulated(method, subjects, args, sources, Path(folder))
        if real_sources:
            with tempfile.TemporaryDirectory() as folder:
                real_rows += real(method, subjects, real_refs, real_sources, Path(folder))
    table = pd.DataFrame(rows)
    if args.tsv:
        table.to_csv(args.tsv, sep="\t", index=False, float_format="%.5f")
    spread = table.groupby(["method", "subject"])[["gm_mean", "wm_mean"]].agg(
        lambda v: 100 * v.std() / v.mean()
    )
    summary = table.groupby("method")[["psnr", "ssim", "wasserstein", "dice_gm", "dice_wm", "seconds"]].mean()
    summary = summary.join(spread.groupby("method").mean().add_prefix("cv_").add_suffix("_%"))
    for metric in ("psnr", "ssim"):
        print(f"\n{metric} per protocol (mean over {len(args.subjects)} subjects):")
        wide = table.pivot_table(index="protocol", columns="method", values=metric).reindex(columns=order)
        print(wide.round(3).to_string())
    cases = f"{len(args.subjects)} subjects x {len(sources)} protocols"
    print(f"\nmean over {cases} (CV across protocols, per subject):")
    print(summary.reindex(order).round(4).to_string())
    if real_rows:
        scans = pd.DataFrame(real_rows)
        by_scanner = scans.groupby(["method", "scanner"])[["gm_mean", "wm_mean", "wasserstein"]].mean()
        spread = by_scanner[["gm_mean", "wm_mean"]].groupby("method").agg(lambda v: 100 * v.std() / v.mean())
        wide = by_scanner["wasserstein"].unstack("scanner").add_prefix("W ")
        print(f"\nreal scans, fitted on {', '.join(real_refs)} (N4, 2 mm): Wasserstein / sd to the "
              "references per scanner, CV (%) across scanners of the scanners' mean GM and WM:")  # fmt: skip
        print(wide.join(spread.add_prefix("cv_")).reindex(order).round(3).to_string())


if __name__ == "__main__":
    main()
