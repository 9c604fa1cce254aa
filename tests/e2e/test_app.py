"""End to end: the App on small real anatomy (MNI152 at 3 mm) with sessions, runs, T2w and a Dixon pair (the
shared run: tests/conftest.py's ``finished_run`` and ``group_run``), and how it fails (test_interrupted.py:
how it stops and resumes)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd
import pytest

from conftest import dixon_pair, inuprep, make_bids, save


def test_participant_run_succeeds(finished_run):
    result, _, out = finished_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 image(s) from 1 participant(s)" in result.stdout
    assert "sub-01: done" in result.stdout
    citation = (out / "logs" / "CITATION.md").read_text()  # the methods paragraph, as fMRIPrep writes it
    assert "Zero-shot bias correction [" in citation and "## References" in citation and "[@" not in citation
    assert "@misc{zeroshot," in (out / "logs" / "CITATION.bib").read_text()  # and its BibTeX
    # progress: each long step and each image with its time; nipype's and ITK's chatter stays off screen
    image = "sub-01 T1w (sub-01_ses-1_run-1_T1w.nii.gz)"
    for step in ("N4 correction", "zero-shot correction", "implicit correction", "tissue masks", "evaluation",
                 "image"):  # fmt: skip
        assert re.search(rf"{re.escape(image)}: {step} done in \d+\.\d s", result.stdout), step
    assert "sub-01 dixon-fat (sub-01_ses-1_acq-dixon_rec-fat_T1w.nii.gz): image done" in result.stdout
    assert "Warning" not in result.stdout + result.stderr and "nipype" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not list(out.rglob("*.tmp"))


def test_outputs_are_indexed_by_pybids(finished_run):
    from bids import BIDSLayout

    _, _, out = finished_run
    layout = BIDSLayout(out, validate=False)
    indexed = {f.path for f in layout.get()}
    written = {str(p) for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert written - indexed == set()
    for method in ("n4", "zeroshot", "implicit"):
        assert len(layout.get(subject="01", desc=method, extension=".nii.gz", suffix=["T1w", "T2w"])) == 6
        assert len(layout.get(subject="01", desc=method, suffix="biasfield", extension=".nii.gz")) == 6
    dseg = layout.get(subject="01", session="1", run=1, suffix="dseg", extension=".nii.gz")
    assert len(dseg) == 1 and dseg[0].entities["space"] == "T1w"


def test_metrics_and_sidecars(finished_run):
    import nibabel as nb

    from inuprep.evaluation.metrics import field_tissue_step, relative_mae, tissue_means, tissue_metrics

    _, bids, out = finished_run
    anat = out / "sub-01/ses-1/anat"
    t1 = pd.read_csv(anat / "sub-01_ses-1_run-1_space-T1w_metrics.tsv", sep="\t")
    assert list(t1.method) == ["original", "n4", "zeroshot", "implicit"]
    check = ["selfcheck_estimate", "recommended"]  # the self-check (--self-check)
    means = ["mean_gm", "mean_wm", "mean_csf"]  # for the group level's site_cv
    step = ["field_gm_wm", "field_gm_wm_detrended"]  # the field's GM/WM step, a diagnostic
    assert list(t1.columns) == [
        "method",
        "segmentation",
        "cv_gm",
        "cv_wm",
        "cv_csf",
        "cjv",
        *step,
        *check,
        *means,
    ]
    assert t1.recommended.tolist().count(1) == 1 and t1.recommended[0] == 0
    assert np.isnan(t1.selfcheck_estimate[0]) and abs(t1.selfcheck_estimate[1:].sum()) < 1e-5  # vs the mean
    recommended = t1.method[t1.selfcheck_estimate.idxmin()]
    assert t1.recommended[t1.method == recommended].item() == 1
    assert set(t1.segmentation) == {"template_priors"}  # the cache given has no deep_atropos files
    # the table is what the written masks give on the source and the written corrected image
    dseg = np.asanyarray(nb.load(anat / "sub-01_ses-1_run-1_space-T1w_dseg.nii.gz").dataobj)
    table = pd.read_csv(anat / "sub-01_ses-1_run-1_space-T1w_dseg.tsv", sep="\t")  # the labels as written
    labels = dict(zip(table["index"], table["name"], strict=True))
    images = [
        bids / "sub-01/ses-1/anat/sub-01_ses-1_run-1_T1w.nii.gz",
        anat / "sub-01_ses-1_run-1_desc-n4_T1w.nii.gz",
        anat / "sub-01_ses-1_run-1_desc-zeroshot_T1w.nii.gz",
        anat / "sub-01_ses-1_run-1_desc-implicit_T1w.nii.gz",
    ]
    for row, image in enumerate(images):
        expected = tissue_metrics(nb.load(image).get_fdata(), dseg, labels, ("WM", "GM"))
        expected |= {
            f"mean_{k.lower()}": v for k, v in tissue_means(nb.load(image).get_fdata(), dseg, labels).items()
        }
        assert t1.loc[row, means].tolist() == pytest.approx([expected[c] for c in means], rel=1e-5)
        assert t1.iloc[row, 2:6].tolist() == pytest.approx([expected[c] for c in t1.columns[2:6]], abs=1e-5)
        source, data = (nb.load(path).get_fdata() for path in (images[0], image))
        removed = np.divide(source, data, out=np.ones_like(data), where=(source > 0) & (data > 0))
        gm, wm = (np.isin(dseg, [k for k, v in labels.items() if v == name]) for name in ("GM", "WM"))
        expected_step = field_tissue_step(removed, gm, wm, (3.0, 3.0, 3.0))
        assert t1.loc[row, step].tolist() == pytest.approx([expected_step[c] for c in step], abs=1e-4)
    water = pd.read_csv(anat / "sub-01_ses-1_acq-dixon_rec-water_space-T1w_metrics.tsv", sep="\t")
    assert list(water.columns) == ["method", "segmentation", "cv_water", "cv_fat", "cjv", *check,
                                   "mean_water", "mean_fat"]  # fmt: skip
    assert set(water.segmentation) == {"dixon_water_fat"}
    t2 = pd.read_csv(anat / "sub-01_ses-1_space-T2w_metrics.tsv", sep="\t")
    assert set(t2.segmentation) == {"T1w"}  # the session's T1w masks, moved rigidly
    ses2 = pd.read_csv(out / "sub-01/ses-2/anat/sub-01_ses-2_space-T1w_metrics.tsv", sep="\t")
    assert "cv_lesion" in ses2.columns and ses2.cv_lesion.notna().all()
    # the known field: the original's error is that of the biased image, each correction gets closer
    known = ["rel_error", "field_corr", "field_slope", "field_residual"]
    assert list(ses2.columns[-11:]) == [
        *known,
        *step,
        *check,
        *means,
    ]  # the lesion is a region: no mean of its own
    t1_ses2, dseg2 = (nb.load(out / f"sub-01/ses-2/anat/sub-01_ses-2{name}").get_fdata() for name in
                      ("_desc-n4_T1w.nii.gz", "_space-T1w_dseg.nii.gz"))  # fmt: skip
    source = nb.load(bids / "sub-01/ses-2/anat/sub-01_ses-2_T1w.nii.gz").get_fdata()
    field = nb.load(next((bids.parent / "masks").rglob("*_biasfield.nii.gz"))).get_fdata()
    brain = dseg2 > 0
    truth = source[brain] / field[brain]
    assert ses2.rel_error[0] == pytest.approx(relative_mae(source[brain], truth), abs=1e-5)
    assert ses2.rel_error[1] == pytest.approx(relative_mae(t1_ses2[brain], truth), abs=1e-5)
    assert (ses2.rel_error[1:] < 0.8 * ses2.rel_error[0]).all() and (ses2.field_corr[1:] > 0.7).all()
    assert ses2.field_slope[0] == 0 and (ses2.field_slope[1:] > 0.6).all()
    assert "rel_error" not in t1.columns  # no field known for the others
    dictionary = json.loads((out / "sub-01/ses-2/anat/sub-01_ses-2_space-T1w_metrics.json").read_text())
    assert "truth" in dictionary["rel_error"]["Description"]
    dseg_sidecar = json.loads((anat / "sub-01_ses-1_run-1_space-T1w_dseg.json").read_text())
    assert dseg_sidecar["SegmentationSource"] == "template_priors"
    assert "missing" in dseg_sidecar["FallbackReason"]
    metrics_sidecar = json.loads((anat / "sub-01_ses-1_run-1_space-T1w_metrics.json").read_text())
    assert metrics_sidecar["SegmentationSource"] == "template_priors"
    assert metrics_sidecar["Contrast"] == "T1w"
    sidecar = json.loads((anat / "sub-01_ses-1_run-1_desc-n4_T1w.json").read_text())
    assert sidecar["BiasCorrectionMethod"] == "N4"
    assert sidecar["BiasCorrectionParameters"]["spline_distance_mm"] == 200.0
    assert sidecar["Sources"] == ["bids:raw:sub-01/ses-1/anat/sub-01_ses-1_run-1_T1w.nii.gz"]
    assert "antspyx" in sidecar["Software"] and sidecar["RuntimeSeconds"] > 0
    labels = (anat / "sub-01_ses-1_run-1_space-T1w_dseg.tsv").read_text().split()
    assert labels == ["index", "name", "tissue", "1", "GM", "GM", "2", "WM", "WM", "3", "CSF", "CSF"]
    assert "tissue" in dseg_sidecar and dseg_sidecar["SpatialReference"] == sidecar["Sources"][0]


def chromium_dom(page):
    """Return the DOM of ``page`` after it loaded in headless Chromium (Debian's package)."""
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
               "--dump-dom", page.as_uri()]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120).stdout


