"""``inuprep-harmonize``: learn a reference group's intensity scale (``fit``), put images on it (``apply``).

    inuprep-harmonize fit --method M --out MODEL_DIR REF1.nii.gz REF2.nii.gz ... [--masks ...] [--dsegs ...]
    inuprep-harmonize apply MODEL_DIR IN.nii.gz OUT.nii.gz [--mask MASK] [--dseg DSEG]
    inuprep-harmonize apply MODEL_DIR IN1 IN2 ... --output-dir DIR --dsegs ... --per-site

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
DSEG_HELP = "a BIDS dseg with its dseg.tsv beside it, e.g. the App's space-T1w_dseg; methods that use them"


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
    fit.add_argument("--dsegs", nargs="+", type=Path, help=f"tissue labels per reference ({DSEG_HELP})")
    fit.add_argument("--contrast", help="the references' contrast (default: their BIDS suffix, e.g. T1w)")
    harmonizer = HARMONIZERS[method]
    group = fit.add_argument_group(f"{harmonizer.label} settings (--method {harmonizer.name})")
    add_options(group, harmonizer.options)
    apply = verbs.add_parser(
        "apply",
        help="put images on a model's intensity scale",
        description="Write IN on the intensity scale of the model's references (same grid and header as IN, "
        "float32) and a JSON sidecar beside it: 'apply MODEL IN OUT', or 'apply MODEL IN [IN ...] "
        "--output-dir DIR' (each output named after its input: desc-harmonized added to a BIDS name, "
        "_harmonized to another). An input that fails is named in one line; the others are still written.",
    )
    apply.add_argument("model", type=Path, help="a model folder written by fit")
    apply.add_argument("files", nargs="+", type=Path, help="IN OUT, or the inputs with --output-dir")
    apply.add_argument("--output-dir", type=Path, help="write every input's output into this folder")
    brain = "brain mask (default: a skull-stripped image's non-zero support, else its Otsu foreground)"
    kinds = (("mask", brain), ("wm-mask", "white-matter mask (methods that use one)"),
             ("dseg", f"tissue labels ({DSEG_HELP})"))  # fmt: skip
    for kind, what in kinds:
        dest = kind.replace("-", "_") + "s"
        apply.add_argument(f"--{kind}", dest=dest, action="append", type=Path, help=f"the input's {what}")
        apply.add_argument(f"--{kind}s", dest=dest, nargs="+", type=Path, help=f"a {what} per input")
    apply.add_argument(
        "--per-site",
        action="store_true",
        help="the inputs are one site's images: anchor them all on their mean tissue medians, so each keeps "
        "its own tissue contrast (the tissue method; give every input's --dsegs)",
    )
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
    from inuprep.image import ImageError, load_with_mask
    from inuprep.runtime import unwritable_reason

    masks = args.masks or [None] * len(args.references)
    wm_masks = args.wm_masks or [None] * len(args.references)
    dsegs = args.dsegs or [None] * len(args.references)
    for option, given in (("--masks", masks), ("--wm-masks", wm_masks), ("--dsegs", dsegs)):
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
    harmonizer = HARMONIZERS[args.method]
    if harmonizer.needs_tissues and not args.dsegs:
        return error(f"{harmonizer.name} anchors on tissues: give each reference's labels (--dsegs DSEG ...)")
    try:
        images, sources = [], []
        for path, mask, wm, dseg in zip(args.references, masks, wm_masks, dsegs, strict=True):
            img, data, brain, source = load_with_mask(path, mask)
            images.append((img, data, brain, tissues_of(harmonizer, data.shape, wm, dseg)))
            sources.append(source)
    except ImageError as err:
        return error(str(err))
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


def tissues_of(harmonizer, shape: tuple, wm: Path | None, dseg: Path | None) -> dict:
    """Return the {tissue: mask} ``harmonizer`` takes, from a white-matter mask and/or a dseg with its table
    beside it (a given WM mask wins); raise ImageError for a file on another grid or without its table."""
    from inuprep.image import ImageError, check_header, load_mask
    from inuprep.segmentation.base import SegmentationError
    from inuprep.segmentation.labels import tissue_masks

    found = {}
    if dseg and harmonizer.tissues:
        check_header(dseg)
        try:
            found = tissue_masks(dseg, harmonizer.tissues, shape=shape)
        except SegmentationError as err:
            raise ImageError(str(err)) from None
    if wm and "WM" in harmonizer.tissues:
        found["WM"] = load_mask(wm, shape)
    if harmonizer.needs_tissues and not dseg:
        raise ImageError(f"{harmonizer.name} anchors on tissues: give the image's labels (--dseg)")
    return found


def output_name(in_file: Path) -> str:
    """Return the name ``apply --output-dir`` gives the output of ``in_file``."""
    from inuprep.utils.bids import derivative_path, split_extension

    try:
        return derivative_path(in_file, desc="harmonized").name
    except (ValueError, KeyError):  # not a BIDS name
        stem, extension = split_extension(in_file.name)
        return f"{stem}_harmonized{extension or '.nii.gz'}"


def apply(args: argparse.Namespace) -> int:
    """Write each input on the model's scale; return the exit code (2 if any input failed)."""
    from inuprep.harmonizers.model import ModelError, read_model
    from inuprep.image import ImageError
    from inuprep.utils.bids import check_unique

    if args.output_dir is None:
        if len(args.files) != 2:
            return error("give one IN and its OUT, or several inputs with --output-dir DIR")
        pairs = [tuple(args.files)]
    else:
        pairs = [(path, args.output_dir / output_name(path)) for path in args.files]
    options = ("masks", "wm_masks", "dsegs")
    given = {option: getattr(args, option) or [None] * len(pairs) for option in options}
    for option, files in given.items():
        if len(files) != len(pairs):
            name = option[:-1].replace("_", "-")
            return error(f"{len(files)} --{name} for {len(pairs)} input(s); give one per input")
    inputs = [(*pair, *files) for pair, *files in zip(pairs, *given.values(), strict=True)]
    try:
        check_unique([out for _, out in pairs])
        model = read_model(args.model)
        anchors = site_anchors(model, inputs) if args.per_site else None
    except (ValueError, ModelError, ImageError) as err:
        return error(str(err))
    failed = [reason for files in inputs if (reason := apply_one(model, *files, anchors))]
    for reason in failed:
        error(reason)
    return (EXIT_FAILED if any(r.startswith("cannot write") for r in failed) else EXIT_INPUT) if failed else 0


