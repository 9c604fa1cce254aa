"""Issue 46: a participant run killed at random moments, then rerun in the same work folder, must always end
well: exit 0, every output a clean run writes, no hidden or temporary file in the output folder, no
unreadable image, and no step that had finished run again.

One participant (MNI152 at 3 mm: a T1w and a T2w with fields of their own) is run by the App with every
method (``--methods n4 zeroshot implicit``, ``--nprocs 2``). A clean run first gives the duration T and the
list of outputs. Then each sweep run starts from empty folders and kills the App ``--kills`` times, the first
at a moment drawn uniformly over (0, T) after its start, the others over (0, T/2) after theirs (a run that
resumes has less left to do), before the rerun that must finish: a kill is SIGKILL
to the App's whole process group (a cgroup's kill, an out-of-memory kill of the job) or to the App alone
(its workers then get SIGTERM from ``die_with_parent``), chosen at random. A failing run's folder is kept.

    python benchmarks/kill_sweep.py                     # 10 runs of 3 kills (about 15 min on 2 cores)
    python benchmarks/kill_sweep.py --runs 2 --seed 7   # other moments
    python benchmarks/kill_sweep.py --orphan            # the race of a rerun with a killed App's worker

``--orphan`` forces a race a random kill of the App alone meets now and then: its workers end a few seconds
after it, in the steps' folders the rerun takes. A worker is stopped 1 s into the zero-shot correction (its
correction process goes on), the App is killed and rerun, and the worker is let go once the rerun's own
worker is in that step, or once the rerun says it waits for the old one. It prints the rerun's exit and
the failure it reports.
"""

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nb
import numpy as np

METHODS = ("n4", "zeroshot", "implicit")


def mtimes(work: Path, pattern: str) -> dict[Path, int]:
    """Return {path: mtime} of the files under ``work`` that match ``pattern``, while a run may be adding and
    removing folders there (the validator's temporary one): a listing that raced a removal is taken again."""
    while True:
        try:
            return {path: path.stat().st_mtime_ns for path in work.rglob(pattern)}
        except FileNotFoundError:
            continue


def finished_steps(work: Path) -> dict[Path, int]:
    """Return {hash file: mtime} of every finished step but those that write into the output folder (the
    derivatives' sinks and the figures): they run on every run (always_run), so that an output deleted from
    there comes back."""
    return {
        path: mtime
        for path, mtime in mtimes(work, "_0x*.json").items()
        if "unfinished" not in path.name and not path.parent.name.startswith(("ds_", "figures"))
    }


def redone(finished: dict[Path, int]) -> list[str]:
    """Return the steps of ``finished`` whose hash file changed or went since (run again)."""
    changed = []
    for path, mtime in finished.items():
        try:
            if path.stat().st_mtime_ns != mtime:
                changed.append(path.parent.name)
        except FileNotFoundError:
            changed.append(path.parent.name)
    return changed


def stray_files(out: Path) -> list[str]:
    """Return the output folder's hidden or temporary files (``.bidsignore`` is meant to be there)."""
    return sorted(
        str(path.relative_to(out))
        for path in out.rglob("*")
        if (path.name.startswith(".") and path.name != ".bidsignore") or path.name.endswith(".tmp")
    )


def outputs(out: Path) -> set[str]:
    """Return the derivatives a run leaves (its logs, named after the run, aside)."""
    files = (path.relative_to(out) for path in out.rglob("*") if path.is_file())
    return {str(path) for path in files if not {"log", "logs"} & set(path.parts)}


def unreadable(out: Path) -> list[str]:
    """Return the output images nibabel cannot read whole, or with values that are not finite."""
    bad = []
    for image in out.rglob("*.nii.gz"):
        try:
            if not np.isfinite(nb.load(image).get_fdata(dtype=np.float32)).all():
                bad.append(image.name)
        except Exception:  # noqa: BLE001 - any failure to read is the finding
            bad.append(image.name)
    return bad


def write_dataset(root: Path) -> Path:
    """Write the sweep's BIDS dataset (one participant, a T1w and a T2w) under ``root``; return it."""
    import json

    from inuprep.simulation.fields import simulate_bias
    from inuprep.utils.mni152 import mni152

    template = mni152(3.0)[0]
    t1 = template.get_fdata(dtype=np.float32)
    t2 = np.where(t1 > 0.05, 1.2 - t1, 0)  # CSF bright, WM dark
    anat = root / "sub-01" / "anat"
    anat.mkdir(parents=True)
    description = {"Name": "kill sweep", "BIDSVersion": "1.10.0", "Authors": ["inuprep"]}
    (root / "dataset_description.json").write_text(json.dumps(description))
    (root / "README").write_text("MNI152 at 3 mm with simulated fields: inuprep's kill sweep.\n")
    for suffix, data, seed in (("T1w", t1, 1), ("T2w", t2, 3)):
        image = nb.Nifti1Image(simulate_bias(data, 2.0, seed)[1].astype(np.float32), template.affine)
        image.header.set_xyzt_units("mm", "sec")
        image.to_filename(anat / f"sub-01_{suffix}.nii.gz")
    return root


def command(bids: Path, folder: Path, methods) -> list[str]:
    argv = [bids, folder / "out", "participant", "-w", folder / "work", "--nprocs", 2, "--methods", *methods]
    return [sys.executable, "-m", "inuprep.cli.run", *map(str, argv)]


