"""Writing images: ISA-L's gzip gives the stream any gzip reader takes, with the image's exact values."""

import gzip

import nibabel as nb
import numpy as np

from inuprep.utils.io import save_like, write_nifti


def test_a_gzipped_image_is_standard_gzip_with_the_exact_values(tmp_path):
    rng = np.random.default_rng(0)
    data = np.exp(rng.normal(size=(23, 19, 11))).astype(np.float32)
    affine = np.diag([0.9, 1.1, 2.0, 1.0])
    path = write_nifti(nb.Nifti1Image(data, affine), tmp_path / "field.nii.gz")
    with gzip.open(path, "rb") as stream:  # Python's own zlib reads it, header first
        assert int.from_bytes(stream.read(4), "little") == 348
    header = open(path, "rb").read(10)
    assert header[3] & 0x08 == 0 and header[4:8] == bytes(4)  # no file name, no time (the BIDS validator's)
    img = nb.load(path)
    assert np.array_equal(img.get_fdata(dtype=np.float32), data) and np.allclose(img.affine, affine)
    # save_like keeps the reference's grid; an uncompressed name stays uncompressed
    plain = save_like(data > 1, img, tmp_path / "mask.nii", np.uint8)
    assert open(plain, "rb").read(4) == (348).to_bytes(4, "little")
    assert np.array_equal(np.asanyarray(nb.load(plain).dataobj), (data > 1).astype(np.uint8))
