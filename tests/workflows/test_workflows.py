"""Every factory builds, for every contrast and option, with the expected nodes."""

import re
from pathlib import Path

import pytest

from inuprep.cli.parser import build_parser
from inuprep.cli.settings import Settings
from inuprep.inputs.images import ImagePlan, ImageRun, plan_images
from inuprep.workflows.base import init_inuprep_wf
from inuprep.workflows.correction import init_correction_wf
from inuprep.workflows.single_image import init_image_wf

RUNS = [
    ImageRun(Path("/bids/sub-01/anat/sub-01_T1w.nii.gz"), "01", "T1w"),
    ImageRun(Path("/bids/sub-01/anat/sub-01_T2w.nii.gz"), "01", "T2w"),
    ImageRun(Path("/bids/sub-01/anat/sub-01_acq-dixon_rec-water_T1w.nii.gz"), "01", "dixon", None, "water"),
    ImageRun(Path("/bids/sub-02/ses-1/anat/sub-02_ses-1_run-1_T1w.nii.gz"), "02", "T1w", "1"),
]


def settings_for(tmp_path, *argv):
    args = build_parser().parse_args([str(tmp_path / "bids"), str(tmp_path / "out"), "participant", *argv])
    return Settings.from_args(args)


@pytest.mark.parametrize("run", RUNS, ids=lambda run: run.label)
def test_image_wf_builds(run, tmp_path):
    methods = ("n4", "zeroshot", "implicit")
    workflow = init_image_wf(
        plan=ImagePlan(run), methods=methods, output_dir=tmp_path, omp_nthreads=2, seed=7
    )
    names = set(workflow.list_node_names())
    assert {"check", "segmentation_wf.segment", "evaluate", "n4_wf.correct", "outputs_wf.ds_n4_file"} <= names
    # the source of the masks is chosen here, not when the graph runs
    kind = {"dixon": "DixonSegmentation"}.get(run.contrast, "BrainSegmentation")
    assert type(workflow.get_node("segmentation_wf.segment").interface).__name__ == kind
    assert {"zeroshot_wf.correct", "outputs_wf.ds_zeroshot_field", "implicit_wf.correct"} <= names
    assert workflow.get_node("zeroshot_wf.correct").inputs.seed == 7
    assert workflow.get_node("evaluate").inputs.methods == ["original", *methods]
    tissues = {"dixon": ["dim", "bright"]}.get(run.contrast, ["CSF", "GM", "WM"])
    assert {f"outputs_wf.ds_probseg_{t}" for t in tissues} <= names
    assert workflow.get_node("n4_wf.correct").inputs.num_threads == 2


@pytest.mark.parametrize(
    "argv", [[], ["--methods", "n4"], ["--methods", "zeroshot"], ["--nprocs", "1", "--omp-nthreads", "1"]]
)
def test_top_level_builds_with_crash_dirs_per_subject(argv, tmp_path):
    settings = settings_for(tmp_path, *argv)
    workflow = init_inuprep_wf(**settings.workflow_args(), plans=plan_images(RUNS))
    assert sorted(workflow.list_node_names())[0].startswith("sub_01_wf.")
    node = workflow.get_node("sub_02_wf").get_node("image_sub_02_ses_1_run_1_T1w_wf").get_node("check")
    assert node.config["execution"]["crashdump_dir"].endswith(f"sub-02/log/{settings.run_uuid}")


@pytest.mark.parametrize("argv", [["--self-check"], [], ["--self-check", "--methods", "n4"]])
def test_the_self_check_runs_when_asked_with_two_methods_or_more(argv, tmp_path):
    settings = settings_for(tmp_path, *argv)
    workflow = init_inuprep_wf(**settings.workflow_args(), plans=plan_images(RUNS[:1]))
    names = set(workflow.list_node_names())
    expected = argv == ["--self-check"]  # off by default; with one method there is nothing to choose
    assert ("sub_01_wf.image_sub_01_T1w_wf.selfcheck" in names) is expected
    if expected:
        node = workflow.get_node("sub_01_wf.image_sub_01_T1w_wf.selfcheck")
        assert node.inputs.methods == ["n4", "zeroshot", "implicit"]
        assert "A self-check recommended" in workflow.get_node("sub_01_wf.image_sub_01_T1w_wf").__desc__


