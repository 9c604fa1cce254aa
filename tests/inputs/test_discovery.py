"""Discovery of T1w, T2w and Dixon runs with pybids, on generated BIDS trees."""

import json

import numpy as np
import pytest

from conftest import make_bids
from inuprep.inputs.discovery import (
    discover,
    discover_runs,
    dixon_component,
    load_layout,
    receive_normalised,
    summarize,
)
from inuprep.inputs.images import (
    DiscoveryError,
    dixon_pair,
    find_user_masks,
    normalised_reference,
    plan_images,
    session_t1w,
)


@pytest.fixture
def dataset(tmp_path):
    root = make_bids(
        tmp_path / "bids",
        {
            "sub-01/ses-A/anat/sub-01_ses-A_run-1_T1w.nii.gz": None,
            "sub-01/ses-A/anat/sub-01_ses-A_run-2_T1w.nii.gz": None,
            "sub-01/ses-A/anat/sub-01_ses-A_T2w.nii.gz": None,
            "sub-01/ses-B/anat/sub-01_ses-B_T1w.nii.gz": None,
            "sub-01/ses-B/anat/sub-01_ses-B_acq-dixon_rec-water_T1w.nii.gz": None,
            "sub-01/ses-B/anat/sub-01_ses-B_acq-dixon_rec-fat_T1w.nii.gz": None,
            "sub-02/anat/sub-02_T1w.nii.gz": None,
            "sub-02/anat/sub-02_acq-mDIXON_run-1_T1w.nii.gz": None,
            "sub-02/anat/sub-02_acq-mDIXON_run-2_T1w.nii.gz": None,
            "sub-02/anat/sub-02_FLAIR.nii.gz": None,
        },
    )
    # components of sub-02's Dixon images only in their sidecars' ImageType
    for run, kind in ((1, "W"), (2, "F")):
        sidecar = root / f"sub-02/anat/sub-02_acq-mDIXON_run-{run}_T1w.json"
        sidecar.write_text(json.dumps({"ImageType": ["DERIVED", "PRIMARY", kind]}))
    return root


def labels(runs):
    return sorted((run.subject, run.session, run.label, run.entities.get("run")) for run in runs)


def test_finds_every_contrast_session_and_run(dataset):
    runs, warnings = discover_runs(load_layout(dataset))
    assert warnings == []
    assert labels(runs) == [
        ("01", "A", "T1w", 1), ("01", "A", "T1w", 2), ("01", "A", "T2w", None),
        ("01", "B", "T1w", None), ("01", "B", "dixon-fat", None), ("01", "B", "dixon-water", None),
        ("02", None, "T1w", None), ("02", None, "dixon-fat", 2), ("02", None, "dixon-water", 1),
    ]  # fmt: skip
    assert "sub-01: 3 T1w, 1 T2w, 1 dixon-fat, 1 dixon-water in session(s) A, B" in summarize(runs)


def test_participant_and_session_selection(dataset):
    runs, _ = discover_runs(load_layout(dataset), participants=("01",), sessions=("B",))
    assert labels(runs) == [("01", "B", "T1w", None), ("01", "B", "dixon-fat", None),
                            ("01", "B", "dixon-water", None)]  # fmt: skip


def test_filter_file_updates_default_queries(dataset):
    filters = {"t1w": {"run": 2}, "t2w": {"suffix": "FLAIR"}}
    runs, _ = discover_runs(load_layout(dataset), filters=filters)
    found = [(run.path.name, run.contrast) for run in runs if run.contrast != "dixon"]
    assert sorted(found) == [("sub-01_ses-A_run-2_T1w.nii.gz", "T1w"), ("sub-02_FLAIR.nii.gz", "T2w")]


def test_unknown_filter_key_and_participant_are_errors(dataset):
    layout = load_layout(dataset)
    with pytest.raises(DiscoveryError, match="unknown queries"):
        discover_runs(layout, filters={"bold": {"task": "rest"}})
    with pytest.raises(DiscoveryError, match="03 not found.*available: 01, 02"):
        discover_runs(layout, participants=("03",))


