"""``inuprep-recommend IN``: which correction to trust for this image (the self-check of
:mod:`inuprep.evaluation.selfcheck`), in a process of its own like every correction (``python -m
inuprep.evaluation.run`` is the App's ``selfcheck`` node).

Every method corrects the image and copies of it under known probe fields on a coarse grid; the one that
recovers them best is recommended. Prints a line per method; ``--json`` also writes the check.
"""

import argparse
import sys
from pathlib import Path

from inuprep.methods import METHODS
from inuprep.runtime import terminate_on_signals
from inuprep.utils.io import output_problem

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inuprep-recommend",
        description="Recommend a bias correction for one 3D NIfTI image: each method corrects the image "
        "(subsampled onto a 4 mm grid) under known probe fields, and the one that recovers them best is "
        "recommended. Each method runs with its defaults.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("in_file", type=Path, help="the image to check")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
                        help="the corrections to compare (two at least)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the check here (errors per method and probe)")
    parser.add_argument("--mask", type=Path, help="the image's mask (default: a skull-stripped image's "
                        "non-zero support, else its Otsu foreground)")  # fmt: skip
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
    except ImageError as err:
        print(f"inuprep-recommend: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    check = self_check(data, zooms, mask, correctors(names, args.seed, args.num_threads, args.device))
    for name, error in check.mean_errors().items():
        slope = sum(check.slopes[name]) / len(check.slopes[name])
        mark = "  <- recommended" if name == check.recommended else ""
        print(f"{METHODS[name].label:10s} error on known fields {error:.2%}, field slope {slope:.2f}{mark}")
    print(f"self-check: {len(check.probes)} probe fields, {check.seconds:.1f} s", flush=True)
    if args.json is not None:
        try:
            write_json({**check.to_dict(), "Sources": [str(args.in_file)], "Mask": source}, args.json)
        except OSError as err:
            print(
                f"inuprep-recommend: error: cannot write {args.json} ({err.strerror or err})", file=sys.stderr
            )
            return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