def test_colliding_outputs_refuse_to_build(tmp_path):
    twin = ImageRun(Path("/elsewhere/sub-01/anat/sub-01_T1w.nii"), "01", "T1w")
    with pytest.raises(ValueError, match="two inputs map"):
        init_inuprep_wf(**settings_for(tmp_path).workflow_args(), plans=plan_images([RUNS[0], twin]))


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown correction method"):
        init_correction_wf(method="n3", omp_nthreads=1)


def test_a_t2w_is_wired_to_its_t1w_masks_and_a_dixon_pair_to_water_and_fat(tmp_path):
    anat = tmp_path / "sub-01" / "anat"
    anat.mkdir(parents=True)
    for component in ("water", "fat"):  # the pair's paths are node inputs: they must exist
        (anat / f"sub-01_acq-dixon_rec-{component}_T1w.nii.gz").write_bytes(b"")
    water = ImageRun(anat / "sub-01_acq-dixon_rec-water_T1w.nii.gz", "01", "dixon", None, "water")
    fat = ImageRun(anat / "sub-01_acq-dixon_rec-fat_T1w.nii.gz", "01", "dixon", None, "fat")
    runs = [*RUNS[:2], water, fat]
    workflow = init_inuprep_wf(**settings_for(tmp_path).workflow_args(), plans=plan_images(runs)).get_node(
        "sub_01_wf"
    )
    t2w_wf = workflow.get_node("image_sub_01_T2w_wf")
    edges = [(u.name, v.name, d["connect"]) for u, v, d in workflow._graph.edges(data=True)]
    assert ("image_sub_01_T1w_wf", "image_sub_01_T2w_wf") in {(u, v) for u, v, _ in edges}
    t1w_outputs = {field for u, v, c in edges if v == t2w_wf.name for field, _ in c}
    assert "outputnode.dseg_file" in t1w_outputs and "outputnode.anat_file" in t1w_outputs
    t2w_segment = t2w_wf.get_node("segmentation_wf.segment")
    assert type(t2w_segment.interface).__name__ == "TransferSegmentation"
    segment = workflow.get_node("image_sub_01_acq_dixon_rec_fat_T1w_wf").get_node("segmentation_wf.segment")
    assert (segment.inputs.water_file, segment.inputs.fat_file) == (str(water.path), str(fat.path))
    names = set(workflow.get_node("image_sub_01_acq_dixon_rec_fat_T1w_wf").list_node_names())
    assert {"outputs_wf.ds_probseg_water", "outputs_wf.ds_probseg_fat"} <= names


def test_user_masks_reach_segmentation_and_evaluation(tmp_path):
    anat = tmp_path / "masks" / "sub-01" / "anat"
    anat.mkdir(parents=True)
    for name in ("sub-01_mod-T2w_dseg.nii.gz", "sub-01_label-lesion_mask.nii.gz"):
        (anat / name).write_bytes(b"")
    (anat / "sub-01_mod-T2w_dseg.tsv").write_text("index\tname\n1\tGM\n2\tWM\n")
    settings = settings_for(tmp_path, "--derivatives", str(tmp_path / "masks"))
    workflow = init_inuprep_wf(
        **settings.workflow_args(), plans=plan_images(RUNS[:2], settings.derivatives)
    ).get_node("sub_01_wf")
    t2w_wf = workflow.get_node("image_sub_01_T2w_wf")
    segment = t2w_wf.get_node("segmentation_wf.segment")
    assert segment.inputs.user_dseg == str(anat / "sub-01_mod-T2w_dseg.nii.gz")
    assert type(segment.interface).__name__ == "UserSegmentation"
    assert t2w_wf.get_node("evaluate").inputs.region_names == ["lesion"]
    assert not any(name.startswith("outputs_wf.ds_probseg") for name in t2w_wf.list_node_names())
    # the user's dseg replaces the T1w's masks: no edge between the two images
    assert workflow._graph.number_of_edges() == 0
    # a user's T1w dseg has no posterior maps to move: the T2w is segmented on its own
    (anat / "sub-01_mod-T2w_dseg.nii.gz").rename(anat / "sub-01_mod-T1w_dseg.nii.gz")
    (anat / "sub-01_mod-T2w_dseg.tsv").rename(anat / "sub-01_mod-T1w_dseg.tsv")
    workflow = init_inuprep_wf(
        **settings.workflow_args(), plans=plan_images(RUNS[:2], settings.derivatives)
    ).get_node("sub_01_wf")
    assert workflow._graph.number_of_edges() == 0
    assert "outputs_wf.ds_probseg_GM" in workflow.get_node("image_sub_01_T2w_wf").list_node_names()


