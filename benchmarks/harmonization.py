"""Harmonization against a known truth, on data the learned method was not built with, and on real scans.

No travelling-subject data can be reached here, so each subject's tissue maps are re-rendered with signal
equations (``inuprep.simulation.protocols``), each subject with tissue parameters of its own (PD, T1 and T2
within +-10 %, and an age-like loss of GM/WM contrast: a harmonizer that erases real differences between
subjects loses). One target protocol; the source protocols include nuisances outside the learned method's
training families (its smooth fields, monotone curves, blur and Rician noise): Gibbs ringing (truncated
k-space), thick slices resampled back, the non-central chi noise of an 8-coil magnitude image, and a short
inversion time whose contrast is not a monotone map of the target's. Every rendering carries a residual
field (max/min 1.1) and noise, the truth too: it is the target protocol's rendering of the same subject, as a
travelling subject's scan on the target scanner would be (its own field and noise seeds). Renderings are
scaled to their brain's 99th percentile, so the unharmonized input ("none") is already percentile-normalised.
Every harmonizer is fitted on the target renderings of the reference subjects (given their brain masks; the
``nyul-default-mask`` row fits without them, as ``inuprep-harmonize fit`` without ``--masks``) and applied to
the source renderings of the reported subjects; each result is compared with the truth inside the brain:

- PSNR and SSIM (intensities: the target's scale, its brain's 99th percentile = 1);
- the Wasserstein distance of the brain histograms, over the target's standard deviation;
- the across-protocol coefficient of variation of each subject's GM and WM means (p > 0.5), in %;
- the Dice of GM and WM from our 3-class Atropos (``segmentation.antspyx.atropos_classes``) of the result
  against that of the truth.

The split is fixed here, before any tuning: reported subjects and reported protocols on one side, the tuning
subjects and protocols (``--tuning``) on the other, both fitted on the same references (the target group);
``tests/benchmarks/test_harmonization_split.py`` fails if they overlap and the script refuses to mix them. A
learned method (one with a ``seed`` setting) is fitted with each of ``--seeds``: its rows are reported per
seed, its mean over seeds with their range, per protocol worst first. The targets of issue 32 are printed at
the end.

Subjects: nilearn's MNI152 (its own GM/WM maps) and the real scans in ``../shared/data`` (Colin27 and the
ds002748 T1w), each N4-corrected at 2 mm and segmented by the same Atropos, whose posteriors are the tissue
fractions; the subject's texture is its image over its tissue means. The prepared subjects are cached. The
real-scan part fits on the ds002748 references as acquired (N4-corrected) and applies to scans of three
scanners; it reports the Wasserstein distance to the references, the spread of the GM and WM means across
scanners and the GM/WM volumes of our segmentation per scanner, before and after.

    python benchmarks/harmonization.py [--methods nyul whitestripe ssimh] [--seeds 1 2 3]
        [--cache /tmp/inuprep-harmonization] [--tsv results.tsv]
    python benchmarks/harmonization.py --tuning     # the tuning subjects and protocols: for choosing only
"""

import argparse
import tempfile
import time
import zlib
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance

from inuprep.harmonizers import HARMONIZERS
from inuprep.segmentation.tissue_model import bounding_box
from inuprep.simulation.protocols import Protocol, render, subject_tissues, texture

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
ZOOM = 2.0
#: the split, fixed before any tuning: fit on REFERENCES, report SUBJECTS x SOURCES; choose on TUNING_*
REFERENCES = ["mni152", "colin27", "ds2748s01", "ds2748s02", "ds2748s03"]
SUBJECTS = ["ds2748s04", "ds2748s05", "ds2748s06", "ds2748s52", "ds2748s53"]
TUNING_SUBJECTS = ["ds2748s54", "ds2748s55"]
TARGET = Protocol("target", "mprage", tr=2300, te=3, ti=900)
SOURCES = (
    Protocol("mprage-ti700", "mprage", tr=2000, te=3, ti=700),
    Protocol("mprage-ti1100-lowres", "mprage", tr=2500, te=3, ti=1100, fwhm_mm=3.0),
    Protocol("spgr-flip25", "spgr", tr=20, te=4, flip=25),
    Protocol("spgr-flip15-gamma1.5", "spgr", tr=11, te=3, flip=15, shift="gamma", gamma=1.5),
    Protocol("target-exp", "mprage", tr=2300, te=3, ti=900, shift="exp"),
    Protocol("target-log", "mprage", tr=2300, te=3, ti=900, shift="log"),
    Protocol("target-gamma0.7", "mprage", tr=2300, te=3, ti=900, shift="gamma", gamma=0.7),
    # outside the learned method's training families
    Protocol("mprage-ti600", "mprage", tr=2000, te=3, ti=600),  # GM/CSF voxels null: not monotone
    Protocol("target-gibbs", "mprage", tr=2300, te=3, ti=900, kspace=0.5),
    Protocol("mprage-ti1000-slices5mm", "mprage", tr=2400, te=3, ti=1000, slice_mm=5.0),
    Protocol("spgr-flip20-8coils", "spgr", tr=18, te=4, flip=20, coils=8),
)
#: for choosing a method's design, with TUNING_SUBJECTS; never in a reported table
TUNING = (
    Protocol("mprage-ti800-lowres", "mprage", tr=2100, te=3, ti=800, fwhm_mm=2.5),
    Protocol("spgr-flip12-log", "spgr", tr=15, te=4, flip=12, shift="log"),
    Protocol("mprage-ti500-gibbs", "mprage", tr=2000, te=3, ti=500, kspace=0.6),
    Protocol("target-slices4mm-4coils", "mprage", tr=2300, te=3, ti=900, slice_mm=4.0, coils=4),
)


