"""The thin interfaces on small synthetic images: what they write, read back as a user would."""

import json

import nibabel as nb
import numpy as np
import pandas as pd
import pytest

from inuprep.interfaces.evaluation import EvaluateCorrections
from inuprep.segmentation.base import Segmentation
from inuprep.segmentation.labels import read_label_table, write_label_table


def save(data, path, affine=None):
    nb.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine).to_filename(path)
    return str(path)


def test_label_tables_round_trip_with_labels_that_are_not_evaluated(tmp_path):
    seg = Segmentation(
        mask=np.ones((2, 2, 2), bool),
        dseg=np.zeros((2, 2, 2), np.uint8),
        labels={1: "CSF", 2: "GM", 5: "brainstem", 4: "NA"},
        tissues={1: "CSF", 2: "GM", 4: "GM"},
    )
    table = write_label_table(seg, tmp_path / "dseg.tsv")
    assert read_label_table(table) == (
        {1: "CSF", 2: "GM", 4: "NA", 5: "brainstem"},
        {1: "CSF", 2: "GM", 4: "GM"},
    )
    (tmp_path / "user.tsv").write_text("index\tname\n1\tbladder\n2\tNA\n")  # a user's table: names only
    assert read_label_table(tmp_path / "user.tsv") == ({1: "bladder", 2: "NA"}, {1: "bladder", 2: "NA"})


def test_evaluation_writes_one_row_per_method_and_the_error_when_the_field_is_known(tmp_path):
    rng = np.random.default_rng(0)
    dseg = np.zeros((12, 12, 12), np.uint8)
    dseg[2:10, 2:10, 2:6], dseg[2:10, 2:10, 6:10] = 2, 3  # GM, WM
    clean = np.where(dseg == 3, 100.0, np.where(dseg == 2, 60.0, 0)) + rng.normal(0, 2, dseg.shape)
    field = np.exp(np.linspace(-0.3, 0.3, 12))[:, None, None] * np.ones(dseg.shape)
    original = save(clean * field, tmp_path / "original.nii.gz")
    corrected = save(clean * 2, tmp_path / "corrected.nii.gz")
    (tmp_path / "dseg.tsv").write_text("index\tname\ttissue\n2\tGM\tGM\n3\tWM\tWM\n")
    interface = EvaluateCorrections(
        in_files=[original, corrected],
        methods=["original", "n4"],
        dseg_file=save(dseg, tmp_path / "dseg.nii.gz"),
        dseg_tsv=str(tmp_path / "dseg.tsv"),
        known_field=save(field, tmp_path / "field.nii.gz"),
        segmentation={"SegmentationSource": "user", "Other": "dropped"},
        contrast="T1w",
    )
    result = interface.run(cwd=tmp_path).outputs
    table = pd.read_csv(result.out_tsv, sep="\t")
    assert list(table.columns) == [
        "method", "segmentation", "cv_gm", "cv_wm", "cjv", "rel_error", "field_corr", "field_slope",
        "field_residual", "field_gm_wm", "field_gm_wm_detrended", "mean_gm", "mean_wm",
    ]  # fmt: skip
    assert list(table.method) == ["original", "n4"] and set(table.segmentation) == {"user"}
    assert table.rel_error[1] == pytest.approx(0, abs=1e-6) and table.rel_error[0] > 0.05
    assert table.field_slope.tolist() == pytest.approx([0, 1]) and np.isnan(table.field_corr[0])
    assert table.cjv[1] < table.cjv[0]
    # the field removed varies along x only, where GM and WM lie alike: no step between them
    assert table.field_gm_wm.tolist() == pytest.approx([0, 0], abs=1e-6)
    dictionary = json.loads(open(result.out_json).read())
    assert set(dictionary) == {*table.columns, "SegmentationSource", "Contrast"}
    # a field on another grid is refused, naming it
    save(field, tmp_path / "moved.nii.gz", affine=np.diag([2.0, 2, 2, 1]))
    interface.inputs.known_field = str(tmp_path / "moved.nii.gz")
    with pytest.raises(ValueError, match="moved.nii.gz is not on the image's grid"):
        interface.run(cwd=tmp_path)


