"""nipype's MultiProc plugin, with a failure it leaves unreported turned into a node failure, a worker
process lost (killed) turned into a step run again, the longest steps started first and finished nodes
looked for every 0.2 s (no MapNode here: nipype would look a MapNode's plugin up by this class's name)."""

import logging
import multiprocessing as mp
import threading
import traceback
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

import numpy as np
from nipype.pipeline.plugins.multiproc import MultiProcPlugin, process_initializer, run_node

from inuprep.runtime import stop_descendants, terminating

LOGGER = logging.getLogger("inuprep")


class SafeMultiProcPlugin(MultiProcPlugin):
    """MultiProc whose node failures always reach nipype's crash handling.

    When a node cannot write its result file (a full disk), nipype's worker function raises while reading
    that file back, the task's future holds the exception, MultiProc's callback raises it inside
    ``concurrent.futures`` (which only logs it), the task is never marked done and the run waits forever.
    Here the exception (its traceback includes the disk's ``No space left on device``) becomes the task's
    result, as a node's own failure is, so nipype writes a crash file and the run ends. So does a worker's
    :class:`~inuprep.runtime.Terminated` (a SystemExit: a signal reached it while it read a result back),
    which would otherwise print a thread's traceback while the App stops.

    A worker process killed (the out-of-memory killer's SIGKILL) breaks the whole pool: every step running
    then ends in ``BrokenProcessPool``, and nipype would fail them all, and every step after them, other
    participants' too. Here those steps run again, one at a time in a new pool, nothing else beside them:
    a step whose process is killed again while it runs alone is the one that was killed, and fails with a
    line that says so; the others go on.
    """

    #: seconds between the scheduler's looks for finished nodes: nipype's 2 s default held each step of a
    #: participant's chain up to 2 s after the one before (about 10 s of a 64 s participant)
    POLL_S = 0.2

    def __init__(self, plugin_args=None):
        super().__init__(plugin_args=plugin_args)
        self._jobs = {}  # taskid: (node, updatehash), to run a lost step again
        self._lost = deque()  # the taskids whose worker died, to run again one at a time
        self._alone = None  # the taskid that runs again by itself
        self._lock = threading.Lock()  # the pool's thread adds to _lost, the scheduler's takes from it

    def run(self, graph, config, updatehash=False):
        execution = dict(config["execution"], poll_sleep_duration=self.POLL_S)
        return super().run(graph, dict(config, execution=execution), updatehash=updatehash)

    def _send_procs_to_workers(self, updatehash=False, graph=None):
        with self._lock:
            if self._alone in self._taskresult:  # it ran alone to its end
                self._alone = None
            alone, lost = self._alone, list(self._lost)
        if alone is not None:
            return  # nothing beside a step that runs again alone
        if lost:  # run them again one by one, once nothing else runs
            if not [task for task in self._task_obj if task not in self._taskresult and task not in lost]:
                with self._lock:
                    self._alone = self._lost.popleft()
                self._start(self._alone)
            return
        # nipype collects the garbage before it looks at the ready nodes, even when there is none: tens of
        # ms in the App's process at every poll
        if np.any(~self.proc_done & np.asarray(self.depidx.sum(axis=0) == 0)):
            super()._send_procs_to_workers(updatehash=updatehash, graph=graph)

    def _submit_job(self, node, updatehash=False):
        self._taskid += 1
        if getattr(node.interface, "terminal_output", "") == "stream":  # as nipype: no streamed output
            node.interface.terminal_output = "allatonce"
        self._jobs[self._taskid] = (node, updatehash)
        self._start(self._taskid)
        return self._taskid

    def _start(self, taskid):
        """Send a task to the pool (a new pool when a lost worker broke this one), its id bound to its
        callback: nipype's callback looked its task up in a dict this thread changes meanwhile."""
        node, updatehash = self._jobs[taskid]
        try:
            future = self.pool.submit(run_node, node, updatehash, taskid)
        except BrokenProcessPool:  # the old pool's workers may still be ending inside a node's folder
            stop_descendants(grace=5.0)  # every process of this App's now is the broken pool's
            self.pool.shutdown(wait=True)
            self.pool = ProcessPoolExecutor(
                max_workers=self.processors,
                initializer=process_initializer,
                initargs=(self._cwd,),
                mp_context=mp.get_context(self.plugin_args.get("mp_context")),
            )
            future = self.pool.submit(run_node, node, updatehash, taskid)
        self._task_obj[taskid] = future
        future.add_done_callback(partial(self._task_done, taskid))

    def _task_done(self, taskid, future):
        try:
            result = future.result()
        except BrokenProcessPool:
            node = self._jobs[taskid][0]
            with self._lock:
                if taskid != self._alone:
                    if not terminating():  # the App stops its own workers
                        LOGGER.warning(
                            f"{node.fullname}: its worker process was killed; it runs again, alone"
                        )
                    self._lost.append(taskid)
                    return
            error = RuntimeError(
                f"{node.fullname}: its process was killed while it ran alone (as by the out-of-memory "
                "killer): give the job more memory or fewer processes (--nprocs), then rerun the same command"
            )
            result = {"result": None, "traceback": traceback.format_exception_only(error), "taskid": taskid}
        except (Exception, SystemExit) as err:  # noqa: BLE001 - any failure of the worker function is the node's
            lines = traceback.format_exception(type(err), err, err.__traceback__)
            result = {"result": None, "traceback": lines, "taskid": taskid}
        self._jobs.pop(taskid, None)
        self._taskresult[taskid] = result

    def _sort_jobs(self, jobids, scheduler="tsort"):
        """Return the ready jobs highest ``priority`` first (an attribute the workflow factories set on their
        longest nodes; 0 when unset), in the graph's order among equals. nipype's own order is the graph's:
        on two CPUs it started the two short corrections before the brain mask and registration, the
        participant's longest chain (``benchmarks/participant_time.py``)."""
        return sorted(jobids, key=lambda jobid: -getattr(self.procs[jobid], "priority", 0))
