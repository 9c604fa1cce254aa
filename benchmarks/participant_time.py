"""Issue 25: where a participant's time goes, against a bare N4 in the same run.

One T1w participant (by default the real ds2748s01 scan of ``../shared/data``: 0.87 x 0.87 x 1 mm,
skull-stripped, not bias-corrected) is copied into a fresh BIDS folder and run by the App (``inuprep``, the
participant level, every method, ``--nprocs 2``). While it runs, every process of its tree is sampled from
``/proc`` every 0.2 s: the CPU time it used since the last sample is charged to the workflow node it works
for (nipype runs a node, and its command lines, inside the node's folder of the work directory), the sum
of the tree's resident memory gives the peak, and the CPU time of all of it against the cores it had gives
the idle cores; a step's start and end are the first and last samples that saw it use CPU. In the same
run, before the App: the App's N4 (``n4_correct``, its settings and foreground mask) called in a fresh
process with as many ITK threads (its call alone is timed: the yardstick), and ``inuprep-correct --method
n4`` as a whole process.

    python benchmarks/participant_time.py
    python benchmarks/participant_time.py --subject philips3t --hogs 2   # beside two CPU hogs
    python benchmarks/participant_time.py --processes --hogs 2   # each inuprep-correct, quiet and loaded
    python benchmarks/participant_time.py --pairs 5   # zero-shot against N4 as processes, interleaved
    python benchmarks/participant_time.py --repeats 3   # the participant three times: median and range

CPU time a process spends after its last sample is not seen (at most 0.2 s a process): the table's total
is printed beside the kernel's count for the whole tree.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from inuprep.runtime import descendants

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
BIN = Path(sys.executable).parent

N4_CALL = """
import sys, time
import nibabel as nb, numpy as np
from inuprep.image import foreground_mask
from inuprep.methods.n4.correct import n4_correct
from inuprep.runtime import itk_threads
itk_threads(int(sys.argv[2]))
img = nb.load(sys.argv[1])
data = img.get_fdata(dtype=np.float32)
mask = foreground_mask(data)
if sys.argv[3:] == ["bare"]:  # antspyx's own defaults on the image, as a user would call it
    import ants
    image = ants.image_read(sys.argv[1])
    start = time.perf_counter()
    ants.n4_bias_field_correction(image)
else:
    start = time.perf_counter()
    n4_correct(data, img.header.get_zooms()[:3], mask)
print(time.perf_counter() - start)
"""


def sample(pids: list[int]) -> dict[int, tuple[float, int, str]]:
    """Return each living process's CPU seconds, resident bytes and working folder (pid -> tuple)."""
    table = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        table[pid] = ((int(fields[11]) + int(fields[12])) / TICK, int(fields[21]) * PAGE, cwd)
    return table


def step_of(cwd: str, work: Path) -> str:
    """Return the node a working folder belongs to (``method_wf/correct``), or "(main)" outside nodes."""
    try:
        parts = Path(cwd).relative_to(work).parts
    except ValueError:
        return "(main)"
    nodes = [p for p in parts if not p.startswith(("inuprep_wf", "sub_", "image_", "_"))]
    return "/".join(nodes[-2:]) if nodes else "(main)"


