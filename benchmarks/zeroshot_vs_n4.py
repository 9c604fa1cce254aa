"""Zero-shot and implicit against N4, known fields: anatomy x field family x strength x seed, whole processes.

Each case multiplies an anatomy by a simulated field (``inuprep.simulation.fields``) plus Rician noise, then
runs ``inuprep-correct`` once per method as a separate process, exactly as a user would (defaults: foreground
mask, ``--num-threads`` as given). Tissue masks come from a 3-class Atropos fit to the unbiased image
(posterior > 0.9; for a real scan, to the consensus of every method's correction of it), so they favour
no method. Printed per case and on average: CV of CSF/GM/WM, CJV (WM/GM), relative MAE against the
reference after the best global scale (inside the brain, and per tissue as Simko et al. report it),
correlation and slope of the estimated log-field regressed on the true one (a slope below 1: a shrunk
field), the WM-minus-GM step of its log-residual beyond a quadratic trend (``metrics.field_anatomy``; > 0:
the field took in anatomy), the wall time of each process and its peak memory (RSS); then, per field family
and per kind of anatomy, how often each other method (zero-shot variants, implicit) beats N4; last, issue 45's
per-family targets for the default zero-shot, met or MISSED.

Anatomies: ``mni152`` and ``colin27`` (clean templates: the reference is the clean image) and the real,
skull-stripped, not bias-corrected ds002748 scans in ``../shared/data`` (``ds2748s01`` ...). A real scan has a
field of its own, so each method is judged on what it adds: its correction of the biased scan against its
own correction of the scan as acquired (relative MAE), and its field on the biased scan divided by its field
on the scan as acquired against the simulated field.

    python benchmarks/zeroshot_vs_n4.py [--anatomies mni152 colin27 ds2748s01] [--families polynomial ...]
        [--strengths 1.22 1.5 2 4] [--seeds 4 5] [--methods n4 zeroshot zeroshot-paper] [--tsv results.tsv]
    python benchmarks/zeroshot_vs_n4.py --size256     # peak memory at 256^3
    python benchmarks/zeroshot_vs_n4.py --prisma      # the measured receive field of sub-prisma3t

Strengths are max/min of the field inside the brain; BrainWeb's 20 % and 40 % inhomogeneity levels (a field
of +-10 % and +-20 %) are max/min 1.22 and 1.5.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nb
import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
#: method name -> inuprep-correct arguments
METHODS = {
    "n4": ["--method", "n4"],
    "zeroshot": ["--method", "zeroshot"],
    "zeroshot-sharpen": ["--method", "zeroshot", "--variant", "sharpen"],
    "zeroshot-local": ["--method", "zeroshot", "--variant", "local"],
    "zeroshot-paper": ["--method", "zeroshot", "--variant", "paper"],
    "zeroshot-entropy": ["--method", "zeroshot", "--variant", "entropy"],
    "implicit": ["--method", "implicit"],
}


def load_anatomy(name: str) -> tuple[np.ndarray, np.ndarray, nb.Nifti1Image, bool]:
    """Return an unbiased brain image, its brain mask, its NIfTI (grid) and whether it is a real scan."""
    if name == "mni152":
        from inuprep.simulation.fields import template_anatomy

        clean, _, _, affine = template_anatomy(1.0)
        return clean, clean > 0.1 * clean.max(), nb.Nifti1Image(clean, affine), False
    if name == "colin27":
        img = nb.load(DATA / "templates" / "colin27_mricron" / "ch2bet.nii.gz")
        real = False
    elif name.startswith("ds2748s"):
        img = nb.load(DATA / "bids" / f"sub-{name}" / "anat" / f"sub-{name}_T1w.nii.gz")
        real = True
    else:
        raise SystemExit(f"unknown anatomy '{name}'; use mni152, colin27 or ds2748sNN")
    clean = img.get_fdata(dtype=np.float32)
    return clean, clean > 0.1 * np.percentile(clean[clean > 0], 99), img, real


def tissue_masks(clean: np.ndarray, brain: np.ndarray, zooms) -> dict[str, np.ndarray]:
    """Return CSF/GM/WM masks: Atropos on the unbiased image, posterior > 0.9."""
    from inuprep.segmentation.antspyx import atropos_classes

    _, probs = atropos_classes(clean, tuple(float(z) for z in zooms), brain, 3)
    return {name: brain & (p > 0.9) for name, p in zip(("csf", "gm", "wm"), probs, strict=True)}


def run_process(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return its wall time (s) and peak resident memory (MB). Exit on failure.

    The peak is the kernel's high-water mark of the process after exec (VmHWM), read every 20 ms: the
    children's ru_maxrss would include this (large) parent's memory, inherited at fork.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    status_file, peak_kb = Path(f"/proc/{process.pid}/status"), 0
    while process.poll() is None:
        try:
            lines = status_file.read_text().splitlines()
            peak_kb = max([peak_kb] + [int(line.split()[1]) for line in lines if line.startswith("VmHWM")])
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode().strip()}")
    return elapsed, peak_kb / 1024


def correct(
    method: str, in_file: Path, threads: int, extra: tuple[str, ...] = ()
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Run ``inuprep-correct`` as a process (``extra``: more of its arguments); return the corrected image,
    the field, time and memory."""
    out, field = in_file.with_name(f"{method}.nii.gz"), in_file.with_name(f"{method}_field.nii.gz")
    command = [sys.executable, "-m", "inuprep.methods.run", str(in_file), str(out), *METHODS[method],
               "--field", str(field), "--num-threads", str(threads), *extra]  # fmt: skip
    elapsed, memory = run_process(command)
    image, estimate = (nb.load(path).get_fdata(dtype=np.float32) for path in (out, field))
    return image, estimate, elapsed, memory


