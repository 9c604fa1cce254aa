"""deep_atropos end to end, offline: the App given an ANTsXNet cache of stand-in files (random weights).

The five files come from ``tests/antsxnet_standins.py`` (conftest's ``antsxnet_standins``: antspynet's own
architectures, keras' HDF5 writer, nilearn's MNI152 as templates). This proves the path a user with the real
files takes: the cache check, the subprocess, tensorflow/keras loading antspynet's ``.h5`` networks with the
versions we pin, the 6-label dseg with its table and tissue mapping, the probabilities, the sidecars. The
labels carry no anatomy (random weights): no accuracy is asserted.
"""

import json

import nibabel as nb
import numpy as np
import pandas as pd
import pytest

from conftest import inuprep, make_bids, tree_digests
from inuprep.segmentation import deep_atropos
from inuprep.simulation.fields import simulate_bias

pytestmark = pytest.mark.e2e  # the App, with TensorFlow


@pytest.fixture(scope="module")
def deep_atropos_run(tmp_path_factory, antsxnet_standins, mni_3mm):
    root = tmp_path_factory.mktemp("deep_atropos")
    t1 = mni_3mm.get_fdata(dtype=np.float32)
    files = {"sub-01/anat/sub-01_T1w.nii.gz": simulate_bias(t1, 2.0, 21)[1]}
    bids = make_bids(root / "bids", files, affine=mni_3mm.affine)
    cache, digests = antsxnet_standins
    argv = ["-w", root / "work", "--methods", "implicit", "--antsxnet-cache", cache]  # the cheapest method
    result = inuprep(bids, root / "out", "participant", *argv, cwd=root)
    assert tree_digests(cache) == digests, "the cache changed (a download was tried?)"
    return result, root / "out/sub-01/anat", mni_3mm.shape


def test_the_app_takes_the_deep_atropos_path(deep_atropos_run):
    result, anat, _ = deep_atropos_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    sidecar = json.loads((anat / "sub-01_space-T1w_dseg.json").read_text())
    assert sidecar["SegmentationSource"] == "deep_atropos"
    assert "FallbackReason" not in sidecar
    assert sidecar["Labels"] == {str(k): v for k, v in deep_atropos.LABELS.items()}
    assert "antspynet" in sidecar["Software"]
    metrics = pd.read_csv(anat / "sub-01_space-T1w_metrics.tsv", sep="\t")
    assert set(metrics.segmentation) == {"deep_atropos"}
    assert list(metrics.method) == ["original", "implicit"]
    assert metrics[["cv_csf", "cv_gm", "cv_wm", "cjv"]].notna().all().all()


def test_six_labels_their_table_and_the_tissue_mapping(deep_atropos_run):
    _, anat, shape = deep_atropos_run
    dseg = np.asanyarray(nb.load(anat / "sub-01_space-T1w_dseg.nii.gz").dataobj)
    assert dseg.shape == shape
    assert set(np.unique(dseg)) <= set(range(7)) and len(np.unique(dseg[dseg > 0])) >= 4
    table = pd.read_csv(anat / "sub-01_space-T1w_dseg.tsv", sep="\t", na_values="n/a")
    assert table["index"].tolist() == list(range(1, 7))
    assert table["name"].tolist() == ["CSF", "GM", "WM", "deepGM", "brainstem", "cerebellum"]
    # deep GM is evaluated as GM; brain stem and cerebellum mix GM and WM and are left out
    assert table["tissue"].fillna("").tolist() == ["CSF", "GM", "WM", "GM", "", ""]


def test_probabilities_are_one_volume_per_tissue(deep_atropos_run):
    """antspyx writes deep_atropos's merged posteriors as a vector image (x, y, z, 1, 7); each tissue's
    probseg is one 3D volume on the image's grid (was 4D, (x, y, z, 1), before this test)."""
    _, anat, shape = deep_atropos_run
    total = np.zeros(shape)
    for tissue in ("CSF", "GM", "WM"):
        prob = nb.load(anat / f"sub-01_space-T1w_label-{tissue}_probseg.nii.gz").get_fdata()
        assert prob.shape == shape, tissue
        assert prob.min() >= 0
        total += prob
    assert total.max() <= 1 + 1e-4 and total.max() > 0
