"""``inuprep-harmonize``: fit on references of one protocol, apply to an image of another, read back."""

import json
import shutil

import nibabel as nb
import numpy as np
import pandas as pd
import pytest

from inuprep.harmonizers import HARMONIZERS
from inuprep.harmonizers.model import MODEL_FILE
from inuprep.harmonizers.run import main, output_name
from inuprep.segmentation.labels import tissue_masks
from inuprep.utils.mni152 import mni152

#: two protocols: tissue levels (CSF, GM, WM) and a power applied after partial voluming
PROTOCOLS = {"target": ((250.0, 550.0, 850.0), 1.0), "source": ((60.0, 420.0, 600.0), 0.8)}


@pytest.fixture(scope="module")
def subjects(tmp_path_factory):
    """Four subjects (the MNI152 anatomy with its own noise) rendered in both protocols, with brain masks."""
    t1, gm, wm = (img.get_fdata(dtype=np.float32) for img in mni152(3.0, ("T1", "GM", "WM")))
    affine = mni152(3.0)[0].affine
    brain = t1 > 0.05 * t1.max()
    csf = np.clip(brain - gm - wm, 0, 1)
    root = tmp_path_factory.mktemp("harmonize")
    files = {}
    for seed in range(1, 5):
        texture = 1 + 0.03 * np.random.default_rng(seed).standard_normal(t1.shape)  # the subject's own
        for protocol, (levels, power) in PROTOCOLS.items():
            tissue = (csf * levels[0] + gm * levels[1] + wm * levels[2]) * texture
            data = np.where(brain, np.clip(tissue, 0, None) ** power, 0).astype(np.float32)
            path = root / protocol / f"sub-{seed:02d}_T1w.nii.gz"
            path.parent.mkdir(exist_ok=True)
            nb.Nifti1Image(data, affine).to_filename(path)
            files[protocol, seed] = path
        files["mask", seed] = root / f"sub-{seed:02d}_mask.nii.gz"
        nb.Nifti1Image(brain.astype(np.uint8), affine).to_filename(files["mask", seed])
        files["wm", seed] = root / f"sub-{seed:02d}_label-WM_mask.nii.gz"
        nb.Nifti1Image((brain & (wm > 0.9)).astype(np.uint8), affine).to_filename(files["wm", seed])
        files["dseg", seed] = write_dseg(root / f"sub-{seed:02d}_dseg.nii.gz", (csf, gm, wm), brain, affine)
    return root, files


def write_dseg(path, fractions, brain, affine):
    """Write the labels 1 CSF, 2 GM, 3 WM (the largest fraction in the brain) and their table beside them."""
    labels = np.where(brain, np.argmax(np.stack(fractions), axis=0) + 1, 0).astype(np.uint8)
    nb.Nifti1Image(labels, affine).to_filename(path)
    path.with_name(path.name.replace(".nii.gz", ".tsv")).write_text(
        "index\tname\ttissue\n1\tCSF\tCSF\n2\tGM\tGM\n3\tWM\tWM\n"
    )
    return path


def tissue_args(method, files, seeds, option="--dsegs"):
    """Return the labels a method anchored on tissues is given (none for the others)."""
    return [option, *(str(files["dseg", s]) for s in seeds)] if HARMONIZERS[method].needs_tissues else []


def relative_error(path, truth_path, mask):
    image, truth = nb.load(path).get_fdata()[mask], nb.load(truth_path).get_fdata()[mask]
    return float(np.abs(image - truth).mean() / truth.mean())


