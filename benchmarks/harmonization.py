"""Harmonization against a known truth, on protocols outside every method's families, and on real scans.

No travelling-subject data can be reached here, so each subject's tissue maps are re-rendered with signal
equations (``inuprep.simulation.protocols``), each subject with tissue parameters of its own (PD, T1 and T2
within +-10 %, and an age-like loss of GM/WM contrast: a harmonizer that erases real differences between
subjects loses), deep grey matter (the GM deeper than 22 mm) with parameters of its own, so that it moves
unlike cortex from one protocol to another. One target protocol; the source protocols include nuisances
outside the methods' families: Gibbs ringing (truncated k-space), thick slices resampled back, the non-central
chi noise of an 8-coil magnitude image, a short inversion time whose contrast is not a monotone map of the
target's, and (issue 47) a PD-weighted contrast whose tissue order is reversed, a long inversion time whose
GM/WM ratio is not the target's, partial volume at 4 mm resampled back, and a g-factor noise three times as
strong at the brain's centre. Every rendering carries a residual field (max/min 1.1) and noise, the truth
too: it is the target protocol's rendering of the same subject, as a travelling subject's scan on the target
scanner would be (its own field and noise seeds; ``--render-seed`` draws others). Renderings are scaled to
their brain's 99th percentile, so the unharmonized input ("none") is already percentile-normalised.
Every harmonizer is fitted on the target renderings of the reference subjects (given their brain masks, and
for a method that uses tissues our Atropos labels of them; the ``nyul-default-mask`` row fits without
masks) and applied to the source renderings of the reported subjects, with their own Atropos labels (the
App's segmentation of a corrected image). ``tissue-site`` is the tissue method with one map per protocol,
fitted on its five images (``inuprep-harmonize apply --per-site``). Each result is compared with the truth
inside the brain:

- PSNR and SSIM (intensities: the target's scale, its brain's 99th percentile = 1);
- the Wasserstein distance of the brain histograms, over the target's standard deviation;
- downstream, as BlindHarmony judges harmonization: a tissue classifier built on the target protocol only
  (a Gaussian per class on the references' target renderings and true labels), applied without refitting:
  its GM and WM Dice against the simulation's true labels, and the CV across protocols of each subject's GM
  and WM volumes by it;
- biology kept: the correlation, over every subject and protocol, of the result's GM/WM contrast (WM median
  over GM median in the true labels) with the truth's;
- the across-protocol CV of each subject's GM and WM means (p > 0.5), in %.

The split is fixed here, before any tuning: reported subjects and reported protocols on one side, the tuning
subjects and protocols (``--tuning``) on the other, both fitted on the same references (the target group);
``tests/benchmarks/test_harmonization_split.py`` fails if they overlap and the script refuses to mix them. A
learned method (one with a ``seed`` setting) is fitted with each of ``--seeds``. The targets of issue 47 are
printed at the end.

Subjects: nilearn's MNI152 (its own GM/WM maps) and the real scans in ``../shared/data`` (Colin27 and the
ds002748 T1w), each N4-corrected at 2 mm and segmented by the same Atropos, whose posteriors are the tissue
fractions; the subject's texture is its image over its tissue means. The prepared subjects are cached. The
real-scan part fits on the ds002748 references (N4-corrected; ``nyul-default-mask`` on them as distributed,
skull-stripped by their authors, without masks) and applies to scans of three scanners; it reports the
Wasserstein distance to the references, the spread of the GM and WM means across scanners and the GM/WM
volumes of our segmentation per scanner, before and after.

    python benchmarks/harmonization.py [--methods nyul tissue whitestripe ssimh] [--render-seed 0]
        [--cache /tmp/inuprep-harmonization] [--tsv results.tsv]
    python benchmarks/harmonization.py --tuning     # the tuning subjects and protocols: for choosing only
"""

