"""nipype's MultiProc plugin, with a failure it leaves unreported turned into a node failure, the longest
steps started first and finished nodes looked for every 0.2 s (no MapNode here: nipype would look a
MapNode's plugin up by this class's name)."""

import traceback

import numpy as np
from nipype.pipeline.plugins.multiproc import MultiProcPlugin


class SafeMultiProcPlugin(MultiProcPlugin):
    """MultiProc whose node failures always reach nipype's crash handling.

    When a node cannot write its result file (a full disk), nipype's worker function raises while reading
    that file back, the task's future holds the exception, MultiProc's callback raises it inside
    ``concurrent.futures`` (which only logs it), the task is never marked done and the run waits forever.
    Here the exception (its traceback includes the disk's ``No space left on device``) becomes the task's
    result, as a node's own failure is, so nipype writes a crash file and the run ends. So does a worker's
    :class:`~inuprep.runtime.Terminated` (a SystemExit: a signal reached it while it read a result back),
    which would otherwise print a thread's traceback while the App stops.
    """

    #: seconds between the scheduler's looks for finished nodes: nipype's 2 s default held each step of a
    #: participant's chain up to 2 s after the one before (about 10 s of a 64 s participant)
    POLL_S = 0.2

    def run(self, graph, config, updatehash=False):
        execution = dict(config["execution"], poll_sleep_duration=self.POLL_S)
        return super().run(graph, dict(config, execution=execution), updatehash=updatehash)

    def _send_procs_to_workers(self, updatehash=False, graph=None):
        # nipype collects the garbage before it looks at the ready nodes, even when there is none: tens of
        # ms in the App's process at every poll
        if np.any(~self.proc_done & np.asarray(self.depidx.sum(axis=0) == 0)):
            super()._send_procs_to_workers(updatehash=updatehash, graph=graph)

    def _async_callback(self, args):
        try:
            super()._async_callback(args)
        except (Exception, SystemExit) as err:  # noqa: BLE001 - any failure of the worker function is the node's
            taskid = next(task for task, future in self._task_obj.items() if future is args)
            lines = traceback.format_exception(type(err), err, err.__traceback__)
            self._taskresult[taskid] = {"result": None, "traceback": lines, "taskid": taskid}

    def _sort_jobs(self, jobids, scheduler="tsort"):
        """Return the ready jobs highest ``priority`` first (an attribute the workflow factories set on their
        longest nodes; 0 when unset), in the graph's order among equals. nipype's own order is the graph's:
        on two CPUs it started the two short corrections before the brain mask and registration, the
        participant's longest chain (``benchmarks/participant_time.py``)."""
        return sorted(jobids, key=lambda jobid: -getattr(self.procs[jobid], "priority", 0))
