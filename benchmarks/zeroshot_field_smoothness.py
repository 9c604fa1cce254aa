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
"""

import argparse
from dataclasses import replace

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
    import numpy as np
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.prisma:
        return prisma(args.variants)
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
    import numpy as np
    from zeroshot_vs_n4 import prisma_field

    from inuprep.evaluation.metrics import field_fit

    raw_img, head, measured = prisma_field()
    raw = raw_img.get_fdata(dtype=np.float32)
    zooms = tuple(float(z) for z in raw_img.header.get_zooms()[:3])
    for name, (_, estimate) in corrections(raw, zooms, variants).items():
        corr, slope, _ = field_fit(estimate[head], np.exp(measured)).values()
        residual = np.std(np.log(estimate[head]) - measured)
        print(f"{name:12s} residual log-ratio std {residual:.3f}  corr {corr:.3f}  slope {slope:.3f}")


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