def split_overlap() -> list[str]:
    """Return what the reported side and the tuning side share (subjects, protocol names or settings)."""
    reported_protocols = {p.name for p in (TARGET, *SOURCES)}
    shared = set(TUNING_SUBJECTS) & set(REFERENCES + SUBJECTS)
    shared |= reported_protocols & {p.name for p in TUNING}
    settings = {tuple(vars(p).values())[1:] for p in (TARGET, *SOURCES)}
    shared |= {p.name for p in TUNING if tuple(vars(p).values())[1:] in settings}
    return sorted(shared)


def split_crossing(subjects: list[str], references: list[str], tuning: bool) -> list[str]:
    """Return what a run on ``subjects`` fitted on ``references`` takes from the other side of the split
    (both sides fit on the same target group, the references; the scored subjects never cross)."""
    other_side = set(SUBJECTS) if tuning else set(TUNING_SUBJECTS)
    return split_overlap() or sorted(other_side & set(subjects + references))


def tissues_of(name: str) -> dict:
    """Return the tissue parameters of subject ``name`` (its own, the same in every run)."""
    return subject_tissues(zlib.crc32(name.encode()))


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


def rendering(subject: dict, name: str, protocol: Protocol, seed: int) -> np.ndarray:
    """Return subject ``name`` as ``protocol`` acquires it, corrected: its own tissue parameters, a residual
    field (max/min 1.1) and the protocol's noise (1 %), zeros outside the brain."""
    from inuprep.simulation.fields import add_rician_noise, random_field

    brain = subject["brain"].astype(bool)
    fractions = {tissue: subject[tissue] for tissue in ("CSF", "GM", "WM")}
    image = render(fractions, brain, subject["texture"], protocol, (ZOOM,) * 3, tissues_of(name))
    field = random_field("polynomial", image.shape, 1.1, seed, brain)
    noisy = add_rician_noise(image * field, 0.01, seed, coils=protocol.coils)
    return np.where(brain, noisy, 0).astype(np.float32)


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
    box = bounding_box(brain)
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


#: the suffix of a row fitted without the references' masks (their defaults, as ``fit`` without --masks)
DEFAULT_MASK = "-default-mask"


def harmonized(method: str, references: list, sources, folder: Path, seed: int | None = None):
    """Yield (key, result, seconds) for each (key, image, brain, wm) of ``sources``, put on the scale of
    ``references`` by ``method`` (fitted into ``folder`` with ``seed``; "none": the source as it is)."""
    from inuprep.image import default_mask

    harmonizer = HARMONIZERS.get(method.removesuffix(DEFAULT_MASK))
    if harmonizer:
        settings, start = (
            harmonizer.settings(**({"seed": seed} if seed is not None else {})),
            time.perf_counter(),
        )
        if method.endswith(DEFAULT_MASK):
            references = [(image, default_mask(image)[0], wm) for image, _, wm in references]
        harmonizer.fit(references, "T1w", settings, folder)
        took = time.perf_counter() - start
        print(
            f"{method}{f' seed {seed}' if seed else ''}: fitted on {len(references)} in {took:.1f} s",
            flush=True,
        )
    for key, image, brain, wm in sources:
        start = time.perf_counter()
        result = harmonizer.apply(image, brain, "T1w", settings, folder, wm) if harmonizer else image
        yield key, result, time.perf_counter() - start


def white_matter(image: np.ndarray, brain: np.ndarray, method: str) -> np.ndarray | None:
    """Return our Atropos white matter of ``image`` for a method that uses it (as the App gives it)."""
    harmonizer = HARMONIZERS.get(method.removesuffix(DEFAULT_MASK))
    return labels(image, brain) == 3 if harmonizer and harmonizer.uses_wm else None


