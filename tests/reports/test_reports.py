"""Reports: the group table (the paper's Table 1), the spread across sites, the methods text and the
self-check's sentence, from metrics tables and images written here."""

import json

import numpy as np
import pandas as pd
from markupsafe import Markup

from inuprep.reports.citation import methods_section
from inuprep.reports.group import collect_metrics, site_means, site_spread, summary_table, table_key
from inuprep.reports.subject import recommendation


def metrics(folder, name, rows, contrast=None):
    """Write a participant-level metrics table (and its sidecar when ``contrast`` is given)."""
    tsv = folder / name
    tsv.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(tsv, sep="\t", index=False)
    if contrast:
        tsv.with_suffix(".json").write_text(json.dumps({"Contrast": contrast}))
    return tsv


def test_the_group_table_is_mean_and_std_per_method_over_images(tmp_path):
    for subject, cv in (("01", 0.10), ("02", 0.20)):
        rows = [
            {"method": "original", "cv_wm": cv * 2, "cjv": 1.0, "field_gm_wm": 0.0},
            {"method": "n4", "cv_wm": cv, "cjv": 0.5, "field_gm_wm": -cv},
        ]
        metrics(tmp_path, f"sub-{subject}/anat/sub-{subject}_space-T1w_metrics.tsv", rows, "T1w")
    ((key, images),) = collect_metrics(tmp_path).items()
    assert key == "T1w" and sorted(set(images.subject)) == ["01", "02"]
    table = summary_table(images).set_index(["metric", "tissue"])
    assert table.loc[("cv", "wm"), "n4"] == "0.1500(0.0707)"  # mean(std, ddof=1) of 0.1 and 0.2
    assert table.loc[("cv", "wm"), "original"] == "0.3000(0.1414)"
    assert table.loc[("cjv", ""), "n4"] == "0.5000(0.0000)"
    assert table.loc[("field_gm_wm", ""), "n4"] == "-0.1500(0.0707)"  # the signed diagnostic, after CJV
    assert list(table.index.get_level_values(0)) == ["cv", "cjv", "field_gm_wm"]
    assert list(table.columns[1:]) == ["original", "n4"]  # the registry's order, the original first


def test_a_table_without_its_sidecar_is_keyed_by_its_name(tmp_path):
    plain = metrics(tmp_path, "sub-01/anat/sub-01_space-T2w_metrics.tsv", [{"method": "n4"}])
    dixon = metrics(
        tmp_path, "sub-01/anat/sub-01_acq-dixon_rec-fat_space-T1w_metrics.tsv", [{"method": "n4"}]
    )
    assert (table_key(plain), table_key(dixon)) == ("T2w", "dixon-fat")


def test_recommended_counts_the_images_that_recommend_each_method(tmp_path):
    for subject, best in (("01", "n4"), ("02", "n4"), ("03", "zeroshot")):
        rows = [
            {"method": m, "cv_wm": 0.1, "cjv": 0.5, "recommended": int(m == best)} for m in ("n4", "zeroshot")
        ]
        metrics(tmp_path, f"sub-{subject}/anat/sub-{subject}_space-T1w_metrics.tsv", rows, "T1w")
    table = summary_table(collect_metrics(tmp_path)["T1w"]).set_index("metric")
    assert (table.loc["recommended", "n4"], table.loc["recommended", "zeroshot"]) == ("2", "1")
    assert table.loc["recommended", "n_images"] == 3


def test_the_site_spread_is_the_cv_of_the_sites_tissue_means_read_from_the_tables(tmp_path):
    images = pd.DataFrame(
        {"source": ["a", "a", "b", "b", "c"], "method": ["original", "n4"] * 2 + ["n4"],
         "mean_wm": [9.0, 2.0, 9.0, 6.0, 4.0], "mean_gm": [1.0, 1.0, 3.0, 3.0, 5.0]}
    )  # fmt: skip
    entries = []
    for source, site in (("a", "A"), ("b", "B")):  # c: an image without a segmentation, not in the spread
        harmonized = tmp_path / f"{source}_desc-harmonized_T1w.nii.gz"
        harmonized.with_name(f"{source}_desc-harmonized_T1w.json").write_text(
            json.dumps({"TissueMeans": {"WM": 2.0, "GM": 1.0}})
        )
        entries.append({"source": source, "site": site, "files": {"n4": "unread", "harmonized": harmonized}})
    means = site_means(images, entries)
    assert set(means.method) == {"n4", "harmonized"} and set(means.source) == {"a", "b"}  # no original
    table = site_spread(means).set_index("tissue")
    assert list(table.index) == ["wm", "gm"] and set(table.n_images) == {2}
    assert table.loc["wm", "n4"] == f"{np.std([2.0, 6.0], ddof=1) / 4.0:.4f}"  # WM means 2 and 6
    assert table.loc["gm", "harmonized"] == "0.0000"
    assert site_spread(means[means.site == "A"]).empty  # one site: nothing to compare
    assert site_spread(site_means(images.drop(columns=["mean_wm", "mean_gm"]), entries[:1])).empty


