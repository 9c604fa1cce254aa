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


def test_a_write_killed_midway_leaves_a_temporary_file_that_the_next_write_removes(tmp_path):
    """A process killed while it copies a file into place leaves its hidden temporary file (never the final
    name); the next write of that name, or the run's sweep, removes it; a live process's stays, as does
    another host's until it is a day old."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from inuprep.utils.io import STALE_ELSEWHERE_S, atomic_copy, remove_interrupted_writes, temporary_prefix

    dest = tmp_path / "sub-01" / "anat" / "sub-01_desc-corrected_T1w.nii.gz"
    writer = (  # a write that waits for its input: under way when it is killed
        "import sys; from pathlib import Path; from inuprep.utils.io import replacing\n"
        f"with replacing(Path({str(dest)!r})) as tmp:\n    tmp.write_bytes(b'part'); sys.stdin.read()"
    )
    process = subprocess.Popen([sys.executable, "-c", writer], stdin=subprocess.PIPE)
    while not list(dest.parent.glob(".*")):
        assert process.poll() is None, "the writer ended"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    left = list(dest.parent.glob(".*"))
    assert len(left) == 1 and not dest.exists()
    assert left[0].name.startswith(f".{dest.name}~{socket.gethostname()}~{process.pid}~")
    live = dest.parent / f"{temporary_prefix(dest)}abc.tmp"  # this test's own process is alive
    old, new = (dest.parent / f".{dest.name}~elsewhere~1~{tag}.tmp" for tag in ("old", "new"))
    for path in (live, old, new):
        path.write_text("part")
    os.utime(old, (time.time() - STALE_ELSEWHERE_S - 60,) * 2)
    source = tmp_path / "source.nii.gz"
    source.write_bytes(b"done")
    atomic_copy(source, dest)
    assert dest.read_bytes() == b"done"
    assert sorted(path.name for path in dest.parent.glob(".*")) == sorted([live.name, new.name])
    live.unlink()
    stale = dest.parent / f".{dest.name}~{socket.gethostname()}~{process.pid}~again.tmp"
    stale.write_text("part")  # a file of another name's, left by the killed process, and nested
    assert remove_interrupted_writes(tmp_path, recursive=True) == [stale]
