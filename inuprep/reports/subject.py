"""The per-subject HTML report: for every image its masks, metrics and figures, then the methods."""

import html
import json
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from inuprep.harmonizers import HARMONIZERS
from inuprep.inputs.images import ImageRun
from inuprep.methods import LABELS, METHODS
from inuprep.reports import figures, render
from inuprep.utils.bids import figure_path, output_paths, sidecar_path
from inuprep.utils.io import atomic_write_text

SOFTWARE = ("inuprep", "torch", "antspyx", "antspynet", "deepbet", "nipype", "pybids", "nibabel", "nilearn")
CITATIONS = {
    **dict(method.citation for method in METHODS.values()),
    **dict(harmonizer.citation for harmonizer in HARMONIZERS.values()),
    "antsx": "Tustison NJ, et al. The ANTsX ecosystem for quantitative biological and medical imaging. "
    "Scientific Reports 11:9068, 2021 (antspyx, ANTsPyNet deep_atropos).",
    "atropos": "Avants BB, et al. An open source multivariate framework for n-tissue segmentation with "
    "evaluation on public data (Atropos). Neuroinformatics 9:381-400, 2011.",
    "deepbet": "Fisch L, et al. deepbet: fast brain extraction of T1-weighted MRI using convolutional neural "
    "networks. Computers in Biology and Medicine 179, 2024.",
    "pybids": "Yarkoni T, et al. PyBIDS: Python tools for BIDS datasets. JOSS 4(40):1294, 2019.",
    "nipype": "Gorgolewski K, et al. Nipype: a flexible, lightweight and extensible neuroimaging data "
    "processing framework in Python. Front Neuroinform 5:13, 2011.",
    "cjv": "Ganzetti M, Wenderoth N, Mantini D. Intensity inhomogeneity correction of structural MR images: "
    "a data-driven approach to define input algorithm parameters. Front Neuroinform 10:10, 2016 (CJV).",
}
_CITE = re.compile(r"\[@(\w+)\]")


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
        table["method"] = table["method"].map(lambda m: LABELS.get(m, m))
        section["metrics"] = table.to_html(
            index=False, border=0, float_format="{:.4f}".format, classes="metrics"
        )

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


def citation_numbers(text: str) -> dict[str, int]:
    """Return {key: number} of the CITATIONS ``text`` cites (``[@key]``), numbered in order of first use."""
    cited = dict.fromkeys(key for key in _CITE.findall(text) if key in CITATIONS)
    return {key: index for index, key in enumerate(cited, start=1)}


def methods_section(text: str) -> Markup:
    """Return the HTML of the methods text (paragraphs apart by a blank line; ``[@key]`` cites CITATIONS)."""
    number = citation_numbers(text)

    def link(match):
        key = match.group(1)
        return f'<a href="#ref-{key}">[{number[key]}]</a>' if key in number else match.group(0)

    # the text is escaped before the links go in, so the links are the only markup
    paragraphs = [Markup(_CITE.sub(link, html.escape(p))) for p in text.split("\n\n")]
    references = [(key, CITATIONS[key]) for key in number]
    return Markup(render("methods.html", paragraphs=paragraphs, references=references))


def methods_markdown(text: str) -> str:
    """Return the methods text as Markdown with numbered citations and their references
    (``logs/CITATION.md``, as fMRIPrep writes it; the same text and references as the reports')."""
    number = citation_numbers(text)
    body = _CITE.sub(lambda m: f"[{number[m.group(1)]}]" if m.group(1) in number else m.group(0), text)
    references = "\n".join(f"{index}. {CITATIONS[key]}" for key, index in number.items())
    return f"# Methods\n\n{body}\n\n## References\n\n{references}\n"


def write_citation(texts: list[str], output_dir: Path) -> Path:
    """Write ``logs/CITATION.md``: the methods paragraphs of every participant of the run, each once."""
    paragraphs = dict.fromkeys(p for text in texts for p in text.split("\n\n") if p.strip())
    return atomic_write_text(methods_markdown("\n\n".join(paragraphs)), output_dir / "logs" / "CITATION.md")


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
