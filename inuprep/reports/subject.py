"""The per-subject HTML report: for every image, before/after views, fields, masks, metrics and losses."""

import html
import json
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from inuprep.inputs.images import ImageRun
from inuprep.methods import LABELS, METHODS
from inuprep.reports import figures
from inuprep.segmentation import read_label_table
from inuprep.utils.bids import derivative_path, output_paths, sidecar_path
from inuprep.utils.io import atomic_write_text, replacing

SOFTWARE = ("inuprep", "torch", "antspyx", "antspynet", "deepbet", "nipype", "pybids", "nibabel", "nilearn")
CITATIONS = {
    **dict(method.citation for method in METHODS.values()),
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
_BROKEN_IMAGES = (
    "<script>window.addEventListener('load',()=>{const bad=[...document.images].filter("
    "i=>!i.complete||i.naturalWidth===0);document.body.dataset.brokenImages=bad.length;"
    "bad.forEach(i=>i.insertAdjacentHTML('afterend','<p class=\"failed\">image missing: '+"
    "i.getAttribute('src')+'</p>'))});</script>"
)


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def image_section(run: ImageRun, methods: tuple[str, ...], output_dir: Path, figures_dir: Path) -> str:
    """Return the HTML of one image's section, drawing its figures into ``figures_dir``."""
    paths = {key: output_dir / path for key, path in output_paths(run, methods).items()}
    parts = [f"<h2>{html.escape(run.label)}: {html.escape(run.path.name)}</h2>"]
    corrected = {m: paths[f"{m}_file"] for m in methods if paths[f"{m}_file"].is_file()}
    if len(corrected) < len(methods) or not paths["metrics_tsv"].is_file():
        done = ", ".join(corrected) or "none"
        parts.append(f'<p class="failed">This image did not finish (corrections written: {done}); the '
                     "subject's log names the reason.</p>")  # fmt: skip
    if not paths["dseg_file"].is_file():
        return "".join(parts)
    seg = json.loads(sidecar_path(paths["dseg_file"]).read_text())
    reason = f" Deep model not used: {seg['FallbackReason']}." if seg.get("FallbackReason") else ""
    parts.append(f"<p><b>Tissue masks</b> ({html.escape(seg['SegmentationSource'])}): "
                 f"{html.escape(seg['SegmentationMethod'])}.{html.escape(reason)}</p>")  # fmt: skip
    if paths["metrics_tsv"].is_file():
        table = pd.read_csv(paths["metrics_tsv"], sep="\t").drop(columns="segmentation", errors="ignore")
        table["method"] = table["method"].map(lambda m: LABELS.get(m, m))
        parts.append(table.to_html(index=False, border=0, float_format="{:.4f}".format, classes="metrics"))

    def figure(kind, draw, caption):  # draw into sub-<label>/figures/, atomically; return its <figure>
        path = figures_dir / derivative_path(run.path, desc=kind, extension=".png").name
        with replacing(path) as tmp:
            draw(tmp)
        src, caption = html.escape(str(path.relative_to(output_dir))), html.escape(caption)
        return f'<figure><img src="{src}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'

    _, tissues = read_label_table(paths["dseg_tsv"])
    images = {"original": run.path, **corrected}
    parts.append(
        figure(
            "views",
            lambda f: figures.views_figure(images, paths["dseg_file"], tissues, f),
            "Original and corrected images in three planes on one intensity window (each scaled "
            "to the original's median in the masks), with the outlines of the evaluated tissues.",
        )
    )
    fields = {m: paths[f"{m}_field"] for m in corrected if paths[f"{m}_field"].is_file()}
    if fields:
        parts.append(
            figure(
                "fields",
                lambda f: figures.fields_figure(fields, paths["dseg_file"], f),
                "Estimated multiplicative fields (source = corrected x field), each divided by "
                "its median in the masks, on one colour scale.",
            )
        )
    losses = (
        json.loads(sidecar_path(paths["zeroshot_file"]).read_text()).get("Losses")
        if "zeroshot" in corrected
        else None
    )
    if losses:
        parts.append(
            figure(
                "losses",
                lambda f: figures.losses_figure(losses, f),
                "Zero-shot loss at every optimisation step.",
            )
        )
    return "".join(parts)  # fmt: skip


def methods_section(text: str) -> str:
    """Return the HTML of the methods text (paragraphs apart by a blank line; ``[@key]`` cites CITATIONS)."""
    cited = list(dict.fromkeys(key for key in _CITE.findall(text) if key in CITATIONS))
    number = {key: index for index, key in enumerate(cited, start=1)}

    def link(match):
        key = match.group(1)
        return f'<a href="#ref-{key}">[{number[key]}]</a>' if key in number else match.group(0)

    paragraphs = "".join(f"<p>{_CITE.sub(link, html.escape(p))}</p>" for p in text.split("\n\n"))
    references = "".join(f'<li id="ref-{key}">{html.escape(CITATIONS[key])}</li>' for key in cited)
    return f"<h2>Methods</h2>{paragraphs}<h3>References</h3><ol>{references}</ol>"


def write_subject_report(
    subject: str,
    runs: list[ImageRun],
    methods: tuple[str, ...],
    output_dir: Path,
    failures: list[str],
    methods_text: str = "",
) -> Path:
    """Write ``<output_dir>/sub-<subject>.html`` and its figures under ``sub-<subject>/figures/``.

    ``methods_text``: what was done, from the workflows that ran (``inuprep.workflows.base.methods_text``).
    """
    figures_dir = output_dir / f"sub-{subject}" / "figures"  # made by the first figure written
    sections = []
    for run in runs:
        try:
            sections.append(f"<section>{image_section(run, methods, output_dir, figures_dir)}</section>")
        except Exception as err:  # one image's figures must not cost the others their report
            sections.append(f'<section><h2>{html.escape(run.path.name)}</h2><p class="failed">Report '
                            f"section failed: {html.escape(type(err).__name__)}: {html.escape(str(err))}</p>"
                            "</section>")  # fmt: skip
    failed = "".join(f"<li>{html.escape(reason)}</li>" for reason in failures)
    status = f'<p class="failed">Failed:</p><ul>{failed}</ul>' if failures else "<p>Every image finished.</p>"
    software = "".join(f"<li>{name} {html.escape(_version(name))}</li>" for name in SOFTWARE)
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>inuprep: sub-{html.escape(subject)}</title>"
        "<style>body{font-family:sans-serif;max-width:64em;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse;margin:0.5em 0}td,th{padding:0.2em 0.8em;text-align:right}"
        "img{max-width:100%}figure{margin:1em 0}figcaption{color:#555;font-size:0.9em}"
        ".failed{color:#b00020;font-weight:bold}section{border-top:1px solid #ccc;margin-top:2em}</style>"
        f"</head><body><h1>inuprep report: sub-{html.escape(subject)}</h1>{status}{''.join(sections)}"
        f"<section>{methods_section(methods_text) if methods_text else ''}<h3>Software</h3>"
        f"<ul>{software}</ul></section>{_BROKEN_IMAGES}</body></html>\n"
    )
    return atomic_write_text(page, output_dir / f"sub-{subject}.html")