def profile(command: list[str], work: Path, cores: int) -> dict:
    """Run ``command``; return its wall time, per-step CPU/wall/peak memory and the tree's totals."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    app = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    charged = defaultdict(float)  # pid -> CPU seconds charged to steps so far
    cpu, first, last, peak = defaultdict(float), {}, {}, defaultdict(int)
    tree_peak, busy_samples = 0, []
    previous_total, previous_time = 0.0, start
    while app.poll() is None:
        table = sample([app.pid, *descendants(app.pid)])
        now = time.perf_counter() - start
        rss_by_step = defaultdict(int)
        for pid, (used, rss, cwd) in table.items():
            step = step_of(cwd, work)
            if used > charged[pid]:
                cpu[step] += used - charged[pid]
                charged[pid] = used
                first.setdefault(step, now)
                last[step] = now
            rss_by_step[step] += rss
        for step, rss in rss_by_step.items():
            peak[step] = max(peak[step], rss)
        tree_peak = max(tree_peak, sum(rss_by_step.values()))
        charged_total = sum(cpu.values())
        busy_samples.append((charged_total - previous_total) / max(now - previous_time, 1e-6))
        previous_total, previous_time = charged_total, now
        time.sleep(0.2)
    wall = time.perf_counter() - start
    log = app.stdout.read()
    if app.returncode != 0:
        raise SystemExit(f"the App failed ({app.returncode}):\n{log[-3000:]}")
    kernel = resource.getrusage(resource.RUSAGE_CHILDREN)
    steps = {
        step: {"start_s": first[step], "end_s": last[step], "cpu_s": cpu[step], "peak_mb": peak[step] / 2**20}
        for step in sorted(cpu, key=lambda s: first[s])
    }
    return {
        "wall_s": wall,
        "steps": steps,
        "cpu_s": sum(cpu.values()),
        "kernel_cpu_s": kernel.ru_utime + kernel.ru_stime - before.ru_utime - before.ru_stime,
        "idle_cores": cores - sum(cpu.values()) / wall,
        "under_one_core_s": 0.2 * sum(b < 1.0 for b in busy_samples),
        "peak_mb": tree_peak / 2**20,
        "log": log,
    }


def timed(command: list[str]) -> tuple[float, str]:
    """Return the wall time of ``command`` and its output; exit on failure."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subject", default="ds2748s01", help="a participant of ../shared/data/bids")
    parser.add_argument("--nprocs", type=int, default=2)
    parser.add_argument("--omp-nthreads", type=int, help="the App's --omp-nthreads (default: its own)")
    parser.add_argument("--methods", nargs="+", default=["n4", "zeroshot", "implicit"])
    parser.add_argument("--hogs", type=int, default=0, help="busy-looping processes beside everything")
    parser.add_argument("--keep", type=Path, help="keep the outputs and work folder here")
    parser.add_argument("--processes", action="store_true",
                        help="only each method's inuprep-correct (--num-threads nprocs), quiet then beside "
                        "--hogs hogs")  # fmt: skip
    parser.add_argument("--pairs", type=int, help="only: inuprep-correct --method zeroshot and --method n4, "
                        "this many interleaved pairs; each ratio, their median and range, and the zero-shot "
                        "process's time outside the method")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=1, help="participant runs (median and range)")
    args = parser.parse_args()
    source = DATA / "bids" / f"sub-{args.subject}" / "anat" / f"sub-{args.subject}_T1w.nii.gz"
    if not source.is_file():
        raise SystemExit(f"{source} not found: clone the project next to its shared/ folder")
    if args.processes:
        return processes_under_load(source, args)
    if args.pairs:
        return interleaved_pairs(source, args)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    ratios = []
    try:
        for repeat in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                root = args.keep if args.keep and repeat == args.repeats - 1 else Path(tmp)
                bids, out, work = root / "bids", root / "out", root / "work"
                anat = bids / f"sub-{args.subject}" / "anat"
                anat.mkdir(parents=True)
                shutil.copy(source, anat / source.name)
                description = {"Name": "participant_time", "BIDSVersion": "1.9.0"}
                (bids / "dataset_description.json").write_text(json.dumps(description))
                yardstick = [sys.executable, "-c", N4_CALL, str(source), str(args.nprocs)]
                n4_call = float(timed(yardstick)[1].split()[-1])
                bare_n4 = float(timed([*yardstick, "bare"])[1].split()[-1])
                n4_process, _ = timed([str(BIN / "inuprep-correct"), str(source), str(root / "n4.nii.gz"),
                                       "--method", "n4", "--num-threads", str(args.nprocs)])  # fmt: skip
                command = [str(BIN / "inuprep"), str(bids), str(out), "participant", "-w", str(work),
                           "--nprocs", str(args.nprocs), "--methods", *args.methods]  # fmt: skip
                if args.omp_nthreads:
                    command += ["--omp-nthreads", str(args.omp_nthreads)]
                run = profile(command, work.resolve(), args.nprocs)
            report(args, run, n4_call, n4_process, bare_n4)
            ratios.append(run["wall_s"] / n4_call)  # the App's own N4, not antspyx's slower defaults
    finally:
        for hog in hogs:
            hog.kill()
    median, verdict = statistics.median(ratios), "met" if statistics.median(ratios) <= 2 else "MISSED"
    print(f"participant / the App's N4 call, {args.repeats} run(s): median {median:.2f}x (range "
          f"{min(ratios):.2f}-{max(ratios):.2f}; target 2x: {verdict})")  # fmt: skip


def processes_under_load(source: Path, args) -> None:
    """Print each method's process time quiet and beside ``args.hogs`` busy loops, and the slowdown."""
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for hogs in (0, args.hogs):
            busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
            try:
                for method in args.methods:
                    times[method, hogs], _ = timed([
                        str(BIN / "inuprep-correct"), str(source), f"{tmp}/{method}.nii.gz",
                        "--method", method,
                        "--num-threads", str(args.nprocs),
                    ])  # fmt: skip
            finally:
                for hog in busy:
                    hog.kill()
    print(f"sub-{args.subject}, inuprep-correct --num-threads {args.nprocs}: quiet / beside {args.hogs} hogs")
    slowdown = {method: times[method, args.hogs] / times[method, 0] for method in args.methods}
    for method in args.methods:
        print(f"  {method:9s} {times[method, 0]:6.1f} s  {times[method, args.hogs]:6.1f} s  "
              f"slowdown {slowdown[method]:4.2f}x")  # fmt: skip
    if "n4" in slowdown:
        worst = max(slowdown, key=slowdown.get)
        verdict = "met" if slowdown[worst] <= slowdown["n4"] else f"MISSED by {worst}"
        print(f"no method slows more than N4 does (target): {verdict}")


