"""ANTsPyNet ``deep_atropos`` (antspynet 0.3.x), run in a process of its own, and its offline cache.

``deep_atropos(t1, do_preprocessing=True, use_spatial_priors=1)`` reads five files from the ANTsXNet cache
(``antspynet.set_antsxnet_cache_directory``) and downloads any that is missing from figshare. inuprep checks
for them first (:func:`missing_files`, no tensorflow import) and falls back at once when one is absent, so a
node without internet never tries. The model runs in ``python -m inuprep.segmentation.deep_atropos`` so
that tensorflow never loads in a process that holds torch; :func:`segment` runs it. The module imports only
the standard library at the top, so that the container build can fetch the files with it alone.

Pre-fetch the files on a machine with internet (the container build calls this)::

    inuprep-fetch-models DIR      # then: inuprep ... --antsxnet-cache DIR  (or INUPREP_ANTSXNET_CACHE=DIR)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from inuprep import __version__

if TYPE_CHECKING:
    import nibabel as nb
    import numpy as np

    from inuprep.segmentation.base import Segmentation

#: pretrained networks deep_atropos loads: its brain extraction (modality "t1") and the 6-tissue U-net
NETWORKS = ("brainExtractionRobustT1", "sixTissueOctantBrainSegmentationWithPriors1")
#: data it loads: brain extraction's reorientation template, the registration template and its priors
DATA = ("S_template3", "croppedMni152", "croppedMni152Priors")
#: deep_atropos's labels, and the tissue each one is evaluated as (brain stem and cerebellum mix GM and WM)
LABELS = {1: "CSF", 2: "GM", 3: "WM", 4: "deepGM", 5: "brainstem", 6: "cerebellum"}
TISSUES = {1: "CSF", 2: "GM", 3: "WM", 4: "GM"}
#: environment variable naming the cache when --antsxnet-cache is not given
CACHE_ENV = "INUPREP_ANTSXNET_CACHE"


def default_cache() -> Path:
    """Return $INUPREP_ANTSXNET_CACHE, else antspynet's own default (~/.keras/ANTsXNet)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".keras" / "ANTsXNet")


def required_files(cache: Path) -> list[Path]:
    """Return the paths deep_atropos reads in ``cache`` (antspynet's names: <key>.h5, <key>.nii.gz)."""
    return [cache / f"{key}.h5" for key in NETWORKS] + [cache / f"{key}.nii.gz" for key in DATA]


def missing_files(cache: Path) -> list[str]:
    """Return the names of the files deep_atropos needs that ``cache`` lacks (empty: it can run)."""
    return [path.name for path in required_files(cache) if not path.is_file() or path.stat().st_size == 0]


def segment(img: nb.Nifti1Image, target: np.ndarray, cache: Path) -> Segmentation:
    """Return deep_atropos's labels of ``target`` (on ``img``'s grid), run in a separate process."""
    import nibabel as nb
    import numpy as np

    from inuprep.segmentation.base import BRAIN_LABELS, Segmentation, SegmentationError
    from inuprep.utils.io import write_nifti

    with tempfile.TemporaryDirectory(prefix="inuprep_deepatropos_") as tmp:
        tmp = Path(tmp)
        in_file, dseg_file, prob_file = tmp / "in.nii.gz", tmp / "dseg.nii.gz", tmp / "probseg.nii.gz"
        nifti = nb.Nifti1Image(target.astype(np.float32), img.affine)
        nifti.header.set_xyzt_units("mm", "sec")
        write_nifti(nifti, in_file)
        command = [
            sys.executable,
            "-m",
            "inuprep.segmentation.deep_atropos",
            in_file,
            dseg_file,
            prob_file,
            "--cache",
            cache,
        ]
        done = subprocess.run([str(c) for c in command], capture_output=True, text=True)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
            raise SegmentationError(lines[-1])
        dseg = np.rint(nb.load(dseg_file).get_fdata()).astype(np.uint8)
        # antspyx writes the merged channels as a vector image, (x, y, z, 1, 7): one volume per class
        probs = nb.load(prob_file).get_fdata(dtype=np.float32).reshape(*dseg.shape, -1)
    probseg = {
        tissue: sum(probs[..., index] for index, name in TISSUES.items() if name == tissue)
        for tissue in BRAIN_LABELS.values()
    }
    return Segmentation(
        mask=dseg > 0,
        dseg=dseg,
        labels=LABELS,
        tissues=TISSUES,
        probseg=probseg,
        source="deep_atropos",
        method="ANTsPyNet deep_atropos (6 tissues, MNI152 priors; GM = cortical + deep GM, brain stem and "
        f"cerebellum not evaluated), ANTsXNet files from {cache}",
    )


