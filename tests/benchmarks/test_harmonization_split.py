"""The harmonization benchmark's split, fixed before any tuning: the tuning side shares nothing reported."""

import importlib.util
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "harmonization.py"


@pytest.fixture
def benchmark():
    spec = importlib.util.spec_from_file_location("harmonization_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tuning_and_reported_sides_share_no_subject_and_no_protocol(benchmark):
    assert benchmark.split_overlap() == []
    reported = set(benchmark.REFERENCES + benchmark.SUBJECTS)
    assert reported.isdisjoint(benchmark.TUNING_SUBJECTS) and benchmark.TUNING_SUBJECTS


def test_the_check_finds_a_shared_subject_or_protocol(benchmark, monkeypatch):
    monkeypatch.setattr(benchmark, "TUNING_SUBJECTS", [*benchmark.TUNING_SUBJECTS, benchmark.SUBJECTS[0]])
    assert benchmark.split_overlap() == [benchmark.SUBJECTS[0]]
    monkeypatch.setattr(benchmark, "TUNING_SUBJECTS", ["ds2748s54"])
    renamed = benchmark.SOURCES[-1].__class__(**{**vars(benchmark.SOURCES[-1]), "name": "same-settings"})
    monkeypatch.setattr(benchmark, "TUNING", (*benchmark.TUNING, renamed))  # the same acquisition renamed
    assert benchmark.split_overlap() == ["same-settings"]


def test_the_script_refuses_to_report_on_tuning_subjects():
    command = [sys.executable, str(SCRIPT), "--subjects", "ds2748s54", "--methods", "nyul"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "the split is broken: ['ds2748s54']" in done.stderr


def test_tuning_fits_on_the_references_and_scores_only_tuning_subjects(benchmark):
    assert benchmark.split_crossing(benchmark.TUNING_SUBJECTS, benchmark.REFERENCES, tuning=True) == []
    assert benchmark.split_crossing(["ds2748s04"], benchmark.REFERENCES, tuning=True) == ["ds2748s04"]
    assert benchmark.split_crossing(benchmark.SUBJECTS, ["ds2748s55"], tuning=False) == ["ds2748s55"]
