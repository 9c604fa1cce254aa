"""Issue 24, item 1: does a smoother zero-shot field take in less anatomy, and what does it cost?

Template anatomies (the clean image is the truth) x field families x strengths x seeds; N4 (``n4_correct``)
and zero-shot variants (``zeroshot_correct`` with the field's smoothing or penalty replaced), in this process.
Masks and scores as ``zeroshot_vs_n4.py`` (``field_anatomy``: the WM-minus-GM step of the log-residual).
Prints each variant's means, per family, and its wins against N4 per family.

    python benchmarks/zeroshot_field_smoothness.py --anatomies mni152 --seeds 1 2 --strengths 2
    python benchmarks/zeroshot_field_smoothness.py --anatomies colin27 mni152 --seeds 31 --strengths 1.5 3 \\
        --variants default 40mm
"""

import argparse
from dataclasses import replace

import pandas as pd
from zeroshot_vs_n4 import load_anatomy, scores, tissue_masks

#: zero-shot settings tried (the default: Gaussian 32 mm, L_smo 2)
VARIANTS = {
    "default": {},
    "40mm": {"field_smoothing_mm": 40.0},
    "48mm": {"field_smoothing_mm": 48.0},
    "64mm": {"field_smoothing_mm": 64.0},
    "lsmo8": {"smoothness_weight": 8.0},
    "lsmo16": {"smoothness_weight": 16.0},
    "48mm-lsmo8": {"field_smoothing_mm": 48.0, "smoothness_weight": 8.0},
    "40mm-lsmo8": {"field_smoothing_mm": 40.0, "smoothness_weight": 8.0},
}
FAMILIES = ("linear", "polynomial", "bspline", "coil")


def main() -> None:
    import torch

    from inuprep.image import foreground_mask
    from inuprep.methods.n4.correct import n4_correct
    from inuprep.methods.zeroshot.fit import zeroshot_correct
    from inuprep.methods.zeroshot.settings import ZeroShotSettings
    from inuprep.simulate import simulate_bias

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--anatomies", nargs="+", default=["mni152"], choices=["mni152", "colin27"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--strengths", nargs="+", type=float, default=[2.0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for anatomy in args.anatomies:
        clean, brain, img, _ = load_anatomy(anatomy)
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
        masks = tissue_masks(clean, brain, zooms)
        for family in FAMILIES:
            for strength in args.strengths:
                for seed in args.seeds:
                    field, biased = simulate_bias(clean, strength, seed, family, brain)
                    foreground = foreground_mask(biased)
                    case = {"anatomy": anatomy, "family": family, "strength": strength, "seed": seed}
                    corrected, estimate = n4_correct(biased, zooms, foreground)
                    rows.append({**case, "method": "n4",
                                 **scores(corrected, clean, brain, masks, estimate, field)})  # fmt: skip
                    for name in args.variants:
                        settings = replace(ZeroShotSettings(), **VARIANTS[name])
                        result = zeroshot_correct(biased, zooms, foreground, settings)
                        metrics = scores(result.corrected, clean, brain, masks, result.field, field)
                        rows.append({**case, "method": name, **metrics})
                    print(f"{anatomy} {family} x{strength:g} s{seed}", flush=True)
    summarise(pd.DataFrame(rows), args.variants)


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
