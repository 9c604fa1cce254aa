"""Is the self-check's recommendation the correction that is truly best? Cases with a known field.

Each case multiplies an anatomy by a simulated field plus Rician noise (as ``zeroshot_vs_n4.py``). Every
method corrects it at full resolution, in this process, and its true error is the relative MAE against the
reference inside the brain (templates: the clean image; a real scan: the method's own correction of the scan
as acquired, as in ``zeroshot_vs_n4.py``). The check (``inuprep.evaluation.selfcheck``) sees the biased image,
each method's field and tissue masks that favour no method (3-class Atropos on the consensus of the
corrections, as the App's masks come from the corrections), on its own grid; the true field is never
shown to it. Each case is cached (``--cache``): the check's grid of the image, fields and masks, and the true
errors.

Printed per case, then: how often the recommendation is the truly best method or within 5 % of its error, the
mean true error of always choosing one method, of the recommended one and of the best (oracle), per field
family and per anatomy; how often N4 is recommended where it is truly best; the check's time against the
corrections'.

    python benchmarks/recommendation.py --tuning --fit --cache /tmp/rec-cache   # fit the weights
    python benchmarks/recommendation.py --cache /tmp/rec-cache                  # held-out cases

The weights (``selfcheck.WEIGHTS``) were fitted on the ``--tuning`` cases (MNI152 and ds2748s01, seeds 61 and
62), and the signals chosen there by leave-one-case-out; the default cases (Colin27, ds2748s03, ds2748s54;
seeds 71 and 72) were not looked at before.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from zeroshot_vs_n4 import load_anatomy

METHOD_NAMES = ("n4", "zeroshot", "implicit")
FAMILIES = ("linear", "polynomial", "bspline", "coil")
TUNING = {"anatomies": ["mni152", "ds2748s01"], "seeds": [61, 62]}
HELD_OUT = {"anatomies": ["colin27", "ds2748s03", "ds2748s54"], "seeds": [71, 72]}


def make_case(clean, brain, zooms, reference, methods, family, strength, seed) -> dict:
    """Return one case on the check's grid: the biased image, each method's field, the masks, true errors."""
    from inuprep.evaluation.metrics import relative_mae
    from inuprep.evaluation.run import consensus_classes
    from inuprep.evaluation.selfcheck import self_check, subsampled
    from inuprep.image import foreground_mask
    from inuprep.simulation.fields import simulate_bias

    field, biased = simulate_bias(clean, strength, seed, family, brain)
    mask = foreground_mask(biased)
    fields, errors, start = {}, {}, time.perf_counter()
    for name, corrector in methods.items():
        corrected, fields[name] = corrector(biased, zooms, mask)
        errors[f"error_{name}"] = relative_mae(corrected[brain], reference[name][brain])
    correct_s = time.perf_counter() - start
    tissues, pure, _ = consensus_classes(biased, fields, zooms, brain, "T1w")  # as inuprep-recommend
    start = time.perf_counter()
    self_check(biased, zooms, fields, tissues, pure)
    check_s = time.perf_counter() - start
    step, grid = subsampled(zooms)
    labels = sum(k * tissue for k, tissue in enumerate(tissues, start=1)).astype(np.uint8)
    arrays = {"original": biased[step], "brain": brain[step], "labels": labels[step], "truth": field[step],
              "zooms": np.array(grid)}  # fmt: skip
    arrays.update({f"field_{name}": f[step] for name, f in fields.items()})
    return {**arrays, **errors, "correct_s": correct_s, "check_s": check_s}


def cases(anatomies, families, strengths, seeds, cache: Path, threads: int):
    """Yield (case name, arrays and errors), each computed once and cached under ``cache``."""
    from inuprep.evaluation.run import correctors
    from inuprep.image import foreground_mask

    cache.mkdir(parents=True, exist_ok=True)
    methods = None
    for anatomy in anatomies:
        loaded = None
        for family in families:
            for strength in strengths:
                for seed in seeds:
                    name = f"{anatomy}_{family}_{strength:g}_{seed}"
                    path = cache / f"{name}.npz"
                    if not path.is_file():
                        methods = methods or correctors(METHOD_NAMES, None, threads, "cpu")
                        if loaded is None:
                            clean, brain, img, real = load_anatomy(anatomy)
                            zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
                            reference = {m: clean for m in methods}
                            if real:  # what each method adds: against its own correction of the scan
                                own_mask = foreground_mask(clean)
                                reference = {m: f(clean, zooms, own_mask)[0] for m, f in methods.items()}
                            loaded = clean, brain, zooms, reference
                        case = make_case(*loaded, methods, family, strength, seed)
                        np.savez_compressed(path, **case)
                    yield name, dict(np.load(path))


def case_signals(case: dict) -> dict:
    """Return the check's signals of a cached case (on the check's grid, as ``self_check`` measures them)."""
    from inuprep.evaluation.selfcheck import BLOCK_MM, signals

    fields = {name: case[f"field_{name}"] for name in METHOD_NAMES}
    block = max(2, round(BLOCK_MM / float(min(case["zooms"]))))
    return signals(case["original"], fields, [case["labels"] == k for k in (1, 2, 3)], 2, block)


def fit(rows: list[dict], used: list[str]) -> dict[str, float]:
    """Return the weights of the ``used`` signals (the others 0) that best predict each method's relative
    error against the methods' mean from its signals against their mean (least squares over every case and
    method)."""
    from inuprep.evaluation.selfcheck import SIGNALS

    design, target = [], []
    for row in rows:
        errors = np.array([row["errors"][m] for m in METHOD_NAMES])
        values = np.array([[row["signals"][m][s] for s in used] for m in METHOD_NAMES])
        design.append(values - values.mean(axis=0))
        target.append((errors - errors.mean()) / errors.mean())
    weights, *_ = np.linalg.lstsq(np.vstack(design), np.concatenate(target), rcond=None)
    fitted = {s: round(float(w), 3) for s, w in zip(used, weights, strict=True)}
    return {s: fitted.get(s, 0.0) for s in SIGNALS}


def judge(rows: list[dict], weights: dict[str, float]) -> None:
    """Print each case's recommendation and the summary against the truth."""
    import pandas as pd

    from inuprep.evaluation.selfcheck import SelfCheckResult

    table = []
    for row in rows:
        check = SelfCheckResult(row["signals"], weights)
        errors = row["errors"]
        best = min(errors, key=errors.get)
        recommended = check.recommended
        within = errors[recommended] <= 1.05 * errors[best]
        table.append({"case": row["name"], "anatomy": row["name"].split("_")[0],
                      "family": row["name"].split("_")[1], "best": best, "recommended": recommended,
                      "within5": within, "hit": recommended == best, "deciding": check.deciding,
                      **{f"error_{m}": e for m, e in errors.items()}})  # fmt: skip
        truth = " ".join(f"{m} {e:.4f}" for m, e in errors.items())
        estimate = " ".join(f"{e:+.3f}" for e in check.estimates.values())
        verdict = "best" if recommended == best else "within 5 %" if within else "MISS"
        print(f"{row['name']:28s} true {truth} | estimate {estimate} -> {recommended} ({verdict}; "
              f"{check.deciding})")  # fmt: skip
    table = pd.DataFrame(table)
    columns = [f"error_{m}" for m in METHOD_NAMES]
    table["error_recommended"] = [row[f"error_{row.recommended}"] for _, row in table.iterrows()]
    table["error_best"] = table[columns].min(axis=1)
    groups = {"all": table, **dict(list(table.groupby("family", sort=False))),
              **dict(list(table.groupby("anatomy", sort=False)))}  # fmt: skip
    print("\nmean true error (relative MAE); picks: the best / within 5 % of the best")
    print(f"  {'cases':12s} {'n':>3s} " + " ".join(f"{m:>9s}" for m in METHOD_NAMES)
          + f" {'recommend':>9s} {'oracle':>9s}  picks")  # fmt: skip
    for name, part in groups.items():
        means = " ".join(f"{part[c].mean():9.4f}" for c in columns)
        picks = f"{part.hit.mean():4.0%} / {part.within5.mean():4.0%}"
        print(f"  {name:12s} {len(part):3d} {means} {part.error_recommended.mean():9.4f} "
              f"{part.error_best.mean():9.4f}  {picks}")  # fmt: skip
    n4_best = table[table.best == "n4"]
    fixed = {m: table[f"error_{m}"].mean() for m in METHOD_NAMES}
    counts = {c: table[c].value_counts().to_dict() for c in ("recommended", "best", "deciding")}
    print(f"\nrecommended: {counts['recommended']}  truly best: {counts['best']}  deciding: "
          f"{counts['deciding']}")  # fmt: skip
    print("targets: within 5 % of the best >= 80 %:", f"{table.within5.mean():.0%}",
          "| mean error below every fixed choice:",
          f"{table.error_recommended.mean():.4f} vs {min(fixed.values()):.4f}",
          "| N4 recommended where truly best >= 1/2:",
          f"{(n4_best.recommended == 'n4').sum()} of {len(n4_best)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--anatomies", nargs="+", default=HELD_OUT["anatomies"])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--strengths", nargs="+", type=float, default=[1.5, 3.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=HELD_OUT["seeds"])
    parser.add_argument("--tuning", action="store_true", help="the cases the weights were fitted on")
    parser.add_argument("--fit", nargs="*", metavar="SIGNAL",
                        help="fit these signals' weights on these cases (default: leftover)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("recommendation-cache"))
    args = parser.parse_args()
    from inuprep.evaluation.selfcheck import WEIGHTS

    if args.tuning:
        args.anatomies, args.seeds = TUNING["anatomies"], TUNING["seeds"]
    rows, costs = [], []
    for name, case in cases(
        args.anatomies, args.families, args.strengths, args.seeds, args.cache, args.threads
    ):
        errors = {m: float(case[f"error_{m}"]) for m in METHOD_NAMES}
        rows.append({"name": name, "errors": errors, "signals": case_signals(case)})
        if "check_s" in case:
            costs.append(float(case["check_s"]) / float(case["correct_s"]))
    weights = WEIGHTS if args.fit is None else fit(rows, args.fit or ["leftover"])
    if args.fit is not None:
        print("weights fitted on these cases:", weights)
    judge(rows, weights)
    if costs:
        print(f"check / corrections (in this process): median {np.median(costs):.3f} "
              f"(range {min(costs):.3f}-{max(costs):.3f}, {len(costs)} cases)")  # fmt: skip


if __name__ == "__main__":
    main()
