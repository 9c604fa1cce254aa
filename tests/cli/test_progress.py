"""Progress lines: what a run prints per step, also when a resumed run finds steps already finished."""

import logging

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline import engine as pe

from inuprep.cli.progress import Progress

IMAGE = "image_sub_01_T1w_wf"


def node(path: str) -> pe.Node:
    """Return a real node named by the last part of ``path`` inside the workflows before it."""
    *hierarchy, name = path.split(".")
    made = pe.Node(IdentityInterface(fields=["x"]), name=name)
    made._hierarchy = ".".join(hierarchy)
    return made


def lines(caplog, calls) -> list[str]:
    progress = Progress({IMAGE: "sub-01 T1w"}, logging.getLogger("inuprep.test"))
    with caplog.at_level(logging.DEBUG, logger="inuprep.test"):
        for path, status in calls:
            progress(node(f"inuprep_wf.sub_01_wf.{IMAGE}.{path}"), status)
    return [record.getMessage() for record in caplog.records]


def test_a_step_that_starts_and_ends_says_how_long_it_took(caplog):
    got = lines(caplog, [("n4_wf.correct", "start"), ("n4_wf.correct", "end"), ("evaluate", "start"),
                         ("evaluate", "end")])  # fmt: skip
    assert got[1].startswith("sub-01 T1w: N4 correction done in ")
    assert got[-1].startswith("sub-01 T1w: image done in ")


def test_steps_finished_in_an_earlier_run_end_without_a_start_and_fail_nothing(caplog):
    got = lines(caplog, [("n4_wf.correct", "end"), ("evaluate", "end")])
    assert got == [
        "sub-01 T1w: N4 correction reused (finished in an earlier run)",
        "sub-01 T1w: evaluation reused (finished in an earlier run)",
        "sub-01 T1w: image done (reused)",
    ]


def test_a_failure_is_one_error_line_with_or_without_a_start(caplog):
    got = lines(caplog, [("segment", "exception"), ("evaluate", "start"), ("evaluate", "exception")])
    assert got[0] == "sub-01 T1w: tissue masks FAILED"
    assert got[-1].startswith("sub-01 T1w: evaluation FAILED after ")


def test_other_nodes_and_unknown_objects_print_nothing_and_never_raise(caplog):
    assert lines(caplog, [("inputnode", "end"), ("outputs_wf.ds_metrics_tsv", "end")]) == []
    Progress({}, logging.getLogger("inuprep.test"))(object(), "end")  # no fullname: logged, not raised
