"""Conditions of the process the App runs in: a usable HOME, writable output folders, termination."""

import ctypes
import fcntl
import os
import signal
import threading
import time
from collections import defaultdict
from contextlib import contextmanager, suppress
from pathlib import Path


def ensure_writable_home(fallback: Path) -> bool:
    """Point ``HOME`` at ``fallback`` when it is unset or not writable; return whether it was moved.

    ``apptainer run --no-home``, ``docker run --user UID`` and many batch systems leave HOME missing,
    read-only or a folder the UID does not own; matplotlib, keras, torch and nipype keep their caches and
    configuration under HOME, and ``Path.home()`` raises for a UID without a passwd entry. Node processes
    inherit the value.
    """
    home = os.environ.get("HOME")
    if home and os.path.isdir(home) and os.access(home, os.W_OK | os.X_OK):
        return False
    fallback.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(fallback)
    return True


def existing_ancestor(folder: Path) -> Path:
    """Return ``folder`` if it exists, else its nearest existing parent."""
    return next(path for path in (folder, *folder.parents) if path.exists())


def unwritable_reason(folder: Path) -> str | None:
    """Return why ``folder`` cannot be created or written (None: it can), without creating anything."""
    if folder.exists():
        if not folder.is_dir():
            return "is a file, not a folder"
        return None if os.access(folder, os.W_OK | os.X_OK) else "is not writable"
    parent = existing_ancestor(folder)
    if not parent.is_dir():
        return f"cannot be created ({parent} is not a folder)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created ({parent} is not writable)"
    return None


def container_type() -> str | None:
    """Return the container runtime of this process (None: none), for ``GeneratedBy.Container``.

    The image sets ``INUPREP_CONTAINER=docker``; Apptainer, Singularity and Charliecloud run the same image
    and announce themselves through their own variables, Podman by ``container=podman``.
    """
    for variable, name in (
        ("APPTAINER_CONTAINER", "apptainer"),
        ("SINGULARITY_CONTAINER", "singularity"),
        ("CH_RUNNING", "charliecloud"),
    ):
        if os.environ.get(variable):
            return name
    if os.environ.get("container") == "podman":
        return "podman"
    return os.environ.get("INUPREP_CONTAINER")


class Terminated(SystemExit):
    """SIGTERM (a scheduler's time limit, ``scancel``) or SIGINT arrived.

    A SystemExit with the shell's code 128 + signal: no ``except Exception`` on the way swallows it, every
    ``finally`` runs, and a process it ends prints no traceback. nipype's interfaces do catch it (a node
    running in the App's own process under the Linear plugin fails with NodeExecutionError instead), so the
    signal is also remembered: :func:`raise_if_terminated` raises it again at the next step.
    """

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"terminated by {signal.Signals(self.signum).name}"


#: the signals turned into Terminated inside terminate_on_signals(), in order of arrival
_received: list[int] = []


#: the parent a forked worker had (:func:`die_with_parent`); None in the App itself
_parent: list[int] = []
#: seconds an orphaned worker's ``finally`` blocks get before it ends whatever caught the exception
ORPHAN_GRACE_S = 3.0


def _raise_terminated(signum, frame):
    _received.append(signum)
    if _parent and os.getppid() != _parent[0]:  # the App died (SIGKILL): this worker has no one to serve
        # nipype catches the exception as a node failure and the pool's worker then waits forever for a
        # task from the dead App; end the process once the finally blocks had their time
        timer = threading.Timer(ORPHAN_GRACE_S, os._exit, (128 + signum,))
        timer.daemon = True
        timer.start()
    raise Terminated(signum)


def terminating() -> bool:
    """Return whether a signal asked this process to stop (inside :func:`terminate_on_signals`)."""
    return bool(_received)


def raise_if_terminated() -> None:
    """Raise :class:`Terminated` again if a signal arrived in this process (and was swallowed on the way)."""
    if _received:
        raise Terminated(_received[0])


