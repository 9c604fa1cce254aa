"""The App's MultiProc plugin: the ready nodes start highest ``priority`` first, and the workflows give their
longest steps one."""

import time

from nipype.interfaces.utility import Function
from nipype.pipeline import engine as pe

from inuprep.cli.plugin import SafeMultiProcPlugin


def _started() -> int:
    import time

    return time.perf_counter_ns()


def test_one_worker_runs_the_ready_nodes_highest_priority_first(tmp_path):
    workflow = pe.Workflow(name="order", base_dir=str(tmp_path))
    nodes = [pe.Node(Function(function=_started, output_names=["ns"]), name=name) for name in "abcd"]
    nodes[2].priority, nodes[3].priority = 2, 1  # c, then d, then a and b in the graph's order
    workflow.add_nodes(nodes)
    graph = workflow.run(plugin=SafeMultiProcPlugin(plugin_args={"n_procs": 1, "memory_gb": 1}))
    started = {node.name: node.result.outputs.ns for node in graph.nodes()}
    assert sorted(started, key=started.get) == ["c", "d", "a", "b"]
    assert time.perf_counter_ns() > max(started.values())


def test_n4_starts_before_the_other_corrections():
    from inuprep.workflows.correction import init_correction_wf

    n4, zeroshot = (
        init_correction_wf(method=m, omp_nthreads=1).get_node("correct") for m in ("n4", "zeroshot")
    )
    assert n4.priority == 1 and getattr(zeroshot, "priority", 0) == 0  # the priors' is 2 (test_workflows)
