"""Harmonization against a known truth: real anatomy re-rendered by simulated protocols (issue 22).

No travelling-subject data can be reached here, so each subject's tissue maps are re-rendered with signal
equations (``inuprep.protocols``): one target protocol and several sources (other MPRAGE inversion times, a
spoiled gradient echo, a lower resolution, BlindHarmony's exp / log / gamma shifts), each rendering of a
reference or a source with its own residual field (max/min 1.1) and Rician noise (1 %); renderings are
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
from inuprep.protocols import Protocol, render, texture

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


def prepared(name: str, cache: Path) -> dict[str, np.ndarray]:
    """Return a subject at 2 mm: its brain mask, CSF/GM/WM fractions and texture (cached as .npz)."""
    path = cache / f"{name}.npz"
    if path.is_file():
        return dict(np.load(path))
    from nilearn.image import resample_img

    from inuprep.image import foreground_mask
    from inuprep.methods.n4.correct import n4_correct
    from inuprep.segmentation import atropos_classes
    from inuprep.templates import mni152

    if name == "mni152":
        images = mni152(ZOOM, ("T1", "GM", "WM"))
    else:
        source = (
            DATA / "templates" / "colin27_mricron" / "ch2bet.nii.gz"
            if name == "colin27"
            else DATA / "bids" / f"sub-{name}" / "anat" / f"sub-{name}_T1w.nii.gz"
        )
        images = [resample_img(nb.load(source), target_affine=np.diag([ZOOM] * 3), interpolation="continuous",
                               force_resample=True, copy_header=True)]  # fmt: skip
    data = np.clip(images[0].get_fdata(dtype=np.float32), 0, None)
    brain = foreground_mask(data)
    corrected, _ = n4_correct(data, (ZOOM,) * 3, brain)
    if name == "mni152":
        gm, wm = (np.clip(img.get_fdata(dtype=np.float32), 0, 1) * brain for img in images[1:])
        fractions = {"CSF": np.clip(brain - gm - wm, 0, 1), "GM": gm, "WM": wm}
    else:
        _, probs = atropos_classes(corrected, (ZOOM,) * 3, brain, 3)
        fractions = dict(zip(("CSF", "GM", "WM"), probs, strict=True))
    subject = {"brain": brain, **fractions, "texture": texture(corrected, fractions, brain)}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **subject)
    return subject


def rendering(subject: dict, protocol: Protocol, seed: int | None = None) -> np.ndarray:
    """Return ``subject`` as ``protocol`` sees it; with a ``seed``, as acquired and corrected: with a residual
    field and Rician noise (the truth a result is scored against has neither)."""
    from inuprep.simulate import add_rician_noise, random_field

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
    from inuprep.segmentation import atropos_classes

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
    args = parser.parse_args()
    subjects = {name: prepared(name, args.cache) for name in dict.fromkeys(args.references + args.subjects)}
    references = [
        (rendering(subjects[name], TARGET, seed), subjects[name]["brain"].astype(bool))
        for seed, name in enumerate(args.references, start=1)
    ]
    rows = []
    for method in ["none", *args.methods]:
        with tempfile.TemporaryDirectory() as folder:
            harmonizer = HARMONIZERS.get(method)
            if harmonizer:
                settings, start = harmonizer.settings(), time.perf_counter()
                harmonizer.fit(references, "T1w", settings, Path(folder))
                print(
                    f"{method}: fitted on {len(references)} references in {time.perf_counter() - start:.1f} s"
                )
            for name in args.subjects:
                subject, brain = subjects[name], subjects[name]["brain"].astype(bool)
                target = rendering(subject, TARGET)
                target_labels = labels(target, brain)
                for index, protocol in enumerate(SOURCES):
                    source = rendering(subject, protocol, 100 + index)
                    start = time.perf_counter()
                    result = (harmonizer.apply(source, brain, "T1w", settings, Path(folder)) if harmonizer
                              else source)  # fmt: skip
                    seconds = time.perf_counter() - start
                    row = {"method": method, "subject": name, "protocol": protocol.name, "seconds": seconds}
                    rows.append({**row, **scores(result, target, target_labels, subject)})
    table = pd.DataFrame(rows)
    if args.tsv:
        table.to_csv(args.tsv, sep="\t", index=False, float_format="%.5f")
    spread = table.groupby(["method", "subject"])[["gm_mean", "wm_mean"]].agg(
        lambda v: 100 * v.std() / v.mean()
    )
    summary = table.groupby("method")[["psnr", "ssim", "wasserstein", "dice_gm", "dice_wm", "seconds"]].mean()
    summary = summary.join(spread.groupby("method").mean().add_prefix("cv_").add_suffix("_%"))
    order = ["none", *args.methods]
    for metric in ("psnr", "ssim"):
        print(f"\n{metric} per protocol (mean over {len(args.subjects)} subjects):")
        wide = table.pivot_table(index="protocol", columns="method", values=metric).reindex(columns=order)
        print(wide.round(3).to_string())
    cases = f"{len(args.subjects)} subjects x {len(SOURCES)} protocols"
    print(f"\nmean over {cases} (CV across protocols, per subject):")
    print(summary.reindex(order).round(4).to_string())


if __name__ == "__main__":
    main()
