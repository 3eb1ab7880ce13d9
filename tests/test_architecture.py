"""The package's import graph: no cycles, no module importing another module's ``_private`` names, and no
function over 150 lines outside numba kernels (the same rules as ``../shared/tools/archcheck.py``)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "radiomix"
MAX_LINES = 150


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = list(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _imports(name: str, path: Path, mods: dict) -> tuple[set, list]:
    """(modules of the package that ``name`` imports, private names it imports from other modules)."""
    tree = ast.parse(path.read_text())
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    deps, private = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("radiomix"):
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                dep = full if full in mods else target
                if dep in mods and dep != name:
                    deps.add(dep)
                if full not in mods and alias.name.startswith("_") and not alias.name.startswith("__") \
                        and target in mods and target != name:
                    private.append(f"{name} imports {target}.{alias.name}")
        elif isinstance(node, ast.Import):
            deps |= {a.name for a in node.names if a.name in mods and a.name != name}
    return deps, private


def _graph():
    mods = _modules()
    edges, private = {}, []
    for name, path in mods.items():
        edges[name], priv = _imports(name, path, mods)
        private += priv
    return mods, edges, private


def _cycles(edges: dict) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), ignoring the package root's
    lazy re-exports."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v, counter=[0]):  # noqa: B006 - a counter shared across calls
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w == "radiomix":
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    _, edges, _ = _graph()
    assert _cycles(edges) == []


def test_no_private_names_imported_across_modules():
    assert _graph()[2] == []


def _is_numba_kernel(fn: ast.FunctionDef) -> bool:
    for d in fn.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name.lstrip("_") in ("njit", "jit", "vectorize", "guvectorize"):
            return True
    return False


def test_no_function_over_150_lines():
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_numba_kernel(node):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_LINES:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert long == []


@pytest.mark.parametrize("source, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set(), "c": {"b"}}, []),
])
def test_cycle_finder_finds_cycles(source, expected):
    # The checker itself must be able to fail.
    assert _cycles(source) == expected


def test_private_import_is_detected(tmp_path, monkeypatch):
    mods = {"radiomix.a": tmp_path / "a.py", "radiomix.b": tmp_path / "b.py"}
    mods["radiomix.a"].write_text("from .b import _hidden, visible\n")
    mods["radiomix.b"].write_text("_hidden = visible = 1\n")
    deps, private = _imports("radiomix.a", mods["radiomix.a"], mods)
    assert deps == {"radiomix.b"} and private == ["radiomix.a imports radiomix.b._hidden"]


#: the one module allowed over MAX_MODULE_LINES: numba kernels that must live in one compilation unit
NUMBA_MODULES = {"radiomix.impute._cart"}
MAX_MODULE_LINES = 800


def test_no_module_over_800_lines_outside_numba_kernels():
    big = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    assert {n: k for n, k in big.items() if k > MAX_MODULE_LINES and n not in NUMBA_MODULES} == {}


#: package or module -> the test modules that cover it, where the name differs (theme suites keep their names:
#: bad input, red-team, leak canaries; see README "Development")
TESTED_BY = {
    "persist": ["test_redteam_model_files", "test_security"],
    "outputs": ["test_redteam_outputs"], "interrupts": ["test_redteam_outputs"],
    "safeyaml": ["test_redteam_configs"], "patterns": ["test_redteam_configs"],
    "model": ["test_train", "test_model_selection"], "pipeline": ["test_trustworthy", "test_model_selection"],
    "io": ["test_tables", "test_bad_tables"], "steps": ["test_explain"], "runmeta": ["test_report"],
    "demo": ["test_cli"], "metrics": ["test_model_selection"], "_resources": ["test_cli"],
}


def _untested(tests: set) -> list[str]:
    top = sorted({name.split(".")[1] for name in _modules() if name.count(".") >= 1})
    return [m for m in top if f"test_{m}" not in tests and not (m in TESTED_BY and set(TESTED_BY[m]) <= tests)]


def test_every_package_and_module_has_its_test_module():
    tests = {p.stem for p in Path(__file__).parent.glob("test_*.py")}
    assert _untested(tests) == []
    assert _untested(tests - {"test_select", "test_redteam_model_files"}) == ["persist", "select"]  # it can fail