import argparse
import tempfile
import time
import zlib
from importlib import import_module
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
    # issue 47: outside every family, the tissue method's included (it was built after them, tuned on none)
    Protocol("spgr-flip4-pdw", "spgr", tr=40, te=4, flip=4),  # PD-weighted: CSF > GM > WM, order reversed
    Protocol("mprage-ti1400", "mprage", tr=2800, te=3, ti=1400),  # GM/WM ratio 0.84 against 0.64
    Protocol("target-vox4mm", "mprage", tr=2300, te=3, ti=900, voxel_mm=4.0),  # partial volume at 4 mm
    Protocol("target-gfactor3", "mprage", tr=2300, te=3, ti=900),  # noise 3x at the centre (GFACTOR)
)
#: a parallel-imaging noise: its standard deviation grows from the brain's edge to this many times at its
#: centre (a g-factor map), in place of the protocol's uniform noise
GFACTOR = {"target-gfactor3": 3.0}
#: deep grey matter: the GM deeper than this under the brain's surface (basal ganglia, thalamus)
DEEP_MM = 22.0
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
    path = cache / f"{name}.v2.npz"  # v2: with the image as distributed
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
               "corrected": np.where(brain, corrected, 0), "labels": classes, "as_is": data}  # fmt: skip
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **subject)
    return subject


#: real T1w scans of other scanners (full head, brain from deepbet): path under bids/ and the scanner
OTHER_SCANNERS = {
    "philips3t": ("sub-philips3t/anat/sub-philips3t_T1w.nii.gz", "Philips 3T"),
    "prisma3t": ("sub-prisma3t/anat/sub-prisma3t_acq-prescannorm_T1w.nii.gz", "Siemens Prisma 3T"),
}


def fractions_of(subject: dict) -> dict[str, np.ndarray]:
    """Return the subject's CSF, cortical GM, deep GM and WM fractions (GM deeper than DEEP_MM is deep)."""
    from scipy.ndimage import distance_transform_edt

    brain = subject["brain"].astype(bool)
    deep = distance_transform_edt(brain) * ZOOM > DEEP_MM
    return {"CSF": subject["CSF"], "GM": subject["GM"] * ~deep, "deepGM": subject["GM"] * deep,
            "WM": subject["WM"]}  # fmt: skip


def true_labels(subject: dict) -> np.ndarray:
    """Return the simulation's labels: 1 CSF, 2 GM (cortical and deep), 3 WM, the largest fraction."""
    brain = subject["brain"].astype(bool)
    return np.where(brain, np.argmax([subject[t] for t in ("CSF", "GM", "WM")], axis=0) + 1, 0)


def rendering(subject: dict, name: str, protocol: Protocol, seed: int) -> np.ndarray:
    """Return subject ``name`` as ``protocol`` acquires it, corrected: its own tissue parameters (deep GM
    its own), a residual field (max/min 1.1) and the protocol's noise (1 %; a g-factor map for GFACTOR's),
    zeros outside the brain; ``seed`` (plus --render-seed) draws the field and the noise."""
    from scipy.ndimage import distance_transform_edt

    from inuprep.simulation.fields import add_rician_noise, random_field

    seed += RENDER_SEED[0]
    brain = subject["brain"].astype(bool)
    image = render(fractions_of(subject), brain, subject["texture"], protocol, (ZOOM,) * 3, tissues_of(name))
    field = random_field("polynomial", image.shape, 1.1, seed, brain)
    if protocol.name in GFACTOR:
        depth = distance_transform_edt(brain)
        sigma = 0.01 * (1 + (GFACTOR[protocol.name] - 1) * depth / depth.max())
        noisy = add_rician_noise(image * field / sigma, 1.0, seed) * sigma
    else:
        noisy = add_rician_noise(image * field, 0.01, seed, coils=protocol.coils)
    return np.where(brain, noisy, 0).astype(np.float32)


#: added to every rendering's seed (--render-seed): other fields and noise, the same subjects
RENDER_SEED = [0]


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Return the Dice coefficient of two boolean masks."""
    return float(2 * np.sum(a & b) / max(a.sum() + b.sum(), 1))


def labels(image: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Return our 3-class Atropos labels of ``image`` (1 CSF, 2 GM, 3 WM by increasing intensity): the App's
    segmentation of a corrected image, which the tissue method anchors on."""
    from inuprep.segmentation.antspyx import atropos_classes

    return atropos_classes(image, (ZOOM,) * 3, brain, 3)[0]


