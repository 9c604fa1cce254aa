"""Derivative names keep every source entity and never collide; writes are atomic."""

import json
from pathlib import Path

import pytest

from inuprep.inputs.images import ImageRun
from inuprep.segmentation.base import tissue_names
from inuprep.utils.bids import (
    BIDSIGNORE,
    check_unique,
    derivative_path,
    output_paths,
    sidecar_path,
    split_name,
    write_dataset_files,
)
from inuprep.utils.io import atomic_copy


def test_entities_kept_in_bids_order():
    source = "/bids/sub-01/ses-A/anat/sub-01_ses-A_acq-mp2rage_rec-norm_run-2_part-mag_T1w.nii.gz"
    assert derivative_path(source, desc="n4", extension=".nii.gz") == Path(
        "sub-01/ses-A/anat/sub-01_ses-A_acq-mp2rage_rec-norm_run-2_part-mag_desc-n4_T1w.nii.gz"
    )
    assert derivative_path(source, space="T1w", label="GM", suffix="probseg").name == (
        "sub-01_ses-A_acq-mp2rage_rec-norm_run-2_part-mag_space-T1w_label-GM_probseg.nii.gz"
    )


def schema_rule(path: Path):
    """Return the name of the BIDS schema's file rule (raw or derivative) that accepts ``path``, else None."""
    from bidsschematools.schema import load_schema

    schema = load_schema()
    entities, suffix, extension = split_name(path)
    names = {schema.objects.entities[full].name: full for full in schema.rules.entities}
    used = {names.get(key, key) for key, _ in entities}
    groups = [schema.rules.files.raw[kind] for kind in schema.rules.files.raw]
    groups += [schema.rules.files.deriv[kind] for kind in schema.rules.files.deriv]
    for group in groups:
        for name, rule in group.items():
            allowed = set(rule.get("entities", {}))
            required = {k for k, level in rule.get("entities", {}).items() if level == "required"}
            if (
                suffix in rule.get("suffixes", [])
                and extension in rule.get("extensions", [])
                and path.parent.name in rule.get("datatypes", [path.parent.name])
                and required <= used <= allowed
            ):
                return name
    return None


def test_every_name_the_app_writes_is_one_the_schema_defines_or_bidsignore_lists():
    runs = [
        run("sub-01_ses-A_run-1_T1w.nii.gz", "T1w"),
        run("sub-01_ses-A_T2w.nii.gz", "T2w"),
        run("sub-01_ses-A_acq-dixon_rec-water_T1w.nii.gz", "dixon", "water"),
    ]
    ignored = [pattern.replace("*", "") for pattern in BIDSIGNORE if pattern.startswith("*_")]
    checked = 0
    for r in runs:
        outputs = output_paths(r, ("n4", "zeroshot", "implicit"), tissue_names(r), harmonized=True).values()
        for path in [*outputs, *(sidecar_path(p) for p in outputs)]:
            if any(path.name.endswith(end) for end in ignored):
                assert schema_rule(path) is None  # so the list is not longer than it must be
                continue
            assert schema_rule(path), path
            checked += 1
    assert checked > 30
    # and the check can fail: the names before (mod- is a raw-data entity of deface masks only)
    assert schema_rule(Path("sub-01/anat/sub-01_mod-T1w_desc-brain_mask.nii.gz")) is None


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
    assert "Authors" not in description
    assert "*_biasfield.nii.gz" in (tmp_path / ".bidsignore").read_text()
    assert "inuprep" in (tmp_path / "README.md").read_text()


def test_dataset_files_cite_the_inputs_doi_and_keep_its_authors(tmp_path):
    bids = tmp_path / "bids"
    bids.mkdir()
    raw = {
        "Name": "x",
        "BIDSVersion": "1.10.0",
        "Authors": ["A", "B"],
        "DatasetDOI": "10.18112/openneuro.ds002748.v1.0.5",
    }
    (bids / "dataset_description.json").write_text(json.dumps({**raw, "DatasetVersion": "1.0.5"}))
    write_dataset_files(tmp_path / "out", bids)
    description = json.loads((tmp_path / "out" / "dataset_description.json").read_text())
    assert description["SourceDatasets"] == [
        {"DOI": "doi:10.18112/openneuro.ds002748.v1.0.5", "Version": "1.0.5"}
    ]
    assert description["Authors"] == ["A", "B"]


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
    assert paths[0]["metrics_tsv"].name == "sub-01_ses-A_acq-1.5T_space-T1w_metrics.tsv"
    assert sidecar_path(paths[0]["n4_file"]).name == "sub-01_ses-A_acq-1.5T_desc-n4_T1w.json"
    every = [path for p in paths for path in p.values()] + [sidecar_path(p["n4_file"]) for p in paths]
    check_unique(every)