@contextmanager
def terminate_on_signals():
    """Turn SIGTERM and SIGINT into :class:`Terminated` inside the block.

    Worker processes forked inside it inherit the handler, so a node stopped mid-way leaves its
    ``finally`` blocks (temporary files) clean.
    """
    _received.clear()
    previous = {
        signum: signal.signal(signum, _raise_terminated) for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def die_with_parent() -> None:
    """Have Linux send this process SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``).

    Registered with ``os.register_at_fork`` in the App, it keeps nipype's forked workers from running on,
    orphaned, after the App was killed with SIGKILL. A no-op where prctl does not exist.
    """
    _parent[:] = [os.getppid()]
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def hold_lock(path: Path, waiting=None):
    """Take the exclusive lock of ``path`` (created), after calling ``waiting()`` if another process holds it;
    return the open file that holds it.

    A ``flock`` lasts while any copy of the file is open, and every worker the App forks holds one: the lock
    of a run killed with SIGKILL lasts until the last of its orphaned workers has ended, not only its App. A
    file system without locks (Lustre mounted without ``flock``) takes none, as if free.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a")  # noqa: SIM115 - it lives as long as the lock
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if waiting:
            waiting()
        fcntl.flock(handle, fcntl.LOCK_EX)
    except OSError:
        pass
    return handle


def descendants(pid: int) -> list[int]:
    """Return the process ids of every living descendant of ``pid`` (Linux /proc), children first."""
    children = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:  # the process ended meanwhile
            continue
        if state != "Z":  # a zombie has ended; only its parent's wait is missing
            children[int(parent)].append(int(stat.parent.name))
    found, queue = [], list(children[pid])
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue += children[child]
    return found


def stop_descendants(grace: float = 10.0) -> None:
    """Send SIGTERM to every descendant of this process, then SIGKILL to those alive after ``grace`` s."""
    for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
        for pid in descendants(os.getpid()):
            with suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + wait
        while descendants(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.1)


def itk_threads(count: int) -> None:
    """Let ITK (antspyx) use ``count`` threads in this process."""
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(count)


def usable_cpus() -> int:
    """Return the CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota."""
    count = len(os.sched_getaffinity(0))
    with suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    return count


def runnable_elsewhere() -> int:
    """Return how many other tasks are runnable on the machine right now (``/proc/loadavg``), or 0."""
    with suppress(OSError, ValueError, IndexError):
        return max(0, int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1)
    return 0


def torch_threads(requested: int) -> int:
    """Return the CPU threads a torch method should use: ``requested``, at most :func:`usable_cpus`, and one
    when the CPUs are already busy.

    torch's OpenMP threads meet at a barrier after every operation; a thread that waits for a CPU held by
    another process holds up the others, and the zero-shot optimisation runs thousands of small operations
    (measured with ``benchmarks/participant_time.py --processes``; figures in ``benchmarks/README.md``).
    """
    cpus = usable_cpus()
    threads = max(1, min(requested, cpus))
    return 1 if threads > 1 and runnable_elsewhere() >= cpus else threads


def torch_device(num_threads: int, device: str) -> str:
    """Give torch :func:`torch_threads` CPU threads; return ``device`` ('auto': cuda if present, else cpu)."""
    import torch  # only the processes that run a torch method pay for it

    torch.set_num_threads(torch_threads(num_threads))
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def ensure_login_name() -> None:
    """Set ``LOGNAME`` where the environment lacks it (containers, cron, CI, some batch systems).

    nipype's batch plugins (SLURM, SGE, PBS) name each job after ``LOGNAME`` and raise ``KeyError`` on
    their first submission without it.
    """
    if os.environ.get("LOGNAME"):
        return
    import pwd

    try:
        name = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a container's user with no passwd entry
        name = os.environ.get("USER") or f"uid{os.getuid()}"
    os.environ["LOGNAME"] = name
