"""The runner of every correction method, in a process of its own: ``inuprep-correct`` and the workflows'
correction nodes (``python -m inuprep.methods.run``) alike.

torch and antspyx are imported only by the method that runs, after the arguments are checked.
"""

import argparse
import sys
import time
from pathlib import Path

from inuprep import __version__
from inuprep.methods import METHODS
from inuprep.options import add_options, settings_from_args
from inuprep.runtime import terminate_on_signals
from inuprep.utils.bids import sidecar_path
from inuprep.utils.io import output_problem, write_image_set

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
DEFAULT_METHOD = "zeroshot"


def build_parser(method: str = DEFAULT_METHOD) -> argparse.ArgumentParser:
    """Return the parser of ``inuprep-correct IN OUT [options]`` with ``method``'s settings as options."""
    parser = argparse.ArgumentParser(
        prog="inuprep-correct",
        description="Correct the bias field of one 3D NIfTI image. Writes OUT (same shape, affine and header "
        "as IN, float32) and a JSON sidecar beside it with the method, its settings, losses and runtime. "
        "Each method has settings of its own: inuprep-correct --method M --help lists M's.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("in_file", type=Path, help="the image to correct")
    parser.add_argument("out_file", type=Path, help="the corrected image (.nii or .nii.gz)")
    parser.add_argument("--method", choices=list(METHODS), default=DEFAULT_METHOD, help="the correction")
    parser.add_argument("--field", type=Path, help="also write the multiplicative field (IN ~ OUT x FIELD)")
    parser.add_argument("--mask", type=Path, help="restrict the fit to this mask (default: a skull-stripped "
                        "image's non-zero support, else its Otsu foreground)")  # fmt: skip
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="torch device (the torch methods)")  # fmt: skip
    parser.add_argument("--num-threads", type=int, default=1, help="CPU threads for torch or ITK")
    entry = METHODS[method]
    group = parser.add_argument_group(f"{entry.label} settings (--method {entry.name})")
    add_options(group, entry.options)
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the arguments, parsed with the options of the method that ``--method`` names."""
    method = argparse.ArgumentParser(add_help=False)
    method.add_argument("--method", choices=list(METHODS), default=DEFAULT_METHOD)
    name = method.parse_known_args(argv)[0].method
    parser = build_parser(name)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        owners = [m.name for m in METHODS.values() if any(o.flag == unknown[0] for o in m.options)]
        fix = f"it is a setting of --method {' or '.join(owners)}" if owners else "see --help"
        parser.error(f"unrecognized arguments: {' '.join(unknown)} (with --method {name}; {fix})")
    return args


def main(argv: list[str] | None = None) -> int:
    """Correct one image; return 0, 2 for bad input or 1 for a failed write (a one-line error, no output)."""
    with terminate_on_signals():  # SIGTERM from a scheduler or the App: finally blocks run
        return correct(argv)


def correct(argv: list[str] | None) -> int:
    """Parse ``argv``, correct the image and write the outputs; return the exit code."""
    args = parse_args(argv)
    outputs = [args.out_file] + ([args.field] if args.field is not None else [])
    inputs = [args.in_file, sidecar_path(args.in_file)] + ([args.mask] if args.mask else [])
    problem = output_problem(inputs, [*outputs, sidecar_path(args.out_file)])
    if problem:
        print(f"inuprep-correct: error: {problem}; choose another output path", file=sys.stderr)
        return EXIT_INPUT
    import nibabel as nb

    from inuprep.image import ImageError, load_with_mask

    try:
        img, data, mask, source = load_with_mask(args.in_file, args.mask)
    except ImageError as err:
        print(f"inuprep-correct: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    zooms = img.header.get_zooms()[:3]
    start = time.perf_counter()
    method = METHODS[args.method]
    settings = settings_from_args(method.settings, args).resolved(zooms)
    steps = getattr(settings, "iterations", 0)

    def report(step, loss):  # a line at each quarter of an optimisation, for the terminal and logs
        if step % max(1, steps // 4) == 0 or step == steps:
            elapsed = time.perf_counter() - start
            print(f"{method.label}: step {step}/{steps}, loss {loss:.4f}, {elapsed:.1f} s", flush=True)

    corrected, field, extra = method.run(data, zooms, mask, settings, args.num_threads, args.device, report)
    meta = {"BiasCorrectionMethod": method.label, **extra, "BiasCorrectionParameters": settings.to_dict()}
    if args.mask is None:  # a given mask is the caller's to record
        meta["Mask"] = f"default: {source}, {int(mask.sum())} voxels"
    meta["ThreadsUsed"] = args.num_threads
    meta["RuntimeSeconds"] = round(time.perf_counter() - start, 2)
    print(f"{meta['BiasCorrectionMethod']}: corrected in {meta['RuntimeSeconds']:.1f} s", flush=True)
    images = dict(zip(outputs, [corrected, field], strict=False))
    try:
        write_image_set(images, nb.load(args.in_file), meta, sidecar_path(args.out_file))
    except OSError as err:  # no output set is left half written
        folder = Path(err.filename).parent if err.filename else args.out_file.parent
        print(f"inuprep-correct: error: cannot write into {folder} ({err.strerror or err}); free space or "
              "choose another output path", file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