def test_each_subject_report_renders_every_image_in_chromium(finished_run):
    import matplotlib.image

    result, _, out = finished_run
    assert f"(report: {out / 'sub-01.html'})" in result.stdout
    page = out / "sub-01.html"
    sources = re.findall(r'<img src="([^"]+)"', page.read_text())
    # 6 images: views, fields, the zero-shot losses and the self-check for each
    assert len(sources) == 6 * 4 and all(src.startswith("sub-01/figures/") for src in sources)
    for src in sources:
        pixels = matplotlib.image.imread(out / src)
        assert pixels[..., :3].std() > 0.05, f"{src} is blank"
    text = page.read_text()
    for expected in ("template_priors", "dixon_water_fat", "T1w masks", "N4ITK", "Nipype", "PyBIDS",
                     "Zero-shot bias correction", "Implicitly trained bias correction",
                     "implicitly trained CNN", "ANTsPyNet", "antspyx", "cv_wm", "cv_water", "rel_error",
                     "with the field known (a simulation)", "Which correction to trust", "field_gm_wm",
                     "a field that took in the WM core",
                     "A self-check recommended one correction"):  # fmt: skip
        assert expected in text, expected
    dom = chromium_dom(page)
    assert 'data-broken-images="0"' in dom and dom.count("<img") == len(sources)
    # the check can fail: a missing figure is counted and shown
    missing = out / sources[-1]
    missing.rename(missing.with_suffix(".bak"))
    try:
        assert 'data-broken-images="1"' in chromium_dom(page)
    finally:
        missing.with_suffix(".bak").rename(missing)