@pytest.mark.parametrize("method", list(HARMONIZERS))
def test_a_source_image_comes_closer_to_its_target_rendering(subjects, tmp_path, method, capsys):
    root, files = subjects
    refs = [str(files["target", seed]) for seed in (1, 2, 3)]
    masks = [str(files["mask", seed]) for seed in (1, 2, 3)]
    model = tmp_path / "model"
    labels = tissue_args(method, files, (1, 2, 3))
    assert main(["fit", "--method", method, "--out", str(model), *refs, "--masks", *masks, *labels]) == 0
    record = json.loads((model / MODEL_FILE).read_text())
    assert record["HarmonizationMethod"] == method and record["Contrast"] == "T1w"
    assert [r["name"] for r in record["References"]] == [f"sub-0{n}_T1w.nii.gz" for n in (1, 2, 3)]
    out = tmp_path / "sub-04_desc-harmonized_T1w.nii.gz"
    args = ["apply", str(model), str(files["source", 4]), str(out), "--mask", str(files["mask", 4])]
    code = main([*args, *tissue_args(method, files, (4,), "--dseg")])
    assert code == 0, capsys.readouterr().err
    mask = nb.load(files["mask", 4]).get_fdata() > 0
    before = relative_error(files["source", 4], files["target", 4], mask)
    after = relative_error(out, files["target", 4], mask)
    assert after < 0.5 * before, (before, after)  # nyul 0.79 -> 0.007, whitestripe 0.055, ssimh 0.19
    sidecar = json.loads(out.with_name("sub-04_desc-harmonized_T1w.json").read_text())
    assert sidecar["HarmonizationMethod"] == HARMONIZERS[method].label and sidecar["Model"] == str(model)
    assert nb.load(out).shape == nb.load(files["source", 4]).shape


@pytest.mark.parametrize("method", list(HARMONIZERS))
def test_a_fit_is_deterministic(subjects, tmp_path, method):
    _, files = subjects
    refs = [str(files["target", seed]) for seed in (1, 2)]
    for name in ("a", "b"):
        labels = tissue_args(method, files, (1, 2))
        assert main(["fit", "--method", method, "--out", str(tmp_path / name), *refs, *labels]) == 0
    files_a = json.loads((tmp_path / "a" / MODEL_FILE).read_text())["Files"]
    assert files_a == json.loads((tmp_path / "b" / MODEL_FILE).read_text())["Files"] and files_a


def test_whitestripe_takes_the_stripe_from_a_white_matter_mask(subjects, tmp_path):
    _, files = subjects
    refs, wms = [str(files["target", n]) for n in (1, 2)], [str(files["wm", n]) for n in (1, 2)]
    model, out = tmp_path / "model", tmp_path / "out.nii.gz"
    assert main(["fit", "--method", "whitestripe", "--out", str(model), *refs, "--wm-masks", *wms]) == 0
    assert (
        main(["apply", str(model), str(files["source", 4]), str(out), "--wm-mask", str(files["wm", 4])]) == 0
    )
    wm = nb.load(files["wm", 4]).get_fdata() > 0
    harmonized, target = nb.load(out).get_fdata()[wm], nb.load(files["target", 4]).get_fdata()[wm]
    assert abs(np.median(harmonized) / np.median(target) - 1) < 0.02
    assert (
        main(["fit", "--method", "whitestripe", "--out", str(tmp_path / "m2"), *refs, "--wm-masks", wms[0]])
        == 2
    )


def atrophied(root, files, name="sub-05", gm_level=None, top=0.7):
    """Render, in both protocols, a subject whose upper brain has CSF where the references have GM (its
    tissue shares are not theirs; each tissue's own signal is), with its labels; ``gm_level``: its own GM
    level in the source protocol (biology)."""
    t1, gm, wm = (img.get_fdata(dtype=np.float32) for img in mni152(3.0, ("T1", "GM", "WM")))
    affine, brain = nb.load(files["mask", 1]).affine, nb.load(files["mask", 1]).get_fdata() > 0
    upper = np.zeros(brain.shape, bool)
    upper[..., int(top * brain.shape[2]) :] = True  # above ``top`` of the grid's height
    csf = np.clip(brain - gm - wm, 0, 1) + gm * upper
    gm = gm * ~upper
    texture = 1 + 0.03 * np.random.default_rng(5).standard_normal(t1.shape)
    out = {}
    for protocol, (levels, power) in PROTOCOLS.items():
        if gm_level and protocol == "source":
            levels = (levels[0], gm_level, levels[2])
        tissue = (csf * levels[0] + gm * levels[1] + wm * levels[2]) * texture
        out[protocol] = root / f"{name}_{protocol}_T1w.nii.gz"
        data = np.where(brain, np.clip(tissue, 0, None) ** power, 0).astype(np.float32)
        nb.Nifti1Image(data, affine).to_filename(out[protocol])
    out["dseg"] = write_dseg(root / f"{name}_dseg.nii.gz", (csf, gm, wm), brain, affine)
    return out


