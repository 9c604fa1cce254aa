"""Which mask a correction and a harmonization take when none is given, on skull-stripped images.

A skull-stripped image (a zero background) defaults to its whole non-zero support; a scan, to its Otsu
foreground (``inuprep.image.default_mask``). This script measures what the choice does to the corrections
of skull-stripped images with a known field, against the Otsu foreground they defaulted to before:

- the real Philips 3T scan of ``../shared/data`` skull-stripped with its brain mask (its GM/WM maps give the
  tissues, p > 0.9), and the real, skull-stripped ds002748 scans ``--scans`` (tissues from a 3-class k-means
  Atropos fit of the scan, the same for both masks);
- times a field of each ``--families`` (seeds ``--seeds``, max/min ``--strength`` inside the brain), Rician
  noise inside the brain only, zeros outside (as a skull-stripping pipeline leaves them);
- each method of ``--methods`` run as ``inuprep-correct`` with no mask (today's default) and with the Otsu
  foreground given (the old default). Both scans carry a field of their own (neither is bias-corrected), so
  each method is judged on the field it removes beyond that of its correction of the scan as acquired
  (``zeroshot_vs_n4.py``): ``rel_error`` against that correction; CJV on the tissue masks.

    python benchmarks/default_mask.py [--families linear polynomial] [--seeds 61] [--methods n4 zeroshot]
"""

import argparse
import tempfile
from pathlib import Path

import nibabel as nb
import numpy as np
from zeroshot_vs_n4 import DATA, correct


def philips_stripped() -> tuple[np.ndarray, np.ndarray, dict, nb.Nifti1Image]:
    """Return the Philips scan skull-stripped, its brain mask, its GM/WM masks and its NIfTI."""
    img = nb.load(DATA / "bids" / "sub-philips3t" / "anat" / "sub-philips3t_T1w.nii.gz")
    derivatives = DATA / "derivatives" / "sub-philips3t" / "anat"
    brain = nb.load(derivatives / "sub-philips3t_desc-brain_mask.nii.gz").get_fdata() > 0
    masks = {
        tissue.lower(): nb.load(derivatives / f"sub-philips3t_label-{tissue}_probseg.nii.gz").get_fdata()
        > 0.9
        for tissue in ("GM", "WM")
    }
    return np.where(brain, img.get_fdata(dtype=np.float32), 0), brain, masks, img


def ds2748(name: str) -> tuple[np.ndarray, np.ndarray, dict, nb.Nifti1Image]:
    """Return a real skull-stripped scan, its support, and GM/WM masks from k-means Atropos."""
    from inuprep.segmentation.antspyx import atropos_classes

    img = nb.load(DATA / "bids" / f"sub-{name}" / "anat" / f"sub-{name}_T1w.nii.gz")
    data = img.get_fdata(dtype=np.float32)
    brain = data > 0
    dseg, probs = atropos_classes(data, img.header.get_zooms()[:3], brain, 3)
    return data, brain, {"gm": probs[1] > 0.9, "wm": probs[2] > 0.9}, img


def run(methods, image, brain, img, folder: Path) -> dict:
    """Return {(method, mask): (corrected, field)} of ``image`` with no mask and with the Otsu foreground."""
    from inuprep.image import foreground_mask

    source, otsu = folder / "image.nii.gz", folder / "otsu.nii.gz"
    nb.Nifti1Image(image, img.affine).to_filename(source)
    nb.Nifti1Image(foreground_mask(image).astype(np.uint8), img.affine).to_filename(otsu)
    done = {}
    for method in methods:
        for mask, extra in (("support", []), ("otsu", ["--mask", str(otsu)])):
            done[method, mask] = correct(method, source, 2, extra)[:2]
    return done


def main() -> None:
    from inuprep.evaluation.metrics import coefficient_of_joint_variation as cjv
    from inuprep.evaluation.metrics import relative_mae
    from inuprep.image import foreground_mask
    from inuprep.simulation.fields import add_rician_noise, random_field

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=["linear", "polynomial"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[61])
    parser.add_argument("--strength", type=float, default=2.0)
    parser.add_argument("--methods", nargs="+", default=["n4", "zeroshot"])
    parser.add_argument("--scans", nargs="*", default=["ds2748s05"])
    args = parser.parse_args()
    print("anatomy\tfield\tseed\tmethod\tmask\tmask_mL\tcjv\trel_error")
    for anatomy in ["philips3t", *args.scans]:
        clean, brain, masks, img = philips_stripped() if anatomy == "philips3t" else ds2748(anatomy)
        voxel_ml = float(np.prod(img.header.get_zooms()[:3])) / 1000
        mask_ml = {"support": brain.sum() * voxel_ml, "otsu": foreground_mask(clean).sum() * voxel_ml}
        with tempfile.TemporaryDirectory() as tmp:
            own = run(args.methods, clean, brain, img, Path(tmp))
            for family in args.families:
                for seed in args.seeds:
                    field = random_field(family, clean.shape, args.strength, seed, brain)
                    noisy = add_rician_noise(clean * field, 0.01 * float(clean.max()), seed)
                    biased = np.where(brain, noisy, 0).astype(np.float32)
                    for (method, mask), (image, _) in run(
                        args.methods, biased, brain, img, Path(tmp)
                    ).items():
                        truth = own[method, mask][0]  # the method's correction of the scan as acquired
                        row = [anatomy, family, seed, method, mask, f"{mask_ml[mask]:.0f}"]
                        row += [f"{cjv(image[masks['wm']], image[masks['gm']]):.4f}"]
                        row += [f"{relative_mae(image[brain], truth[brain]):.4f}"]
                        print("\t".join(map(str, row)), flush=True)


if __name__ == "__main__":
    main()