def test_image_figures_are_drawn_into_the_derivatives_and_a_stale_one_is_removed(tmp_path):
    import matplotlib.image

    from inuprep.interfaces.reports import ImageFigures

    dseg = np.zeros((16, 16, 16), np.uint8)
    dseg[3:13, 3:13, 3:8], dseg[3:13, 3:13, 8:13] = 2, 3
    image = np.where(dseg == 3, 100.0, np.where(dseg == 2, 60.0, 5.0))
    field = np.exp(np.linspace(-0.3, 0.3, 16))[:, None, None] * np.ones(dseg.shape)
    source = tmp_path / "bids" / "sub-01" / "anat" / "sub-01_acq-1.5T_T1w.nii.gz"
    source.parent.mkdir(parents=True)
    save(image * field, source)
    (tmp_path / "dseg.tsv").write_text("index\tname\ttissue\n2\tGM\tGM\n3\tWM\tWM\n")
    figures = tmp_path / "out" / "sub-01" / "figures"
    figures.mkdir(parents=True)
    stale = figures / "sub-01_acq-1.5T_desc-losses_T1w.png"
    stale.write_bytes(b"an earlier run's")
    result = (
        ImageFigures(
            source=str(source),
            methods=["n4"],
            corrected_files=[save(image, tmp_path / "corrected.nii.gz")],
            field_files=[save(field, tmp_path / "field.nii.gz")],
            metadata=[{"BiasCorrectionMethod": "N4"}],  # no losses: no loss figure
            dseg_file=save(dseg, tmp_path / "dseg.nii.gz"),
            dseg_tsv=str(tmp_path / "dseg.tsv"),
            output_dir=str(tmp_path / "out"),
        )
        .run(cwd=tmp_path)
        .outputs
    )
    names = ["sub-01_acq-1.5T_desc-views_T1w.png", "sub-01_acq-1.5T_desc-fields_T1w.png"]
    assert result.figures == [str(figures / name) for name in names]
    assert sorted(path.name for path in figures.iterdir()) == sorted(names)  # no temporary file either
    assert all(matplotlib.image.imread(figures / name)[..., :3].std() > 0.05 for name in names)


def test_the_app_checks_a_skull_stripped_image_and_masks_its_whole_support(tmp_path):
    """The App's default mask is ``inuprep-correct``'s: a skull-stripped image's dark CSF is inside it."""
    from inuprep.interfaces.checks import CheckImage
    from inuprep.utils.mni152 import mni152

    t1, gm, wm = (img.get_fdata(dtype=np.float32) for img in mni152(3.0, ("T1", "GM", "WM")))
    csf = np.clip(1 - gm - wm, 0, 1)  # a real brain's shape: a toy ball's box meets it on larger patches
    texture = np.random.default_rng(0).normal(1, 0.05, t1.shape)
    brain = np.where(t1 > 0.05 * t1.max(), 40 * csf + 550 * gm + 800 * wm, 0) * texture  # dark CSF, zeros
    path = save(brain.astype(np.float32), tmp_path / "stripped.nii.gz")
    result = CheckImage(in_file=path).run(cwd=str(tmp_path))
    mask = nb.load(result.outputs.mask_file).get_fdata() > 0
    assert (mask == (brain > 0)).all()


def test_a_correction_runs_from_a_python_whose_path_has_a_space(tmp_path, monkeypatch):
    """nipype runs a command line through a shell: the runner's Python is quoted in it."""
    import shlex
    import sys

    from inuprep.interfaces.correction import _interface
    from inuprep.methods import METHODS

    python = tmp_path / "my python" / "python"
    python.parent.mkdir()
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(python))
    grid = np.meshgrid(*[np.linspace(-1, 1, 20)] * 3, indexing="ij")
    ball = np.where(sum(axis**2 for axis in grid) < 0.8, 100.0, 0.0) * np.exp(0.3 * grid[0])
    correction = _interface(METHODS["n4"])(in_file=save(ball, tmp_path / "ball.nii.gz"))
    assert correction.cmdline.startswith(f"'{python}' -m inuprep.methods.run --method n4")
    (tmp_path / "node").mkdir()
    result = correction.run(cwd=tmp_path / "node")
    assert nb.load(result.outputs.out_file).shape == ball.shape