def test_group_level_writes_table_1_a_figure_and_a_summary(group_run, tmp_path):
    import shutil

    result, bids, finished = group_run
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "out"
    shutil.copytree(finished, out)  # a copy: one image's metrics are removed below
    table = pd.read_csv(out / "group_T1w.tsv", sep="\t", keep_default_na=False)
    assert list(table.columns) == ["metric", "tissue", "n_images", "original", "n4", "zeroshot", "implicit"]
    step = ["field_gm_wm", "field_gm_wm_detrended"]  # the field's GM/WM step, a diagnostic
    assert list(table.metric) == ["cv"] * 4 + ["cjv", "rel_error", *step, "recommended"]
    assert list(table.tissue) == ["gm", "wm", "csf", "lesion"] + [""] * 5  # the lesion mask: ses-2 only
    assert list(table.n_images) == [3, 3, 3, 1, 3, 1, 3, 3, 3]  # three T1w images, one with its field known
    assert table.set_index("metric").loc["field_gm_wm", "original"] == "0.0000(0.0000)"
    # how many of the three T1w images recommend each method (the original is never recommended)
    recommended = table.iloc[-1]
    assert recommended.original == "n/a"
    assert sum(int(recommended[m]) for m in ("n4", "zeroshot", "implicit")) == 3
    images = pd.read_csv(out / "group_T1w_images.tsv", sep="\t")
    zeroshot_wm = images[images.method == "zeroshot"].cv_wm
    wm_row = table.zeroshot[list(table.tissue).index("wm")]
    mean, std = map(float, re.fullmatch(r"(.+)\((.+)\)", wm_row).groups())
    assert (mean, std) == pytest.approx((zeroshot_wm.mean(), zeroshot_wm.std()), abs=1e-4)
    water = pd.read_csv(out / "group_dixon-water.tsv", sep="\t", keep_default_na=False)
    assert list(water.tissue) == ["water", "fat", "", ""]  # cv, cjv, recommended
    assert (out / "group_T2w.tsv").is_file()
    assert set(json.loads((out / "group_T1w.json").read_text())) == set(table.columns)
    page = (out / "group.html").read_text()
    for figure in re.findall(r'<img src="([^"]+)"', page):
        assert (out / figure).stat().st_size > 1000
    assert "Missing" not in page
    # a partial output folder: one image failed; the group level still runs and names it
    (out / "sub-01/ses-2/anat/sub-01_ses-2_space-T1w_metrics.tsv").unlink()
    result = inuprep(bids, out, "group", "-w", tmp_path / "work", cwd=tmp_path)
    assert result.returncode == 0 and "1 image(s) have no metrics" in result.stderr
    assert "sub-01_ses-2_space-T1w" in (out / "group.html").read_text()
    assert set(pd.read_csv(out / "group_T1w.tsv", sep="\t").n_images) == {2}


