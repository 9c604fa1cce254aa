"""The group level at study scale: time and peak memory for a synthetic study of many participants (issue 35).

A raw BIDS dataset of N participants (one small T1w each, 32^3 voxels, sidecars naming one of three
scanners) and the participant level's outputs for it, written with the App's own names and writers: per
image the three corrections, the dseg and its table, the metrics table and its sidecar (``metrics_table``,
tissue means included) and, for the images of the two sites not in the reference, a harmonized image whose
sidecar carries its ``TissueMeans`` as the workflow writes it. The group level then runs as a user runs it
(``inuprep BIDS OUT group``) in a process of its own: first indexing the dataset, then with a
``--bids-database-dir`` index built before (a SLURM array's case). Its wall time and peak memory
(``ru_maxrss`` of the process and its children) are printed against the targets: <= 2 minutes and <= 2 GB
on 2 cores.

    python benchmarks/group_scale.py [--participants 1000] [--keep DIR]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nb
import numpy as np

SITES = {"Siemens": 1.0, "Philips": 1.6, "GE": 0.8}  # scanner: intensity scale
METHODS = ("n4", "zeroshot", "implicit")
SHAPE = (32, 32, 32)


def anatomy(rng) -> tuple[np.ndarray, np.ndarray]:
    """Return labels (1 GM shell, 2 WM core, 3 CSF centre) of a ball with a random radius, and a bias-free
    image of them with noise."""
    grid = np.linalg.norm(np.indices(SHAPE) - (np.array(SHAPE)[:, None, None, None] - 1) / 2, axis=0)
    radius = rng.uniform(11, 14)
    labels = np.select([grid < 3, grid < radius * 0.7, grid < radius], [3, 2, 1], 0).astype(np.uint8)
    clean = np.choose(labels, [0.0, 60.0, 100.0, 30.0]) * (1 + 0.05 * rng.standard_normal(SHAPE))
    return labels, clean.astype(np.float32)


def write_study(root: Path, participants: int) -> tuple[Path, Path]:
    """Write the raw dataset and the participant level's outputs; return (bids_dir, output_dir)."""
    from inuprep.evaluation.table import metrics_dictionary, metrics_table
    from inuprep.inputs.discovery import discover_runs, load_layout
    from inuprep.utils.bids import output_paths, sidecar_path
    from inuprep.utils.io import write_json

    bids, out = root / "bids", root / "out"
    bids.mkdir(parents=True)
    write_json({"Name": "group scale", "BIDSVersion": "1.10.0"}, bids / "dataset_description.json")
    rng, affine, sites = np.random.default_rng(0), np.diag([2.0, 2.0, 2.0, 1.0]), list(SITES)
    images = {}
    for n in range(participants):
        anat = bids / f"sub-{n:04d}" / "anat"
        anat.mkdir(parents=True)
        site = sites[n % len(sites)]
        labels, clean = anatomy(rng)
        field = np.exp(np.linspace(-0.3, 0.3, SHAPE[0]))[:, None, None] * np.ones(SHAPE)
        nb.Nifti1Image(clean * field * SITES[site], affine).to_filename(anat / f"sub-{n:04d}_T1w.nii.gz")
        write_json({"Manufacturer": site}, anat / f"sub-{n:04d}_T1w.json")
        images[f"sub-{n:04d}"] = (site, labels, clean * SITES[site], field)
    tissues = {1: "GM", 2: "WM", 3: "CSF"}
    table = "index\tname\ttissue\n" + "".join(f"{i}\t{t}\t{t}\n" for i, t in tissues.items())
    for run in discover_runs(load_layout(bids))[0]:
        site, labels, clean, field = images[f"sub-{run.subject}"]
        harmonized = site != sites[0]
        paths = {k: out / v for k, v in output_paths(run, METHODS, (), harmonized).items()}
        paths["dseg_file"].parent.mkdir(parents=True, exist_ok=True)
        nb.Nifti1Image(labels, affine).to_filename(paths["dseg_file"])
        paths["dseg_tsv"].write_text(table)
        corrected = [("original", clean * field)]
        for k, method in enumerate(METHODS):
            data = clean * field ** (0.1 * k)  # what each method left of the field
            nb.Nifti1Image(data, affine).to_filename(paths[f"{method}_file"])
            corrected.append((method, data))
        metrics_table(corrected, labels, tissues, {}, "template_priors").to_csv(
            paths["metrics_tsv"], sep="\t", index=False, float_format="%.6f"
        )
        dictionary = metrics_dictionary(tissues, [], {"SegmentationSource": "template_priors"})
        write_json({**dictionary, "Contrast": run.label}, paths["metrics_json"])
        if harmonized:
            data = clean / SITES[site]
            nb.Nifti1Image(data, affine).to_filename(paths["harmonized_file"])
            means = {t: float(data[labels == i].mean()) for i, t in tissues.items()}
            sidecar = {"HarmonizedCorrection": "n4", "TissueMeans": means}
            write_json(sidecar, sidecar_path(paths["harmonized_file"]))
    return bids, out


#: runs the command it is given and prints, last on stderr, the peak memory of it and its children in KiB
_PEAK = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def run_group(bids: Path, out: Path, *extra: str) -> dict:
    """Run ``inuprep BIDS OUT group`` in a process of its own; return its wall seconds and peak memory."""
    inuprep = Path(sys.executable).with_name("inuprep")
    command = [sys.executable, "-c", _PEAK, str(inuprep), str(bids), str(out), "group"]
    command += ["-w", str(out.parent / "work"), *extra]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"the group level failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    site_cv = [line for line in result.stdout.splitlines() if "site_cv" in line]
    peak = int(result.stderr.splitlines()[-1]) / 1024**2
    return {"seconds": seconds, "peak_gb": peak, "site_cv": site_cv}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="write the study here and keep it (default: a temp folder)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="group_scale_"))
    try:
        start = time.perf_counter()
        bids, out = write_study(root, args.participants)
        print(f"{args.participants} participants written in {time.perf_counter() - start:.0f} s ({root})")
        index = root / "bids-index"
        rows = {"group, indexing the dataset": run_group(bids, out)}
        run_group(bids, out, "--bids-database-dir", str(index))  # builds the index an array would share
        rows["group, with a --bids-database-dir index"] = run_group(
            bids, out, "--bids-database-dir", str(index)
        )
        for name, row in rows.items():
            verdict = "met" if row["seconds"] <= 120 and row["peak_gb"] <= 2 else "MISSED"
            print(f"{name}: {row['seconds']:.1f} s, peak {row['peak_gb']:.2f} GB "
                  f"(targets 120 s, 2 GB: {verdict})")  # fmt: skip
        print("site_cv rows (GM, WM, CSF; harmonized last):\n" + "\n".join(rows[name]["site_cv"]))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
