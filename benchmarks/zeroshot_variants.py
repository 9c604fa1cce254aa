"""Zero-shot settings against N4, in-process: the quick loop used to choose the defaults.

nilearn's MNI152 2009a T1 times fields of one family (max/min inside the brain) plus Rician noise; template
GM/WM masks. Prints, mean over seeds: CJV, relative MAE against the clean image after the best global scale,
correlation of the log fields inside the brain, and the correction's wall time (in-process).
``zeroshot_vs_n4.py`` is the full benchmark (whole processes, more anatomy).

    python benchmarks/zeroshot_variants.py [--zoom 2.0] [--family coil] [--max-ratio 3] [--seeds 1 2 3]
        [--set histogram_bins=128 smoothness_weight=100 ...]
"""

import argparse
import time
from dataclasses import fields

import numpy as np


def main() -> None:
    from inuprep.evaluation.metrics import coefficient_of_joint_variation as cjv
    from inuprep.evaluation.metrics import relative_mae
    from inuprep.methods.n4.correct import n4_correct
    from inuprep.methods.zeroshot.correct import zeroshot_correct
    from inuprep.methods.zeroshot.settings import ZeroShotSettings
    from inuprep.simulation.fields import simulate_bias, template_anatomy

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--zoom", type=float, default=2.0, help="voxel size (mm) of the template")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="one field per seed")
    parser.add_argument(
        "--family", default="polynomial", help="field family (inuprep.simulation.fields.FAMILIES)"
    )
    parser.add_argument("--max-ratio", type=float, default=3.0, help="max/min of each field inside the brain")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="entropy-variant settings")
    args = parser.parse_args()
    types = {f.name: f.type for f in fields(ZeroShotSettings)}
    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        overrides[key] = types[key](value) if types[key] in (int, float) else value

    clean, wm, gm, _ = template_anatomy(args.zoom)
    brain = clean > 0.1 * clean.max()
    zooms = (args.zoom,) * 3
    methods = {
        "N4 (shipped settings)": lambda b, m: n4_correct(b, zooms, m),
        "zero-shot, paper": lambda b, m: astuple(
            zeroshot_correct(b, zooms, m, ZeroShotSettings(variant="paper"))
        ),
        "zero-shot, entropy": lambda b, m: astuple(
            zeroshot_correct(b, zooms, m, ZeroShotSettings(**overrides))
        ),
    }
    rows = {name: [] for name in ["input", *methods]}
    for seed in args.seeds:
        field, biased = simulate_bias(clean, args.max_ratio, seed, args.family, brain)
        mask = biased > 0.05 * float(biased.max())
        rows["input"].append((cjv(biased[wm], biased[gm]), relative_mae(biased[brain], clean[brain]), 0, 0))
        for name, method in methods.items():
            start = time.perf_counter()
            corrected, estimate = method(biased, mask)
            elapsed = time.perf_counter() - start
            corr = np.corrcoef(np.log(estimate[brain]), np.log(field[brain]))[0, 1]
            mae = relative_mae(corrected[brain], clean[brain])
            rows[name].append((cjv(corrected[wm], corrected[gm]), mae, corr, elapsed))
    print(f"template at {args.zoom} mm {clean.shape}, {args.family} fields x{args.max_ratio:g}; "
          f"clean CJV {cjv(clean[wm], clean[gm]):.3f}; {overrides}")  # fmt: skip
    print(f"{'method':24s} {'CJV':>7s} {'relMAE':>7s} {'logcorr':>7s} {'time s':>7s}   (mean over seeds)")
    for name, values in rows.items():
        c, m, r, t = np.mean(values, axis=0)
        print(f"{name:24s} {c:7.3f} {m:7.3f} {r:7.3f} {t:7.1f}")


def astuple(result):
    """Return (corrected, field) of a ZeroShotResult."""
    return result.corrected, result.field


if __name__ == "__main__":
    main()