def simulated(method: str, subjects: dict, args, sources: tuple, folder: Path, seed=None) -> list[dict]:
    """Return the scores of ``method`` (fitted with ``seed``) on every subject x source protocol, fitted on
    the references' target renderings."""
    references = []
    for index, name in enumerate(args.references, start=1):
        brain = subjects[name]["brain"].astype(bool)
        image = rendering(subjects[name], name, TARGET, index)
        references.append((image, brain, white_matter(image, brain, method)))
    cases, truth = [], {}
    for number, name in enumerate(args.subjects):
        brain = subjects[name]["brain"].astype(bool)
        target = rendering(subjects[name], name, TARGET, 900 + number)  # its own scan on the target scanner
        truth[name] = (target, labels(target, brain))
        for index, protocol in enumerate(sources):
            image = rendering(subjects[name], name, protocol, 100 + 10 * number + index)
            cases.append(((name, protocol.name), image, brain, white_matter(image, brain, method)))
    rows = []
    for (name, protocol), result, seconds in harmonized(method, references, cases, folder, seed):
        row = {"method": method, "seed": seed or 0, "subject": name, "protocol": protocol, "seconds": seconds}
        rows.append({**row, **scores(result, *truth[name], subjects[name])})
    return rows


def real(
    method: str, subjects: dict, references: list[str], sources: list[str], folder: Path, seed=None
) -> list:
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
    rows, voxel_ml = [], ZOOM**3 / 1000
    for name, result, _ in harmonized(method, fitted, [scan(name) for name in sources], folder, seed):
        subject = subjects[name]
        brain = subject["brain"].astype(bool)
        own = labels(result, brain)  # the downstream segmentation of the harmonized scan
        rows.append({
            "method": method, "seed": seed or 0,
            "scanner": OTHER_SCANNERS.get(name, ("", "Siemens (ds002748)"))[1],
            "gm_mean": float(result[subject["labels"] == 2].mean()),
            "wm_mean": float(result[subject["labels"] == 3].mean()),
            "wasserstein": wasserstein_distance(result[brain], pooled) / float(pooled.std()),
            "gm_ml": float((own == 2).sum() * voxel_ml), "wm_ml": float((own == 3).sum() * voxel_ml),
        })  # fmt: skip
    return rows


def learned(method: str) -> bool:
    """Return whether ``method`` is fitted from a seed (reported per seed)."""
    harmonizer = HARMONIZERS.get(method)
    return bool(harmonizer) and any(option.name == "seed" for option in harmonizer.options)


def print_simulated(table: pd.DataFrame, order: list[str], cases: str) -> None:
    """Print the mean per method (a learned one: mean over seeds, with the range of the seeds' means), and
    PSNR / SSIM per protocol, the protocol where a learned method does worst against Nyul first."""
    per_seed = table.groupby(["method", "seed"])[["psnr", "ssim"]].mean()
    spread = table.groupby(["method", "subject"])[["gm_mean", "wm_mean"]].agg(
        lambda v: 100 * v.std() / v.mean()
    )
    summary = table.groupby("method")[["psnr", "ssim", "wasserstein", "dice_gm", "dice_wm", "seconds"]].mean()
    summary = summary.join(spread.groupby("method").mean().add_prefix("cv_").add_suffix("_%"))
    ranges = per_seed.groupby("method").agg(lambda v: f"{v.min():.3f}-{v.max():.3f}" if len(v) > 1 else "")
    summary = summary.join(ranges.add_suffix("_seed_range"))
    print(f"\nmean over {cases} (CV across protocols, per subject; a learned method: mean over seeds):")
    print(summary.reindex(order).round(4).to_string())
    first = next((m for m in order if learned(m)), "nyul")
    for metric in ("psnr", "ssim"):
        wide = table.pivot_table(index="protocol", columns="method", values=metric).reindex(columns=order)
        wide = wide.loc[(wide[first] - wide.get("nyul", 0)).sort_values().index]
        print(
            f"\n{metric} per protocol (mean over subjects and seeds), worst for {first} against nyul first:"
        )
        print(wide.round(3).to_string())