def run(in_file: Path, out_dseg: Path, out_probseg: Path, cache: Path) -> None:
    """Segment ``in_file`` with deep_atropos; write the labels and the 7 class posteriors (4D)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # tensorflow's start-up chatter
    from functools import partialmethod

    import ants
    import antspynet
    import keras

    # deep_atropos predicts its 8 octant patches (112^3) in one batch; on CPUs where TensorFlow's 3D
    # convolution unfolds its input (AMD EPYC here), that batch asks for tens of GB and dies in
    # std::bad_alloc. One patch at a time gives the same posteriors; this process exists for this step only.
    keras.Model.predict = partialmethod(keras.Model.predict, batch_size=1)
    antspynet.set_antsxnet_cache_directory(str(cache))
    result = antspynet.deep_atropos(
        ants.image_read(str(in_file)), do_preprocessing=True, use_spatial_priors=1
    )
    ants.image_write(result["segmentation_image"], str(out_dseg))
    ants.image_write(ants.merge_channels(result["probability_images"]), str(out_probseg))


def main(argv: list[str] | None = None) -> int:
    """``python -m inuprep.segmentation.deep_atropos IN DSEG PROBSEG --cache DIR``: exit 2 with one line on
    failure."""
    parser = argparse.ArgumentParser(prog="python -m inuprep.segmentation.deep_atropos")
    parser.add_argument("in_file", type=Path)
    parser.add_argument("out_dseg", type=Path)
    parser.add_argument("out_probseg", type=Path)
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    cache = args.cache or default_cache()
    missing = missing_files(cache)
    if missing:
        print(f"deep_atropos: {cache} lacks {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        run(args.in_file, args.out_dseg, args.out_probseg, cache)
    except Exception as err:  # tensorflow and antspynet raise many kinds; the caller falls back
        print(f"deep_atropos: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
              file=sys.stderr)  # fmt: skip
        return 2
    return 0


def fetch_main(argv: list[str] | None = None) -> int:
    """``inuprep-fetch-models [DIR]``: download every file deep_atropos needs into DIR (needs internet)."""
    parser = argparse.ArgumentParser(
        prog="inuprep-fetch-models",
        description="Download the ANTsXNet files inuprep's deep_atropos step needs.",
    )
    parser.add_argument(
        "cache", type=Path, nargs="?", default=None, help=f"default: ${CACHE_ENV} or ~/.keras"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    cache = (parser.parse_args(argv).cache or default_cache()).absolute()
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import antspynet

    antspynet.set_antsxnet_cache_directory(str(cache))
    try:
        for key in NETWORKS:
            antspynet.get_pretrained_network(key)
        for key in DATA:
            antspynet.get_antsxnet_data(key)
    except Exception as err:  # no network, a proxy, a changed URL: one line, not a traceback
        print(f"inuprep-fetch-models: error: download failed ({type(err).__name__}: {err})", file=sys.stderr)
        return 1
    missing = missing_files(cache)
    if missing:
        print(f"inuprep-fetch-models: error: still missing {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"deep_atropos files ready in {cache}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
