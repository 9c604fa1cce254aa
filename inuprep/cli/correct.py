"""``inuprep-correct``: correct one NIfTI image with the zero-shot network, N4 or the implicit network.

torch is imported inside ``main`` only, so nipype workflows can run this in its own process.
"""

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from inuprep.methods import METHODS
from inuprep.runtime import terminate_on_signals, unwritable_reason
from inuprep.utils.bids import sidecar_path
from inuprep.utils.io import replacing, write_json
from inuprep.zeroshot.fit import VARIANTS

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``inuprep-correct IN OUT [options]``."""
    parser = argparse.ArgumentParser(
        prog="inuprep-correct",
        description="Correct the bias field of one 3D NIfTI image. Writes OUT (same shape, affine and header "
        "as IN, float32) and a JSON sidecar beside it with the method, its settings, losses and runtime.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("in_file", type=Path, help="the image to correct")
    parser.add_argument("out_file", type=Path, help="the corrected image (.nii or .nii.gz)")
    parser.add_argument("--method", choices=list(METHODS), default="zeroshot", help="the correction")
    parser.add_argument("--field", type=Path, help="also write the multiplicative field (IN ~ OUT x FIELD)")
    parser.add_argument("--mask", type=Path, help="restrict the fit to this mask (default: the foreground)")
    parser.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="torch device (zeroshot, implicit)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the zero-shot optimisation")
    parser.add_argument("--variant", choices=VARIANTS, default=VARIANTS[0],
                        help="zero-shot variant: N4's sharpening target or the entropy of the histogram, "
                        "each with a smooth log-field, or the paper's losses as printed")  # fmt: skip
    parser.add_argument("--iterations", type=int, default=0,
                        help="zero-shot optimisation steps (0: the variant's, 250, 200 or 100)")  # fmt: skip
    parser.add_argument("--learning-rate", type=float, default=0.0,
                        help="zero-shot Adam step (0: the variant's, 0.02 or 0.005; the paper used 0.0005 "
                        "for Dixon images)")  # fmt: skip
    parser.add_argument("--num-threads", type=int, default=1, help="CPU threads for torch or ITK")
    return parser


def save_atomically(data, reference, path: Path) -> None:
    """Write ``data`` as float32 on the reference's grid and header, through a temporary file."""
    from inuprep.utils.io import save_like

    with replacing(path, suffix="".join(path.suffixes) or ".nii") as tmp:
        save_like(data, reference, tmp)


def overwritten_input(args: argparse.Namespace) -> Path | None:
    """Return the first output path (image, field, sidecar) that is an input or its sidecar, else None."""
    inputs = [args.in_file, sidecar_path(args.in_file)] + ([args.mask] if args.mask else [])
    outputs = [args.out_file, sidecar_path(args.out_file)] + ([args.field] if args.field else [])
    taken = {path.resolve() for path in inputs}
    return next((path for path in outputs if path.resolve() in taken), None)


def main(argv: list[str] | None = None) -> int:
    """Correct one image; return 0, 2 for bad input or 1 for a failed write (a one-line error, no output)."""
    with terminate_on_signals():  # SIGTERM from a scheduler or the App: finally blocks run
        return correct(argv)


def correct(argv: list[str] | None) -> int:
    """Parse ``argv``, correct the image and write the outputs; return the exit code."""
    args = build_parser().parse_args(argv)
    outputs = [args.out_file] + ([args.field] if args.field is not None else [])
    clash = overwritten_input(args)
    unwritable = {path.parent: unwritable_reason(path.parent) for path in outputs}
    where = next((folder for folder, reason in unwritable.items() if reason), None)
    if clash or where:
        problem = f"{clash} would overwrite an input" if clash else f"{where} {unwritable[where]}"
        print(f"inuprep-correct: error: {problem}; choose another output path", file=sys.stderr)
        return EXIT_INPUT
    import nibabel as nb
    import numpy as np

    from inuprep.image import ImageError, check_header, foreground_mask, load_checked

    try:
        img = load_checked(args.in_file)
        data = img.get_fdata(dtype=np.float32)
        if args.mask is not None:
            mask_img = check_header(args.mask)
            if mask_img.shape[:3] != data.shape:
                raise ImageError(
                    f"{args.mask}: mask shape {mask_img.shape} differs from the image's {data.shape}"
                )
            mask = np.asanyarray(mask_img.dataobj).reshape(data.shape) > 0
        else:
            mask = foreground_mask(data)
        if not mask.any():
            raise ImageError(f"{args.in_file}: no foreground found; give a --mask")
    except ImageError as err:
        print(f"inuprep-correct: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    zooms = img.header.get_zooms()[:3]
    start = time.perf_counter()
    method = METHODS[args.method]
    settings = method.settings(**{option: getattr(args, option) for option in method.options}).resolved(zooms)
    steps = getattr(settings, "iterations", 0)

    def report(step, loss):  # a line at each quarter of an optimisation, for the terminal and logs
        if step % max(1, steps // 4) == 0 or step == steps:
            elapsed = time.perf_counter() - start
            print(f"{method.label}: step {step}/{steps}, loss {loss:.4f}, {elapsed:.1f} s", flush=True)

    corrected, field, extra = method.correct(
        data, zooms, mask, settings, args.num_threads, args.device, report
    )
    meta = {"BiasCorrectionMethod": method.label, **extra, "BiasCorrectionParameters": settings.to_dict()}
    meta["RuntimeSeconds"] = round(time.perf_counter() - start, 2)
    print(f"{meta['BiasCorrectionMethod']}: corrected in {meta['RuntimeSeconds']:.1f} s", flush=True)
    reference = nb.load(args.in_file)
    new = [path for path in [*outputs, sidecar_path(args.out_file)] if not path.exists()]
    try:
        with ThreadPoolExecutor(len(outputs)) as pool:  # gzip releases the GIL: both files at once
            images = zip([corrected, field][: len(outputs)], outputs, strict=True)
            jobs = [pool.submit(save_atomically, image, reference, path) for image, path in images]
            for job in jobs:
                job.result()
        write_json(meta, sidecar_path(args.out_file))
    except OSError as err:  # a full disk, a folder gone: no output set is left half written
        for path in new:
            path.unlink(missing_ok=True)
        folder = Path(err.filename).parent if err.filename else args.out_file.parent
        print(f"inuprep-correct: error: cannot write into {folder} ({err.strerror or err}); free space or "
              "choose another output path", file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
