"""Harmonization speed and memory on 1 mm volumes, against N4 in the same run (issue 22's targets).

Each method is fitted on ten real 1 mm T1w (the ds002748 scans, 0.87 x 0.87 x 1 mm, skull-stripped) and
applied to one more (sub-philips3t resampled to 1 mm with its brain mask) through the model folder, as
``inuprep-harmonize`` does, each in a process of its own so that its peak memory (``ru_maxrss``) is its own;
N4 (the App's settings) corrects the same volume. Targets: fit <= 30 min for 10 references, apply <= 60 s
per 1 mm volume, peak <= 4 GB.

    python benchmarks/harmonization_speed.py [--methods nyul whitestripe ssimh]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
REFERENCES = ["s01", "s02", "s03", "s04", "s05", "s06", "s52", "s53", "s54", "s55"]


def volumes():
    """Return the ten references' paths and (image, data, mask, no tissue masks), and the 1 mm volume to
    apply to (image, data, mask)."""
    import nibabel as nb
    import numpy as np
    from nilearn.image import resample_img

    from inuprep.image import load_with_mask

    paths = [DATA / "bids" / f"sub-ds2748{n}" / "anat" / f"sub-ds2748{n}_T1w.nii.gz" for n in REFERENCES]
    references = [(*load_with_mask(path)[:3], {}) for path in paths]
    image = nb.load(DATA / "bids" / "sub-philips3t" / "anat" / "sub-philips3t_T1w.nii.gz")
    mask = nb.load(DATA / "derivatives" / "sub-philips3t" / "anat" / "sub-philips3t_desc-brain_mask.nii.gz")
    at_1mm = {"target_affine": np.diag([1.0, 1.0, 1.0]), "force_resample": True, "copy_header": True}
    image = resample_img(image, interpolation="continuous", **at_1mm)
    brain = resample_img(mask, interpolation="nearest", **at_1mm).get_fdata() > 0.5
    return paths, references, (image, np.clip(image.get_fdata(dtype=np.float32), 0, None), brain)


def measure(method: str) -> dict:
    """Fit and apply ``method`` (or run N4 for "n4") in this process; return seconds and peak memory."""
    from inuprep.harmonizers import HARMONIZERS
    from inuprep.harmonizers.model import fit_model, read_model

    paths, references, (image, data, brain) = volumes()
    row = {"method": method, "shape": list(data.shape)}
    if method == "n4":
        from inuprep.methods.n4.correct import n4_correct

        start = time.perf_counter()
        n4_correct(data, (1.0, 1.0, 1.0), brain)
        row["apply_s"] = time.perf_counter() - start
    else:
        harmonizer = HARMONIZERS[method]
        with tempfile.TemporaryDirectory() as folder:
            model, masks = Path(folder) / "model", ["default"] * len(paths)
            start = time.perf_counter()
            fit_model(harmonizer, harmonizer.settings(), paths, references, "T1w", model, masks)
            row["fit_s"] = time.perf_counter() - start
            start = time.perf_counter()
            read_model(model).apply(data, brain)
            row["apply_s"] = time.perf_counter() - start
    row["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--methods", nargs="+", default=["nyul", "whitestripe", "ssimh"])
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: measure this one
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    rows = []
    for method in ["n4", *args.methods]:
        out = subprocess.run(
            [sys.executable, __file__, "--one", method], capture_output=True, text=True, check=True
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    n4 = rows[0]["apply_s"]
    shape = rows[0]["shape"]
    print(f"\n1 mm volume {shape}; fit on {len(REFERENCES)} references; N4 on the same volume: {n4:.1f} s")
    print("| method | fit (s) | apply (s) | apply / N4 | peak (GB) |\n| --- | --- | --- | --- | --- |")
    for row in rows:
        fit = f"{row['fit_s']:.1f}" if "fit_s" in row else "-"
        apply, peak = row["apply_s"], row["peak_gb"]
        print(f"| {row['method']} | {fit} | {apply:.1f} | {apply / n4:.2f} | {peak:.2f} |")


if __name__ == "__main__":
    main()
