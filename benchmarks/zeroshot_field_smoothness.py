"""Issue 24, item 1: does a smoother zero-shot field take in less anatomy, and what does it cost?

Anatomies (templates: the clean image is the truth; real ds2748 scans: each method's own correction of the
scan as acquired, as ``zeroshot_vs_n4.py``) x field families x strengths x seeds; N4 (``n4_correct``) and
zero-shot variants (``zeroshot_correct`` with the field's smoothing or penalty replaced), in this process.
Masks and scores as ``zeroshot_vs_n4.py`` (``field_anatomy``: the WM-minus-GM step of the log-residual).
Prints each variant's means, per family, and its wins against N4 per family. ``--prisma``: each variant's
residual against sub-prisma3t's measured receive field instead.

    python benchmarks/zeroshot_field_smoothness.py --anatomies mni152 --seeds 1 2 --strengths 2
    python benchmarks/zeroshot_field_smoothness.py --anatomies colin27 mni152 --seeds 31 --strengths 1.5 3 \\
        --variants 32mm 40mm
    python benchmarks/zeroshot_field_smoothness.py --anatomies ds2748s06 --seeds 51 --strengths 2
    python benchmarks/zeroshot_field_smoothness.py --prisma --variants 32mm 40mm
    python benchmarks/zeroshot_field_smoothness.py --ceiling --anatomies colin27 --seeds 71 72 \\
        --strengths 1.5 3

``--ceiling``: no correction; the slope and residual of the best field each variant's model can hold (the
least-squares projection of the true log-field onto it, on every 4th brain voxel): how much shrinkage the
field's smoothness alone would explain.
"""

import argparse
from dataclasses import replace

import numpy as np
import pandas as pd
from zeroshot_vs_n4 import load_anatomy, scores, tissue_masks

#: zero-shot settings tried (the default: Gaussian 40 mm, L_smo 2; before issue 24, 32 mm)
VARIANTS = {
    "default": {},
    "32mm": {"field_smoothing_mm": 32.0},
    "40mm": {"field_smoothing_mm": 40.0},
    "48mm": {"field_smoothing_mm": 48.0},
    "64mm": {"field_smoothing_mm": 64.0},
    "lsmo8": {"smoothness_weight": 8.0},
    "lsmo16": {"smoothness_weight": 16.0},
    "48mm-lsmo8": {"field_smoothing_mm": 48.0, "smoothness_weight": 8.0},
    "40mm-lsmo8": {"field_smoothing_mm": 40.0, "smoothness_weight": 8.0},
    "spline60": {"field_spline_mm": 60.0},  # issue 33's lead: a cubic B-spline field on 60 mm control points
}
FAMILIES = ("linear", "polynomial", "bspline", "coil")


def corrections(image, zooms, variants: list[str]) -> dict[str, tuple]:
    """Return N4's and every zero-shot variant's (corrected image, field) of ``image``."""
    from inuprep.image import foreground_mask
    from inuprep.methods.n4.correct import n4_correct
    from inuprep.methods.zeroshot.correct import zeroshot_correct
    from inuprep.methods.zeroshot.settings import ZeroShotSettings

    foreground = foreground_mask(image)
    out = {"n4": n4_correct(image, zooms, foreground)[:2]}
    for name in variants:
        result = zeroshot_correct(image, zooms, foreground, replace(ZeroShotSettings(), **VARIANTS[name]))
        out[name] = (result.corrected, result.field)
    return out


