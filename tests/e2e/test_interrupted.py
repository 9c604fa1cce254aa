"""End to end: the App stopped, killed, out of disk or run twice at once, and each rerun (MNI152 at 3 mm, the
implicit network only, the cheapest method: the process handling is the point)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nb
import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, biased, inuprep, make_bids, small_disk


def load_sweep():
    """Return benchmarks/kill_sweep.py as a module: its listings of a work folder and its run."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("kill_sweep", ROOT / "benchmarks" / "kill_sweep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SWEEP = load_sweep()
mtimes, finished_steps = SWEEP.mtimes, SWEEP.finished_steps


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_stopped_run_leaves_no_worker_nor_partial_file_and_a_rerun_finishes(tmp_path, mni_3mm, signum):
    from inuprep.runtime import descendants

    t1 = mni_3mm.get_fdata(dtype=np.float32)
    files = {f"sub-0{i}/anat/sub-0{i}_T1w.nii.gz": biased(t1, i) for i in (1, 2)}
    bids = make_bids(tmp_path / "bids", files, affine=mni_3mm.affine)
    out, work = tmp_path / "out", tmp_path / "work"
    argv = [bids, out, "participant", "-w", work, "--nprocs", 2, "--methods", "implicit"]
    app = subprocess.Popen(
        [sys.executable, "-m", "inuprep.cli.run", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    for line in app.stdout:  # the workers are busy once a first step has ended
        if "correction done" in line:
            break
    workers = descendants(app.pid)
    assert workers
    if signum == signal.SIGINT:  # Ctrl-C: the terminal signals the whole foreground process group
        os.killpg(app.pid, signum)
    else:  # a scheduler's time limit, scancel, kill
        app.send_signal(signum)
    sent = time.monotonic()
    _, stderr = app.communicate(timeout=120)
    while any(running(pid) for pid in workers) and time.monotonic() - sent < 60:
        time.sleep(0.5)
    assert time.monotonic() - sent < 20, "the App or its workers took too long to stop"
    assert not [pid for pid in workers if running(pid)], "orphaned workers"
    if signum != signal.SIGKILL:  # SIGKILL leaves the App no word
        assert app.returncode == 128 + signum
        name = signal.Signals(signum).name
        assert stderr.count("\n") == 1 and f"terminated by {name}" in stderr and "rerun" in stderr, stderr
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    for image in out.rglob("*.nii.gz"):
        assert np.isfinite(nb.load(image).get_fdata()).all()
    if signum == signal.SIGINT:
        return  # the same handler as SIGTERM; the reruns are tested after SIGTERM and SIGKILL
    # a finished correction has its hash file; a rerun must not run it again
    finished = {path: mtime for path, mtime in finished_steps(work).items() if path.parent.name == "correct"}
    assert finished  # at least the step that printed "correction done"
    rerun = inuprep(*argv, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "sub-01: done" in rerun.stdout and "sub-02: done" in rerun.stdout
    assert {path: path.stat().st_mtime_ns for path in finished} == finished


#: a node of each kind (its folder's name in the work folder): a correction, the fallback's registered
#: priors and tissue model, the evaluation, a derivative's sink and the report's figures
KILL_AFTER = ("correct", "priors", "segment", "evaluate", "ds_metrics_tsv", "figures")


def test_a_run_killed_just_after_each_kind_of_step_resumes_without_redoing_it(tmp_path, mni_3mm):
    """As an out-of-memory kill or a node failure's SIGKILL, just after a step of each kind (KILL_AFTER), one
    after another in one work folder: each rerun runs no finished step again (checked at the next kill and
    at the end) and the last finishes every participant (exit 0, every output); a cached step's progress
    line fails nobody."""
    from inuprep.inputs.images import ImageRun
    from inuprep.segmentation.base import BRAIN_LABELS
    from inuprep.utils.bids import output_paths

    t1 = mni_3mm.get_fdata(dtype=np.float32)
    files = {f"sub-0{i}/anat/sub-0{i}_T1w.nii.gz": biased(t1, i) for i in (1, 2)}
    bids = make_bids(tmp_path / "bids", files, affine=mni_3mm.affine)
    out, work = tmp_path / "out", tmp_path / "work"
    argv = [bids, out, "participant", "-w", work, "--nprocs", 2, "--methods", "implicit"]
    command = [sys.executable, "-m", "inuprep.cli.run", *map(str, argv)]
    finished, killed = {}, []
    for node in KILL_AFTER:
        results = f"{node}/result_{node}.pklz"
        if not node.startswith(("ds_", "figures")) and len(mtimes(work, results)) == len(files):
            continue  # this step finished for every image before the last kill
        started = time.time_ns()
        app = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        while app.poll() is None and not any(mtime > started for mtime in mtimes(work, results).values()):
            time.sleep(0.02)
        os.killpg(app.pid, signal.SIGKILL)
        app.wait(timeout=60)
        assert app.returncode == -signal.SIGKILL, f"the run ended before {node} finished"
        assert {path: path.stat().st_mtime_ns for path in finished} == finished, f"redone before {node}"
        finished = finished_steps(work)
        killed.append(node)
    assert len(killed) >= 4, killed  # most kinds killed a run of their own
    rerun = inuprep(*argv, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "sub-01: done" in rerun.stdout and "sub-02: done" in rerun.stdout
    for label in ("01", "02"):
        run = ImageRun(path=bids / f"sub-{label}/anat/sub-{label}_T1w.nii.gz", subject=label, contrast="T1w")
        for path in output_paths(run, ("implicit",), tuple(BRAIN_LABELS.values())).values():
            assert (out / path).is_file(), path
        assert (out / f"sub-{label}.html").is_file()
    assert {path: path.stat().st_mtime_ns for path in finished} == finished, "a finished step ran again"
    assert not SWEEP.stray_files(out)


def test_two_runs_into_one_output_folder_both_finish_and_the_group_sees_both(tmp_path, mni_3mm):
    from concurrent.futures import ThreadPoolExecutor

    t1 = mni_3mm.get_fdata(dtype=np.float32)
    files = {f"sub-0{i}/anat/sub-0{i}_T1w.nii.gz": biased(t1, i) for i in (1, 2)}
    bids = make_bids(tmp_path / "bids", files, affine=mni_3mm.affine)
    out, work = tmp_path / "out", tmp_path / "work"  # one work folder too, as job-array tasks may share
    argv = ["-w", work, "--nprocs", 1, "--methods", "implicit"]
    with ThreadPoolExecutor(2) as pool:  # two jobs of one array, started together
        results = list(
            pool.map(
                lambda label: inuprep(
                    bids, out, "participant", "--participant-label", label, *argv, cwd=tmp_path
                ),
                ("01", "02"),
            )
        )
    for label, result in zip(("01", "02"), results, strict=True):
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"sub-{label}: done" in result.stdout
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["GeneratedBy"][0]["Name"] == "inuprep"
    assert (out / ".bidsignore").read_text().splitlines()[0]
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and p.name != ".bidsignore"]
    assert len(list((out / "logs").glob("inuprep_settings_*.json"))) == 2
    group = inuprep(bids, out, "group", "-w", work, cwd=tmp_path)
    assert group.returncode == 0, group.stdout + group.stderr
    assert set(pd.read_csv(out / "group_T1w.tsv", sep="\t").n_images) == {2}


@pytest.mark.needs_root
def test_a_disk_too_small_for_the_run_is_refused_in_one_line(tmp_path, mni_3mm):
    t1 = mni_3mm.get_fdata(dtype=np.float32)
    bids = make_bids(tmp_path / "bids", {"sub-01/anat/sub-01_T1w.nii.gz": biased(t1, 1)}, mni_3mm.affine)
    with small_disk(tmp_path / "full", "1m") as full:
        result = inuprep(bids, tmp_path / "out", "participant", "-w", full / "work", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and f"--work-dir {full / 'work'} has 1 MB free" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.needs_root
def test_a_disk_that_fills_during_the_run_fails_in_one_line_and_a_rerun_resumes(tmp_path, mni_3mm):
    t1 = mni_3mm.get_fdata(dtype=np.float32)
    bids = make_bids(tmp_path / "bids", {"sub-01/anat/sub-01_T1w.nii.gz": biased(t1, 1)}, mni_3mm.affine)
    with small_disk(tmp_path / "disk", "8m") as disk:
        argv = [
            bids,
            tmp_path / "out",
            "participant",
            "-w",
            disk / "work",
            "--methods",
            "implicit",
            "--nprocs",
            2,
        ]
        command = [sys.executable, "-m", "inuprep.cli.run", *map(str, argv)]
        app = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in app.stdout:  # then another job fills the disk while the masks are computed
            if "implicit correction done" in line:
                break
        with open(disk / "filler", "wb") as filler, pytest.raises(OSError, match="No space left"):
            filler.write(bytes(8 << 20))
        _, stderr = app.communicate(timeout=300)
        (disk / "filler").unlink()
        rerun = inuprep(*argv, cwd=tmp_path)
    assert app.returncode == 1, stderr
    assert stderr.count("\n") == 1, stderr
    assert f"a disk filled up during the run (--work-dir {disk / 'work'} has 0 MB free now)" in stderr
    assert "rerun the same command" in stderr
    assert rerun.returncode == 0 and "sub-01: done" in rerun.stdout, rerun.stdout + rerun.stderr


def worker_in(app: subprocess.Popen, folder: str, timeout: float = 120) -> int:
    """Return the pid of the App's worker process that runs in the node folder ending with ``folder`` (nipype
    runs a node inside its folder), waiting for one."""
    deadline = time.monotonic() + timeout
    while (pid := SWEEP.worker_in(app, folder)) is None:
        assert time.monotonic() < deadline and app.poll() is None, f"no worker ran {folder}"
        time.sleep(0.02)
    return pid


def zeroshot_run(tmp_path: Path, mni_3mm, labels) -> list:
    """Write a dataset of a T1w per participant of ``labels``; return the App's arguments for it (zero-shot,
    the longest step, in two processes)."""
    t1 = mni_3mm.get_fdata(dtype=np.float32)
    files = {f"sub-{label}/anat/sub-{label}_T1w.nii.gz": biased(t1, int(label)) for label in labels}
    bids = make_bids(tmp_path / "bids", files, affine=mni_3mm.affine)
    return [
        bids,
        tmp_path / "out",
        "participant",
        "-w",
        tmp_path / "work",
        "--nprocs",
        2,
        "--methods",
        "zeroshot",
    ]


def test_a_worker_killed_as_by_the_oom_killer_runs_its_steps_again_then_fails_alone(tmp_path, mni_3mm):
    """A worker SIGKILLed (the out-of-memory killer) breaks nipype's process pool: its step runs again alone;
    killed again there, that step alone fails in one line, the other participant finishes, the App ends,
    and a rerun completes."""
    argv = zeroshot_run(tmp_path, mni_3mm, ("01", "02"))
    with open(tmp_path / "stdout", "w+") as stdout, open(tmp_path / "stderr", "w+") as stderr:
        app = subprocess.Popen(
            [sys.executable, "-m", "inuprep.cli.run", *map(str, argv)], stdout=stdout, stderr=stderr
        )
        step = "sub_01_wf/image_sub_01_T1w_wf/zeroshot_wf/correct"
        first = worker_in(app, step)
        os.kill(first, signal.SIGKILL)
        while running(first):
            time.sleep(0.01)
        second = worker_in(app, step)
        os.kill(second, signal.SIGKILL)
        app.wait(timeout=300)
        stdout.seek(0), stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    assert app.returncode == 1, out + err
    assert "correct: its worker process was killed; it runs again, alone" in err
    assert "sub-02: done" in out
    failed = next(line for line in err.splitlines() if line.startswith("sub-01: FAILED"))
    assert "its process was killed while it ran alone (as by the out-of-memory killer)" in failed, err
    rerun = inuprep(*argv, cwd=tmp_path)
    assert rerun.returncode == 0 and "sub-01: done" in rerun.stdout, rerun.stdout + rerun.stderr


def test_a_rerun_waits_for_the_workers_a_killed_run_left_before_it_runs_their_steps(tmp_path, mni_3mm):
    """The App alone SIGKILLed leaves its workers ending for a while (SIGTERM from die_with_parent), in the
    steps' folders that a rerun takes: an old step that ends there removes the hash file the rerun wrote, and
    the rerun's step fails with FileNotFoundError on its ``_0x..._unfinished.json``
    (``python benchmarks/kill_sweep.py --orphan`` on the landed main). The rerun waits for them (a
    participant's lock, held by every worker), then finishes. The worker is stopped here so that it outlives
    the rerun's start."""
    argv = zeroshot_run(tmp_path, mni_3mm, ("01",))
    command = [sys.executable, "-m", "inuprep.cli.run", *map(str, argv)]
    app = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = worker_in(app, "sub_01_wf/image_sub_01_T1w_wf/zeroshot_wf/correct")
    os.kill(worker, signal.SIGSTOP)
    app.kill()
    app.wait()
    rerun = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waited = False
    try:
        for line in rerun.stdout:
            if "sub-01: another run works on it" in line:
                waited = True
                break
    finally:
        os.kill(worker, signal.SIGCONT)
    out, err = rerun.communicate(timeout=600)
    assert waited, out + err
    assert rerun.returncode == 0 and "sub-01: done" in out, out + err


def test_a_run_killed_at_random_moments_with_every_method_resumes_and_finishes(tmp_path):
    """benchmarks/kill_sweep.py's run, once: a T1w and a T2w with every method, the App killed three times at
    random moments over the whole run (its process group or the App alone), then rerun: exit 0, every output
    of a clean run, no hidden file, every image readable, no finished step run again. The seed is new at
    each run and named on failure (``python benchmarks/kill_sweep.py --runs 1 --seed N`` draws the same)."""
    import random

    sweep = SWEEP
    bids = sweep.write_dataset(tmp_path / "bids")
    began = time.monotonic()
    clean = subprocess.run(
        sweep.command(bids, tmp_path / "clean", sweep.METHODS), capture_output=True, text=True
    )
    duration = time.monotonic() - began
    assert clean.returncode == 0, clean.stdout + clean.stderr
    seed = random.SystemRandom().randrange(10**6)
    (tmp_path / "killed").mkdir()
    expected = sweep.outputs(tmp_path / "clean" / "out")
    rng = random.Random(seed)
    problems, kills = sweep.sweep_run(bids, tmp_path / "killed", sweep.METHODS, duration, 3, rng, expected)
    assert not problems, f"seed {seed}: {'; '.join(kills)}: {'; '.join(problems)}"
