"""The App's MultiProc plugin: the ready nodes start highest ``priority`` first (the workflows give their
longest steps one), and a node starts soon after the one it waits for."""

from nipype.interfaces.utility import Function
from nipype.pipeline import engine as pe

from inuprep.cli.plugin import SafeMultiProcPlugin


def _started() -> tuple[int, int]:
    import time

    start = time.perf_counter_ns()  # CLOCK_MONOTONIC: one clock for every worker process
    time.sleep(0.3)
    return start, time.perf_counter_ns()


def test_one_worker_runs_the_ready_nodes_highest_priority_first(tmp_path):
    workflow = pe.Workflow(name="order", base_dir=str(tmp_path))
    nodes = [pe.Node(Function(function=_started, output_names=["span"]), name=name) for name in "abcd"]
    nodes[2].priority, nodes[3].priority = 2, 1  # c, then d, then a and b in the graph's order
    workflow.add_nodes(nodes)
    graph = workflow.run(plugin=SafeMultiProcPlugin(plugin_args={"n_procs": 1, "memory_gb": 1}))
    spans = {node.name: node.result.outputs.span for node in graph.nodes()}
    order = sorted(spans, key=spans.get)
    assert order == ["c", "d", "a", "b"]
    # one worker: each node starts after the one before it ended (a plugin that ignored n_procs overlaps them)
    for before, after in zip(order, order[1:], strict=False):
        assert spans[after][0] >= spans[before][1], (before, after, spans)


def _stamped(previous: int = 0) -> int:
    import time

    return time.perf_counter_ns()


def test_a_node_starts_soon_after_the_one_it_waits_for(tmp_path):
    """nipype's default looks for finished nodes every 2 s: each gap would be anywhere in 0-2 s."""
    workflow = pe.Workflow(name="chain", base_dir=str(tmp_path))
    nodes = [pe.Node(Function(function=_stamped, output_names=["ns"]), name=f"n{i}") for i in range(5)]
    for before, after in zip(nodes, nodes[1:], strict=False):
        workflow.connect(before, "ns", after, "previous")
    graph = workflow.run(plugin=SafeMultiProcPlugin(plugin_args={"n_procs": 2, "memory_gb": 1}))
    stamps = sorted(node.result.outputs.ns for node in graph.nodes())
    gaps = [(after - before) / 1e9 for before, after in zip(stamps, stamps[1:], strict=False)]
    assert len(gaps) == 4 and max(gaps) < 1.0, gaps


def test_n4_starts_before_the_other_corrections():
    from inuprep.workflows.correction import init_correction_wf

    n4, zeroshot = (
        init_correction_wf(method=m, omp_nthreads=1).get_node("correct") for m in ("n4", "zeroshot")
    )
    assert n4.priority == 1 and getattr(zeroshot, "priority", 0) == 0  # the priors' is 2 (test_workflows)
