"""Derivative names keep every source entity and never collide; writes are atomic."""

import json
from pathlib import Path

import pytest

from inuprep.inputs.images import ImageRun
from inuprep.segmentation.base import tissue_names
from inuprep.utils.bids import (
    check_unique,
    derivative_path,
    output_paths,
    sidecar_path,
    write_dataset_files,
)
from inuprep.utils.io import atomic_copy


def test_entities_kept_in_bids_order():
    source = "/bids/sub-01/ses-A/anat/sub-01_ses-A_acq-mp2rage_rec-norm_run-2_part-mag_T1w.nii.gz"
    assert derivative_path(source, desc="n4", extension=".nii.gz") == Path(
        "sub-01/ses-A/anat/sub-01_ses-A_acq-mp2rage_rec-norm_run-2_part-mag_desc-n4_T1w.nii.gz"
    )
    assert derivative_path(source, mod="T1w", label="GM", suffix="probseg").name == (
        "sub-01_ses-A_acq-mp2rage_rec-norm_run-2_mod-T1w_part-mag_label-GM_probseg.nii.gz"
    )


def run(name, contrast, component=None):
    path = Path("/bids/sub-01/ses-A/anat") / name
    return ImageRun(path=path, subject="01", session="A", contrast=contrast, component=component)


def test_dixon_pair_t1w_and_t2w_never_share_a_name():
    runs = [
        run("sub-01_ses-A_T1w.nii.gz", "T1w"),
        run("sub-01_ses-A_T2w.nii.gz", "T2w"),
        run("sub-01_ses-A_acq-dixon_rec-water_T1w.nii.gz", "dixon", "water"),
        run("sub-01_ses-A_acq-dixon_rec-fat_T1w.nii.gz", "dixon", "fat"),
        run("sub-01_ses-A_acq-dixon_part-mag_T1w.nii.gz", "dixon", "water"),
        run("sub-01_ses-A_acq-dixon_part-phase_T1w.nii.gz", "dixon", "fat"),
    ]
    paths = [p for r in runs for p in output_paths(r, ("n4", "zeroshot"), tissue_names(r)).values()]
    check_unique(paths)
    assert len(set(paths)) == len(paths) > 6 * 8


def test_collisions_are_refused():
    with pytest.raises(ValueError, match="two inputs map to the output name"):
        check_unique([Path("a"), Path("b"), Path("a")])


def test_atomic_copy_leaves_no_temporary_file(tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("x" * 1000)
    dest = atomic_copy(src, tmp_path / "out" / "dest.txt")
    assert dest.read_text() == "x" * 1000
    assert [p.name for p in dest.parent.iterdir()] == ["dest.txt"]
    with pytest.raises(FileNotFoundError):
        atomic_copy(tmp_path / "missing", tmp_path / "out" / "other.txt")
    assert [p.name for p in dest.parent.iterdir()] == ["dest.txt"]


def test_dataset_files(tmp_path):
    write_dataset_files(tmp_path, Path("/data/bids"))
    description = json.loads((tmp_path / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "inuprep"
    assert description["SourceDatasets"] == [{"URL": "file:///data/bids"}]
    assert "*_biasfield.nii.gz" in (tmp_path / ".bidsignore").read_text()


@pytest.mark.parametrize(
    "name, sidecar",
    [
        ("scan_1.5T.nii.gz", "scan_1.5T.json"),
        ("out.a.nii.gz", "out.a.json"),
        ("out.b.nii", "out.b.json"),
        ("sub-01_desc-v1.2_metrics.tsv", "sub-01_desc-v1.2_metrics.json"),
        ("plain.nii.gz", "plain.json"),
    ],
)
def test_a_sidecar_cuts_only_the_extension(name, sidecar):
    assert sidecar_path(Path("/x") / name) == Path("/x") / sidecar


def test_dotted_source_names_keep_their_dots_and_stay_apart():
    runs = [run(f"sub-01_ses-A_acq-{field}_T1w.nii.gz", "T1w") for field in ("1.5T", "3T", "1.5Tb")]
    paths = [output_paths(r, ("n4",), tissue_names(r)) for r in runs]
    assert paths[0]["n4_file"].name == "sub-01_ses-A_acq-1.5T_desc-n4_T1w.nii.gz"
    assert paths[0]["metrics_tsv"].name == "sub-01_ses-A_acq-1.5T_mod-T1w_metrics.tsv"
    assert sidecar_path(paths[0]["n4_file"]).name == "sub-01_ses-A_acq-1.5T_desc-n4_T1w.json"
    every = [path for p in paths for path in p.values()] + [sidecar_path(p["n4_file"]) for p in paths]
    check_unique(every)