def test_dixon_without_component_is_skipped_with_a_warning(tmp_path):
    root = make_bids(tmp_path / "bids", {"sub-01/anat/sub-01_acq-dixon_T1w.nii.gz": None})
    runs, warnings = discover_runs(load_layout(root))
    assert runs == []
    assert len(warnings) == 1 and "rec-water" in warnings[0]


def test_templates_in_the_dataset_are_not_participants(tmp_path):
    files = {"sub-01/anat/sub-01_T1w.nii.gz": None, "tpl-MNI/anat/tpl-MNI_res-1_T1w.nii.gz": None}
    root = make_bids(tmp_path / "bids", files)
    runs, warnings = discover_runs(load_layout(root))
    assert [run.path.name for run in runs] == ["sub-01_T1w.nii.gz"] and warnings == []


def test_a_malformed_sidecar_costs_only_the_images_it_describes(tmp_path):
    from inuprep.cli.preflight import preflight
    from inuprep.inputs.discovery import malformed_sidecars

    files = {f"sub-0{i}/anat/sub-0{i}_T1w.nii.gz": None for i in (1, 2, 3)}
    root = make_bids(tmp_path / "bids", files)
    (root / "sub-02/anat/sub-02_T1w.json").write_text('{"RepetitionTime": 2.3,}')
    (root / "sub-03/anat/sub-03_T2w.json").symlink_to(root / ".git/annex/objects/missing")
    (root / "sourcedata").mkdir()
    (root / "sourcedata/notes.json").write_text("{")  # not indexed: harmless
    bad = malformed_sidecars(root)
    assert sorted(path.name for path in bad) == ["sub-02_T1w.json", "sub-03_T2w.json"]
    runs, _ = discover_runs(load_layout(root, ignore=bad))
    assert len(runs) == 3  # pybids indexes the dataset
    ready, failures = preflight(runs, bad)
    assert [run.subject for run in ready] == ["01", "03"]  # sub-03's broken sidecar is a T2w's
    assert failures["02"] == [f"{root}/sub-02/anat/sub-02_T1w.json: not valid JSON "
                              f"({bad[root / 'sub-02/anat/sub-02_T1w.json']}); fix or remove it"]  # fmt: skip


def test_a_dixon_pair_told_apart_by_image_type_is_paired(tmp_path):
    names = {f"sub-01/anat/sub-01_acq-dixon_run-{i}_T1w.nii.gz": None for i in (1, 2, 3)}
    root = make_bids(tmp_path / "bids", names)
    for run, image_type in ((1, ["ORIGINAL", "W"]), (2, ["ORIGINAL", "F"]), (3, ["ORIGINAL", "IP"])):
        (root / f"sub-01/anat/sub-01_acq-dixon_run-{run}_T1w.json").write_text(
            json.dumps({"ImageType": image_type})
        )
    runs, _ = discover_runs(load_layout(root))
    water, fat = (root / f"sub-01/anat/sub-01_acq-dixon_run-{i}_T1w.nii.gz" for i in (1, 2))
    assert [dixon_pair(run, runs) for run in runs] == [(water, fat)] * 3
    # two water and two fat images: which belong together is not known, so none is paired
    more = make_bids(tmp_path / "more", {**names, "sub-01/anat/sub-01_acq-dixon_run-4_T1w.nii.gz": None})
    for run, kind in ((1, "W"), (2, "F"), (3, "W"), (4, "F")):
        (more / f"sub-01/anat/sub-01_acq-dixon_run-{run}_T1w.json").write_text(
            json.dumps({"ImageType": [kind]})
        )
    runs, _ = discover_runs(load_layout(more))
    assert [dixon_pair(run, runs) for run in runs] == [None] * 4


def test_not_a_bids_folder(tmp_path):
    with pytest.raises(DiscoveryError, match="no dataset_description.json"):
        load_layout(tmp_path)
    with pytest.raises(DiscoveryError, match="no such directory"):
        load_layout(tmp_path / "missing")