def print_targets(table: pd.DataFrame, scans: pd.DataFrame | None) -> None:
    """Print issue 32's targets for each learned method, met or missed."""
    by_method = table.groupby("method")[["psnr", "ssim", "dice_gm", "dice_wm"]].mean()
    per_protocol = table.pivot_table(index="protocol", columns="method", values="psnr")
    lines = []
    if {"nyul", "nyul" + DEFAULT_MASK} <= set(by_method.index):
        cost = by_method.psnr["nyul"] - by_method.psnr["nyul" + DEFAULT_MASK]
        lines.append(f"nyul without the references' masks costs {cost:.2f} dB (target <= 0.5)")
    for method in [m for m in by_method.index if learned(m)]:
        gain = by_method.psnr[method] - by_method.psnr["nyul"]
        worst = (per_protocol[method] - per_protocol["nyul"]).min()
        ssim, dice = by_method.ssim, by_method[["dice_gm", "dice_wm"]].round(3)
        lines.append(f"{method}: {gain:+.2f} dB over nyul (target >= +1), worst protocol {worst:+.2f} dB "
                     f"(target >= -0.3), SSIM {ssim[method]:.4f} vs nyul {ssim['nyul']:.4f}, Dice GM/WM "
                     f"{tuple(dice.loc[method])} vs none {tuple(dice.loc['none'])}")  # fmt: skip
        if scans is not None:
            w = scans.groupby("method").wasserstein.mean()
            cv = (
                scans.groupby(["method", "scanner"])
                .wm_mean.mean()
                .groupby("method")
                .agg(lambda v: v.std() / v.mean())
            )
            lines.append(f"{method} on real scans: Wasserstein {w[method]:.3f} vs nyul {w['nyul']:.3f} "
                         f"(target <= +0.01), CV of the WM mean across scanners {100 * cv[method]:.2f} % vs "
                         f"nyul {100 * cv['nyul']:.2f} %")  # fmt: skip
    print("\ntargets:\n" + "\n".join(f"  {line}" for line in lines))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--references", nargs="+", default=REFERENCES, help="fit on their target renderings")
    parser.add_argument("--subjects", nargs="+", help="harmonized and scored (default: the reported ones)")
    parser.add_argument("--methods", nargs="+", default=list(HARMONIZERS), choices=list(HARMONIZERS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="a learned method's seeds")
    cache = Path(tempfile.gettempdir()) / "inuprep-harmonization"
    parser.add_argument("--cache", type=Path, default=cache, help="prepared subjects")
    parser.add_argument("--tsv", type=Path, help="also write every row here (the real scans' beside it)")
    parser.add_argument(
        "--tuning", action="store_true", help="the tuning subjects and protocols, for choosing"
    )
    args = parser.parse_args()
    args.subjects = args.subjects or (TUNING_SUBJECTS if args.tuning else SUBJECTS)
    if crossing := split_crossing(args.subjects, args.references, args.tuning):
        raise SystemExit(f"the split is broken: {crossing}")
    sources = TUNING if args.tuning else SOURCES
    real_refs = [name for name in args.references if name.startswith("ds2748")]
    real_sources = [] if args.tuning else [*args.subjects, *OTHER_SCANNERS]
    names = dict.fromkeys(args.references + args.subjects + real_sources)
    subjects = {name: prepared(name, args.cache) for name in names}
    rows, real_rows = [], []
    order = ["none", *args.methods[:1], *(["nyul" + DEFAULT_MASK] if "nyul" in args.methods else []),
             *args.methods[1:]]  # fmt: skip
    for method in order:
        for seed in args.seeds if learned(method) else [None]:
            with tempfile.TemporaryDirectory() as folder:
                rows += simulated(method, subjects, args, sources, Path(folder), seed)
            if real_sources and not method.endswith(DEFAULT_MASK):
                with tempfile.TemporaryDirectory() as folder:
                    real_rows += real(method, subjects, real_refs, real_sources, Path(folder), seed)
    table = pd.DataFrame(rows)
    if args.tsv:
        table.to_csv(args.tsv, sep="\t", index=False, float_format="%.5f")
    print_simulated(table, order, f"{len(args.subjects)} subjects x {len(sources)} protocols")
    scans = pd.DataFrame(real_rows) if real_rows else None
    if args.tsv and scans is not None:
        real_tsv = args.tsv.with_name(args.tsv.stem + "_real.tsv")
        scans.to_csv(real_tsv, sep="\t", index=False, float_format="%.5f")
    if scans is not None:
        by_scanner = scans.groupby(["method", "scanner"])[
            ["gm_mean", "wm_mean", "wasserstein", "gm_ml", "wm_ml"]
        ]
        by_scanner = by_scanner.mean()
        spread = by_scanner[["gm_mean", "wm_mean"]].groupby("method").agg(lambda v: 100 * v.std() / v.mean())
        wide = by_scanner["wasserstein"].unstack("scanner").add_prefix("W ")
        print(f"\nreal scans, fitted on {', '.join(real_refs)} (N4, 2 mm): Wasserstein / sd to the "
              "references per scanner, CV (%) across scanners of the scanners' mean GM and WM:")  # fmt: skip
        print(
            wide.join(spread.add_prefix("cv_"))
            .reindex([m for m in order if m in wide.index])
            .round(3)
            .to_string()
        )
        print("\nGM / WM volumes (mL) of our segmentation per scanner, before (none) and after:")
        print(by_scanner[["gm_ml", "wm_ml"]].unstack("scanner").round(0).to_string())
    print_targets(table, scans)


if __name__ == "__main__":
    main()
