"""``inuprep-harmonize``: learn a reference group's intensity scale (``fit``), put images on it (``apply``).

    inuprep-harmonize fit --method M --out MODEL_DIR REF1.nii.gz REF2.nii.gz ... [--masks ...] [settings]
    inuprep-harmonize apply MODEL_DIR IN.nii.gz OUT.nii.gz [--mask MASK]

Exit codes as ``inuprep-correct``: 0 done, 2 a usage, input or model error (one line, nothing written),
1 a write that failed (nothing half written).
"""

import argparse
import sys
import time
from pathlib import Path

from inuprep import __version__
from inuprep.harmonizers import HARMONIZERS
from inuprep.options import add_options, settings_from_args
from inuprep.runtime import terminate_on_signals
from inuprep.utils.bids import sidecar_path, split_name

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
DEFAULT_METHOD = "nyul"
PROG = "inuprep-harmonize"


def build_parser(method: str = DEFAULT_METHOD) -> argparse.ArgumentParser:
    """Return the parser of both verbs, with ``method``'s settings as options of ``fit``."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True)
    fit = verbs.add_parser(
        "fit",
        help="learn the references' intensity scale into a model folder",
        description="Learn the intensity scale of reference images (bias-corrected) into a new model folder. "
        "Each method has settings of its own: fit --method M --help lists M's.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    fit.add_argument("references", nargs="+", type=Path, help="the reference images (3D NIfTI)")
    fit.add_argument("--method", choices=list(HARMONIZERS), default=DEFAULT_METHOD, help="the method")
    fit.add_argument("--out", type=Path, required=True, help="the model folder to create (must not exist)")
    fit.add_argument(
        "--masks",
        nargs="+",
        type=Path,
        help="a brain mask per reference (default: a skull-stripped image's non-zero support, else its Otsu "
        "foreground; give the masks apply will use)",
    )
    fit.add_argument(
        "--wm-masks", nargs="+", type=Path, help="a white-matter mask per reference (methods that use one)"
    )
    fit.add_argument("--contrast", help="the references' contrast (default: their BIDS suffix, e.g. T1w)")
    harmonizer = HARMONIZERS[method]
    group = fit.add_argument_group(f"{harmonizer.label} settings (--method {harmonizer.name})")
    add_options(group, harmonizer.options)
    apply = verbs.add_parser(
        "apply",
        help="put one image on a model's intensity scale",
        description="Write IN on the intensity scale of the model's references (same grid and header as IN, "
        "float32) and a JSON sidecar beside it.",
    )
    apply.add_argument("model", type=Path, help="a model folder written by fit")
    apply.add_argument("in_file", type=Path, help="the image to harmonize (bias-corrected)")
    apply.add_argument("out_file", type=Path, help="the harmonized image (.nii or .nii.gz)")
    apply.add_argument(
        "--mask",
        type=Path,
        help="its brain mask (default: a skull-stripped image's non-zero support, else its Otsu foreground)",
    )
    apply.add_argument("--wm-mask", type=Path, help="its white-matter mask (methods that use one)")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the arguments, ``fit``'s parsed with the settings of the method ``--method`` names."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--method", choices=list(HARMONIZERS), default=DEFAULT_METHOD)
    return build_parser(pre.parse_known_args(argv)[0].method).parse_args(argv)


def contrast_of(path: Path) -> str | None:
    """Return the BIDS suffix of ``path`` (T1w, T2w...), or None for a name that is not BIDS."""
    try:
        return split_name(path)[1]
    except ValueError:
        return None


def error(message: str, code: int = EXIT_INPUT) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def fit(args: argparse.Namespace) -> int:
    """Fit the model folder ``args.out`` on the references; return the exit code."""
    from inuprep.harmonizers.model import fit_model
    from inuprep.image import ImageError, load_mask, load_with_mask
    from inuprep.runtime import unwritable_reason

    masks = args.masks or [None] * len(args.references)
    wm_masks = args.wm_masks or [None] * len(args.references)
    for option, given in (("--masks", masks), ("--wm-masks", wm_masks)):
        if len(given) != len(args.references):
            return error(
                f"{len(given)} {option} for {len(args.references)} references; give one per reference"
            )
    if args.out.exists():
        return error(f"{args.out} exists; remove it or choose a new model folder")
    if reason := unwritable_reason(args.out.parent):
        return error(f"{args.out.parent} {reason}; choose another model folder")
    suffixes = {contrast_of(path) for path in args.references}
    contrast = args.contrast or (suffixes.pop() if len(suffixes) == 1 else None)
    try:
        images, sources = [], []
        for path, mask, wm in zip(args.references, masks, wm_masks, strict=True):
            img, data, brain, source = load_with_mask(path, mask)
            images.append((img, data, brain, load_mask(wm, data.shape) if wm else None))
            sources.append(source)
    except ImageError as err:
        return error(str(err))
    harmonizer = HARMONIZERS[args.method]
    settings = settings_from_args(harmonizer.settings, args)
    start = time.perf_counter()
    try:
        fit_model(harmonizer, settings, args.references, images, contrast, args.out, sources)
    except ImageError as err:
        return error(str(err))
    except OSError as err:
        return error(
            f"cannot write {args.out} ({err.strerror or err}); free space or choose another folder", 1
        )
    took = time.perf_counter() - start
    print(f"{harmonizer.label}: fitted on {len(images)} image(s) in {took:.1f} s -> {args.out}")
    return EXIT_OK


def apply(args: argparse.Namespace) -> int:
    """Write ``args.out_file``, ``args.in_file`` on the model's scale; return the exit code."""
    import nibabel as nb

    from inuprep.harmonizers.model import ModelError, read_model
    from inuprep.image import ImageError, load_mask, load_with_mask
    from inuprep.utils.io import output_problem, write_image_set

    inputs = [args.in_file, sidecar_path(args.in_file), *filter(None, (args.mask, args.wm_mask))]
    problem = output_problem(inputs, [args.out_file, sidecar_path(args.out_file)])
    if problem:
        return error(f"{problem}; choose another output path")
    try:
        model = read_model(args.model)
        contrast = contrast_of(args.in_file)
        if model.contrast and contrast and contrast != model.contrast:
            raise ModelError(f"{args.in_file}: a {contrast} image, the model's references are "
                             f"{model.contrast}; use a model of its contrast")  # fmt: skip
        img, data, mask, source = load_with_mask(args.in_file, args.mask)
        wm = load_mask(args.wm_mask, data.shape) if args.wm_mask else None
        start = time.perf_counter()
        harmonized = model.apply(img, data, mask, wm, args.in_file)
    except (ModelError, ImageError) as err:
        return error(str(err))
    meta = {
        **model.sidecar(),
        "Contrast": model.contrast,
        "Mask": source,
        "MaskVoxels": int(mask.sum()),
        "RuntimeSeconds": round(time.perf_counter() - start, 2),
    }
    try:
        write_image_set({args.out_file: harmonized}, nb.load(args.in_file), meta, sidecar_path(args.out_file))
    except OSError as err:
        return error(
            f"cannot write {args.out_file} ({err.strerror or err}); free space or choose another path", 1
        )
    print(f"{model.harmonizer.label}: harmonized in {meta['RuntimeSeconds']:.1f} s -> {args.out_file}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run ``fit`` or ``apply``; return 0, 1 (a failed write) or 2 (bad input or model)."""
    args = parse_args(argv)
    with terminate_on_signals():
        return fit(args) if args.verb == "fit" else apply(args)


if __name__ == "__main__":
    sys.exit(main())
