"""What a run cites: the methods text's ``[@key]`` citations, numbered for the reports, ``logs/CITATION.md``
and ``logs/CITATION.bib`` (as fMRIPrep writes them), all from the same
:class:`~inuprep.utils.references.Reference` objects."""

import html
import re
from pathlib import Path

from markupsafe import Markup

from inuprep.harmonizers import HARMONIZERS
from inuprep.methods import METHODS
from inuprep.reports import render
from inuprep.utils.io import atomic_write_text
from inuprep.utils.references import Reference

_TOOLS = (
    Reference(
        key="antsx",
        authors=(
            "Tustison, Nicholas J.",
            "Cook, Philip A.",
            "Holbrook, Andrew J.",
            "Johnson, Hans J.",
            "others",
        ),
        title="The ANTsX ecosystem for quantitative biological and medical imaging",
        venue="Scientific Reports",
        year=2021,
        volume="11",
        pages="9068",
        doi="10.1038/s41598-021-87564-6",
        note="antspyx, ANTsPyNet deep_atropos",
    ),
    Reference(
        key="atropos",
        authors=("Avants, Brian B.", "Tustison, Nicholas J.", "Wu, Jue", "Cook, Philip A.", "Gee, James C."),
        title="An open source multivariate framework for n-tissue segmentation with evaluation on public "
        "data",
        venue="Neuroinformatics",
        year=2011,
        volume="9",
        number="4",
        pages="381-400",
        doi="10.1007/s12021-011-9109-y",
    ),
    Reference(
        key="deepbet",
        authors=("Fisch, Lukas", "Zumdick, Stefan", "Barkhau, Carlotta", "others"),
        title="deepbet: fast brain extraction of T1-weighted MRI using convolutional neural networks",
        venue="Computers in Biology and Medicine",
        year=2024,
        volume="179",
        pages="108845",
        doi="10.1016/j.compbiomed.2024.108845",
    ),
    Reference(
        key="mni152",
        authors=("Fonov, Vladimir", "Evans, Alan C.", "Botteron, Kelly", "others"),
        title="Unbiased average age-appropriate atlases for pediatric studies",
        venue="NeuroImage",
        year=2011,
        volume="54",
        number="1",
        pages="313-327",
        doi="10.1016/j.neuroimage.2010.07.033",
        note="the MNI152 2009a template nilearn ships",
    ),
    Reference(
        key="pybids",
        authors=("Yarkoni, Tal", "Markiewicz, Christopher J.", "de la Vega, Alejandro", "others"),
        title="PyBIDS: Python tools for BIDS datasets",
        venue="Journal of Open Source Software",
        year=2019,
        volume="4",
        number="40",
        pages="1294",
        doi="10.21105/joss.01294",
    ),
    Reference(
        key="nipype",
        authors=(
            "Gorgolewski, Krzysztof",
            "Burns, Christopher D.",
            "Madison, Cindee",
            "Clark, Dav",
            "Halchenko, Yaroslav O.",
            "Waskom, Michael L.",
            "Ghosh, Satrajit S.",
        ),
        title="Nipype: a flexible, lightweight and extensible neuroimaging data processing framework in "
        "Python",
        venue="Frontiers in Neuroinformatics",
        year=2011,
        volume="5",
        pages="13",
        doi="10.3389/fninf.2011.00013",
    ),
    Reference(
        key="cjv",
        authors=("Ganzetti, Marco", "Wenderoth, Nicole", "Mantini, Dante"),
        title="Intensity inhomogeneity correction of structural MR images: a data-driven approach to define "
        "input algorithm parameters",
        venue="Frontiers in Neuroinformatics",
        year=2016,
        volume="10",
        pages="10",
        doi="10.3389/fninf.2016.00010",
        note="the coefficient of joint variation, CJV",
    ),
)
#: every reference a methods text may cite, by key
REFERENCES = {
    reference.key: reference
    for reference in (
        *(method.citation for method in METHODS.values()),
        *(harmonizer.citation for harmonizer in HARMONIZERS.values()),
        *_TOOLS,
    )
}
_CITE = re.compile(r"\[@(\w+)\]")


def citation_numbers(text: str) -> dict[str, int]:
    """Return {key: number} of the REFERENCES ``text`` cites (``[@key]``), numbered in order of first use."""
    cited = dict.fromkeys(key for key in _CITE.findall(text) if key in REFERENCES)
    return {key: index for index, key in enumerate(cited, start=1)}


def methods_section(text: str) -> Markup:
    """Return the HTML of the methods text (paragraphs apart by a blank line; ``[@key]`` cites REFERENCES)."""
    number = citation_numbers(text)

    def link(match):
        key = match.group(1)
        return f'<a href="#ref-{key}">[{number[key]}]</a>' if key in number else match.group(0)

    # the text is escaped before the links go in, so the links are the only markup
    paragraphs = [Markup(_CITE.sub(link, html.escape(p))) for p in text.split("\n\n")]
    references = [(key, REFERENCES[key].text()) for key in number]
    return Markup(render("methods.html", paragraphs=paragraphs, references=references))


def methods_markdown(text: str) -> str:
    """Return the methods text as Markdown with numbered citations and their references (``logs/CITATION.md``;
    the same text and references as the reports')."""
    number = citation_numbers(text)
    body = _CITE.sub(lambda m: f"[{number[m.group(1)]}]" if m.group(1) in number else m.group(0), text)
    references = "\n".join(f"{index}. {REFERENCES[key].text()}" for key, index in number.items())
    return f"# Methods\n\n{body}\n\n## References\n\n{references}\n"


def methods_bibtex(text: str) -> str:
    """Return the BibTeX entries of the references the methods text cites, in order of first use
    (``logs/CITATION.bib``; its keys are the text's ``[@key]``)."""
    return "\n".join(REFERENCES[key].bibtex() for key in citation_numbers(text))


def write_citation(texts: list[str], output_dir: Path) -> Path:
    """Write ``logs/CITATION.md`` and ``logs/CITATION.bib``: the methods paragraphs of every participant of
    the run, each once, and what they cite; return the Markdown's path."""
    text = "\n\n".join(dict.fromkeys(p for text in texts for p in text.split("\n\n") if p.strip()))
    atomic_write_text(methods_bibtex(text), output_dir / "logs" / "CITATION.bib")
    return atomic_write_text(methods_markdown(text), output_dir / "logs" / "CITATION.md")
