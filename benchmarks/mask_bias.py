"""Do tissue masks favour the image they were fitted to? CJV of each image on masks from each source.

Demo participant (MNI152 2009a T1 at 1 mm times a known smooth field, Rician noise): deepbet brain mask,
N4 with inuprep's settings, then 3-class Atropos fitted to the clean image, the original, the N4 image
(what inuprep does with one method: the consensus of the corrected images), and the consensus of original
and N4. Prints WM/GM CJV of the clean, original and N4 images on each set of masks.

    python benchmarks/mask_bias.py [--subject 01]
"""

import argparse
import tempfile
from pathlib import Path

import nibabel as nb
import numpy as np


def main() -> None:
    from inuprep.cli.demo import DEMO_SUBJECTS, build_demo_dataset
    from inuprep.evaluation.metrics import coefficient_of_joint_variation as cjv
    from inuprep.image import foreground_mask
    from inuprep.methods.n4.correct import n4_correct
    from inuprep.segmentation.antspyx import atropos_classes
    from inuprep.segmentation.base import consensus_image
    from inuprep.segmentation.brain import deepbet_brain_mask
    from inuprep.utils.mni152 import mni152

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subject", default="01", choices=sorted(DEMO_SUBJECTS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bids = build_demo_dataset(Path(tmp), {args.subject: DEMO_SUBJECTS[args.subject]})
        img = nb.load(bids / f"sub-{args.subject}" / "anat" / f"sub-{args.subject}_T1w.nii.gz")
        original = img.get_fdata(dtype=np.float32)
    clean = mni152()[0].get_fdata(dtype=np.float32)
    zooms = img.header.get_zooms()[:3]
    mask = deepbet_brain_mask(img) & foreground_mask(original)
    n4, _ = n4_correct(original, zooms, foreground_mask(original))
    images = {"clean": clean, "original": original, "n4": n4}
    sources = {
        "clean": clean,
        "original": original,
        "n4": n4,
        "original + n4": consensus_image([original, n4], mask),
    }
    print(f"sub-{args.subject}: WM/GM CJV of each image (columns) on masks fitted to each source (rows)")
    print(f"{'masks fitted to':24s}" + "".join(f"{name:>10s}" for name in images))
    for source, image in sources.items():
        dseg, _ = atropos_classes(image, zooms, mask, n_classes=3)
        wm, gm = dseg == 3, dseg == 2
        print(f"{source:24s}" + "".join(f"{cjv(x[wm], x[gm]):10.3f}" for x in images.values()))


if __name__ == "__main__":
    main()
