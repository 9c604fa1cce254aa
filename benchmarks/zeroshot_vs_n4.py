"""Zero-shot against N4 with known fields: anatomy x field family x strength x seed, whole processes.

Each case multiplies a clean anatomy by a simulated field (``inuprep.simulate``) plus Rician noise, then runs
``inuprep-correct --method n4`` and ``--method zeroshot`` as separate processes, exactly as a user would
(defaults: foreground mask, ``--num-threads`` as given). Tissue masks come from a 3-class Atropos fit to the
CLEAN image (posterior > 0.9), so they favour no method. Printed per case and on average: CV of CSF/GM/WM,
CJV (WM/GM), relative MAE against the clean image after the best global scale (inside the brain),
correlation of log fields inside the brain, the wall time of each process and its peak memory (RSS).

    python benchmarks/zeroshot_vs_n4.py [--anatomies mni152 colin27] [--families polynomial bspline coil]
        [--strengths 2 4] [--seeds 1] [--tsv results.tsv] [--size256]

``--size256`` instead zero-pads the MNI152 T1 to 256^3 voxels and reports each method's peak memory.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nb
import numpy as np

COLIN27 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "templates" / "colin27_mricron"
METHODS = ("n4", "zeroshot")


def load_anatomy(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return a clean 1 mm brain image, its brain mask and its affine."""
    if name == "mni152":
        from inuprep.simulate import template_anatomy

        clean, _, _, affine = template_anatomy(1.0)
        return clean, clean > 0.1 * clean.max(), affine
    if name == "colin27":
        img = nb.load(COLIN27 / "ch2bet.nii.gz")
        clean = img.get_fdata(dtype=np.float32)
        return clean, clean > 0.1 * clean.max(), img.affine
    raise SystemExit(f"unknown anatomy '{name}'; use mni152 or colin27")


def tissue_masks(clean: np.ndarray, brain: np.ndarray) -> dict[str, np.ndarray]:
    """Return CSF/GM/WM masks: Atropos on the clean image, posterior > 0.9."""
    from inuprep.segmentation import atropos_classes

    _, probs = atropos_classes(clean, (1.0, 1.0, 1.0), brain, 3)
    return {name: brain & (p > 0.9) for name, p in zip(("csf", "gm", "wm"), probs, strict=True)}


