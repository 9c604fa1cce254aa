"""The raw-head benchmark's split (benchmarks/raw_heads.py), fixed before any tuning: no held-out case, nor
its field (family and seed), is a tuning case; every case name is one the script can build."""

import importlib.util
import sys

from conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "raw_heads.py"


def load():
    sys.path.insert(0, str(SCRIPT.parent))  # it imports zeroshot_vs_n4 beside it
    try:
        spec = importlib.util.spec_from_file_location("raw_heads_benchmark", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPT.parent))


def test_no_held_out_field_is_tuned_on_and_every_case_parses():
    from inuprep.simulation.fields import FAMILIES

    benchmark = load()
    tuning, held_out = (benchmark.SPLITS[name] for name in ("tuning", "held-out"))
    matches = {case: benchmark.CASE.match(case) for case in tuning + held_out}
    assert all(matches.values()), [case for case, match in matches.items() if match is None]
    fields = {case: (m["family"], m["seed"]) for case, m in matches.items() if m["family"]}
    assert {fields[c] for c in held_out if c in fields}.isdisjoint(fields[c] for c in tuning)
    assert {m["family"] for m in matches.values() if m["family"]} <= set(FAMILIES)
    assert "linear" in {matches[c]["family"] for c in held_out}  # a family the tuning never saw
    assert benchmark.CASE.match("philips3t+ring2s1")["family"] not in FAMILIES  # the check can fail