@pytest.mark.parametrize(
    "entities, metadata, expected",
    [
        ({"reconstruction": "water"}, {}, "water"),
        ({"reconstruction": "OPP"}, {}, "out"),
        ({}, {"ImageType": ["ORIGINAL", "PRIMARY", "IN_PHASE"]}, "in"),
        ({}, {"ImageType": "F"}, "fat"),
        ({"reconstruction": "magnitude"}, {"ImageType": ["M"]}, None),
    ],
)
def test_dixon_component(entities, metadata, expected):
    assert dixon_component(entities, metadata) == expected


def test_a_t2w_pairs_with_its_session_t1w_and_dixon_with_its_partner(dataset):
    runs, _ = discover_runs(load_layout(dataset))
    by_name = {run.path.name: run for run in runs}
    t2w = by_name["sub-01_ses-A_T2w.nii.gz"]
    assert session_t1w(t2w, runs).path.name == "sub-01_ses-A_run-1_T1w.nii.gz"
    assert session_t1w(by_name["sub-02_T1w.nii.gz"], runs) is None
    water = by_name["sub-01_ses-B_acq-dixon_rec-water_T1w.nii.gz"]
    pair = dixon_pair(water, runs)
    assert [p.name for p in pair] == [water.path.name, "sub-01_ses-B_acq-dixon_rec-fat_T1w.nii.gz"]
    # sub-02's components differ by run-, not rec-: no pair, each is split by intensity
    pair = dixon_pair(by_name["sub-02_acq-mDIXON_run-1_T1w.nii.gz"], runs)  # told apart by ImageType
    assert [p.name for p in pair] == [f"sub-02_acq-mDIXON_run-{i}_T1w.nii.gz" for i in (1, 2)]


def test_user_masks_apply_by_entities(dataset, tmp_path):
    runs, _ = discover_runs(load_layout(dataset))
    by_name = {run.path.name: run for run in runs}
    anat = tmp_path / "masks" / "sub-01" / "ses-B" / "anat"
    anat.mkdir(parents=True)
    for name in (
        "sub-01_ses-B_acq-dixon_label-bladder_mask.nii.gz",  # every Dixon component of the acquisition
        "sub-01_ses-B_acq-dixon_rec-fat_dseg.nii.gz",  # the fat image only
        "sub-01_ses-B_mod-T2w_label-lesion_mask.nii.gz",  # a T2w's: not the T1w's
        "sub-01_ses-B_acq-other_label-x_mask.nii.gz",  # another acquisition
        "sub-01_ses-B_mod-T1w_desc-n4_biasfield.nii.gz",  # an estimate (inuprep's name), not the truth
        "sub-01_ses-B_mod-T1w_desc-truth_biasfield.nii.gz",  # the known field of every T1w of ses-B
        "sub-01_ses-B_acq-dixon_rec-water_biasfield.nii.gz",  # ... but the water image's own
    ):
        (anat / name).write_bytes(b"")
    (anat / "sub-01_ses-B_acq-dixon_rec-fat_dseg.tsv").write_text("index\tname\n1\tliver\n")
    water = find_user_masks(tmp_path / "masks", by_name["sub-01_ses-B_acq-dixon_rec-water_T1w.nii.gz"])
    assert water.dseg is None and [label for label, _ in water.regions] == ["bladder"]
    fat = find_user_masks(tmp_path / "masks", by_name["sub-01_ses-B_acq-dixon_rec-fat_T1w.nii.gz"])
    assert fat.dseg.name == "sub-01_ses-B_acq-dixon_rec-fat_dseg.nii.gz" and fat.dseg_tsv.is_file()
    t1w = find_user_masks(tmp_path / "masks", by_name["sub-01_ses-B_T1w.nii.gz"])
    assert t1w.regions == () and t1w.bias_field.name == "sub-01_ses-B_mod-T1w_desc-truth_biasfield.nii.gz"
    assert water.bias_field.name == "sub-01_ses-B_acq-dixon_rec-water_biasfield.nii.gz"
    assert fat.bias_field == t1w.bias_field
    t2w = find_user_masks(tmp_path / "masks", by_name["sub-01_ses-A_T2w.nii.gz"])
    assert t2w.bias_field is None
    (anat / "sub-01_ses-B_acq-dixon_rec-fat_dseg.tsv").unlink()
    with pytest.raises(DiscoveryError, match="no label table"):
        find_user_masks(tmp_path / "masks", by_name["sub-01_ses-B_acq-dixon_rec-fat_T1w.nii.gz"])