def test_reports_only_writes_the_pages_again_and_recomputes_nothing(finished_run, tmp_path):
    import shutil

    from conftest import tree_digests

    _, bids, finished = finished_run
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    (out / "sub-01.html").unlink()
    before = tree_digests(out)
    # the finished run's settings file, so that its methods text is the same without retyping its options
    [config] = (out / "logs").glob("inuprep_settings_*.json")
    argv = ["--reports-only", "-w", tmp_path / "work"]
    result = inuprep(bids, out, "participant", *argv, "--config", config, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # the methods paragraph: logs/CITATION.md (compared below with the rest) and the page's own
    methods = re.compile(r"<h2>Methods</h2>(.*?)<h3>References</h3>", re.S)
    [before_text], [after_text] = (
        methods.findall((folder / "sub-01.html").read_text()) for folder in (finished, out)
    )
    assert "Zero-shot bias correction" in before_text and after_text == before_text
    assert "sub-01: done (report:" in result.stdout and "done in" not in result.stdout  # no step ran
    assert "<img" in (out / "sub-01.html").read_text()
    assert {k: v for k, v in tree_digests(out).items() if k != "sub-01.html"} == before
    assert not (tmp_path / "work" / "inuprep_wf").exists()
    # the group level: the tables and the page again, no model fitted
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps({"t1w": {"session": "1"}}))
    harmonize = ["--harmonize-fit", "nyul", "--harmonize-reference", reference]
    group = inuprep(bids, out, "group", *argv, *harmonize, cwd=tmp_path)
    assert group.returncode == 0 and (out / "group.html").is_file(), group.stdout + group.stderr
    assert not (out / "harmonization").exists()