def tissue_medians(path, dseg):
    data, labels = nb.load(path).get_fdata(), np.asarray(nb.load(dseg).dataobj)
    return np.array([np.median(data[labels == k]) for k in (1, 2, 3)])


def test_the_tissue_method_puts_each_tissue_where_the_references_have_it(subjects, tmp_path, capsys):
    """A brain with more CSF than the references: Nyul matches its percentiles, so its tissues land off
    the target's scale; the tissue method maps its own medians onto the references' and its sidecar says
    so. Labels in the wrong order keep Nyul's result and say why; no labels at all are refused."""
    root, files = subjects
    refs, masks = [str(files["target", s]) for s in (1, 2, 3)], [str(files["mask", s]) for s in (1, 2, 3)]
    fit = ["fit", "--out", str(tmp_path / "nyul"), *refs, "--masks", *masks]
    assert main(fit) == 0
    fit = ["fit", "--method", "tissue", "--out", str(tmp_path / "tissue"), *refs, "--masks", *masks]
    assert main(fit) == 2 and "give each reference's labels (--dsegs" in capsys.readouterr().err
    assert main([*fit, *tissue_args("tissue", files, (1, 2, 3))]) == 0
    subject = atrophied(tmp_path, files)
    mask = ["--mask", str(files["mask", 1])]
    errors = {}
    for method in ("nyul", "tissue"):  # its tissue shares within 0.1 of the references': anchored
        out = tmp_path / f"{method}.nii.gz"
        labels = ["--dseg", str(subject["dseg"])] if method == "tissue" else []
        assert main(["apply", str(tmp_path / method), str(subject["source"]), str(out), *mask, *labels]) == 0
        ratio = tissue_medians(out, subject["dseg"]) / tissue_medians(subject["target"], subject["dseg"])
        errors[method] = np.abs(ratio - 1)
    # nyul: CSF, GM, WM off by 9.3, 1.1, 0.04 %; tissue: 4.0 (its CSF voxels are purer), 0.07, 0.16 %
    assert errors["tissue"][0] < 0.6 * errors["nyul"][0] and errors["tissue"][1] < 0.2 * errors["nyul"][1], (
        errors
    )
    assert errors["tissue"].max() < 0.05, errors
    sidecar = json.loads((tmp_path / "tissue.json").read_text())
    assert sidecar["HarmonizationMethod"] == "Tissue-anchored Nyul"
    assert sidecar["TissueAnchors"] == "its own tissue medians mapped onto the references'"
    assert list(sidecar["TissueMedians"]) == ["CSF", "GM", "WM"]
    swapped = tmp_path / "swapped_dseg.nii.gz"  # GM and WM labels exchanged: not the references' order
    shutil.copy(subject["dseg"], swapped)
    swapped.with_name("swapped_dseg.tsv").write_text(
        "index\tname\ttissue\n1\tCSF\tCSF\n2\tWM\tWM\n3\tGM\tGM\n"
    )

    def anchors(source, dseg, name):
        """Apply the tissue model to ``source`` with ``dseg``; return the output and its TissueAnchors."""
        out = tmp_path / f"{name}.nii.gz"
        assert (
            main(["apply", str(tmp_path / "tissue"), str(source), str(out), *mask, "--dseg", str(dseg)]) == 0
        )
        return out, json.loads((tmp_path / f"{name}.json").read_text())["TissueAnchors"]

    out, reason = anchors(subject["source"], swapped, "fallback")
    np.testing.assert_array_equal(nb.load(out).get_fdata(), nb.load(tmp_path / "nyul.nii.gz").get_fdata())
    assert reason == (
        "none, Nyul's mapping alone: its tissue order (CSF < WM < GM) is not the references' (CSF < GM < WM)"
    )
    far = atrophied(tmp_path, files, "sub-08", top=0.45)  # CSF where the references have GM
    _, reason = anchors(far["source"], far["dseg"], "far")
    assert reason.startswith(
        "none, Nyul's mapping alone: its labels give a tissue a share of the brain far from"
    )
    no_table = tmp_path / "lone_dseg.nii.gz"
    shutil.copy(subject["dseg"], no_table)
    args = ["apply", str(tmp_path / "tissue"), str(subject["source"]), str(tmp_path / "x.nii.gz"), *mask]
    assert main([*args, "--dseg", str(no_table)]) == 2
    assert "no label table lone_dseg.tsv beside it" in capsys.readouterr().err
    assert main(args) == 2 and "give the image's labels (--dseg)" in capsys.readouterr().err
    assert not (tmp_path / "x.nii.gz").exists()


