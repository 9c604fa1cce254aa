"""Issue 45: the corrections on raw heads (skull, scalp fat and neck in the image), judged on tissue labels
that no correction made.

Every image is put on a 2 mm grid (``--zoom``) and corrected by each method with its defaults and the
default mask (the Otsu foreground of a head), in this process, as ``inuprep-correct`` would:

- ``philips3t``: the real Philips 3T MPRAGE as acquired (full head, not bias-corrected); GM / WM are its FSL
  FAST maps (p > 0.9 on this grid), made by another tool from the uncorrected scan.
- ``philips3t+<family><strength>s<seed>``: the same times a simulated field of that family (max/min
  ``strength`` inside the head) and Rician noise. The scan's own field is unknown, so the truth is
  differential: each method's field on this image over its field on the scan as acquired is compared with
  the added one (``field_slope``, ``field_corr``).
- ``colin27+<family><strength>s<seed>``: Colin27's full head (ch2, an average of 27 scans, taken as
  unbiased) times a field; GM / WM from a 3-class Atropos fit of its brain-extracted image ch2bet (p > 0.9);
  the truth is the field itself (``rel_error`` in the brain, ``field_slope``).

Columns: ``cjv`` (GM / WM, the decision), the GM-minus-WM difference of the log-field as is and with its
8 mm trend removed (``inuprep.evaluation.metrics.field_tissue_step``: a diagnostic), the error against a
known field, seconds. The summary prints each method's mean CJV, its wins against N4 per case family, and
issue 45's raw-head targets as met / MISSED.

The split is fixed before any tuning. ``--split tuning`` is what a zero-shot objective may be tuned on:
Colin27 with polynomial, B-spline and coil fields, strength 2 with seeds 1-2 and strength 3 with seed 3 (the
last added when the held-out split showed an objective tuned at strength 2 alone giving way to strong
fields). ``--split held-out`` is what a report is read from: the real Philips head as acquired and with
every family, plain linear gradients included, at strengths 1.5 and 3, seed 51; Colin27 with linear
gradients.

    python benchmarks/raw_heads.py --split held-out
    python benchmarks/raw_heads.py --split tuning --zeroshot field_smoothing_mm=60
    python benchmarks/raw_heads.py --cases philips3t colin27+linear2s51 --methods n4 zeroshot
"""

import argparse
import re
import time
from dataclasses import fields as dataclass_fields
from dataclasses import replace

import nibabel as nb
import numpy as np
import pandas as pd
from zeroshot_vs_n4 import DATA

SPLITS = {
    "tuning": [f"colin27+{f}{r}" for f in ("polynomial", "bspline", "coil") for r in ("2s1", "2s2", "3s3")],
    "held-out": ["philips3t"]
    + [f"philips3t+{f}{r}s51" for f in ("linear", "polynomial", "bspline", "coil") for r in ("1.5", "3")]
    + ["colin27+linear1.5s51", "colin27+linear3s51"],
}
CASE = re.compile(r"(?P<anatomy>philips3t|colin27)(\+(?P<family>[a-z]+)(?P<strength>[\d.]+)s(?P<seed>\d+))?$")


def on_grid(img: nb.Nifti1Image, zoom: float) -> np.ndarray:
    """Return ``img``'s data resampled (continuous) onto an isotropic ``zoom`` mm grid."""
    from nilearn.image import resample_img

    target = np.diag([zoom] * 3)
    resampled = resample_img(img, target_affine=target, interpolation="continuous", force_resample=True,
                             copy_header=True)  # fmt: skip
    return np.clip(resampled.get_fdata(dtype=np.float32), 0, None)


def load_anatomy(name: str, zoom: float) -> dict:
    """Return the head (clean for colin27), its GM / WM masks and its brain on a ``zoom`` mm grid."""
    if name == "philips3t":
        derivatives = DATA / "derivatives" / "sub-philips3t" / "anat"
        head = on_grid(nb.load(DATA / "bids" / "sub-philips3t" / "anat" / "sub-philips3t_T1w.nii.gz"), zoom)
        gm, wm = (
            on_grid(nb.load(derivatives / f"sub-philips3t_label-{t}_probseg.nii.gz"), zoom) > 0.9
            for t in ("GM", "WM")
        )
        brain = on_grid(nb.load(derivatives / "sub-philips3t_desc-brain_mask.nii.gz"), zoom) > 0.5
        return {"head": head, "gm": gm, "wm": wm, "brain": brain, "clean": False}
    from inuprep.segmentation.antspyx import atropos_classes

    folder = DATA / "templates" / "colin27_mricron"
    head, stripped = (on_grid(nb.load(folder / name), zoom) for name in ("ch2.nii.gz", "ch2bet.nii.gz"))
    brain = stripped > 0.01 * stripped.max()
    _, probs = atropos_classes(stripped, (zoom,) * 3, brain, 3)
    return {"head": head, "gm": probs[1] > 0.9, "wm": probs[2] > 0.9, "brain": brain, "clean": True}


def case_image(anatomy: dict, match: re.Match) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the case's image and the field added to the head (None: the scan as acquired)."""
    if match["family"] is None:
        return anatomy["head"], None
    from inuprep.image import foreground_mask
    from inuprep.simulation.fields import simulate_bias

    field, image = simulate_bias(anatomy["head"], float(match["strength"]), int(match["seed"]),
                                 match["family"], mask=foreground_mask(anatomy["head"]))  # fmt: skip
    return image, field