def main() -> None:
    import torch

    from inuprep.segmentation.base import consensus_image
    from inuprep.simulation.fields import simulate_bias

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--anatomies", nargs="+", default=["mni152"], help="mni152, colin27 or ds2748sNN")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--strengths", nargs="+", type=float, default=[2.0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prisma", action="store_true", help="only the measured field of sub-prisma3t")
    parser.add_argument("--ceiling", action="store_true", help="the best field each variant can hold")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.prisma:
        return prisma(args.variants)
    if args.ceiling:
        return ceiling(args)
    rows = []
    for anatomy in args.anatomies:
        clean, brain, img, real = load_anatomy(anatomy)
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
        own = corrections(clean, zooms, args.variants) if real else {}
        unbiased = clean
        if real:  # masks and references as zeroshot_vs_n4.py
            unbiased = consensus_image([image for image, _ in own.values()], brain)
            unbiased = np.minimum(unbiased, np.percentile(unbiased[brain], 99.5))
        masks = tissue_masks(unbiased, brain, zooms)
        for family in FAMILIES:
            for strength in args.strengths:
                for seed in args.seeds:
                    field, biased = simulate_bias(clean, strength, seed, family, brain)
                    case = {"anatomy": anatomy, "family": family, "strength": strength, "seed": seed}
                    for name, (image, estimate) in corrections(biased, zooms, args.variants).items():
                        reference, estimate = (
                            (own[name][0], estimate / own[name][1]) if real else (clean, estimate)
                        )
                        metrics = scores(image, reference, brain, masks, estimate, field)
                        rows.append({**case, "method": name, **metrics})
                    print(f"{anatomy} {family} x{strength:g} s{seed}", flush=True)
    summarise(pd.DataFrame(rows), args.variants)


def prisma(variants: list[str]) -> None:
    """Print each correction's residual log-field std against sub-prisma3t's measured receive field."""
    from zeroshot_vs_n4 import prisma_field

    from inuprep.evaluation.metrics import field_fit

    raw_img, head, measured = prisma_field()
    raw = raw_img.get_fdata(dtype=np.float32)
    zooms = tuple(float(z) for z in raw_img.header.get_zooms()[:3])
    for name, (_, estimate) in corrections(raw, zooms, variants).items():
        corr, slope, _ = field_fit(estimate[head], np.exp(measured)).values()
        residual = np.std(np.log(estimate[head]) - measured)
        print(f"{name:12s} residual log-ratio std {residual:.3f}  corr {corr:.3f}  slope {slope:.3f}")


def field_model(shape, zooms, variant: str) -> list:
    """Return the per-axis matrices mapping the network's grid to the image for a zero-shot ``variant``."""
    from inuprep.methods.zeroshot.correct import field_resampling, spline_resampling
    from inuprep.methods.zeroshot.settings import ZeroShotSettings

    settings = replace(ZeroShotSettings(), **VARIANTS[variant]).resolved(zooms)
    coarse = [max(2, -(-n // settings.input_downsample)) for n in shape]
    coarse_mm = min(zooms) * settings.input_downsample
    if settings.field_spline_mm > 0:
        return spline_resampling(coarse, shape, settings.field_spline_mm / coarse_mm)
    return field_resampling(coarse, shape, settings.field_smoothing_mm / coarse_mm)


def ceiling(args) -> None:
    """Print, per family and variant, the slope and residual of the true log-field's projection onto the
    fields the variant's model can hold (its least-squares best)."""
    from inuprep.simulation.fields import random_field

    rows = []
    for anatomy in args.anatomies:
        clean, brain, img, _ = load_anatomy(anatomy)
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
        voxels = np.argwhere(brain[::4, ::4, ::4]) * 4
        bases = {}  # an orthonormal basis of each model's fields on those voxels
        for name in args.variants:
            x, y, z = (m.numpy()[voxels[:, a]] for a, m in enumerate(field_model(clean.shape, zooms, name)))
            design = np.einsum("vi,vj,vk->vijk", x, y, z).reshape(len(voxels), -1)
            u, s, _ = np.linalg.svd(design, full_matrices=False)
            bases[name] = u[:, s > s[0] * 1e-6]
        for family in FAMILIES:
            for strength in args.strengths:
                for seed in args.seeds:
                    truth = np.log(random_field(family, clean.shape, strength, seed, brain))[tuple(voxels.T)]
                    truth -= truth.mean()
                    for name, basis in bases.items():
                        best = basis @ (basis.T @ truth)
                        slope = np.cov(best, truth)[0, 1] / np.var(truth, ddof=1)
                        rows.append({"family": family, "variant": name, "slope": slope,
                                     "residual": np.std(best - truth)})  # fmt: skip
    table = pd.DataFrame(rows).groupby(["family", "variant"], sort=False)
    print("best field each model can hold\n", table.agg(["mean", "min", "max"]).round(3).to_string())


def summarise(table: pd.DataFrame, variants: list[str]) -> None:
    columns = ["cjv", "rel_mae", "field_anatomy", "field_slope"]
    for title, keys in (("mean over cases", "method"), ("per family", ["family", "method"])):
        print(f"\n{title}\n", table.groupby(keys, sort=False)[columns].mean().round(4).to_string())
    index = ["anatomy", "family", "strength", "seed"]
    cases = table.pivot_table(index=index, columns="method", values=columns)
    family = cases.index.get_level_values("family")
    for name in variants:
        wins = {
            metric: {f: int((cases[metric][name] < cases[metric].n4)[family == f].sum()) for f in FAMILIES}
            for metric in ("cjv", "rel_mae")
        }
        print(f"{name}: wins against N4 of {int((family == FAMILIES[0]).sum())} per family: {wins}")


if __name__ == "__main__":
    main()