def start(argv: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as stream:
        return subprocess.Popen(argv, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True)


def sweep_run(bids: Path, folder: Path, methods, duration: float, kills: int, rng: random.Random, expected):
    """Kill a run ``kills`` times, then rerun it; return (what went wrong, one line per kill)."""
    argv, log = command(bids, folder, methods), folder / "log.txt"
    finished, lines = {}, []
    for kill in range(kills):
        after, whole = rng.uniform(0.0, duration if kill == 0 else duration / 2), rng.random() < 0.5
        app = start(argv, log)
        try:
            app.wait(timeout=after)
            lines.append(f"ended (exit {app.returncode}) before its kill at {after:.1f} s")
        except subprocess.TimeoutExpired:
            if whole:
                os.killpg(app.pid, signal.SIGKILL)
            else:
                app.kill()
            app.wait(timeout=60)
            lines.append(f"killed at {after:.1f} s ({'the process group' if whole else 'the App alone'})")
        time.sleep(0.5)  # the App alone: its workers stop on SIGTERM
        problems = [f"redone after a kill: {', '.join(steps)}" for steps in [redone(finished)] if steps]
        if app.returncode not in (0, -signal.SIGKILL):
            problems.append(f"exit {app.returncode} before its kill")
        if problems:
            return problems, lines
        finished = finished_steps(folder / "work")
    rerun = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    with open(log, "a") as stream:
        stream.write(rerun.stdout + rerun.stderr)
    out = folder / "out"
    problems = []
    if rerun.returncode != 0:
        problems.append(f"the rerun's exit {rerun.returncode}: {rerun.stderr.strip().splitlines()[-1:]}")
    if missing := sorted(expected - outputs(out)):
        problems.append(f"missing: {', '.join(missing)}")
    if steps := redone(finished):
        problems.append(f"redone by the rerun: {', '.join(steps)}")
    if stray := stray_files(out):
        problems.append(f"stray files: {', '.join(stray)}")
    if bad := unreadable(out):
        problems.append(f"unreadable: {', '.join(bad)}")
    return problems, lines


def worker_in(app: subprocess.Popen, step: str) -> int | None:
    """Return the pid of a living worker of ``app`` that runs in the node folder ending with ``step``."""
    for pid in Path("/proc").glob("[0-9]*"):
        try:
            state, parent = (pid / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            if state != "Z" and int(parent) == app.pid and os.readlink(pid / "cwd").endswith(step):
                return int(pid.name)
        except (OSError, ValueError):
            continue
    return None


def orphan_case(bids: Path, folder: Path) -> int:
    """Run ``--orphan`` in ``folder``; return the rerun's exit code."""
    argv, log = command(bids, folder, ["zeroshot"]), folder / "rerun.txt"
    log.touch()
    step = "image_sub_01_T1w_wf/zeroshot_wf/correct"
    app = start(argv, folder / "log.txt")
    while worker_in(app, step) is None:
        time.sleep(0.01)
    time.sleep(1.0)
    orphan = worker_in(app, step)
    os.kill(orphan, signal.SIGSTOP)  # a worker still ending in the step when the rerun starts
    app.kill()
    app.wait()
    rerun = start(argv, log)
    while worker_in(rerun, step) is None and "another run works on it" not in log.read_text():
        time.sleep(0.01)
    os.kill(orphan, signal.SIGCONT)
    rerun.wait(timeout=1800)
    failed = [line for line in log.read_text().splitlines() if "FAILED" in line or "waiting" in line]
    print(f"the rerun beside a worker of the killed run: exit {rerun.returncode}", *failed, sep="\n  ")
    return rerun.returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="of the kill moments")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--root", type=Path, help="folder for the runs (default: a temporary one)")
    parser.add_argument("--orphan", action="store_true", help="the race with a killed App's worker, forced")
    args = parser.parse_args(argv)
    root = args.root or Path(tempfile.mkdtemp(prefix="inuprep-kill-sweep-"))
    root.mkdir(parents=True, exist_ok=True)
    bids = write_dataset(root / "bids")
    if args.orphan:
        (root / "orphan").mkdir()
        return 1 if orphan_case(bids, root / "orphan") else 0
    clean = root / "clean"
    began = time.monotonic()
    result = subprocess.run(command(bids, clean, args.methods), capture_output=True, text=True, timeout=1800)
    duration = time.monotonic() - began
    if result.returncode != 0:
        print(result.stdout + result.stderr)
        return 1
    expected = outputs(clean / "out")
    print(f"clean run: {duration:.0f} s, {len(expected)} outputs; kills uniform over (0, {duration:.0f}) s")
    rng, failed = random.Random(args.seed), 0
    for index in range(args.runs):
        folder = root / f"run-{index:02d}"
        folder.mkdir()
        began = time.monotonic()
        problems, lines = sweep_run(bids, folder, args.methods, duration, args.kills, rng, expected)
        verdict = "FAILED: " + "; ".join(problems) if problems else "passed"
        print(
            f"run {index}: {'; '.join(lines)}; rerun {verdict} ({time.monotonic() - began:.0f} s)", flush=True
        )
        if problems:
            failed += 1
            print(f"  kept: {folder}")
        else:
            shutil.rmtree(folder)
    print(f"{args.runs - failed} of {args.runs} runs passed (seed {args.seed}, {args.kills} kills each)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
