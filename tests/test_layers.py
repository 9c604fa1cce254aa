"""The package's layers: core <- interfaces <- workflows <- cli, and reports on core only.

A module named in a string counts as an import: ``python -m inuprep.x`` started as a subprocess, or a
"module:function" loaded by name, is an edge the import statements do not show.
"""

import ast
import re
from pathlib import Path

import inuprep

PACKAGE = Path(inuprep.__file__).parent
#: layer of each subpackage (anything else is core) and the layers each may import
LAYERS = {"interfaces": "interfaces", "workflows": "workflows", "cli": "cli", "reports": "reports"}
ALLOWED = {
    "core": {"core"},
    "interfaces": {"core", "interfaces", "reports"},  # reportlets draw with reports' figures
    "reports": {"core", "reports"},
    "workflows": {"core", "interfaces", "workflows"},
    "cli": {"core", "interfaces", "reports", "workflows", "cli"},
}


def layer(module: str) -> str:
    """Return the layer of a dotted ``inuprep`` module name."""
    parts = module.split(".")
    return LAYERS.get(parts[1], "core") if len(parts) > 1 else "core"


#: a module named in a string: ``-m inuprep.x`` anywhere, or the whole string ``inuprep.x[:function]``
NAMED = re.compile(r"-m\s+(inuprep(?:\.\w+)+)|^(inuprep(?:\.\w+)+)(?::\w+)?$")


def imports(path: Path) -> list[tuple[int, str]]:
    """Return (line, module) of every inuprep import in ``path``, at any depth (lazy imports count), and of
    every inuprep module a string names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [(node.lineno, a or b) for a, b in NAMED.findall(node.value)]
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inuprep"):
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            # `from inuprep import x` names a module x or an attribute of inuprep/__init__
            found += [(node.lineno, n if node.module == "inuprep" else node.module) for n in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("inuprep")]
    return found


def upward_imports(root: Path = PACKAGE) -> list[str]:
    """Return 'file:line imports module (layer -> layer)' for every import that goes up a layer."""
    wrong = []
    for path in sorted(root.rglob("*.py")):
        module = ".".join(("inuprep", *path.relative_to(root).with_suffix("").parts))
        own = layer(module)
        for line, imported in imports(path):
            if layer(imported) not in ALLOWED[own]:
                wrong.append(
                    f"{path.relative_to(root)}:{line} imports {imported} ({own} -> {layer(imported)})"
                )
    return wrong


def test_no_import_goes_up_a_layer():
    assert upward_imports() == []


def test_the_check_finds_an_upward_import(tmp_path):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "x.py").write_text("def f():\n    from inuprep.cli.run import main\n")
    (tmp_path / "metrics.py").write_text("from inuprep.reports.figures import LABELS\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "y.py").write_text(
        "from inuprep.interfaces import checks\nfrom inuprep import image\n"
    )
    (tmp_path / "interfaces").mkdir()
    (tmp_path / "interfaces" / "z.py").write_text(
        'CMD = "python -m inuprep.cli.correct --x"\nOK = "python -m inuprep.methods.run"\n'
        'ENTRY = "inuprep.workflows.base:init_inuprep_wf"\nTEXT = "see inuprep.cli.run for more"\n'
    )
    assert upward_imports(tmp_path) == [
        "interfaces/z.py:1 imports inuprep.cli.correct (interfaces -> cli)",
        "interfaces/z.py:3 imports inuprep.workflows.base (interfaces -> workflows)",
        "metrics.py:1 imports inuprep.reports.figures (core -> reports)",
        "reports/y.py:1 imports inuprep.interfaces (reports -> interfaces)",
        "workflows/x.py:2 imports inuprep.cli.run (workflows -> cli)",
    ]


#: the modules allowed at the package root: foundations; every concept is a folder
FOUNDATIONS = {"__init__.py", "image.py", "options.py", "runtime.py"}
#: concepts that must not import the other: masks know nothing of how corrections are judged, and the
#: simulated truth knows nothing of what it tests
INDEPENDENT = (("segmentation", "evaluation"), ("simulation", "segmentation"), ("simulation", "evaluation"))


def concept_imports(root: Path = PACKAGE) -> set[tuple[str, str]]:
    """Return (folder, folder) for every import from one top-level folder of the package into another."""
    edges = set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts
        for _, imported in imports(path):
            target = imported.split(".")
            if len(parts) > 1 and len(target) > 1 and target[1] != parts[0]:
                edges.add((parts[0], target[1]))
    return edges


def test_only_foundations_lie_at_the_package_root():
    assert {path.name for path in PACKAGE.glob("*.py")} <= FOUNDATIONS


def test_independent_concepts_do_not_import_each_other():
    assert concept_imports() & set(INDEPENDENT) == set()


def test_the_concept_check_finds_a_dependency(tmp_path):
    (tmp_path / "segmentation").mkdir()
    (tmp_path / "segmentation" / "x.py").write_text("from inuprep.evaluation.metrics import cjv\n")
    assert concept_imports(tmp_path) == {("segmentation", "evaluation")}
