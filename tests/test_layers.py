"""The house rule: imports only go down the layers, and no two project modules import each other.

ground       core
middle       models · judges · trainers · benchmarks · reports   (none imports a sibling)
application  harness

Every ``import`` / ``from … import`` in the project is read with ``ast`` (also those inside
functions: a lazy import is still a dependency).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"core": 0, "models": 1, "judges": 1, "trainers": 1, "benchmarks": 1, "reports": 1, "harness": 2}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path = ROOT) -> set[str]:
    """The project modules ``path`` imports (relative imports resolved; ``from pkg import mod``
    counts as importing ``pkg.mod`` when that is a module, else ``pkg``)."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}", root) else base for a in node.names]
        else:
            continue
        out |= {n for n in names if n.split(".")[0] in LAYERS}
    out.discard(me)
    return out


def _is_module(name: str, root: Path) -> bool:
    p = root.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def project_files(root: Path = ROOT) -> list[Path]:
    return sorted(p for top in LAYERS for p in (root / top).rglob("*.py"))


def violations(root: Path = ROOT) -> list[str]:
    bad = []
    for path in project_files(root):
        me = module_name(path, root)
        top = me.split(".")[0]
        for dep in sorted(imports(path, root)):
            other = dep.split(".")[0]
            if other == top:
                continue
            if LAYERS[other] > LAYERS[top]:
                bad.append(f"{me} imports {dep}: upward ({top} is below {other})")
            elif LAYERS[other] == LAYERS[top]:
                bad.append(f"{me} imports {dep}: sideways ({top} and {other} are siblings)")
    return bad


def mutual(root: Path = ROOT) -> list[str]:
    graph = {module_name(p, root): imports(p, root) for p in project_files(root)}
    return sorted(f"{a} <-> {b}" for a, deps in graph.items() for b in deps
                  if a < b and a in graph.get(b, ()))


def test_imports_only_go_down():
    assert violations() == []


def test_no_two_modules_import_each_other():
    assert mutual() == []


def test_every_package_has_a_layer():
    tops = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert tops <= set(LAYERS), f"a package without a layer: {tops - set(LAYERS)}"


@pytest.mark.parametrize("planted, expected", [
    ("from harness.runner import run\n", "upward"),
    ("from benchmarks import SUITES\n", "sideways"),
])
def test_the_check_catches_a_planted_import(tmp_path, planted, expected):
    """Copy the tree, plant one bad import, and the check must name it."""
    import shutil

    for top in LAYERS:
        shutil.copytree(ROOT / top, tmp_path / top, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / ("core" if expected == "upward" else "trainers") / "planted.py"
    target.write_text(planted, encoding="utf-8")
    found = violations(tmp_path)
    assert len(found) == 1 and expected in found[0] and "planted" in found[0]


def test_the_check_catches_a_planted_cycle(tmp_path):
    import shutil

    for top in LAYERS:
        shutil.copytree(ROOT / top, tmp_path / top, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "core" / "a_mod.py").write_text("from core import b_mod\n", encoding="utf-8")
    (tmp_path / "core" / "b_mod.py").write_text("def f():\n    from core import a_mod\n", encoding="utf-8")
    assert mutual(tmp_path) == ["core.a_mod <-> core.b_mod"]