def test_per_site_anchors_keep_each_subjects_own_contrast(subjects, tmp_path, capsys):
    """Two subjects of one site whose GM differs (biology): anchored one by one, both GM medians land on the
    references'; anchored as a site, one map serves both and the difference between them stays."""
    root, files = subjects
    refs = [str(files["target", s]) for s in (1, 2, 3)]
    model = tmp_path / "model"
    assert (
        main(
            [
                "fit",
                "--method",
                "tissue",
                "--out",
                str(model),
                *refs,
                *tissue_args("tissue", files, (1, 2, 3)),
            ]
        )
        == 0
    )
    site = [atrophied(tmp_path, files, f"sub-0{n}", level) for n, level in ((6, 400.0), (7, 460.0))]
    inputs = [str(s["source"]) for s in site]
    dsegs = ["--dsegs", *(str(s["dseg"]) for s in site)]
    gm = {}
    for mode, extra in (("alone", []), ("site", ["--per-site"])):
        out = tmp_path / mode
        assert main(["apply", str(model), *inputs, "--output-dir", str(out), *dsegs, *extra]) == 0, (
            capsys.readouterr().err
        )
        outputs = [out / output_name(subject["source"]) for subject in site]
        gm[mode] = [tissue_medians(o, subject["dseg"])[1] for o, subject in zip(outputs, site, strict=True)]
    assert abs(gm["alone"][0] / gm["alone"][1] - 1) < 0.01  # each on the references' GM: contrast gone
    assert gm["site"][1] / gm["site"][0] > 1.05  # the second subject's brighter GM kept
    sidecar = json.loads(next((tmp_path / "site").glob("*.json")).read_text())
    assert sidecar["TissueAnchors"] == "the site's mean tissue medians mapped onto the references'"
    assert (
        main(["apply", str(tmp_path / "model"), *inputs, "--output-dir", str(tmp_path / "x"), "--per-site"])
        == 2
    )