def scores(image, reference, brain, masks, estimate=None, truth=None) -> dict[str, float]:
    """Return CV per tissue, CJV, relative MAE (in the brain and, as Simko et al., per tissue) and (with
    fields) the fit of the log-field."""
    from inuprep.evaluation.metrics import coefficient_of_joint_variation as cjv
    from inuprep.evaluation.metrics import (
        coefficient_of_variation,
        field_anatomy,
        field_fit,
        relative_mae,
        tissue_relative_mae,
    )

    row = {f"cv_{name}": coefficient_of_variation(image[mask]) for name, mask in masks.items()}
    row["cjv"] = cjv(image[masks["wm"]], image[masks["gm"]])
    row["rel_mae"] = relative_mae(image[brain], reference[brain])
    row.update(tissue_relative_mae(image, reference, brain, masks))
    if estimate is not None:
        row.update(field_fit(estimate[brain], truth[brain]))
        row["field_anatomy"] = field_anatomy(estimate, truth, masks["wm"], masks["gm"])
    return row


def size256(threads: int) -> None:
    """Print each method's wall time and peak memory on a 256^3 volume."""
    from inuprep.simulation.fields import simulate_bias, template_anatomy

    clean, _, _, affine = template_anatomy(1.0)
    padded = np.zeros((256, 256, 256), dtype=np.float32)
    padded[tuple(slice((256 - n) // 2, (256 - n) // 2 + n) for n in clean.shape)] = clean
    _, biased = simulate_bias(padded, 3.0, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        in_file = Path(tmp) / "biased.nii.gz"
        nb.Nifti1Image(biased, affine).to_filename(in_file)
        for method in ("n4", "zeroshot", "implicit"):
            *_, elapsed, memory = correct(method, in_file, threads)
            print(f"256^3 {method:9s} {elapsed:6.1f} s  peak {memory:7.0f} MB")


def prisma_field() -> tuple[nb.Nifti1Image, np.ndarray, np.ndarray]:
    """Return sub-prisma3t's acquisition without Prescan Normalize, its head mask and the receive field's
    log inside it: the ratio of that acquisition to the same one with Prescan Normalize."""
    from inuprep.image import foreground_mask

    anat = DATA / "bids" / "sub-prisma3t" / "anat"
    raw_img = nb.load(anat / "sub-prisma3t_acq-noprescannorm_T1w.nii.gz")
    raw = raw_img.get_fdata(dtype=np.float32)
    normalised = nb.load(anat / "sub-prisma3t_acq-prescannorm_T1w.nii.gz").get_fdata(dtype=np.float32)
    head = foreground_mask(normalised) & (raw > 0) & (normalised > 0)
    return raw_img, head, np.log(raw[head] / normalised[head])


def prisma(methods: list[str], threads: int) -> None:
    """Print each method's residual against the measured receive field of sub-prisma3t.

    One acquisition reconstructed without and with Prescan Normalize: their ratio inside the head is the
    receive field the scanner removed. Each method corrects the raw image; the residual is its log-field
    minus the measured one (each less its mean), whose standard deviation is printed (the input: the
    measured log-field's own).
    """
    from inuprep.evaluation.metrics import field_fit

    raw_img, head, measured = prisma_field()
    raw_file = Path(raw_img.get_filename())
    print(f"sub-prisma3t: {head.sum()} head voxels; measured log-field std {measured.std():.3f} "
          f"(5th-95th percentile ratio {np.exp(np.percentile(measured, 5)):.2f}-"
          f"{np.exp(np.percentile(measured, 95)):.2f})")  # fmt: skip
    residuals = {}
    with tempfile.TemporaryDirectory() as tmp:
        in_file = Path(tmp) / "raw.nii.gz"
        in_file.write_bytes(raw_file.read_bytes())
        for method in methods:
            _, estimate, elapsed, _ = correct(method, in_file, threads)
            residual = np.log(estimate[head]) - measured
            residuals[method] = float(np.std(residual))
            corr, slope, _ = field_fit(estimate[head], np.exp(measured)).values()
            print(f"  {method:17s} residual log-ratio std {residuals[method]:.3f}  "
                  f"corr {corr:.3f}  slope {slope:.3f}  {elapsed:5.1f} s")  # fmt: skip
    if {"zeroshot", "zeroshot-sharpen"} <= set(residuals):  # issue 45: no worse than the default before it
        met = residuals["zeroshot"] <= residuals["zeroshot-sharpen"]
        print(f"target: zero-shot's residual no worse than sharpen's: {residuals['zeroshot']:.3f} vs "
              f"{residuals['zeroshot-sharpen']:.3f}: {'met' if met else 'MISSED'}")  # fmt: skip


def main() -> None:
    from inuprep.segmentation.base import consensus_image
    from inuprep.simulation.fields import FAMILIES, simulate_bias

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--anatomies", nargs="+", default=["mni152", "colin27"])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--strengths", nargs="+", type=float, default=[2.0, 4.0],
                        help="max/min inside the brain (BrainWeb 20 %%: 1.22, 40 %%: 1.5)")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--methods", nargs="+", default=["n4", "zeroshot"], choices=list(METHODS))
    parser.add_argument("--threads", type=int, default=2, help="--num-threads of each process")
    parser.add_argument("--tsv", type=Path, help="also write every row here")
    parser.add_argument("--size256", action="store_true", help="only the 256^3 memory check")
    parser.add_argument("--prisma", action="store_true", help="only the measured field of sub-prisma3t")
    args = parser.parse_args()
    if args.size256:
        return size256(args.threads)
    if args.prisma:
        return prisma(args.methods, args.threads)

    rows = []
    for anatomy in args.anatomies:
        clean, brain, img, real = load_anatomy(anatomy)
        with tempfile.TemporaryDirectory() as tmp:  # a real scan: each method's own correction of it
            in_file = Path(tmp) / "acquired.nii.gz"
            nb.Nifti1Image(clean, img.affine, img.header).to_filename(in_file)
            own = {m: correct(m, in_file, args.threads)[:2] for m in args.methods} if real else {}
        # masks fitted to a scan's own field would favour leaving that field in (benchmarks/README.md,
        # mask_bias.py): a real scan's come from the consensus of every method's correction of it, clipped
        # at its 99.5th percentile (on ds2748s52 a class of 1057 bright vessel voxels took the place of WM)
        unbiased = clean
        if real:
            unbiased = consensus_image([image for image, _ in own.values()], brain)
            unbiased = np.minimum(unbiased, np.percentile(unbiased[brain], 99.5))
        masks = tissue_masks(unbiased, brain, img.header.get_zooms()[:3])
        for family in args.families:
            for strength in args.strengths:
                for seed in args.seeds:
                    case = {"anatomy": anatomy, "family": family, "strength": strength, "seed": seed}
                    field, biased = simulate_bias(clean, strength, seed, family, brain)
                    rows.append({**case, "method": "input", **scores(biased, clean, brain, masks)})
                    with tempfile.TemporaryDirectory() as tmp:
                        in_file = Path(tmp) / "biased.nii.gz"
                        nb.Nifti1Image(biased, img.affine, img.header).to_filename(in_file)
                        for method in args.methods:
                            image, estimate, elapsed, memory = correct(method, in_file, args.threads)
                            reference, estimate = (
                                (own[method][0], estimate / own[method][1]) if real else (clean, estimate)
                            )
                            metrics = scores(image, reference, brain, masks, estimate, field)
                            rows.append({**case, "method": method, **metrics, "time_s": elapsed,
                                         "peak_mb": memory})  # fmt: skip
                    print_case(rows[-1 - len(args.methods) :])
    summarise(rows, args.tsv)


def print_case(rows: list[dict]) -> None:
    """Print the rows of one case."""
    case = rows[0]
    print(f"{case['anatomy']} {case['family']} x{case['strength']:g} seed {case['seed']}", flush=True)
    for row in rows:
        timing = f"{row['time_s']:6.1f} s {row['peak_mb']:6.0f} MB" if "time_s" in row else ""
        fit = (f"{row['field_corr']:6.3f} {row['field_slope']:6.3f} {row['field_anatomy']:+.3f}"
               if "field_corr" in row else " " * 20)  # fmt: skip
        cvs = "/".join(f"{row[f'cv_{tissue}']:.3f}" for tissue in ("csf", "gm", "wm"))
        print(f"  {row['method']:17s} CV csf/gm/wm {cvs}  CJV {row['cjv']:.3f}  relMAE {row['rel_mae']:.3f}"
              f" (csf/gm/wm {row['rmae_csf']:.3f}/{row['rmae_gm']:.3f}/{row['rmae_wm']:.3f})"
              f"  corr/slope/anatomy {fit}  {timing}", flush=True)  # fmt: skip


def summarise(rows: list[dict], tsv: Path | None) -> None:
    """Print the mean of every method, then each other method's wins over N4 and its time ratio."""
    import pandas as pd

    table = pd.DataFrame(rows)
    table["kind"] = np.where(table.anatomy.str.startswith("ds2748"), "real", "template")
    if tsv is not None:
        table.to_csv(tsv, sep="\t", index=False, float_format="%.4f")
    print("\nmean over cases")
    means = table.groupby("method", sort=False).mean(numeric_only=True)
    print(means.drop(columns=["strength", "seed"]).round(3).to_string())
    cases = ["anatomy", "family", "strength", "seed"]
    by_case = table.pivot_table(index=cases, columns="method", values=["cjv", "rel_mae", "time_s"])
    groups = {"all": slice(None)}
    groups.update(
        {family: by_case.index.get_level_values("family") == family for family in table.family.unique()}
    )
    kinds = table.drop_duplicates("anatomy").set_index("anatomy").kind
    anatomy_kind = kinds.loc[by_case.index.get_level_values("anatomy")].to_numpy()
    groups.update({kind: anatomy_kind == kind for kind in kinds.unique()})
    for method in [m for m in table.method.unique() if m not in ("input", "n4")]:
        print(f"\n{method} against n4 (wins: lower is better; worse: than the input)")
        for name, rows_of in groups.items():
            part = by_case[rows_of]
            line = [f"  {name:10s} n={len(part):3d}"]
            for metric in ("cjv", "rel_mae"):
                values = part[metric]
                line.append(f"{metric} wins {int((values[method] < values.n4).sum()):3d}  mean "
                            f"{values[method].mean():.3f} vs {values.n4.mean():.3f}  worse "
                            f"{int((values[method] > values.input).sum())}")  # fmt: skip
            print("  ".join(line))
        ratio = by_case["time_s"][method] / by_case["time_s"].n4
        print(f"  wall time {method} / n4: mean {ratio.mean():.2f} "
              f"(min {ratio.min():.2f}, max {ratio.max():.2f})")  # fmt: skip
    if "zeroshot" in set(table.method):
        family_targets(table)


def family_targets(table) -> None:
    """Print issue 45's targets on simulated families for the default zero-shot, per family, met or MISSED:
    CJV and error below N4's in >= 2/3 of the cases, the mean field slope within 0.9-1.1, never worse than
    the input."""
    wide = table.pivot_table(index=["anatomy", "family", "strength", "seed"], columns="method",
                             values=["cjv", "rel_mae", "field_slope"])  # fmt: skip
    for family, part in wide.groupby(level="family"):
        wins = {m: float((part[m].zeroshot < part[m].n4).mean()) for m in ("cjv", "rel_mae")}
        slope = float(part.field_slope.zeroshot.mean())
        worse = sum(int((part[m].zeroshot > part[m].input).sum()) for m in ("cjv", "rel_mae"))
        checks = [wins["cjv"] >= 2 / 3, wins["rel_mae"] >= 2 / 3, 0.9 <= slope <= 1.1, worse == 0]
        print(f"target {family}: CJV wins {wins['cjv']:.2f}, error wins {wins['rel_mae']:.2f} (>= 2/3), "
              f"slope {slope:.2f} (0.9-1.1), worse than the input {worse} (0): "
              f"{'met' if all(checks) else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