def test_methods_text_describes_what_the_graph_runs(tmp_path):
    from inuprep.reports.citation import REFERENCES, methods_section
    from inuprep.workflows.base import methods_text

    workflow = init_inuprep_wf(
        **settings_for(tmp_path, "--methods", "n4").workflow_args(), plans=plan_images(RUNS[:3])
    )
    text = methods_text(workflow.get_node("sub_01_wf"))
    assert "N4 bias-field correction" in text and "B-spline control points every 200 mm" in text
    assert "Zero-shot" not in text and "zeroshot" not in text
    assert "Each T2w image" in text and "session's T1w image" in text and "deep_atropos" in text
    assert "Each dixon-water image" in text and "no water/fat pair" in text  # the fat image is not given
    assert text.count("N4 bias-field correction") == 1  # one paragraph per method, not per image
    assert set(re.findall(r"\[@(\w+)\]", text)) <= set(REFERENCES)
    html = methods_section(text)
    assert '<a href="#ref-n4">' in html and 'id="ref-zeroshot"' not in html

    settings = settings_for(tmp_path, "--methods", "zeroshot", "--seed", "11")
    text = methods_text(
        init_inuprep_wf(**settings.workflow_args(), plans=plan_images(RUNS[3:])).get_node("sub_02_wf")
    )
    assert "N4 bias-field correction" not in text and "local variant" in text and "seed 11" in text


@pytest.mark.parametrize("run", RUNS[:2], ids=lambda run: run.contrast)
def test_the_fallback_registers_its_priors_beside_the_corrections(run, tmp_path):
    from inuprep.segmentation import deep_atropos

    cache = (
        tmp_path / "antsxnet"
    )  # the graph only looks for the files (tests/segmentation/test_deep_atropos.py runs them)
    for path in deep_atropos.required_files(cache):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not empty")
    for antsxnet_cache, fallback in ((tmp_path / "empty", True), (cache, run.contrast != "T1w")):
        workflow = init_image_wf(
            plan=ImagePlan(run),
            methods=("n4",),
            output_dir=tmp_path,
            omp_nthreads=1,
            antsxnet_cache=antsxnet_cache,
        )
        assert ("segmentation_wf.priors" in workflow.list_node_names()) == fallback
        if fallback:
            segmentation_wf = workflow.get_node("segmentation_wf")
            priors = segmentation_wf.get_node("priors")
            edges = [(u.name, d["connect"]) for u, _, d in segmentation_wf._graph.in_edges(priors, data=True)]
            # it waits for the checked image only, not for a correction
            assert edges == [("inputnode", [("in_file", "in_file")])]
            assert priors.priority == 2  # and starts before any correction (cli/plugin.py)


def test_the_dixon_masks_text_gives_the_threshold_the_segmentation_uses(monkeypatch):
    from inuprep.inputs.images import ImagePlan
    from inuprep.segmentation import base, dixon
    from inuprep.workflows import segmentation

    anat = Path("/bids/sub-01/anat")
    water, fat = (ImageRun(anat / f"sub-01_acq-dixon_rec-{c}_T1w.nii.gz", "01", "dixon", None, c)
                  for c in ("water", "fat"))  # fmt: skip
    plan = ImagePlan(water, dixon_pair=(water, fat))
    assert f"a fraction of {base.WATER_FRACTION:g} or more" in segmentation.describe_masks(plan)
    # both read the one constant: the text follows it where the segmentation does
    assert dixon.WATER_FRACTION is base.WATER_FRACTION is segmentation.WATER_FRACTION