def test_bad_models_and_inputs_are_refused_in_one_line(subjects, tmp_path, capsys):
    _, files = subjects
    model, source = tmp_path / "model", str(files["source", 4])
    assert main(["fit", "--out", str(model), str(files["target", 1]), str(files["target", 2])]) == 0
    assert main(["fit", "--out", str(model), str(files["target", 1])]) == 2  # the folder exists
    capsys.readouterr()

    def refused(*argv, message):
        code = main(list(map(str, argv)))
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "out.nii.gz").exists()

    refused(
        "apply", tmp_path / "nowhere", source, tmp_path / "out.nii.gz", message="not a harmonization model"
    )
    t2w = tmp_path / "sub-04_T2w.nii.gz"
    t2w.write_bytes(files["source", 4].read_bytes())
    refused("apply", model, t2w, tmp_path / "out.nii.gz", message="use a model of its contrast")
    refused("apply", model, source, source, message="would overwrite an input")
    record = json.loads((model / MODEL_FILE).read_text())
    state = next(iter(record["Files"]))
    (model / state).write_bytes((model / state).read_bytes()[:-8])  # a truncated copy
    refused("apply", model, source, tmp_path / "out.nii.gz", message="not the file the fit wrote")
    (model / MODEL_FILE).write_text(json.dumps({**record, "ModelFormat": 99}))
    refused("apply", model, source, tmp_path / "out.nii.gz", message="a model of format 99")
    (model / MODEL_FILE).write_text(json.dumps({**record, "HarmonizationMethod": "cyclegan"}))
    refused("apply", model, source, tmp_path / "out.nii.gz", message="method 'cyclegan' is not one of")
    (model / MODEL_FILE).write_text(json.dumps({**record, "HarmonizationMethod": "selfsup"}))  # removed
    refused("apply", model, source, tmp_path / "out.nii.gz", message="a selfsup model; removed after inuprep")
    (model / MODEL_FILE).write_text("{not json")
    refused("apply", model, source, tmp_path / "out.nii.gz", message="unreadable")
    bad = tmp_path / "bad.nii.gz"
    nb.Nifti1Image(np.zeros((16, 16, 16), np.float32), np.eye(4)).to_filename(bad)
    refused("fit", "--out", tmp_path / "new", bad, message="the image is constant")
    assert not (tmp_path / "new").exists()