def run_process(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return its wall time (s) and peak resident memory (MB). Exit on failure.

    The peak is the kernel's high-water mark of the process after exec (VmHWM), read every 20 ms: the
    children's ru_maxrss would include this (large) parent's memory, inherited at fork.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
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


def correct(method: str, in_file: Path, threads: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Run ``inuprep-correct`` as a process; return the corrected image, the field, time and memory."""
    out, field = in_file.with_name(f"{method}.nii.gz"), in_file.with_name(f"{method}_field.nii.gz")
    command = [sys.executable, "-m", "inuprep.correct", str(in_file), str(out), "--method", method,
               "--field", str(field), "--num-threads", str(threads)]  # fmt: skip
    elapsed, memory = run_process(command)
    image, estimate = (nb.load(path).get_fdata(dtype=np.float32) for path in (out, field))
    return image, estimate, elapsed, memory


def scores(image, clean, brain, masks, estimate=None, truth=None) -> dict[str, float]:
    """Return CV per tissue, CJV, relative MAE and (with fields) the log-field correlation."""
    from inuprep.metrics import coefficient_of_joint_variation, coefficient_of_variation, relative_mae

    row = {f"cv_{name}": coefficient_of_variation(image[mask]) for name, mask in masks.items()}
    row["cjv"] = coefficient_of_joint_variation(image[masks["wm"]], image[masks["gm"]])
    row["rel_mae"] = relative_mae(image[brain], clean[brain])
    if estimate is not None:
        row["log_corr"] = float(np.corrcoef(np.log(estimate[brain]), np.log(truth[brain]))[0, 1])
    return row


def size256(threads: int) -> None:
    """Print each method's wall time and peak memory on a 256^3 volume."""
    from inuprep.simulate import simulate_bias, template_anatomy

    clean, _, _, affine = template_anatomy(1.0)
    padded = np.zeros((256, 256, 256), dtype=np.float32)
    padded[tuple(slice((256 - n) // 2, (256 - n) // 2 + n) for n in clean.shape)] = clean
    _, biased = simulate_bias(padded, 3.0, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        in_file = Path(tmp) / "biased.nii.gz"
        nb.Nifti1Image(biased, affine).to_filename(in_file)
        for method in METHODS:
            *_, elapsed, memory = correct(method, in_file, threads)
            print(f"256^3 {method:9s} {elapsed:6.1f} s  peak {memory:7.0f} MB")


def main() -> None:
    from inuprep.simulate import FAMILIES, simulate_bias

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--anatomies", nargs="+", default=["mni152", "colin27"])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--strengths", nargs="+", type=float, default=[2.0, 4.0],
                        help="max/min of the field inside the brain")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--threads", type=int, default=2, help="--num-threads of each process")
    parser.add_argument("--tsv", type=Path, help="also write every row here")
    parser.add_argument("--size256", action="store_true", help="only the 256^3 memory check")
    args = parser.parse_args()
    if args.size256:
        return size256(args.threads)

    rows = []
    for anatomy in args.anatomies:
        clean, brain, affine = load_anatomy(anatomy)
        masks = tissue_masks(clean, brain)
        for family in args.families:
            for strength in args.strengths:
                for seed in args.seeds:
                    case = {"anatomy": anatomy, "family": family, "strength": strength, "seed": seed}
                    field, biased = simulate_bias(clean, strength, seed, family, brain)
                    rows.append({**case, "method": "input", **scores(biased, clean, brain, masks)})
                    with tempfile.TemporaryDirectory() as tmp:
                        in_file = Path(tmp) / "biased.nii.gz"
                        nb.Nifti1Image(biased, affine).to_filename(in_file)
                        for method in METHODS:
                            image, estimate, elapsed, memory = correct(method, in_file, args.threads)
                            metrics = scores(image, clean, brain, masks, estimate, field)
                            rows.append({**case, "method": method, **metrics, "time_s": elapsed,
                                         "peak_mb": memory})  # fmt: skip
                    print_case(rows[-3:])
    summarise(rows, args.tsv)


def print_case(rows: list[dict]) -> None:
    """Print the three rows of one case."""
    case = rows[0]
    print(f"{case['anatomy']} {case['family']} x{case['strength']:g} seed {case['seed']}", flush=True)
    for row in rows:
        timing = f"{row['time_s']:6.1f} s {row['peak_mb']:6.0f} MB" if "time_s" in row else ""
        corr = f"{row['log_corr']:6.3f}" if "log_corr" in row else " " * 6
        cvs = "/".join(f"{row[f'cv_{tissue}']:.3f}" for tissue in ("csf", "gm", "wm"))
        print(f"  {row['method']:9s} CV csf/gm/wm {cvs}  CJV {row['cjv']:.3f}  relMAE {row['rel_mae']:.3f}"
              f"  corr {corr}  {timing}", flush=True)  # fmt: skip


def summarise(rows: list[dict], tsv: Path | None) -> None:
    """Print the mean of every method, the zero-shot/N4 time ratio and the win counts."""
    import pandas as pd

    table = pd.DataFrame(rows)
    if tsv is not None:
        table.to_csv(tsv, sep="\t", index=False, float_format="%.4f")
    print("\nmean over cases")
    means = table.groupby("method", sort=False).mean(numeric_only=True)
    print(means.drop(columns=["strength", "seed"]).round(3).to_string())
    by_case = table.pivot_table(index=["anatomy", "family", "strength", "seed"], columns="method",
                                values=["cjv", "rel_mae", "time_s"])  # fmt: skip
    n = len(by_case)
    for metric in ("cjv", "rel_mae"):
        values = by_case[metric]
        print(f"{metric}: zero-shot < N4 in {int((values.zeroshot < values.n4).sum())}/{n} cases; "
              f"zero-shot worse than input in {int((values.zeroshot > values.input).sum())}/{n}")  # fmt: skip
    ratio = by_case["time_s"].zeroshot / by_case["time_s"].n4
    print(f"wall time zero-shot / N4: mean {ratio.mean():.2f} (min {ratio.min():.2f}, max {ratio.max():.2f})")


if __name__ == "__main__":
    main()