def target_classifier(references: list) -> dict:
    """Return a tissue classifier built on the target protocol only, as a downstream tool trained on the
    reference site: each class's mean, deviation and share in the references' target renderings and true
    labels. It is applied to harmonized images without refitting (as BlindHarmony judges harmonization)."""
    values = {k: np.concatenate([image[truth == k] for image, truth in references]) for k in (1, 2, 3)}
    total = sum(len(v) for v in values.values())
    return {k: (float(v.mean()), float(v.std()), len(v) / total) for k, v in values.items()}


def classify(classifier: dict, image: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Return the classifier's labels of ``image`` in ``brain`` (the largest Gaussian posterior)."""
    values = image[brain].astype(np.float64)
    scores = [np.log(share) - np.log(sd) - 0.5 * ((values - mean) / sd) ** 2
              for mean, sd, share in classifier.values()]  # fmt: skip
    out = np.zeros(image.shape, np.int16)
    out[brain] = np.array(list(classifier))[np.argmax(scores, axis=0)]
    return out


def contrast(image: np.ndarray, truth: np.ndarray) -> float:
    """Return the GM/WM contrast of ``image``: its WM median over its GM median in the true labels."""
    return float(np.median(image[truth == 3]) / max(np.median(image[truth == 2]), 1e-6))


def scores(result: np.ndarray, target: np.ndarray, truth: np.ndarray, subject: dict, classifier) -> dict:
    """Return PSNR, SSIM and histogram distance of ``result`` against ``target``; the target-trained
    classifier's GM/WM Dice against the true labels and its volumes; the GM/WM contrast (WM median over GM
    median in the true labels)."""
    from skimage.metrics import structural_similarity

    brain = subject["brain"].astype(bool)
    box = bounding_box(brain)
    mse = float(np.mean((result[brain] - target[brain]) ** 2))
    ssim = structural_similarity(np.where(brain, result, 0)[box], target[box], data_range=1.0)
    own = classify(classifier, result, brain)
    tissues = ((2, "gm"), (3, "wm"))
    return {
        "psnr": 10 * np.log10(1.0 / max(mse, 1e-12)),
        "ssim": float(ssim),
        "wasserstein": wasserstein_distance(result[brain], target[brain]) / float(target[brain].std()),
        **{f"dice_{name}": overlap(own == k, truth == k) for k, name in tissues},
        **{f"{name}_ml": float((own == k).sum() * ZOOM**3 / 1000) for k, name in tissues},
        "contrast": contrast(result, truth),
        "true_contrast": contrast(target, truth),
        "gm_mean": float(result[brain & (subject["GM"] > 0.5)].mean()),
        "wm_mean": float(result[brain & (subject["WM"] > 0.5)].mean()),
    }


#: the suffix of a row fitted without the references' masks (their defaults, as ``fit`` without --masks)
DEFAULT_MASK = "-default-mask"


#: the suffix of a row whose method is applied per site: one map fitted on each site's images (the
#: tissue method's ``apply --per-site``; a protocol is a site)
PER_SITE = "-site"


#: the suffix of a real-scan row fitted on the references as distributed (skull-stripped by their authors,
#: not zeroed by our masks) with their brain masks: what the default-mask row is compared with
AS_DISTRIBUTED = "-as-distributed"


def harmonizer_of(method: str):
    """Return the harmonizer a row's method runs (None for "none")."""
    for suffix in (DEFAULT_MASK, PER_SITE, AS_DISTRIBUTED):
        method = method.removesuffix(suffix)
    return HARMONIZERS.get(method)


def harmonized(method: str, references: list, cases: list, folder: Path, seed: int | None = None):
    """Yield (key, result, seconds) for each (key, site, image, brain, tissues) of ``cases``, put on the
    scale of ``references`` ((image, brain, tissues) each) by ``method`` (fitted into ``folder`` with
    ``seed``; "none": the image as it is)."""
    from inuprep.harmonizers.tissue.harmonize import site_mean
    from inuprep.image import default_mask

    harmonizer = harmonizer_of(method)
    if harmonizer is None:
        yield from ((key, image, 0.0) for key, _, image, _, _ in cases)
        return
    settings = harmonizer.settings(**({"seed": seed} if seed is not None else {}))
    if method.endswith(DEFAULT_MASK):
        references = [(image, default_mask(image)[0], tissues) for image, _, tissues in references]
    start = time.perf_counter()
    harmonizer.fit(references, "T1w", settings, folder)
    print(f"{method}{f' seed {seed}' if seed else ''}: fitted on {len(references)} in "
          f"{time.perf_counter() - start:.1f} s", flush=True)  # fmt: skip
    anchors = {}
    if method.endswith(PER_SITE):
        code = import_module(harmonizer.code)
        for site in dict.fromkeys(site for _, site, *_ in cases):
            found = [code.image_anchors(image, brain, "T1w", settings, folder, harmonizer.masks_of(tissues))
                     for _, where, image, brain, tissues in cases if where == site]  # fmt: skip
            anchors[site] = site_mean(found)
    for key, site, image, brain, tissues in cases:
        start = time.perf_counter()
        result, _ = harmonizer.apply(image, brain, "T1w", settings, folder, tissues, anchors.get(site))
        yield key, result, time.perf_counter() - start


def tissue_masks(labels_: np.ndarray) -> dict[str, np.ndarray]:
    """Return {tissue: mask} of 3-class labels (1 CSF, 2 GM, 3 WM): what a method that uses tissues gets."""
    return {name: labels_ == k for k, name in ((1, "CSF"), (2, "GM"), (3, "WM"))}


def simulated(methods: list, subjects: dict, args, sources: tuple) -> list[dict]:
    """Return the scores of each of ``methods`` ((method, seed) each) on every subject x source protocol,
    fitted on the references' target renderings. Every image's labels (our Atropos, as the App segments a
    corrected image) are computed once: a method that uses tissues is given them."""
    references, classifier_data = [], []
    for index, name in enumerate(args.references, start=1):
        brain = subjects[name]["brain"].astype(bool)
        image = rendering(subjects[name], name, TARGET, index)
        references.append((image, brain, tissue_masks(labels(image, brain))))
        classifier_data.append((image, true_labels(subjects[name])))
    classifier = target_classifier(classifier_data)
    cases, truth = [], {}
    for number, name in enumerate(args.subjects):
        brain = subjects[name]["brain"].astype(bool)
        target = rendering(subjects[name], name, TARGET, 900 + number)  # its own scan on the target scanner
        truth[name] = (target, true_labels(subjects[name]))
        for index, protocol in enumerate(sources):
            image = rendering(subjects[name], name, protocol, 100 + 10 * number + index)
            cases.append(
                ((name, protocol.name), protocol.name, image, brain, tissue_masks(labels(image, brain)))
            )
    print(f"rendered and segmented {len(cases)} cases", flush=True)
    rows = []
    for method, seed in methods:
        with tempfile.TemporaryDirectory() as folder:
            for (name, protocol), result, seconds in harmonized(
                method, references, cases, Path(folder), seed
            ):
                row = {"method": method, "seed": seed or 0, "subject": name, "protocol": protocol,
                       "seconds": seconds}  # fmt: skip
                rows.append({**row, **scores(result, *truth[name], subjects[name], classifier)})
    return rows


def real(methods: list, subjects: dict, references: list[str], sources: list[str]) -> list:
    """Return, per method and real source scan, its GM and WM means (its own Atropos labels) and the
    Wasserstein distance of its brain histogram to the references' (over their standard deviation), after
    the method fitted on the real ``references`` (each N4-corrected, scaled to its brain's 99th
    percentile). ``nyul-default-mask`` is fitted on the references as distributed (skull-stripped by their
    authors, resampled to 2 mm, neither N4-corrected nor zeroed by our masks) without masks, and
    ``nyul-as-distributed`` on the same images with their brain masks: the default mask's cost on real
    stripped images is the difference of those two rows."""

    def scan(name, as_is=False):
        subject = subjects[name]
        brain = subject["brain"].astype(bool)
        image = subject["as_is" if as_is else "corrected"]
        image = image / np.percentile(image[brain], 99)
        return image.astype(np.float32), brain, tissue_masks(subject["labels"])

    scanner = {name: OTHER_SCANNERS.get(name, ("", "Siemens (ds002748)"))[1] for name in sources}
    cases = [(name, scanner[name], *scan(name)) for name in sources]
    rows, voxel_ml = [], ZOOM**3 / 1000
    pairs = [
        (m.removesuffix(DEFAULT_MASK) + AS_DISTRIBUTED, None) for m, _ in methods if m.endswith(DEFAULT_MASK)
    ]
    for method, seed in [*methods, *pairs]:
        as_is = method.endswith((DEFAULT_MASK, AS_DISTRIBUTED))
        fitted = [scan(name, as_is) for name in references]
        pooled = np.concatenate([image[brain] for image, brain, _ in fitted])
        with tempfile.TemporaryDirectory() as folder:
            for name, result, _ in harmonized(method, fitted, cases, Path(folder), seed):
                subject = subjects[name]
                brain = subject["brain"].astype(bool)
                own = labels(result, brain)  # the downstream segmentation of the harmonized scan
                rows.append({
                    "method": method, "seed": seed or 0, "scanner": scanner[name],
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
    """Print the mean per method (a learned one: mean over seeds, with the range of the seeds' means), the
    downstream columns, and PSNR and the target-trained classifier's Dice per protocol, each method's worst
    protocol against nyul first."""
    per_seed = table.groupby(["method", "seed"])[["psnr", "ssim"]].mean()
    by_subject = table.groupby(["method", "subject"])
    spread = by_subject[["gm_mean", "wm_mean", "gm_ml", "wm_ml"]].agg(lambda v: 100 * v.std() / v.mean())
    summary = table.groupby("method")[["psnr", "ssim", "wasserstein", "dice_gm", "dice_wm", "seconds"]].mean()
    summary = summary.join(spread.groupby("method").mean().add_prefix("cv_").add_suffix("_%"))
    summary["contrast_r"] = table.groupby("method")[["contrast", "true_contrast"]].apply(
        lambda t: t.contrast.corr(t.true_contrast)
    )
    ranges = per_seed.groupby("method").agg(lambda v: f"{v.min():.3f}-{v.max():.3f}" if len(v) > 1 else "")
    summary = summary.join(ranges[ranges.ne("").any(axis=1)].add_suffix("_seed_range"))
    print(f"\nmean over {cases} (cv_*: across protocols, per subject, then the mean; contrast_r: the "
          "correlation of each case's GM/WM contrast with its truth's, over all cases):")  # fmt: skip
    print(summary.reindex(order).round(4).to_string())
    for metric in ("psnr", "dice_gm", "dice_wm"):
        wide = table.pivot_table(index="protocol", columns="method", values=metric).reindex(columns=order)
        against = wide.drop(columns=["none", "nyul"], errors="ignore").sub(wide["nyul"], axis=0)
        wide = wide.loc[against.min(axis=1).sort_values().index]
        print(f"\n{metric} per protocol (mean over subjects), the worst for any method against nyul first:")
        print(wide.round(3).to_string())


def print_targets(table: pd.DataFrame, scans: pd.DataFrame | None) -> None:
    """Print issue 47's targets for every method but none and nyul, met or missed."""
    by_method = table.groupby("method")[["psnr", "dice_gm", "dice_wm"]].mean()
    per_protocol = table.pivot_table(index="protocol", columns="method", values="psnr")
    lines = []
    for method in by_method.index.drop(["none", "nyul"], errors="ignore"):
        gain = by_method.psnr[method] - by_method.psnr["nyul"]
        losses = (per_protocol[method] - per_protocol["nyul"]).sort_values()
        dice = by_method.loc[method, ["dice_gm", "dice_wm"]] - by_method.loc["nyul", ["dice_gm", "dice_wm"]]
        lines.append(f"{method}: {gain:+.2f} dB over nyul on the mean (tissue target >= +0.3); worst "
                     f"protocol {losses.index[0]} {losses.iloc[0]:+.2f} dB (target >= -0.3; below it on "
                     f"{int((losses < -0.3).sum())} of {len(losses)}); Dice GM/WM against nyul's "
                     f"{dice.dice_gm:+.3f} / {dice.dice_wm:+.3f} (target >= 0)")  # fmt: skip
    if scans is not None:
        w = scans.groupby("method").wasserstein.mean()
        for method in w.index.drop(["none", "nyul", "nyul" + AS_DISTRIBUTED], errors="ignore"):
            against = "nyul" + AS_DISTRIBUTED if method.endswith(DEFAULT_MASK) else "nyul"
            lines.append(f"{method} on real scans: Wasserstein {w[method]:.3f} vs {against} {w[against]:.3f}")
    print("\ntargets:\n" + "\n".join(f"  {line}" for line in lines))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--references", nargs="+", default=REFERENCES, help="fit on their target renderings")
    parser.add_argument("--subjects", nargs="+", help="harmonized and scored (default: the reported ones)")
    parser.add_argument("--methods", nargs="+", default=list(HARMONIZERS), choices=list(HARMONIZERS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="a learned method's seeds")
    parser.add_argument("--render-seed", type=int, default=0, help="added to every field and noise seed")
    cache = Path(tempfile.gettempdir()) / "inuprep-harmonization"
    parser.add_argument("--cache", type=Path, default=cache, help="prepared subjects")
    parser.add_argument("--tsv", type=Path, help="also write every row here (the real scans' beside it)")
    parser.add_argument(
        "--tuning", action="store_true", help="the tuning subjects and protocols, for choosing"
    )
    args = parser.parse_args()
    RENDER_SEED[0] = args.render_seed
    args.subjects = args.subjects or (TUNING_SUBJECTS if args.tuning else SUBJECTS)
    if crossing := split_crossing(args.subjects, args.references, args.tuning):
        raise SystemExit(f"the split is broken: {crossing}")
    sources = TUNING if args.tuning else SOURCES
    real_refs = [name for name in args.references if name.startswith("ds2748")]
    real_sources = [] if args.tuning else [*args.subjects, *OTHER_SCANNERS]
    names = dict.fromkeys(args.references + args.subjects + real_sources)
    subjects = {name: prepared(name, args.cache) for name in names}
    order = ["none"]
    for method in args.methods:
        order += [method, *([method + DEFAULT_MASK] if method == "nyul" else []),
                  *([method + PER_SITE] if HARMONIZERS[method].needs_tissues else [])]  # fmt: skip
    runs = [(m, seed) for m in order for seed in (args.seeds if learned(m) else [None])]
    table = pd.DataFrame(simulated(runs, subjects, args, sources))
    if args.tsv:
        table.to_csv(args.tsv, sep="\t", index=False, float_format="%.5f")
    print_simulated(table, order, f"{len(args.subjects)} subjects x {len(sources)} protocols")
    scans = (
        pd.DataFrame(real(runs, subjects, real_refs, real_sources)) if real_sources and real_refs else None
    )
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
        print(f"\nreal scans, fitted on {', '.join(real_refs)} (N4, 2 mm; the default-mask row on them as "
              "distributed): Wasserstein / sd to the references per scanner, CV (%) across scanners of the "
              "scanners' mean GM and WM:")  # fmt: skip
        print(
            wide.join(spread.add_prefix("cv_"))
            .reindex([m for m in [*order, "nyul" + AS_DISTRIBUTED] if m in wide.index])
            .round(3)
            .to_string()
        )
        print("\nGM / WM volumes (mL) of our segmentation per scanner, before (none) and after:")
        print(by_scanner[["gm_ml", "wm_ml"]].unstack("scanner").round(0).to_string())
    print_targets(table, scans)


if __name__ == "__main__":
    main()
