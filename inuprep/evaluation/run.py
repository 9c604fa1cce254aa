"""``inuprep-recommend IN``: which correction to trust for this image (the self-check of
:mod:`inuprep.evaluation.selfcheck`), in a process of its own like every correction (``python -m
inuprep.evaluation.run`` is the App's ``selfcheck`` node).

Every method corrects the image; tissue masks that favour no method (``--dseg``, else a 3-class Atropos fit
to the consensus of the corrections) are shared by all; the check estimates each method's error from what it
left in the image and recommends the lowest. Prints a line per method; ``--json`` also writes the check.
"""

import argparse
import sys
import time
from pathlib import Path

from inuprep import __version__
from inuprep.methods import METHODS
from inuprep.runtime import terminate_on_signals
from inuprep.utils.io import output_problem

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inuprep-recommend",
        description="Recommend a bias correction for one 3D NIfTI image: each method corrects it (with its "
        "defaults), and the one whose estimated error, from what it left in the image, is lowest is "
        "recommended.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("in_file", type=Path, help="the image to check")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
                        help="the corrections to compare (two at least)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the check here (errors per method and probe)")
    parser.add_argument("--mask", type=Path, help="the image's mask (default: a skull-stripped image's "
                        "non-zero support, else its Otsu foreground)")  # fmt: skip
    parser.add_argument("--dseg", type=Path, help="tissue labels on the image's grid, their dseg.tsv "
                        "beside them (default: 3 classes fitted to the corrections' consensus)")  # fmt: skip
    parser.add_argument("--contrast", choices=["T1w", "T2w"], default="T1w",
                        help="without --dseg: WM is the brightest class (T1w) or the darkest")  # fmt: skip
    parser.add_argument("--seed", type=int, help="the seeded methods' seed (default: their own)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="torch device")
    parser.add_argument("--num-threads", type=int, default=1, help="CPU threads for torch or ITK")
    return parser


def correctors(names, seed: int | None, num_threads: int, device: str) -> dict:
    """Return {method: f(data, zooms, mask) -> (corrected, field)}, each with its default settings."""

    def make(method):
        settings = method.settings(**({"seed": seed} if method.seeded and seed is not None else {}))

        def corrector(data, zooms, mask):
            return method.run(data, zooms, mask, settings.resolved(zooms), num_threads, device)[:2]

        return corrector

    return {name: make(METHODS[name]) for name in names}


def main(argv: list[str] | None = None) -> int:
    """Check one image; return 0, 2 for bad input or 1 for a failed write (a one-line error)."""
    with terminate_on_signals():
        return recommend(argv)


def recommend(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(args.methods))
    if len(names) < 2:
        parser.error("--methods: give two methods at least (the check compares them)")
    if args.json is not None:
        problem = output_problem([args.in_file] + ([args.mask] if args.mask else []), [args.json])
        if problem:
            print(f"inuprep-recommend: error: {problem}; choose another output path", file=sys.stderr)
            return EXIT_INPUT
    from inuprep.evaluation.selfcheck import self_check
    from inuprep.image import ImageError, load_with_mask
    from inuprep.utils.io import write_json

    try:
        img, data, mask, source = load_with_mask(args.in_file, args.mask)
        tissues, pure, masks = check_masks(args, img) if args.dseg else (None, None, "")
    except ImageError as err:
        print(f"inuprep-recommend: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    start = time.perf_counter()
    fields = {name: f(data, zooms, mask)[1] for name, f in correctors(names, args.seed, args.num_threads,
                                                                       args.device).items()}  # fmt: skip
    correct_s = time.perf_counter() - start
    if tissues is None:
        tissues, pure, masks = consensus_classes(data, fields, zooms, mask, args.contrast)
    check = self_check(data, zooms, fields, tissues, pure)
    for name, estimate in check.estimates.items():
        signals = ", ".join(f"{s} {v:.4f}" for s, v in check.signals[name].items())
        mark = "  <- recommended" if name == check.recommended else ""
        print(f"{METHODS[name].label:10s} estimated error {estimate:+.1%} against the mean ({signals}){mark}")
    print(f"self-check: decided by {check.deciding}; {check.seconds:.1f} s (corrections {correct_s:.1f} s)",
          flush=True)  # fmt: skip
    if args.json is not None:
        try:
            record = {**check.to_dict(), "Sources": [str(args.in_file)], "Mask": source, "Tissues": masks}
            write_json(record, args.json)
        except OSError as err:
            print(
                f"inuprep-recommend: error: cannot write {args.json} ({err.strerror or err})", file=sys.stderr
            )
            return EXIT_FAILED
    return EXIT_OK


def check_masks(args, img) -> tuple[list, int | None, str]:
    """Return the tissue masks of ``--dseg`` (its label table beside it), the index of WM, their source."""
    import nibabel as nb
    import numpy as np

    from inuprep.evaluation.selfcheck import label_masks
    from inuprep.image import ImageError
    from inuprep.segmentation.base import on_same_grid
    from inuprep.segmentation.labels import read_label_table
    from inuprep.utils.bids import split_extension

    table = args.dseg.with_name(split_extension(args.dseg.name)[0] + ".tsv")
    try:
        dseg_img = nb.load(args.dseg)
        tissues = read_label_table(table)[1]
    except Exception as err:  # nibabel and pandas raise many kinds for a file that is not theirs
        raise ImageError(f"{args.dseg}: cannot read it or its label table {table.name} ({err})") from None
    if not on_same_grid(img, dseg_img):
        raise ImageError(f"{args.dseg}: not on the grid of {args.in_file}; give labels on the image's grid")
    masks, pure = label_masks(np.asanyarray(dseg_img.dataobj), tissues)
    return masks, pure, f"given: {args.dseg}"


def consensus_classes(data, fields, zooms, mask, contrast: str) -> tuple[list, int, str]:
    """Return 3 intensity classes of the corrections' consensus inside ``mask`` (Atropos), the index of WM
    (the brightest for a T1w, the darkest for a T2w) and their source."""
    import numpy as np

    from inuprep.segmentation.antspyx import atropos_classes
    from inuprep.segmentation.base import consensus_image

    corrected = [np.divide(data, f, out=np.zeros_like(data), where=f > 0) for f in fields.values()]
    consensus = consensus_image(corrected, mask)
    consensus = np.minimum(consensus, np.percentile(consensus[mask], 99.5))
    labels, _ = atropos_classes(consensus, zooms, mask, 3)
    return [labels == k for k in (1, 2, 3)], 2 if contrast == "T1w" else 0, "3-class Atropos of the consensus"


if __name__ == "__main__":
    sys.exit(main())