@pytest.mark.e2e  # runs the App
def test_the_app_harmonizes_each_image_with_the_model_of_its_contrast(tmp_path, mni_3mm):
    from conftest import inuprep, make_bids
    from inuprep.simulation.fields import simulate_bias

    t1 = mni_3mm.get_fdata(dtype=np.float32)
    bids = make_bids(
        tmp_path / "bids",
        {"sub-01/anat/sub-01_T1w.nii.gz": simulate_bias(t1, 1.5, 1)[1],
         "sub-01/anat/sub-01_T2w.nii.gz": simulate_bias(t1.max() - t1, 1.5, 2)[1] * (t1 > 0)},
        affine=mni_3mm.affine,
    )  # fmt: skip
    model, model_t2 = tmp_path / "model", tmp_path / "model_t2"
    assert main(["fit", "--out", str(model), str(bids / "sub-01/anat/sub-01_T1w.nii.gz")]) == 0
    t2w = bids / "sub-01/anat/sub-01_T2w.nii.gz"
    assert main(["fit", "--method", "whitestripe", "--out", str(model_t2), str(t2w)]) == 0
    shutil.copytree(model, tmp_path / "copy")
    twice = inuprep(
        bids, tmp_path / "o", "participant", "--harmonize-model", model, tmp_path / "copy", cwd=tmp_path
    )
    assert twice.returncode == 2 and "a second T1w model" in twice.stderr and not (tmp_path / "o").exists()
    out, argv = tmp_path / "out", ["--methods", "n4", "--harmonize-model", model, model_t2]
    refused = inuprep(bids, out, "participant", *argv, cwd=tmp_path)  # the default correction is not run
    assert (
        refused.returncode == 2 and "--harmonize-correction zeroshot is not among --methods" in refused.stderr
    )
    result = inuprep(bids, out, "participant", *argv, "--harmonize-correction", "n4", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sub-01 T1w (sub-01_T1w.nii.gz): harmonization done in" in result.stdout
    anat = out / "sub-01" / "anat"
    harmonized = anat / "sub-01_desc-harmonized_T1w.nii.gz"
    sidecar = json.loads(harmonized.with_name("sub-01_desc-harmonized_T1w.json").read_text())
    assert sidecar["HarmonizationMethod"] == "Nyul" and sidecar["HarmonizedCorrection"] == "n4"
    assert sidecar["ModelReferences"] == ["sub-01_T1w.nii.gz"]
    wm = tissue_masks(anat / "sub-01_space-T1w_dseg.nii.gz", ("WM",))["WM"]  # its table beside it
    assert set(sidecar["TissueMeans"]) == {"GM", "WM", "CSF"}  # what the group level's site_cv compares
    assert sidecar["TissueMeans"]["WM"] == pytest.approx(nb.load(harmonized).get_fdata()[wm].mean(), rel=1e-5)
    figure = out / "sub-01" / "figures" / "sub-01_desc-harmonized_T1w.png"
    assert figure.stat().st_size > 1000 and figure.name in (out / "sub-01.html").read_text()
    sidecar = json.loads((anat / "sub-01_desc-harmonized_T2w.json").read_text())  # with its own model
    assert sidecar["HarmonizationMethod"] == "WhiteStripe" and sidecar["ModelReferences"] == [t2w.name]
    assert "piecewise-linear histogram mapping" in (out / "sub-01.html").read_text()
    # the group level fits a model per contrast the reference filter names, on those images' corrections
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps({"t1w": {"subject": "01"}}))
    group = ["group", "--harmonize-fit", "tissue", "--harmonize-reference", reference]
    group += ["--harmonize-correction"]
    result = inuprep(bids, out, *group, "n4", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    fitted = out / "harmonization" / "tissue_T1w"
    record = json.loads((fitted / MODEL_FILE).read_text())
    assert record["Correction"] == "n4" and record["References"][0]["name"] == "sub-01_desc-n4_T1w.nii.gz"
    assert not (out / "harmonization" / "tissue_T2w").exists()  # the filter names T1w only
    # the tissue model, fitted on the App's labels, anchors each image on its own (their table beside them)
    tissue = ["--methods", "n4", "--harmonize-correction", "n4", "--harmonize-model", fitted]
    result = inuprep(bids, out, "participant", *tissue, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    sidecar = json.loads((anat / "sub-01_desc-harmonized_T1w.json").read_text())
    assert sidecar["HarmonizationMethod"] == "Tissue-anchored Nyul"
    assert sidecar["TissueAnchors"] == "its own tissue medians mapped onto the references'"
    again = inuprep(bids, out, *group, "n4", cwd=tmp_path)
    assert again.returncode == 2 and "exists; remove it to fit the model again" in again.stderr
    other = ["--methods", "n4", "zeroshot", "--harmonize-model", fitted]  # fitted on another correction
    mismatch = inuprep(bids, tmp_path / "out3", "participant", *other, cwd=tmp_path)
    assert mismatch.returncode == 2 and "use --harmonize-correction n4" in mismatch.stderr
    (model / MODEL_FILE).write_text("{")
    broken = inuprep(
        bids, tmp_path / "out2", "participant", *argv, "--harmonize-correction", "n4", cwd=tmp_path
    )
    assert broken.returncode == 2 and "unreadable" in broken.stderr and len(broken.stderr.splitlines()) == 1


def test_the_group_table_gives_the_spread_of_tissue_means_across_sites(tmp_path):
    from conftest import make_bids
    from inuprep.evaluation.table import metrics_table
    from inuprep.inputs.discovery import discover_runs, load_layout, site_of
    from inuprep.interfaces.evaluation import AddTissueMeans
    from inuprep.reports.figures import sites_figure
    from inuprep.reports.group import site_means, site_spread

    bids = make_bids(tmp_path / "bids", {f"sub-0{n}/anat/sub-0{n}_T1w.nii.gz": None for n in (1, 2, 3)})
    for n, scanner in ((1, "Siemens"), (2, "Philips"), (3, "Philips")):
        (bids / f"sub-0{n}/anat/sub-0{n}_T1w.json").write_text(json.dumps({"Manufacturer": scanner}))
    layout = load_layout(bids)
    runs, _ = discover_runs(layout)
    assert [site_of(layout, run) for run in runs] == ["Siemens", "Philips", "Philips"]
    labels = np.zeros((8, 8, 8), np.uint8)
    labels[:, :4], labels[:, 4:] = 1, 2  # GM, WM
    dseg, dseg_tsv = tmp_path / "dseg.nii.gz", tmp_path / "dseg.tsv"
    nb.Nifti1Image(labels, np.eye(4)).to_filename(dseg)
    dseg_tsv.write_text("index\tname\ttissue\n1\tGM\tGM\n2\tWM\tWM\n")
    entries, tables = [], []
    for n, (site, scale) in enumerate((("Siemens", 1.0), ("Philips", 1.6), ("Philips", 1.7))):
        files = {}
        for kind, factor in (("n4", scale), ("harmonized", 1.0 + 0.01 * n)):  # harmonized: nearly equal
            files[kind] = tmp_path / f"{kind}{n}.nii.gz"
            nb.Nifti1Image(np.where(labels == 1, 60.0, 100.0) * factor, np.eye(4)).to_filename(files[kind])
        data = nb.load(files["n4"]).get_fdata()
        tables.append(metrics_table([("n4", data)], labels, {1: "GM", 2: "WM"}, {}, "user").assign(source=n))
        # the workflow's node adds the harmonized image's tissue means to its sidecar
        node = AddTissueMeans(in_file=str(files["harmonized"]), dseg_file=str(dseg), dseg_tsv=str(dseg_tsv),
                              metadata={"HarmonizedCorrection": "n4"})  # fmt: skip
        metadata = node.run(cwd=tmp_path).outputs.metadata
        assert metadata["TissueMeans"] == pytest.approx(
            {"GM": 60 * (1 + 0.01 * n), "WM": 100 * (1 + 0.01 * n)}
        )
        files["harmonized"].with_name(f"harmonized{n}.json").write_text(json.dumps(metadata))
        entries.append({"contrast": "T1w", "site": site, "source": n, "files": files, "dseg": dseg})
    table = site_spread(site_means(pd.concat(tables), entries)).set_index("tissue")
    assert list(table.index) == ["gm", "wm"] and set(table.metric) == {"site_cv"}
    before, after = table.loc["wm", "n4"], table.loc["wm", "harmonized"]
    assert float(before) > 0.3 > 0.02 > float(after), (before, after)  # site means 1.0 and 1.65
    assert site_spread(site_means(pd.concat(tables), entries[1:])).empty  # one site: no spread
    assert sites_figure(entries, "T1w", tmp_path / "sites.png").stat().st_size > 1000
    assert sites_figure(entries, "T1w", tmp_path / "one.png", per_site=1).stat().st_size > 1000


def test_the_workflow_harmonizes_in_a_process_of_its_own_with_the_white_matter(subjects, tmp_path):
    """The App's branch runs ``inuprep-harmonize apply`` (a learned method's torch stays out of nipype's
    workers) and gives WhiteStripe the white matter of the image's labels: as the command line would."""
    from inuprep.workflows.harmonization import init_harmonization_wf

    root, files = subjects
    model = tmp_path / "model"
    refs = [str(files["target", seed]) for seed in (1, 2)]
    extra = [
        "--masks",
        *(str(files["mask", s]) for s in (1, 2)),
        "--wm-masks",
        *(str(files["wm", s]) for s in (1, 2)),
    ]
    assert main(["fit", "--method", "whitestripe", "--out", str(model), *refs, *extra]) == 0
    dseg = tmp_path / "dseg.nii.gz"
    wm = nb.load(files["wm", 4])
    nb.Nifti1Image(np.asarray(wm.dataobj).astype(np.uint8) * 3, wm.affine).to_filename(dseg)
    (tmp_path / "dseg.tsv").write_text("index\tname\ttissue\n3\tWM\tWM\n")
    wf = init_harmonization_wf(model_dir=model, correction="n4", description="WhiteStripe.")
    wf.base_dir = str(tmp_path / "work")
    wf.inputs.inputnode.in_file = str(files["source", 4])
    wf.inputs.inputnode.mask_file = str(files["mask", 4])
    wf.inputs.inputnode.dseg_file, wf.inputs.inputnode.dseg_tsv = str(dseg), str(tmp_path / "dseg.tsv")
    node = next(n for n in wf.run().nodes() if n.name == "harmonize")
    assert node.result.runtime.cmdline.split()[1:4] == ["-m", "inuprep.harmonizers.run", "apply"]
    result = node.result.outputs
    assert (
        result.metadata["HarmonizedCorrection"] == "n4"
        and result.metadata["HarmonizationMethod"] == "WhiteStripe"
    )
    by_cli = tmp_path / "by_cli.nii.gz"
    args = ["apply", str(model), str(files["source", 4]), str(by_cli), "--mask", str(files["mask", 4])]
    assert main([*args, "--wm-mask", str(files["wm", 4])]) == 0
    np.testing.assert_array_equal(nb.load(result.out_file).get_fdata(), nb.load(by_cli).get_fdata())


@pytest.mark.parametrize("method", ["nyul", "whitestripe", "ssimh"])
def test_skull_stripped_references_need_no_masks(subjects, tmp_path, method):
    """Without --masks a skull-stripped reference's mask is its whole non-zero support (its dark CSF too), as
    the brain mask ``apply`` is given: the model is the one fitted with the masks, and says so."""
    root, files = subjects
    refs = [str(files["target", seed]) for seed in (1, 2, 3)]
    masks = [str(files["mask", seed]) for seed in (1, 2, 3)]
    wm = ["--wm-masks", *(str(files["wm", s]) for s in (1, 2, 3))] if method == "whitestripe" else []
    outputs = {}
    for name, given in (("masks", ["--masks", *masks]), ("defaults", [])):
        model = tmp_path / name
        assert main(["fit", "--method", method, "--out", str(model), *refs, *given, *wm]) == 0
        outputs[name] = tmp_path / f"{name}_desc-harmonized_T1w.nii.gz"
        apply = [
            "apply",
            str(model),
            str(files["source", 4]),
            str(outputs[name]),
            "--mask",
            str(files["mask", 4]),
        ]
        assert main([*apply, *(["--wm-mask", str(files["wm", 4])] if wm else [])]) == 0
    record = json.loads((tmp_path / "defaults" / MODEL_FILE).read_text())["References"][0]
    brain = nb.load(files["mask", 1]).get_fdata() > 0
    assert (
        record["Mask"].startswith("non-zero support (skull-stripped image: ")
        and record["MaskVoxels"] == brain.sum()
    )
    given = json.loads((tmp_path / "masks" / MODEL_FILE).read_text())["References"][0]
    assert given["Mask"] == f"given: {masks[0]}"
    sidecar = json.loads(outputs["defaults"].with_name("defaults_desc-harmonized_T1w.json").read_text())
    assert sidecar["Mask"] == f"given: {files['mask', 4]}" and sidecar["MaskVoxels"] > 0
    np.testing.assert_array_equal(
        nb.load(outputs["defaults"]).get_fdata(), nb.load(outputs["masks"]).get_fdata()
    )


def test_apply_writes_several_inputs_into_an_output_dir_and_names_the_one_that_fails(
    subjects, tmp_path, capsys
):
    root, files = subjects
    model = tmp_path / "model"
    refs = [str(files["target", seed]) for seed in (1, 2, 3)]
    assert (
        main(["fit", "--out", str(model), *refs, "--masks", *(str(files["mask", s]) for s in (1, 2, 3))]) == 0
    )
    t2w = tmp_path / "sub-09_T2w.nii.gz"  # another contrast than the model's: refused, alone
    t2w.write_bytes(files["source", 4].read_bytes())
    plain = tmp_path / "scan.nii.gz"  # not a BIDS name
    plain.write_bytes(files["source", 3].read_bytes())
    inputs = [files["source", 4], t2w, plain]
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["apply", str(model), *map(str, inputs), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sub-09_T2w.nii.gz: a T2w image" in err[0]
    written = sorted(p.name for p in out.iterdir())
    assert written == ["scan_harmonized.json", "scan_harmonized.nii.gz", "sub-04_desc-harmonized_T1w.json",
                       "sub-04_desc-harmonized_T1w.nii.gz"]  # fmt: skip
    # one input and its output, the old form, still works; several inputs need --output-dir
    assert main(["apply", str(model), str(files["source", 4]), str(tmp_path / "one.nii.gz")]) == 0
    assert main(["apply", str(model), *map(str, inputs)]) == 2
    assert "--output-dir" in capsys.readouterr().err