def interleaved_pairs(source: Path, args) -> None:
    """Print ``inuprep-correct --method zeroshot`` against ``--method n4``, whole processes run in turn
    ``args.pairs`` times: each ratio, the median and range, and what the zero-shot process spent outside
    the method (its wall time less its sidecar's RuntimeSeconds, which counts torch's import: Python, the
    image's reading and mask, and the writing)."""
    ratios, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(args.pairs):
            seconds = {}
            for method in ("zeroshot", "n4") if pair % 2 == 0 else ("n4", "zeroshot"):
                out = Path(tmp) / f"{method}.nii.gz"
                out.unlink(missing_ok=True)
                out.with_name(f"{method}.json").unlink(missing_ok=True)
                command = [str(BIN / "inuprep-correct"), str(source), str(out), "--method", method]
                seconds[method], _ = timed([*command, "--num-threads", str(args.nprocs)])
                sidecar = json.loads(out.with_name(f"{method}.json").read_text())
                seconds[f"{method}_inside"] = sidecar["RuntimeSeconds"]
            ratios.append(seconds["zeroshot"] / seconds["n4"])
            rows.append(seconds)
            print(f"pair {pair + 1}: zero-shot {seconds['zeroshot']:.1f} s (the method with torch's import "
                  f"{seconds['zeroshot_inside']:.1f} s), N4 {seconds['n4']:.1f} s (the method "
                  f"{seconds['n4_inside']:.1f} s): {ratios[-1]:.3f}x", flush=True)  # fmt: skip
    outside = [row["zeroshot"] - row["zeroshot_inside"] for row in rows]
    median = statistics.median(ratios)
    print(f"sub-{args.subject}, --num-threads {args.nprocs}, {args.pairs} interleaved pairs: zero-shot / N4 "
          f"median {median:.3f}x (range {min(ratios):.3f}-{max(ratios):.3f}; target 0.25x: "
          f"{'met' if median <= 0.25 else 'MISSED'}); zero-shot outside the method median "
          f"{statistics.median(outside):.1f} s (range {min(outside):.1f}-{max(outside):.1f})")  # fmt: skip


def report(args, run: dict, n4_call: float, n4_process: float, bare_n4: float) -> None:
    """Print the steps, the totals and the participant against the yardstick."""
    print(f"sub-{args.subject}, --nprocs {args.nprocs} --omp-nthreads {args.omp_nthreads or 'default'}, "
          f"methods {' '.join(args.methods)}, {args.hogs} hogs")  # fmt: skip
    print(f"{'step (seconds from the start)':32s} {'start':>6s} {'end':>6s} {'CPU s':>7s} {'peak MB':>8s}")
    for step, row in run["steps"].items():
        print(
            f"{step:32s} {row['start_s']:6.1f} {row['end_s']:6.1f} {row['cpu_s']:7.1f} {row['peak_mb']:8.0f}"
        )
    print(f"CPU charged to steps {run['cpu_s']:.1f} s of the kernel's {run['kernel_cpu_s']:.1f} s "
          "for the tree")  # fmt: skip
    print(f"idle cores over the run: {run['idle_cores']:.2f} of {args.nprocs} "
          f"({run['under_one_core_s']:.0f} s with less than one core busy)")  # fmt: skip
    print(f"peak resident memory of the tree: {run['peak_mb']:.0f} MB")
    print(f"yardstick: the App's N4 call {n4_call:.1f} s ({args.nprocs} ITK threads); "
          f"inuprep-correct --method n4 {n4_process:.1f} s")  # fmt: skip
    print(f"bare antspyx N4 (n4_bias_field_correction, its defaults, no mask) {bare_n4:.1f} s")
    print(f"participant {run['wall_s']:.1f} s = {run['wall_s'] / bare_n4:.2f}x the bare N4, "
          f"{run['wall_s'] / n4_call:.2f}x the N4 call, {run['wall_s'] / n4_process:.2f}x inuprep-correct "
          "--method n4")  # fmt: skip
    for line in run["log"].splitlines():
        if " done in " in line:
            print("  app:", line.strip())


if __name__ == "__main__":
    main()