def test_an_acquisition_saved_with_and_without_prescan_normalize_is_judged_on_its_measured_field(
    tmp_path, shared_data
):
    """The Prisma pair, with no option but the methods: the image without Prescan Normalize gets the
    measured-field columns (source / the normalised image), in its metrics, its report and the group table.
    N4, four times the others' time here, is checked against the same field in tests/methods/test_n4.py."""
    anat = tmp_path / "bids" / "sub-prisma3t" / "anat"
    anat.mkdir(parents=True)
    for path in (shared_data / "bids" / "sub-prisma3t" / "anat").glob("*.nii.gz"):
        (anat / path.name).write_bytes(path.read_bytes())
    description = {"Name": "prisma", "BIDSVersion": "1.10.0"}
    (tmp_path / "bids" / "dataset_description.json").write_text(json.dumps(description))
    out = tmp_path / "out"
    methods = ["zeroshot", "implicit"]
    argv = ["-w", tmp_path / "work", "--methods", *methods]
    result = inuprep(tmp_path / "bids", out, "participant", *argv, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    folder = out / "sub-prisma3t" / "anat"
    raw, normalised = "sub-prisma3t_acq-noprescannorm", "sub-prisma3t_acq-prescannorm"
    table = pd.read_csv(folder / f"{raw}_space-T1w_metrics.tsv", sep="\t").set_index("method")
    assert not any(
        c.startswith("measured_")
        for c in pd.read_csv(folder / f"{normalised}_space-T1w_metrics.tsv", sep="\t")
    )
    brain = np.asanyarray(nb.load(folder / f"{raw}_space-T1w_dseg.nii.gz").dataobj) > 0
    source, scanner = (nb.load(anat / f"{name}_T1w.nii.gz").get_fdata()[brain] for name in (raw, normalised))
    keep = (source > 0) & (scanner > 0)  # as the metrics: where the field is defined
    measured = np.log(source[keep] / scanner[keep])
    assert table.loc["original", "measured_field_residual"] == pytest.approx(measured.std(), rel=1e-4)
    assert set(table.index) == {"original", *methods}
    assert (
        table.loc[methods, "measured_field_residual"] < table.loc["original", "measured_field_residual"]
    ).all()
    assert (table.loc[methods, "measured_field_corr"] > 0.5).all()
    sidecar = json.loads((folder / f"{raw}_space-T1w_metrics.json").read_text())
    assert sidecar["MeasuredField"]["Reference"] == f"{normalised}_T1w.nii.gz"
    assert "measured_field_residual" in (out / "sub-prisma3t.html").read_text()
    result = inuprep(tmp_path / "bids", out, "group", "-w", tmp_path / "work", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    group = pd.read_csv(out / "group_T1w.tsv", sep="\t").set_index("metric")
    assert group.loc["measured_field_residual", "n_images"] == 1


def test_a_failed_segmentation_keeps_the_corrections_and_the_other_images(tmp_path):
    water, fat = dixon_pair()
    bids = make_bids(tmp_path / "bids", {"sub-01/anat/sub-01_T1w.nii.gz": water}, np.diag([3.0, 3, 3, 1]))
    save(water, bids / "sub-01/anat/sub-01_acq-dixon_rec-water_T1w.nii.gz", np.diag([3.0, 3, 3, 1]))
    save(fat, bids / "sub-01/anat/sub-01_acq-dixon_rec-fat_T1w.nii.gz", np.diag([3.0, 3, 3, 1]))
    out = tmp_path / "out"
    result = inuprep(bids, out, "participant", "-w", tmp_path / "work", "--methods", "implicit", cwd=tmp_path)
    text = result.stdout + result.stderr
    assert result.returncode == 1, text
    assert "Traceback" not in text
    assert "sub-01: FAILED" in text and "SegmentationError: brain extraction found" in text  # not a brain
    anat = out / "sub-01/anat"
    assert (anat / "sub-01_desc-implicit_T1w.nii.gz").is_file() and not (
        anat / "sub-01_space-T1w_metrics.tsv"
    ).exists()
    assert (anat / "sub-01_acq-dixon_rec-fat_space-T1w_metrics.tsv").is_file()
    report = (out / "sub-01.html").read_text()  # its methods: what ran, not a fixed text
    assert "Implicitly trained bias correction" in report and "Zero-shot" not in report and "N4" not in report
    assert "water fraction" in report
    (tmp_path / "masks/sub-01/anat").mkdir(parents=True)
    (tmp_path / "masks/sub-01/anat/sub-01_dseg.nii.gz").write_bytes(b"")
    result = inuprep(bids, out, "participant", "--derivatives", tmp_path / "masks", cwd=tmp_path)
    assert result.returncode == 2 and "no label table" in result.stderr and "Traceback" not in result.stderr


def test_a_figure_that_cannot_be_drawn_is_a_warning_not_a_failure(tmp_path):
    water, fat = dixon_pair()
    bids = make_bids(tmp_path / "bids", {}, None)
    save(water, bids / "sub-01/anat/sub-01_acq-dixon_rec-water_T1w.nii.gz", np.diag([3.0, 3, 3, 1]))
    save(fat, bids / "sub-01/anat/sub-01_acq-dixon_rec-fat_T1w.nii.gz", np.diag([3.0, 3, 3, 1]))
    out = tmp_path / "out"
    (out / "sub-01").mkdir(parents=True)
    (out / "sub-01" / "figures").write_text("a file where the figures folder goes")
    result = inuprep(bids, out, "participant", "-w", tmp_path / "work", "--methods", "implicit", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if "a report figure could not be drawn" in line]
    assert len(warnings) == 2 and all("details: " in line for line in warnings), result.stderr
    assert "sub-01: done (report:" in result.stdout and "Traceback" not in result.stderr
    assert (out / "sub-01/anat/sub-01_acq-dixon_rec-fat_space-T1w_metrics.tsv").is_file()


def test_the_console_script_exits_2_with_one_line_on_an_input_error(tmp_path):
    """One case as the installed command (the others: tests/cli/test_input_errors.py, in-process)."""
    bids = make_bids(tmp_path / "bids", {"sub-01/anat/sub-01_T1w.nii.gz": None})
    command = [Path(sys.executable).with_name("inuprep"), bids, tmp_path / "out", "participant",
               "--participant-label", "09"]  # fmt: skip
    result = subprocess.run(
        list(map(str, command)), capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "09 not found" in result.stderr
    assert result.stdout == "" and not (tmp_path / "out").exists()


def test_a_workflow_that_stops_without_crash_files_fails_every_participant(tmp_path):
    bids = make_bids(tmp_path / "bids", {f"sub-0{i}/anat/sub-0{i}_T1w.nii.gz": None for i in (1, 2)})
    plugin = tmp_path / "plugin.yml"
    plugin.write_text("plugin: MultiProc\nplugin_args: {n_procs: 0}\n")  # no worker pool can start
    result = inuprep(bids, tmp_path / "out", "participant", "--use-plugin", plugin, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    for subject in ("sub-01", "sub-02"):
        assert f"{subject}: FAILED: not processed: the workflow stopped (" in result.stderr
    assert "done" not in result.stdout and "Traceback" not in result.stderr