def site_anchors(model, inputs: list) -> dict:
    """Return the mean tissue anchors of every input (``--per-site``: one site's images); raise ModelError
    for a method without anchors, ImageError for an input that cannot be read."""
    from inuprep.harmonizers.model import ModelError
    from inuprep.harmonizers.tissue.harmonize import site_mean
    from inuprep.image import load_with_mask

    if not model.harmonizer.needs_tissues:
        raise ModelError(f"--per-site anchors on tissues; {model.folder} is a {model.harmonizer.name} model")
    found = []
    for in_file, _, mask_file, wm_file, dseg in inputs:
        _, data, mask, _ = load_with_mask(in_file, mask_file)
        found.append(model.anchors(data, mask, tissues_of(model.harmonizer, data.shape, wm_file, dseg)))
    return site_mean(found)


def apply_one(model, in_file, out_file, mask_file, wm_file, dseg, anchors=None) -> str:
    """Write ``in_file`` on ``model``'s scale as ``out_file``; return why it could not ('' when written)."""
    import nibabel as nb

    from inuprep.harmonizers.model import ModelError
    from inuprep.image import ImageError, load_with_mask
    from inuprep.utils.io import output_problem, write_image_set

    inputs = [in_file, sidecar_path(in_file), *filter(None, (mask_file, wm_file, dseg))]
    problem = output_problem(inputs, [out_file, sidecar_path(out_file)])
    if problem:
        return f"{problem}; choose another output path"
    try:
        contrast = contrast_of(in_file)
        if model.contrast and contrast and contrast != model.contrast:
            raise ModelError(f"{in_file}: a {contrast} image, the model's references are "
                             f"{model.contrast}; use a model of its contrast")  # fmt: skip
        img, data, mask, source = load_with_mask(in_file, mask_file)
        tissues = tissues_of(model.harmonizer, data.shape, wm_file, dseg)
        start = time.perf_counter()
        harmonized, notes = model.apply(data, mask, tissues, anchors)
    except (ModelError, ImageError) as err:
        return str(err)
    meta = {
        **model.sidecar(),
        **notes,
        "Contrast": model.contrast,
        "Mask": source,
        "MaskVoxels": int(mask.sum()),
        "RuntimeSeconds": round(time.perf_counter() - start, 2),
    }
    try:
        write_image_set({out_file: harmonized}, nb.load(in_file), meta, sidecar_path(out_file))
    except OSError as err:
        return f"cannot write {out_file} ({err.strerror or err}); free space or choose another path"
    print(f"{model.harmonizer.label}: harmonized in {meta['RuntimeSeconds']:.1f} s -> {out_file}")
    return ""


def main(argv: list[str] | None = None) -> int:
    """Run ``fit`` or ``apply``; return 0, 1 (a failed write) or 2 (bad input or model)."""
    args = parse_args(argv)
    with terminate_on_signals():
        return fit(args) if args.verb == "fit" else apply(args)


if __name__ == "__main__":
    sys.exit(main())