def test_the_methods_text_numbers_its_citations_and_escapes_the_rest():
    html = methods_section("Corrected with N4 [@n4] <b>and</b> [@unknown].\n\nAgain N4 [@n4].")
    assert isinstance(html, Markup)
    assert html.count('href="#ref-n4">[1]</a>') == 2 and "&lt;b&gt;" in html and "[@unknown]" in html


def test_the_recommendation_sentence_names_the_method_every_estimate_and_the_deciding_signal():
    assert recommendation({}) is None
    check = {"Recommended": "zeroshot", "EstimatedErrors": {"n4": 0.04, "zeroshot": -0.04},
             "DecidingSignal": "leftover"}  # fmt: skip
    sentence = recommendation({"SelfCheck": check})
    assert sentence.startswith("zero-shot is recommended") and "zero-shot -4.0%, N4 +4.0%" in sentence
    assert "leftover" in sentence


def test_the_citation_files_number_each_reference_once_in_order_of_first_use(tmp_path):
    from pybtex.database import parse_string

    from inuprep.reports.citation import REFERENCES, methods_markdown, write_citation

    text = "Corrected with N4 [@n4] and zero-shot [@zeroshot].\n\nN4 [@n4] again; unknown [@nobody]."
    markdown = methods_markdown(text)
    assert "with N4 [1] and zero-shot [2]" in markdown and "N4 [1] again; unknown [@nobody]" in markdown
    assert markdown.endswith(f"1. {REFERENCES['n4'].text()}\n2. {REFERENCES['zeroshot'].text()}\n")
    assert markdown.count("Tustison NJ, Avants BB, Cook PA, et al. N4ITK") == 1
    assert {"nyul", "whitestripe", "ssimh"} <= set(REFERENCES)  # the harmonizers' too

    # the BibTeX holds the same references, under the keys the text cites, and a BibTeX parser reads it
    write_citation([text, "Tissues by Atropos [@atropos].\n\nN4 [@n4] again; unknown [@nobody]."], tmp_path)
    bib = parse_string((tmp_path / "logs" / "CITATION.bib").read_text(), "bibtex")
    assert list(bib.entries) == ["n4", "zeroshot", "atropos"]
    n4 = bib.entries["n4"]
    assert n4.type == "article" and n4.fields["doi"] == "10.1109/TMI.2010.2046908"
    assert n4.fields["pages"] == "1310--1320" and len(n4.persons["author"]) == 7
    assert str(n4.persons["author"][0]) == "Tustison, Nicholas J."
    assert bib.entries["zeroshot"].fields["eprint"] == "2501.12244"
    assert (tmp_path / "logs" / "CITATION.md").read_text().count("N4 [1] again") == 1  # each paragraph once


def test_every_reference_reads_as_bibtex():
    from pybtex.database import parse_string

    from inuprep.reports.citation import REFERENCES

    bib = parse_string("\n".join(r.bibtex() for r in REFERENCES.values()), "bibtex")
    assert list(bib.entries) == list(REFERENCES)
    for key, entry in bib.entries.items():
        assert entry.fields["title"] and entry.fields["year"].isdigit() and entry.persons["author"], key
        assert REFERENCES[key].text().startswith(str(entry.persons["author"][0]).split(",")[0]), key


def test_the_group_table_of_an_image_is_its_discovered_contrast(tmp_path):
    # a Dixon image told apart by its sidecar's ImageType only, and rec-W: both named by discovery
    named = {
        "sub-01_acq-dixon_run-1_space-T1w_metrics": "dixon-water",
        "sub-01_acq-dixon_rec-W_space-T1w_metrics": "dixon-water",
    }
    for stem, contrast in named.items():
        (tmp_path / f"{stem}.json").write_text(json.dumps({"Contrast": contrast}))
        assert table_key(tmp_path / f"{stem}.tsv") == contrast
    assert table_key(tmp_path / "sub-01_acq-dixon_rec-fat_space-T1w_metrics.tsv") == "dixon-fat"  # no sidecar
    assert table_key(tmp_path / "sub-01_space-T2w_metrics.tsv") == "T2w"
