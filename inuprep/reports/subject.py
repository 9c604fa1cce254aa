"""The per-subject HTML report: for every image its masks, metrics and figures, then the methods."""

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from inuprep.inputs.images import ImageRun
from inuprep.methods import LABELS
from inuprep.reports import figures, render
from inuprep.reports.citation import methods_section
from inuprep.utils.bids import figure_path, output_paths, sidecar_path
from inuprep.utils.io import atomic_write_text

SOFTWARE = ("inuprep", "torch", "antspyx", "antspynet", "deepbet", "nipype", "pybids", "nibabel", "nilearn")


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def image_section(run: ImageRun, methods: tuple[str, ...], output_dir: Path) -> dict:
    """Return what ``subject.html`` shows of one image: its masks, metrics and the figures its workflow drew
    (:class:`inuprep.interfaces.reports.ImageFigures`)."""
    paths = {key: output_dir / path for key, path in output_paths(run, methods).items()}
    section = {"title": f"{run.label}: {run.path.name}", "unfinished": None, "figures": []}
    corrected = {m: paths[f"{m}_file"] for m in methods if paths[f"{m}_file"].is_file()}
    if len(corrected) < len(methods) or not paths["metrics_tsv"].is_file():
        section["unfinished"] = ", ".join(corrected) or "none"
    if not paths["dseg_file"].is_file():
        return section
    seg = json.loads(sidecar_path(paths["dseg_file"]).read_text())
    reason = f" Deep model not used: {seg['FallbackReason']}." if seg.get("FallbackReason") else ""
    section["masks"] = {
        "source": seg["SegmentationSource"],
        "method": seg["SegmentationMethod"],
        "reason": reason,
    }
    if paths["metrics_json"].is_file():
        section["recommendation"] = recommendation(json.loads(paths["metrics_json"].read_text()))
    if paths["metrics_tsv"].is_file():
        table = pd.read_csv(paths["metrics_tsv"], sep="\t").drop(columns="segmentation", errors="ignore")
        table = table.drop(columns=[c for c in table.columns if c.startswith("mean_")])  # for the group level
        table["method"] = table["method"].map(lambda m: LABELS.get(m, m))
        section["metrics"] = table.to_html(
            index=False, border=0, float_format="{:.4f}".format, classes="metrics"
        )
        section["field_step"] = "field_gm_wm" in table.columns

    for kind, caption in figures.IMAGE_FIGURES.items():
        path = output_dir / figure_path(run.path, kind)
        if path.is_file():
            section["figures"].append({"src": str(path.relative_to(output_dir)), "caption": caption})
    return section


def recommendation(dictionary: dict) -> str | None:
    """Return the self-check's sentence of a metrics data dictionary (None: no check was run)."""
    check = dictionary.get("SelfCheck")
    if not check:
        return None
    estimates = ", ".join(
        f"{LABELS[m]} {e:+.1%}" for m, e in sorted(check["EstimatedErrors"].items(), key=lambda x: x[1])
    )
    return (
        f"{LABELS[check['Recommended']]} is recommended for this image: the lowest estimated error against "
        f"the methods' mean ({estimates}), decided mostly by the {check['DecidingSignal']} signal. The "
        "estimate sees what each correction left in this image; its weights were fitted on simulations, and "
        "how often it picks the truly best method is measured in benchmarks/recommendation.py."
    )


def write_subject_report(
    subject: str,
    runs: list[ImageRun],
    methods: tuple[str, ...],
    output_dir: Path,
    failures: list[str],
    methods_text: str = "",
) -> Path:
    """Write ``<output_dir>/sub-<subject>.html``, showing the figures under ``sub-<subject>/figures/``.

    ``methods_text``: what was done, from the workflows that ran (``inuprep.workflows.base.methods_text``).
    """
    sections = []
    for run in runs:
        try:
            sections.append(image_section(run, methods, output_dir))
        except Exception as err:  # one image's section must not cost the others their report
            sections.append({"name": run.path.name, "error": f"{type(err).__name__}: {err}"})
    page = render(
        "subject.html",
        subject=subject,
        failures=failures,
        sections=sections,
        methods=methods_section(methods_text) if methods_text else "",
        software=[(name, _version(name)) for name in SOFTWARE],
    )
    return atomic_write_text(page, output_dir / f"sub-{subject}.html")