def correct(image: np.ndarray, zoom: float, method: str, zeroshot: dict, threads: int):
    """Return (corrected, field, seconds) of ``method`` with its defaults (zero-shot: and ``zeroshot``)."""
    from inuprep.image import default_mask
    from inuprep.methods import METHODS

    if method == "original":
        return image, np.ones_like(image), 0.0
    settings = METHODS[method].settings()
    if method == "zeroshot":
        settings = replace(settings, **zeroshot)
    zooms = (zoom,) * 3
    mask, _ = default_mask(image)
    start = time.perf_counter()
    corrected, field, _ = METHODS[method].run(image, zooms, mask, settings.resolved(zooms), threads, "cpu")
    return corrected, field, time.perf_counter() - start


def scores(anatomy, corrected, field, zoom, added, acquired_field) -> dict[str, float]:
    """Return CJV, the field's tissue step and, with a known field, the error against it."""
    from inuprep.evaluation.metrics import (
        coefficient_of_joint_variation,
        field_fit,
        field_tissue_step,
        known_field_metrics,
    )

    gm, wm, brain = anatomy["gm"], anatomy["wm"], anatomy["brain"]
    row = {"cjv": coefficient_of_joint_variation(corrected[wm], corrected[gm])}
    row |= field_tissue_step(field, gm, wm, (zoom,) * 3)
    if added is None:
        return row
    inside = brain & (field > 0) & (acquired_field > 0)
    if anatomy["clean"]:
        image = corrected * field  # what the method was given
        known = known_field_metrics(image[inside], corrected[inside], added[inside])
        return row | {k: known[k] for k in ("rel_error", "field_slope", "field_corr")}
    fit = field_fit(field[inside] / acquired_field[inside], added[inside])  # differential truth
    return row | {"field_slope": fit["field_slope"], "field_corr": fit["field_corr"]}


def parse_zeroshot(pairs: list[str]) -> dict:
    """Return {setting: value} from KEY=VALUE pairs, each value of its setting's type."""
    from inuprep.methods.zeroshot.settings import ZeroShotSettings

    types = {f.name: type(f.default) for f in dataclass_fields(ZeroShotSettings)}
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in types:
            raise SystemExit(
                f"raw_heads.py: error: no zero-shot setting '{key}'; use one of {', '.join(types)}"
            )
        out[key] = types[key](value)
    return out


def summary(table: pd.DataFrame, methods: list[str]) -> None:
    """Print each method's means, its CJV wins against N4 per family, and issue 45's raw-head targets."""
    table = table.assign(family=table.case.str.replace(r"[\d.]+s\d+$", "", regex=True))
    cjv = table.pivot(index="case", columns="method", values="cjv")
    print("\nmean per method:")
    print(table.groupby("method")[[c for c in table.columns if table[c].dtype.kind == "f"]].mean()
          .reindex(methods).round(4).to_string())  # fmt: skip
    if "n4" not in cjv:
        return
    families = table.drop_duplicates("case").set_index("case").family
    for method in [m for m in methods if m not in ("original", "n4")]:
        wins = (cjv[method] < cjv["n4"]).groupby(families).agg(["sum", "count"])
        per_family = ", ".join(f"{f} {w}/{n}" for f, (w, n) in wins.iterrows())
        print(f"{method}: CJV below N4's in {int((cjv[method] < cjv['n4']).sum())}/{len(cjv)} ({per_family})")
    if {"zeroshot", "implicit"} <= set(cjv):
        share = float((cjv.zeroshot < cjv.n4).mean())
        print(f"target: zero-shot's CJV below N4's in >= 2/3 of cases: {share:.2f}: "
              f"{'met' if share >= 2 / 3 else 'MISSED'}")  # fmt: skip
        zs, im = cjv.zeroshot.mean(), cjv.implicit.mean()
        print(f"target: zero-shot's mean CJV no higher than implicit's: {zs:.4f} vs {im:.4f}: "
              f"{'met' if zs <= im else 'MISSED'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=list(SPLITS), default="held-out")
    parser.add_argument("--cases", nargs="+", help="instead of a split (names as the docstring's)")
    parser.add_argument("--methods", nargs="+", default=["original", "n4", "zeroshot", "implicit"])
    parser.add_argument("--zeroshot", nargs="+", default=[], metavar="KEY=VALUE", help="zero-shot settings")
    parser.add_argument("--zoom", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="write the table as TSV")
    args = parser.parse_args()
    cases = args.cases or SPLITS[args.split]
    zeroshot = parse_zeroshot(args.zeroshot)
    anatomies, acquired, rows, threads = {}, {}, [], args.threads
    for case in cases:
        match = CASE.match(case)
        if match is None:
            raise SystemExit(f"raw_heads.py: error: unknown case '{case}'; e.g. philips3t+linear2s51")
        name = match["anatomy"]
        if name not in anatomies:
            anatomies[name] = load_anatomy(name, args.zoom)
        anatomy = anatomies[name]
        image, added = case_image(anatomy, match)
        for method in args.methods:
            if added is not None and not anatomy["clean"] and (name, method) not in acquired:
                _, acquired[name, method], _ = correct(anatomy["head"], args.zoom, method, zeroshot, threads)
            corrected, field, seconds = correct(image, args.zoom, method, zeroshot, threads)
            reference = acquired.get((name, method)) if not anatomy["clean"] else np.ones_like(field)
            row = scores(anatomy, corrected, field, args.zoom, added, reference)
            rows.append({"case": case, "method": method, **row, "seconds": seconds})
            print("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in rows[-1].items()), flush=True)  # fmt: skip
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, sep="\t", index=False)
    summary(table, args.methods)


if __name__ == "__main__":
    main()