@pytest.mark.parametrize(
    ("entities", "metadata", "expected"),
    [
        ({"acquisition": "prescannorm"}, {}, True),
        ({"acquisition": "noprescannorm"}, {}, False),
        ({"reconstruction": "nonorm"}, {}, False),
        ({"reconstruction": "body"}, {}, True),
        ({"acquisition": "mprage"}, {"ImageType": ["ORIGINAL", "PRIMARY", "M", "NORM", "ND"]}, True),
        ({"acquisition": "mprage"}, {"ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"]}, False),
        ({"acquisition": "mprage"}, {}, None),
    ],
)
def test_receive_normalisation_is_read_from_the_sidecar_or_the_label(entities, metadata, expected):
    assert receive_normalised(entities, metadata) is expected


def test_an_acquisition_saved_with_and_without_normalisation_is_a_measured_field(tmp_path):
    norm, raw = ["ORIGINAL", "PRIMARY", "M", "NORM"], ["ORIGINAL", "PRIMARY", "M"]
    files = {
        "sub-01/anat/sub-01_acq-noprescannorm_T1w.nii.gz": None,  # told apart by the label
        "sub-01/anat/sub-01_acq-prescannorm_T1w.nii.gz": None,
        "sub-02/anat/sub-02_run-1_T1w.nii.gz": None,  # by the sidecars' ImageType
        "sub-02/anat/sub-02_rec-norm_run-1_T1w.nii.gz": None,
        "sub-03/anat/sub-03_acq-mprage_T1w.nii.gz": None,  # another sequence: no pair
        "sub-03/anat/sub-03_acq-mp2rage_T1w.nii.gz": None,
        "sub-04/anat/sub-04_acq-raw_T1w.nii.gz": np.ones((16, 16, 12)),  # another grid: no pair
        "sub-04/anat/sub-04_acq-norm_T1w.nii.gz": None,
    }
    root = make_bids(tmp_path / "bids", files)
    sidecars = {
        "sub-02/anat/sub-02_run-1": (raw, 2.3),
        "sub-02/anat/sub-02_rec-norm_run-1": (norm, 2.3),
        "sub-03/anat/sub-03_acq-mprage": (norm, 2.3),
        "sub-03/anat/sub-03_acq-mp2rage": (raw, 5.0),
    }
    for name, (image_type, tr) in sidecars.items():
        (root / f"{name}_T1w.json").write_text(json.dumps({"ImageType": image_type, "RepetitionTime": tr}))
    plans = {plan.run.path.name: plan.measured_reference for plan in plan_images(discover(root).runs)}
    assert (
        plans.pop("sub-01_acq-noprescannorm_T1w.nii.gz")
        == root / "sub-01/anat/sub-01_acq-prescannorm_T1w.nii.gz"
    )
    assert plans.pop("sub-02_run-1_T1w.nii.gz") == root / "sub-02/anat/sub-02_rec-norm_run-1_T1w.nii.gz"
    assert set(plans.values()) == {None}  # the normalised images, and the pairs refused
    runs = discover(root, participants=("01",)).runs
    assert normalised_reference(runs[0], runs[:1]) is None  # its pair not selected


def test_a_bids_database_dir_is_built_once_then_read(tmp_path):
    from inuprep.inputs.discovery import discover

    bids = make_bids(tmp_path / "bids", {f"sub-0{i}/anat/sub-0{i}_T1w.nii.gz": None for i in (1, 2)})
    database = tmp_path / "index"
    database.mkdir()  # a folder the user made for it, empty
    assert len(discover(bids, database=database).runs) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".index")] == []  # no leftover
    make_bids(bids, {"sub-03/anat/sub-03_T1w.nii.gz": None})
    # the index is read, not rebuilt: the new participant is not in it until the folder is removed
    assert len(discover(bids, database=database).runs) == 2
    assert len(discover(bids).runs) == 3
    other = make_bids(tmp_path / "other", {"sub-01/anat/sub-01_T1w.nii.gz": None})
    with pytest.raises(DiscoveryError, match="indexes .*bids, not .*other"):
        discover(other, database=database)
