"""Is the self-check's recommendation the correction that is truly best? Cases with a known field.

Each case multiplies an anatomy by a simulated field plus Rician noise (as ``zeroshot_vs_n4.py``). Every
method corrects it at full resolution, in this process, and its true error is the relative MAE against the
reference inside the brain (templates: the clean image; a real scan: the method's own correction of the scan
as acquired, as in ``zeroshot_vs_n4.py``). The self-check (``inuprep.evaluation.selfcheck``) sees only the
biased image and its foreground mask, and recommends a method. Printed per case, then: how often the
recommendation is the truly best method or within 5 % of its error, the mean true error of always choosing one
method, of the recommended one and of the best (oracle), per field family; and the check's time against the
corrections'.

    python benchmarks/recommendation.py [--anatomies mni152 colin27 ds2748s05] [--families linear ...]
        [--strengths 1.5 3] [--seeds 31] [--tsv rows.tsv]
    python benchmarks/recommendation.py --prisma      # the measured receive field of sub-prisma3t

The self-check's probes (families, strength, seeds 1001-1004) and grid were chosen on ``--tuning`` cases
(MNI152, seeds 1-2); report other seeds and anatomies.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from zeroshot_vs_n4 import load_anatomy, prisma_field

METHOD_NAMES = ("n4", "zeroshot", "implicit")


def judge(errors: dict[str, float], recommended: str) -> dict:
    """Return the best method, whether the recommendation is it or within 5 % of its error."""
    best = min(errors, key=errors.get)
    return {"best": best, "hit": recommended == best, "within5": errors[recommended] <= 1.05 * errors[best]}


def run_case(brain, zooms, biased, reference, methods, check_args) -> dict:
    """Correct ``biased`` with every method and self-check it; return the row (true errors, the check's)."""
    from inuprep.evaluation.metrics import relative_mae
    from inuprep.evaluation.selfcheck import self_check
    from inuprep.image import foreground_mask

    mask = foreground_mask(biased)
    row, start = {}, time.perf_counter()
    for name, corrector in methods.items():
        corrected, _ = corrector(biased, zooms, mask)
        row[f"error_{name}"] = relative_mae(corrected[brain], reference[name][brain])
    row["correct_s"] = time.perf_counter() - start
    check = self_check(biased, zooms, mask, methods, **check_args)
    row.update({f"check_{name}": error for name, error in check.mean_errors().items()})
    row.update({"recommended": check.recommended, "check_s": check.seconds})
    row.update(judge({name: row[f"error_{name}"] for name in methods}, check.recommended))
    return row


def summarise(rows: list[dict], tsv: Path | None) -> None:
    import pandas as pd

    table = pd.DataFrame(rows)
    if tsv is not None:
        table.to_csv(tsv, sep="\t", index=False, float_format="%.4f")
    errors = [f"error_{name}" for name in METHOD_NAMES]
    table["error_recommended"] = [row[f"error_{row.recommended}"] for _, row in table.iterrows()]
    table["error_best"] = table[errors].min(axis=1)
    groups = {"all": table, **{family: part for family, part in table.groupby("family", sort=False)}}
    print("\nmean true error (relative MAE); picks: the best / within 5 % of the best")
    print(f"  {'cases':12s} {'n':>3s} " + " ".join(f"{name:>9s}" for name in METHOD_NAMES)
          + f" {'recommend':>9s} {'oracle':>9s}  picks")  # fmt: skip
    for name, part in groups.items():
        means = " ".join(f"{part[column].mean():9.4f}" for column in errors)
        picks = f"{part.hit.mean():4.0%} / {part.within5.mean():4.0%}"
        print(f"  {name:12s} {len(part):3d} {means} {part.error_recommended.mean():9.4f} "
              f"{part.error_best.mean():9.4f}  {picks}")  # fmt: skip
    print("\nrecommended:", table.recommended.value_counts().to_dict(), " truly best:",
          table.best.value_counts().to_dict())  # fmt: skip
    ratio = table.check_s / table.correct_s
    seconds = f"check {table.check_s.mean():.1f} s, corrections {table.correct_s.mean():.1f} s"
    print(f"check / corrections (in this process): mean {ratio.mean():.2f} (min {ratio.min():.2f}, "
          f"max {ratio.max():.2f}); {seconds}")  # fmt: skip


def prisma(methods: dict) -> None:
    """The measured receive field of sub-prisma3t: each method's residual against it, and the check's pick."""
    from inuprep.evaluation.selfcheck import self_check
    from inuprep.image import foreground_mask

    raw_img, head, measured = prisma_field()
    raw = raw_img.get_fdata(dtype=np.float32)
    zooms, mask = raw_img.header.get_zooms()[:3], foreground_mask(raw)
    residuals = {}
    for name, corrector in methods.items():
        _, field = corrector(raw, zooms, mask)
        residual = np.log(field[head]) - measured
        residuals[name] = float(np.std(residual - residual.mean()))
    check = self_check(raw, zooms, mask, methods)
    print("sub-prisma3t residual log-field std:", {k: round(v, 3) for k, v in residuals.items()})
    print("  self-check errors:", {k: round(v, 4) for k, v in check.mean_errors().items()},
          f"recommended {check.recommended}; truly best {min(residuals, key=residuals.get)}")  # fmt: skip


def main() -> None:
    from inuprep.image import foreground_mask
    from inuprep.simulation.fields import FAMILIES, simulate_bias

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--anatomies", nargs="+", default=["mni152", "colin27"])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--strengths", nargs="+", type=float, default=[1.5, 3.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[31])
    parser.add_argument("--tuning", action="store_true", help="the cases the check was chosen on")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tsv", type=Path)
    parser.add_argument("--prisma", action="store_true", help="only the measured field of sub-prisma3t")
    parser.add_argument("--grid-mm", type=float, default=None, help="the check's grid (default: its own)")
    parser.add_argument("--probes", type=int, default=None, help="the first N probes (default: all)")
    args = parser.parse_args()
    from inuprep.evaluation.selfcheck import GRID_MM, PROBES

    check_args = {"grid_mm": args.grid_mm or GRID_MM, "probes": PROBES[: args.probes]}
    from inuprep.evaluation.run import correctors

    methods = correctors(METHOD_NAMES, None, args.threads, "cpu")
    if args.prisma:
        return prisma(methods)
    if args.tuning:
        args.anatomies, args.seeds = ["mni152"], [1, 2]
    rows = []
    for anatomy in args.anatomies:
        clean, brain, img, real = load_anatomy(anatomy)
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
        reference = {name: clean for name in methods}
        if real:  # what each method adds: against its own correction of the scan as acquired
            mask = foreground_mask(clean)
            reference = {name: f(clean, zooms, mask)[0] for name, f in methods.items()}
        for family in args.families:
            for strength in args.strengths:
                for seed in args.seeds:
                    _, biased = simulate_bias(clean, strength, seed, family, brain)
                    case = {"anatomy": anatomy, "family": family, "strength": strength, "seed": seed}
                    rows.append({**case, **run_case(brain, zooms, biased, reference, methods, check_args)})
                    row = rows[-1]
                    truth = " ".join(f"{name} {row[f'error_{name}']:.4f}" for name in methods)
                    check = " ".join(f"{row[f'check_{name}']:.4f}" for name in methods)
                    verdict = "best" if row["hit"] else "within 5 %" if row["within5"] else "MISS"
                    print(f"{anatomy} {family} x{strength:g} s{seed}: true {truth} | check {check} -> "
                          f"{row['recommended']} ({verdict}) {row['check_s']:.0f}/{row['correct_s']:.0f} s",
                          flush=True)  # fmt: skip
    summarise(rows, args.tsv)


if __name__ == "__main__":
    main()
