"""Scale-out on a real single-node SLURM (slurmctld + slurmd + munged, tests/slurm/start-cluster.sh).

Both patterns a cluster user has: nipype's SLURM plugin (every step a job) and the job array of
examples/slurm/inuprep-array.sbatch (one participant per task). `pytest -k slurm` selects these tests.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, inuprep, make_bids, small_disk, tree_digests
from inuprep.simulation.fields import simulate_bias

SCRIPTS = ROOT / "tests" / "slurm"
ARRAY = ROOT / "examples" / "slurm" / "inuprep-array.sbatch"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """Start the cluster; yield the environment its clients need; stop exactly its daemons."""
    missing = [tool for tool in ("munged", "slurmctld", "slurmd", "sbatch") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install slurm-wlm munge; .ci/run does)")
    if os.geteuid() != 0:
        pytest.skip("the test cluster runs its daemons as root (SlurmUser=root)")
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run([SCRIPTS / "start-cluster.sh", state], capture_output=True, text=True)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}, state
    finally:
        subprocess.run([SCRIPTS / "stop-cluster.sh", state], check=False)
    assert not [pid for name in ("slurmctld", "slurmd", "munged") if (state / f"{name}.pid").exists()
                for pid in [name]]  # fmt: skip


def dataset(root: Path, mni_3mm, labels=("01", "02")) -> Path:
    """Write a BIDS dataset of biased 3 mm MNI152 T1w images and its participants.tsv."""
    t1 = mni_3mm.get_fdata(dtype=np.float32)
    files = {
        f"sub-{label}/anat/sub-{label}_T1w.nii.gz": simulate_bias(t1, 2.0, int(label))[1] for label in labels
    }
    bids = make_bids(root, files, affine=mni_3mm.affine)
    (bids / "participants.tsv").write_text("participant_id\n" + "".join(f"sub-{label}\n" for label in labels))
    return bids


def metrics(out: Path) -> pd.DataFrame:
    frames = [pd.read_csv(tsv, sep="\t").assign(image=tsv.name) for tsv in sorted(out.rglob("*_metrics.tsv"))]
    return pd.concat(frames, ignore_index=True)


def test_nipype_slurm_plugin_runs_every_step_as_a_job_like_multiproc(slurm, tmp_path, mni_3mm):
    env, state = slurm
    bids = dataset(tmp_path / "bids", mni_3mm, ("01", "02"))
    # sub-02: a valid header but a truncated body (an interrupted copy): it fails inside a job
    corrupt = bids / "sub-02/anat/sub-02_T1w.nii.gz"
    corrupt.write_bytes(corrupt.read_bytes()[: corrupt.stat().st_size // 2])
    plugin = tmp_path / "slurm.yml"
    plugin.write_text((ROOT / "examples/slurm/nipype-slurm.yml").read_text().replace(
        "--cpus-per-task=2 --mem=3G", "--cpus-per-task=1 --mem=2G"))  # fmt: skip
    common = ["participant", "--omp-nthreads", "1", "--methods", "implicit", "zeroshot"]
    # as in CI, containers and cron: no LOGNAME nor USER (nipype's plugin used to raise KeyError)
    bare = {k: v for k, v in env.items() if k not in ("LOGNAME", "USER")}
    app = [sys.executable, "-m", "inuprep.cli.run", bids, tmp_path / "out"]
    command = [*app, *common, "-w", tmp_path / "work", "--use-plugin", plugin]
    start = time.monotonic()
    result = subprocess.run(list(map(str, command)), capture_output=True, text=True, env=bare, cwd=tmp_path)
    slurm_s = time.monotonic() - start
    start = time.monotonic()
    local = inuprep(
        bids, tmp_path / "local", *common, "-w", tmp_path / "local-work", "--nprocs", 2, cwd=tmp_path
    )
    multiproc_s = time.monotonic() - start
    print(f"\none participant (+1 failing): SLURM plugin {slurm_s:.0f} s, MultiProc {multiproc_s:.0f} s")
    for run in (result, local):
        assert run.returncode == 1, run.stdout + run.stderr
        assert "sub-01: done" in run.stdout
        failed = [line for line in (run.stdout + run.stderr).splitlines() if "sub-02: FAILED" in line]
        assert len(failed) == 1 and "sub-02_T1w.nii.gz" in failed[0], run.stdout + run.stderr
        assert "Traceback" not in run.stdout + run.stderr
    # every step that is not a sink ran as a job: the good image's check, both corrections, masks, evaluation
    jobs = (state / "jobcomp.txt").read_text().splitlines()
    names = [line.split(" Name=")[1].split()[0] for line in jobs if " Name=" in line]
    for step, count in (("check", 1), ("correct", 2), ("segment", 1), ("evaluate", 1)):
        assert sum(name.startswith(f"{step}.") for name in names) >= count, names
    # the same numbers as MultiProc: the same seed and one thread per step
    slurm_table, local_table = metrics(tmp_path / "out"), metrics(tmp_path / "local")
    assert list(slurm_table.image) == list(local_table.image) and len(slurm_table) == 3
    numbers = slurm_table.columns.drop(["method", "segmentation", "image"])
    assert np.allclose(slurm_table[numbers], local_table[numbers], rtol=1e-4, atol=1e-6)


def test_a_study_on_the_array_survives_cancel_kill_full_disk_and_a_controller_restart(
    slurm, tmp_path, mni_3mm
):
    """Issue 46: six participants, one per task of examples/slurm/inuprep-array.sbatch (the first two build
    the shared pybids index at once); task 2 cancelled, task 4 SIGKILLed, task 3's work folder on a full
    disk, the controller restarted meanwhile. Those three alone fail; resubmitting them as the script says
    completes the study, the other participants' files untouched, and the group level sees all six."""
    env, state = slurm
    labels = [f"0{i}" for i in range(1, 7)]
    bids = dataset(tmp_path / "bids", mni_3mm, labels)
    out, work = tmp_path / "out", tmp_path / "work"
    env = {**env, "INUPREP_CMD": f"{sys.executable} -m inuprep.cli.run"}
    args = [
        "--cpus-per-task=1",
        "--mem=2G",
        "-o",
        str(tmp_path / "task-%a.out"),
        str(ARRAY),
        str(bids),
        str(out),
        str(work),
        "--methods",
        "implicit",
    ]  # fmt: skip  (the tasks are the point, not the methods)

    def sbatch(*extra):
        command = ["sbatch", "--parsable", *extra, *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=900)

    def state_of(job):  # "?" while the controller does not answer
        done = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%T"], env=env, capture_output=True, text=True
        )
        return done.stdout.strip() if done.returncode == 0 else "?"

    def running(task, deadline):
        while state_of(f"{array}_{task}") != "RUNNING":
            assert time.monotonic() < deadline, f"task {task} never ran"
            time.sleep(0.5)
        time.sleep(8)  # well inside its work

    def log(task):
        return (tmp_path / f"task-{task}.out").read_text()

    work.mkdir()
    with small_disk(work / "sub-03", "1m"):
        submitted = sbatch("--array=1-6")
        assert submitted.returncode == 0, submitted.stderr
        array = submitted.stdout.strip()
        deadline = time.monotonic() + 600
        running(2, deadline)
        subprocess.run(["scancel", f"{array}_2"], env=env, check=True)  # a time limit, a user's scancel
        running(4, deadline)
        subprocess.run(["scancel", "--full", "--signal=KILL", f"{array}_4"], env=env, check=True)  # OOM kill
        controller = int((state / "slurmctld.pid").read_text())
        os.kill(controller, signal.SIGTERM)  # the controller restarted under running tasks
        while Path(f"/proc/{controller}").exists():
            time.sleep(0.2)
        subprocess.run(["slurmctld", "-f", env["SLURM_CONF"]], env=env, check=True)
        while state_of(array) and time.monotonic() < deadline:
            time.sleep(1)
        assert not state_of(array), "the array did not end"
    for task in (1, 5, 6):
        assert f"sub-0{task}: done" in log(task), log(task)
    assert "terminated by SIGTERM" in log(2) and "has 1 MB free" in log(3) and "sub-04: done" not in log(4)
    group = inuprep(bids, out, "group", "-w", work / "group", cwd=tmp_path)
    assert group.returncode == 0, group.stdout + group.stderr
    for label in ("02", "03", "04"):
        assert f"sub-{label}_space-T1w" in group.stderr
    finished = {label: tree_digests(out / f"sub-{label}") for label in ("01", "05", "06")}
    rerun = sbatch("--array=2-4", "--wait")  # the failed tasks alone, resubmitted; they resume
    assert rerun.returncode == 0, "".join(log(task) for task in (2, 3, 4))
    for task in (2, 3, 4):
        assert f"sub-0{task}: done" in log(task), log(task)
    assert {label: tree_digests(out / f"sub-{label}") for label in finished} == finished
    assert not [path for path in out.rglob(".*") if path.name != ".bidsignore"]
    group = inuprep(bids, out, "group", "-w", work / "group", cwd=tmp_path)
    assert group.returncode == 0 and "no metrics" not in group.stderr, group.stdout + group.stderr
    assert set(pd.read_csv(out / "group_T1w.tsv", sep="\t").n_images) == {6}
    for label in labels:
        assert (out / f"sub-{label}.html").is_file()
        assert (out / f"sub-{label}/anat/sub-{label}_desc-implicit_T1w.nii.gz").is_file()
